//! Generated bindings for the `premod:premodule` world. Only the engine names these types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "premodule",
    exports: { default: async },
});
