//! A minimal well-behaved module (like hostile's `ok` action) built against
//! premod:premodule@2.0.0 (`tests/guests/wit-v2`): an incompatible major version. It imports
//! `host@2.0.0` and exports `train@2.0.0` and `serve@2.0.0`.

wit_bindgen::generate!({ path: "../wit-v2", world: "premodule" });

use exports::premod::premodule::{serve, train};
use premod::premodule::host;
use premod::premodule::types::{Batch, Error, Level, ServeContext, Summary, TrainContext};

struct FutureMajor;

impl train::Guest for FutureMajor {
    fn process_for_train(_ctx: TrainContext) -> Result<Summary, Error> {
        std::fs::write("/output/ok.txt", "ok\n")
            .map_err(|e| Error::Io(format!("write /output/ok.txt failed: {e}")))?;
        host::log(Level::Info, "future_major: ok");
        Ok(Summary {
            total: 1,
            success: 1,
            error: 0,
            message: Some("ok".into()),
        })
    }
}

impl serve::Guest for FutureMajor {
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        host::log(Level::Info, "future_major: init-svc");
        Ok(())
    }

    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(FutureMajor);
