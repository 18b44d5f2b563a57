//! `tabular_normalize`: an example premodule with fitted state, written with `premod-sdk`.
//! Its Python twin is `examples/modules/tabular_normalize/tabular_normalize.py`; both write the
//! same files and state and log the same lines.
//!
//! - `process-for-train` reads every `*.csv` file in `/input` (the previous rule's output)
//!   or, for the first rule, `/collection`. When `do_fit` is true it fits, for each column
//!   to normalise, the mean, population standard deviation, min and max over all rows of all
//!   files and writes them to `/meta/state.json` with the method; otherwise it reads that
//!   file. It writes each CSV to `/output` under the same name with those columns replaced by
//!   `(x - mean) / std` (`zscore`) or `(x - min) / (max - min)` (`minmax`), a zero divisor
//!   counting as 1, printed with `decimals` decimals.
//! - `init-svc` loads `/meta/state.json` once; `transform` normalises the same fields of
//!   each record of a JSON batch (numbers, or strings holding one) with it.
//!
//! Params (all optional): `columns` (default: the rule's source columns; when serving,
//! every fitted column), `method` (`"zscore"` default, or `"minmax"`; when reusing a state it
//! must match the fitted one), `decimals` (default 6, at most 17).

pub mod normalize;

use premod_sdk::{Batch, Context, Premodule, Result, ServeContext, Summary, TrainContext};

use crate::normalize::{ServeParams, State};

/// The service: the fitted statistics of the columns `transform` normalises.
pub struct TabularNormalize {
    method: normalize::Method,
    columns: Vec<normalize::ColumnStats>,
}

impl Premodule for TabularNormalize {
    fn process_for_train(ctx: &TrainContext) -> Result<Summary> {
        normalize::train(ctx)
    }

    fn init_svc(ctx: &ServeContext) -> Result<Self> {
        let params: ServeParams = ctx.params()?;
        let state = State::load(&ctx.meta).context("init-svc")?;
        state.check_method(params.method)?;
        let columns = state.select(params.columns.as_deref())?;
        premod_sdk::info!(
            "[tabular] init_svc: loaded {}/{} ({}) for {}",
            ctx.meta,
            normalize::STATE_FILE,
            state.method.as_str(),
            normalize::names_repr(&columns)
        );
        Ok(TabularNormalize {
            method: state.method,
            columns,
        })
    }

    fn transform(&mut self, batch: Batch, _batch_id: u64) -> Result<Batch> {
        let mut records = batch.records()?;
        normalize::transform_records(&mut records, &self.columns, self.method)?;
        Batch::json(&records)
    }
}

premod_sdk::export!(TabularNormalize);
