//! premod: runs dataset preprocessing modules ("premodules") as sandboxed WebAssembly
//! components. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod digest;
pub mod engine;
pub mod error;
pub mod exec;
pub mod limits;
pub mod staging;
pub mod step;
pub mod steplog;
