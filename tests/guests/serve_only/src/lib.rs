//! A module that exports `serve` but not `train`: a missing export.

wit_bindgen::generate!({ path: "../wit-serve-only", world: "premodule" });

use exports::premod::premodule::serve;
use premod::premodule::types::{Batch, Error, ServeContext};

struct ServeOnly;

impl serve::Guest for ServeOnly {
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        Ok(())
    }

    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(ServeOnly);
