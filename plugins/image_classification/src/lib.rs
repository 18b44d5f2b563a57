//! `image_classification`: the first-party premodule that prepares an image classification
//! dataset, like the platform's reference module `image_classification_preprocess.py`.
//!
//! `process-for-train` unzips `/collection/<archive>` (default `dataset.zip`) into `/output`,
//! safely (see [`extract`]). `serve` needs no state and passes batches through unchanged.
//!
//! Params (`ctx.rule.params`, a JSON object; see [`params`]):
//! - `archive`: file name inside `/collection`, default `"dataset.zip"`;
//! - `max_total_bytes`: cap on the extracted bytes, declared and actual, default 4 GiB;
//! - `max_entries`: cap on files plus folders in the archive, default 100000;
//! - `name_encoding`: `"auto"` (default), `"utf-8"`, `"cp949"` or `"cp437"`, for entry names
//!   without the UTF-8 flag.
//!
//! Extraction (`premod-unzip`, see [`train`]) asks the host first: `premod:native/zip` runs
//! the same extractor natively, with the step's limits; when the operator turned that off
//! (or natively, in tests) the module runs it in the sandbox itself. The log says which.
//!
//! Built on `premod-sdk`: [`component`] implements `premod_sdk::Premodule` and registers it
//! with `premod_sdk::export!`, which emits the WIT exports only when compiling for wasm32.
//! Everything is plain Rust and is tested natively (the SDK's `testing::capture` records
//! the log lines).

pub mod component;
pub mod params;
pub mod train;

/// The extractor, shared with the host (`crates/premod-unzip`).
pub use premod_unzip as extract;
