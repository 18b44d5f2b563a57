//! The module's entry points, registered with `premod_sdk::export!`.

use premod_sdk::{Batch, Premodule, Result, ServeContext, Summary, TrainContext};

use crate::train;

/// The image classification premodule.
pub struct ImageClassification;

impl Premodule for ImageClassification {
    fn process_for_train(ctx: &TrainContext) -> Result<Summary> {
        train::process_for_train(ctx)
    }

    /// Nothing was fitted: there is no state to load.
    fn init_svc(_ctx: &ServeContext) -> Result<Self> {
        Ok(ImageClassification)
    }

    /// Image classification needs no inference-time preprocessing: the batch passes through.
    fn transform(&mut self, batch: Batch, _batch_id: u64) -> Result<Batch> {
        Ok(batch)
    }
}

premod_sdk::export!(ImageClassification);
