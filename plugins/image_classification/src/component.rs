//! The WIT glue: bindings, host adapter and the exported `train` and `serve` interfaces.

wit_bindgen::generate!({
    path: "../../wit",
    world: "premodule",
});

use crate::train;
use exports::premod::premodule::serve;
use exports::premod::premodule::train as train_api;
use premod::premodule::host;
use premod::premodule::types::{Batch, Error, Level, ServeContext, Summary, TrainContext};

struct ImageClassification;

/// Sends log lines and progress to the host.
struct WitHost;

impl train::Host for WitHost {
    fn log(&mut self, line: &str) {
        host::log(Level::Info, line);
    }

    fn progress(&mut self, done: u64, total: u64) {
        host::progress(done, total);
    }
}

impl train_api::Guest for ImageClassification {
    fn process_for_train(ctx: TrainContext) -> Result<Summary, Error> {
        train::process_for_train(
            &ctx.paths.collection,
            &ctx.paths.output,
            &ctx.rule.params,
            &mut WitHost,
        )
        .map(|s| Summary {
            total: s.total,
            success: s.success,
            error: s.error,
            message: s.message,
        })
        .map_err(|e| match e {
            train::TrainError::InvalidParams(m) => Error::InvalidParams(m),
            train::TrainError::InvalidData(m) => Error::InvalidData(m),
            train::TrainError::Io(m) => Error::Io(m),
        })
    }
}

impl serve::Guest for ImageClassification {
    /// Nothing was fitted: there is no state to load.
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        Ok(())
    }

    /// Image classification needs no inference-time preprocessing: the batch passes through.
    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(ImageClassification);
