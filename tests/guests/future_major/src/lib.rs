//! A well-behaved module built against premod:premodule@2.0.0: an incompatible major version.

wit_bindgen::generate!({ path: "../wit-v2", world: "premodule" });

use exports::premod::premodule::{serve, train};
use premod::premodule::types::{Batch, Error, ServeContext, Summary, TrainContext};

struct FutureMajor;

impl train::Guest for FutureMajor {
    fn process_for_train(_ctx: TrainContext) -> Result<Summary, Error> {
        Ok(Summary {
            total: 1,
            success: 1,
            error: 0,
            message: None,
        })
    }
}

impl serve::Guest for FutureMajor {
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        Ok(())
    }

    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(FutureMajor);
