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
//! Built on `premod-sdk`: [`component`] implements `premod_sdk::Premodule` and registers it
//! with `premod_sdk::export!`, which emits the WIT exports only when compiling for wasm32.
//! Everything is plain Rust and is tested natively (the SDK's `testing::capture` records
//! the log lines).

pub mod component;
pub mod extract;
pub mod names;
pub mod params;
pub mod seekbuf;
pub mod train;
