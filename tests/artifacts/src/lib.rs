//! Paths of the WebAssembly components the integration tests run, built by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/paths.rs"));
