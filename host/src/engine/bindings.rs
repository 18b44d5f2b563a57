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

/// Bindings for `premod:native` (`wit/native/`), the optional host-native capabilities.
/// Imports are trappable: going over the step's output quota or deadline inside a capability
/// ends the step exactly as the same write made by the module would. They are async: the
/// work runs on its own thread while the runtime goes on (stop requests, timers, other steps).
pub(crate) mod native {
    wasmtime::component::bindgen!({
        path: "../wit/native",
        world: "capabilities",
        imports: { default: async | trappable },
    });
}
