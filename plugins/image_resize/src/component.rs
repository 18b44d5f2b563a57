//! The WIT exports (wasm32 only), written with wit-bindgen directly: the Rust SDK does not
//! offer the 1.1.0 `items` interface yet.

use crate::params::Params;
use crate::resize;
use std::path::Path;

wit_bindgen::generate!({ path: "../../wit", world: "premodule-items" });

use exports::premod::premodule::items::{
    self, FileSelector, Item, ItemOutcome, ItemSource, ItemSummary,
};
use exports::premod::premodule::{serve, train};
use premod::premodule::host;
use premod::premodule::types::{Batch, Error, Level, ServeContext, Summary, TrainContext};

struct ImageResize;

fn params(ctx: &TrainContext) -> Result<Params, Error> {
    Params::parse(&ctx.rule.params).map_err(Error::InvalidParams)
}

/// `/output/<key relative to the root>`.
fn output_for(root: &str, key: &str) -> Result<String, Error> {
    let rel = key
        .strip_prefix(root.trim_end_matches('/'))
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| Error::Other(format!("item {key} is not under the item root {root}")))?;
    Ok(format!("/output/{rel}"))
}

impl items::Guest for ImageResize {
    fn plan(ctx: TrainContext) -> Result<ItemSource, Error> {
        let p = params(&ctx)?;
        Ok(ItemSource::Files(FileSelector {
            root: p.root(ctx.paths.input.as_deref()),
            extensions: p.extensions,
        }))
    }

    fn process_item(ctx: TrainContext, item: Item) -> Result<ItemSummary, Error> {
        let p = params(&ctx)?;
        let root = p.root(ctx.paths.input.as_deref());
        let out = output_for(&root, &item.key)?;
        resize::resize_file(Path::new(&item.key), Path::new(&out), p.size)
            .map_err(Error::InvalidData)?;
        Ok(ItemSummary { note: None })
    }

    fn finish(ctx: TrainContext, outcomes: Vec<ItemOutcome>) -> Result<Option<String>, Error> {
        let p = params(&ctx)?;
        let ok = outcomes.iter().filter(|o| o.summary.is_ok()).count();
        let message = format!(
            "resized {ok} of {} images to {}x{}",
            outcomes.len(),
            p.size,
            p.size
        );
        host::log(Level::Info, &message);
        Ok(Some(message))
    }
}

impl train::Guest for ImageResize {
    fn process_for_train(ctx: TrainContext) -> Result<Summary, Error> {
        let p = params(&ctx)?;
        let root = p.root(ctx.paths.input.as_deref());
        let n = resize::resize_tree(
            Path::new(&root),
            Path::new(&ctx.paths.output),
            p.size,
            &p.extensions,
        )
        .map_err(Error::InvalidData)?;
        let message = format!("resized {n} of {n} images to {}x{}", p.size, p.size);
        host::log(Level::Info, &message);
        Ok(Summary {
            total: n,
            success: n,
            error: 0,
            message: Some(message),
        })
    }
}

impl serve::Guest for ImageResize {
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        Ok(())
    }

    /// Resizing applies to training images; inference batches pass through.
    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(ImageResize);
