//! Generated bindings for the `premod:premodule` world. Only the engine names these types.
//!
//! They are generated for `premodule-items` (1.1.0), which includes `premodule`: the host
//! implements both worlds, and a module built against 1.0.0 loads because wasmtime matches
//! export names semver-compatibly (`train@1.1.0` finds `train@1.0.0`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "premodule-items",
    exports: { default: async },
});
