//! A module whose world (`tests/guests/wit-serve-only`, still premod:premodule@1.0.0) exports
//! `serve` but not `train`: a missing export. It imports `host` like a real module.

wit_bindgen::generate!({ path: "../wit-serve-only", world: "premodule" });

use exports::premod::premodule::serve;
use premod::premodule::host;
use premod::premodule::types::{Batch, Error, Level, ServeContext};

struct ServeOnly;

impl serve::Guest for ServeOnly {
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        host::log(Level::Info, "serve_only: init-svc");
        Ok(())
    }

    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(ServeOnly);
