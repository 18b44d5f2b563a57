//! Used by [`export!`](crate::export) and the host functions; not a public API.

/// Copies `s` into an array, for the custom-section statics of `export!`.
pub const fn bytes<const N: usize>(s: &str) -> [u8; N] {
    let src = s.as_bytes();
    assert!(src.len() == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = src[i];
        i += 1;
    }
    out
}

#[cfg(target_arch = "wasm32")]
pub use glue::*;

#[cfg(target_arch = "wasm32")]
mod glue {
    use std::any::Any;
    use std::cell::RefCell;

    use crate::{Batch, Column, Error, Paths, Premodule, Rule, ServeContext, TrainContext};

    pub use wit_bindgen;

    /// The generated bindings. Their `export_premodule!` macro is public so that the
    /// module's crate, which invokes [`crate::export!`], emits the exports.
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit",
            world: "premodule",
            pub_export_macro: true,
            export_macro_name: "export_premodule",
            default_bindings_module: "::premod_sdk::__private::bindings",
            runtime_path: "::premod_sdk::__private::wit_bindgen::rt",
        });
    }

    /// Bindings for the optional host-native capabilities (`wit/native/`, its own package
    /// and version). Imports only: a component imports what it calls.
    pub mod native_bindings {
        wit_bindgen::generate!({
            path: "wit/native",
            world: "capabilities",
            runtime_path: "::premod_sdk::__private::wit_bindgen::rt",
        });
    }

    /// The generated WIT types.
    pub mod wit {
        pub use super::bindings::premod::premodule::types::*;
    }

    pub use bindings::exports::premod::premodule::serve::Guest as ServeGuest;
    pub use bindings::exports::premod::premodule::train::Guest as TrainGuest;

    thread_local! {
        /// The value `init_svc` returned, used by every later `transform` of this instance.
        static SERVICE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    pub fn process_for_train<T: Premodule>(
        ctx: wit::TrainContext,
    ) -> Result<wit::Summary, wit::Error> {
        let ctx = TrainContext {
            paths: Paths {
                collection: ctx.paths.collection,
                input: ctx.paths.input,
                output: ctx.paths.output,
                meta: ctx.paths.meta,
            },
            rule: rule(ctx.rule),
            do_fit: ctx.do_fit,
        };
        T::process_for_train(&ctx)
            .map(|s| wit::Summary {
                total: s.total,
                success: s.success,
                error: s.error,
                message: s.message,
            })
            .map_err(error)
    }

    pub fn init_svc<T: Premodule>(ctx: wit::ServeContext) -> Result<(), wit::Error> {
        let ctx = ServeContext {
            meta: ctx.meta,
            rule: rule(ctx.rule),
        };
        let service = T::init_svc(&ctx).map_err(error)?;
        SERVICE.with(|s| *s.borrow_mut() = Some(Box::new(service)));
        Ok(())
    }

    pub fn transform<T: Premodule>(
        batch: wit::Batch,
        batch_id: u64,
    ) -> Result<wit::Batch, wit::Error> {
        let batch = Batch {
            content_type: batch.content_type,
            data: batch.data,
        };
        SERVICE
            .with(|s| {
                let mut slot = s.borrow_mut();
                let service = slot
                    .as_mut()
                    .and_then(|b| b.downcast_mut::<T>())
                    .ok_or_else(|| {
                        Error::Other("transform was called before init-svc succeeded".into())
                    })?;
                service.transform(batch, batch_id)
            })
            .map(|b| wit::Batch {
                content_type: b.content_type,
                data: b.data,
            })
            .map_err(error)
    }

    fn rule(r: wit::Rule) -> Rule {
        Rule {
            rule_no: r.rule_no,
            source_columns: r
                .source_columns
                .into_iter()
                .map(|c| Column {
                    name: c.name,
                    data_type: c.data_type,
                })
                .collect(),
            params: r.params,
        }
    }

    fn error(e: Error) -> wit::Error {
        match e {
            Error::InvalidParams(m) => wit::Error::InvalidParams(m),
            Error::InvalidData(m) => wit::Error::InvalidData(m),
            Error::Io(m) => wit::Error::Io(m),
            Error::Unsupported(m) => wit::Error::Unsupported(m),
            Error::Other(m) => wit::Error::Other(m),
        }
    }
}
