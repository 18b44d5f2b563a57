//! `image_resize`: decode, resize to a square (224x224 by default) and encode every image of
//! a dataset, keeping each image's format and relative path.
//!
//! The module exports both paths of `premod:premodule@1.1.0`:
//! - `items` (per-item): `plan` selects the images under the item root, the host runs
//!   `process-item` for each on a pool of instances, `finish` reports the count;
//! - `train` (`process-for-train`): the same work in one instance, for hosts or steps that
//!   run the whole dataset at once (`premod exec --whole`).
//!
//! Params (`ctx.rule.params`): `root` (default `/input` when the step has an input, else
//! `/collection`), `size` (default 224), `extensions` (default `.png`, `.jpg`, `.jpeg`).
//!
//! [`resize`] is plain Rust with no bindings: the bench's native twin runs the same code.

#[cfg(target_arch = "wasm32")]
mod component;
pub mod params;
pub mod resize;
