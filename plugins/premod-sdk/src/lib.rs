//! # premod-sdk: write premod preprocessing modules in Rust
//!
//! A premodule is a WebAssembly component for the `premod:premodule@1.0.0` WIT world
//! (`wit/premodule.wit`). This crate hides the generated bindings: implement [`Premodule`]
//! for a type, register it with [`export!`], and build with
//! `cargo build --release --target wasm32-wasip2`.
//!
//! ```
//! use premod_sdk::{Batch, Premodule, Result, ServeContext, Summary, TrainContext, info};
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default, deny_unknown_fields)]
//! struct Params {
//!     greeting: String,
//! }
//!
//! struct Hello;
//!
//! impl Premodule for Hello {
//!     fn process_for_train(ctx: &TrainContext) -> Result<Summary> {
//!         let params: Params = ctx.params()?; // `Error::InvalidParams` naming the problem
//!         let files = premod_sdk::dir_list(&ctx.paths.collection)?;
//!         info!("{} dir_list : {files}", params.greeting); // `['dataset.zip']`
//!         Ok(Summary::ok(files.len() as u64))
//!     }
//!
//!     // Called once when a service starts; the value serves every `transform`.
//!     fn init_svc(_ctx: &ServeContext) -> Result<Self> {
//!         Ok(Hello)
//!     }
//!
//!     fn transform(&mut self, batch: Batch, _batch_id: u64) -> Result<Batch> {
//!         Ok(batch)
//!     }
//! }
//!
//! premod_sdk::export!(Hello);
//! ```
//!
//! What the SDK gives you:
//! - [`Premodule`]: the three entry points with plain Rust types ([`TrainContext`],
//!   [`ServeContext`], [`Summary`], [`Batch`]) and one [`Error`] whose variants are the WIT
//!   `error` variants (`invalid-params`, `invalid-data`, `io`, `unsupported`, `other`);
//! - [`export!`]: the component exports, plus two custom sections in the component:
//!   `premod-api-version` (the WIT version, [`API_VERSION`]) and `premod-sdk`
//!   (`rust <SDK version>`);
//! - logging to the step log: [`info!`], [`warn!`], [`error!`], [`debug!`], [`trace!`]
//!   and [`log`]; [`progress`];
//! - [`Rule::params`] (serde), [`Batch::json`] / [`Batch::records`], [`Context`] for
//!   error messages that say what was being done, [`dir_list`] (a sorted listing that
//!   prints like Python's `os.listdir` list);
//! - [`testing`]: run your module in `cargo test` and capture its log;
//! - [`native`]: optional host-native capabilities (`premod:native`, e.g. ZIP extraction at
//!   native speed), each with an `Ok(None)` answer when unavailable so the module falls
//!   back to its own code.
//!
//! Natively (not wasm32) [`export!`] expands to a type check only and the log goes to
//! stderr, or to [`testing::capture`]: the same code is unit-tested with `cargo test`.

// Lets the generated bindings name this crate by its public path from any crate.
extern crate self as premod_sdk;

mod context;
mod error;
mod host;
pub mod native;
pub mod py;
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use context::{Batch, Column, Level, Paths, Rule, ServeContext, Summary, TrainContext};
pub use error::{Context, Error, Result};
pub use host::{log, progress};
pub use py::{DirList, dir_list};

/// Version of the `premod:premodule` WIT package this SDK builds against. [`export!`]
/// stores it in the component's `premod-api-version` custom section.
pub const API_VERSION: &str = "1.0.0";

/// What [`export!`] stores in the component's `premod-sdk` custom section.
pub const SDK_ID: &str = concat!("rust ", env!("CARGO_PKG_VERSION"));

/// A preprocessing module: the platform's `process_for_train(pm)`, `init_svc(im, rule)` and
/// `transform(df, params, batch_id)`.
///
/// Every call runs in the sandbox: `/collection` and `/input` read-only, `/output`
/// writable, `/meta` writable while fitting and read-only when serving. Return an
/// [`Error`] for anything a user can fix; a panic is reported as a `trap` (its message
/// shows in the step log).
pub trait Premodule: Sized + 'static {
    /// Batch preprocessing: read `ctx.paths.collection` (and `input`), write
    /// `ctx.paths.output` and, when `ctx.do_fit`, the fitted state to `ctx.paths.meta`.
    /// Runs in a fresh instance: nothing survives between calls.
    fn process_for_train(ctx: &TrainContext) -> Result<Summary>;

    /// Starts an inference service: load the fitted state from `ctx.meta` (read-only) and
    /// return the value that serves every later [`transform`](Premodule::transform) call.
    /// A module without state returns `Ok(Self)`.
    fn init_svc(ctx: &ServeContext) -> Result<Self>;

    /// Preprocesses one inference batch (by default a JSON array of records, see
    /// [`Batch::records`]). `batch_id` counts the batches of one stream from 0.
    ///
    /// The default answers `unsupported`.
    fn transform(&mut self, batch: Batch, batch_id: u64) -> Result<Batch> {
        let _ = (batch, batch_id);
        Err(Error::Unsupported(
            "this module does not implement transform".into(),
        ))
    }
}

/// Registers a [`Premodule`] type as the component's implementation of the
/// `premod:premodule` world. Use it once, in the crate that builds the component
/// (`crate-type = ["cdylib"]`):
///
/// ```ignore
/// premod_sdk::export!(MyModule);
/// ```
///
/// On wasm32 it emits the `train` and `serve` exports and the `premod-api-version` and
/// `premod-sdk` custom sections; natively it only checks that the type implements
/// [`Premodule`].
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PremodExport;

            impl $crate::__private::TrainGuest for __PremodExport {
                fn process_for_train(
                    ctx: $crate::__private::wit::TrainContext,
                ) -> ::core::result::Result<
                    $crate::__private::wit::Summary,
                    $crate::__private::wit::Error,
                > {
                    $crate::__private::process_for_train::<$ty>(ctx)
                }
            }

            impl $crate::__private::ServeGuest for __PremodExport {
                fn init_svc(
                    ctx: $crate::__private::wit::ServeContext,
                ) -> ::core::result::Result<(), $crate::__private::wit::Error> {
                    $crate::__private::init_svc::<$ty>(ctx)
                }

                fn transform(
                    batch: $crate::__private::wit::Batch,
                    batch_id: u64,
                ) -> ::core::result::Result<
                    $crate::__private::wit::Batch,
                    $crate::__private::wit::Error,
                > {
                    $crate::__private::transform::<$ty>(batch, batch_id)
                }
            }

            $crate::__private::bindings::export_premodule!(
                __PremodExport with_types_in $crate::__private::bindings
            );

            #[unsafe(link_section = "premod-api-version")]
            #[used]
            static __PREMOD_API_VERSION: [u8; $crate::API_VERSION.len()] =
                $crate::__private::bytes($crate::API_VERSION);

            #[unsafe(link_section = "premod-sdk")]
            #[used]
            static __PREMOD_SDK: [u8; $crate::SDK_ID.len()] =
                $crate::__private::bytes($crate::SDK_ID);
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn __premod_check<T: $crate::Premodule>() {}
            __premod_check::<$ty>();
        };
    };
}

/// Logs one line at `info` level to the step log, `format!`-style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Info, &::std::format!($($arg)+))
    };
}

/// Logs one line at `warn` level to the step log, `format!`-style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Logs one line at `error` level to the step log, `format!`-style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Error, &::std::format!($($arg)+))
    };
}

/// Logs one line at `debug` level to the step log, `format!`-style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Logs one line at `trace` level to the step log, `format!`-style.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Trace, &::std::format!($($arg)+))
    };
}
