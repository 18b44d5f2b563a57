//! premod: runs dataset preprocessing modules ("premodules") as sandboxed WebAssembly
//! components. See ARCHITECTURE.md for the map.

pub mod catalog;
pub mod cli;
pub mod digest;
pub mod engine;
pub mod error;
pub mod exec;
pub mod home;
pub mod limits;
pub mod model;
pub mod registry;
pub mod runs;
pub mod server;
pub mod staging;
pub mod step;
pub mod steplog;
pub mod store;
