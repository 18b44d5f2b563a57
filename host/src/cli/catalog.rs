//! `premod dataset ...` and `premod model ...`.

use super::{Context, UsageError};
use crate::catalog::{Catalog, CatalogError};
use crate::model::ModelDef;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum DatasetCommand {
    /// Register a reference dataset: a name and its collection folder
    Add(DatasetAdd),
    /// List datasets
    List(JsonFlag),
    /// Remove a dataset record (its folder is left alone)
    Rm(NameArg),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Create a model from a TOML or JSON file (see examples/models/)
    Create(ModelCreate),
    /// List models
    List(JsonFlag),
    /// Show a model: dataset, columns, rules
    Show(NameArg),
    /// Remove a model (releases the module versions it pins)
    Rm(NameArg),
}

#[derive(Debug, Args)]
pub(crate) struct DatasetAdd {
    /// Dataset name: a-z, 0-9, `_`, `-`
    name: String,
    /// The collection folder (e.g. holding dataset.zip); must exist
    #[arg(long, value_name = "DIR")]
    collection: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ModelCreate {
    /// The model file (.toml, or .json)
    file: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JsonFlag {
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct NameArg {
    name: String,
    #[arg(long)]
    json: bool,
}

fn fail(e: CatalogError) -> anyhow::Error {
    match e.is_bad_input() {
        true => UsageError(anyhow::Error::new(e)).into(),
        false => anyhow::Error::new(e),
    }
}

fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<u8> {
    match json {
        true => out!("{}", serde_json::to_string(value)?),
        false => out!("{}", human()),
    }
    Ok(0)
}

fn describe(def: &ModelDef) -> String {
    let mut out = format!("model    {}\ndataset  {}\n\ncolumns", def.name, def.dataset);
    out.push_str(&format!(
        "\n  {:<4} {:<5} {:<24} {:<9} {:<5} {}",
        "#", "USED", "COLUMN", "TYPE", "ID", "LABEL"
    ));
    for (i, c) in def.columns.iter().enumerate() {
        out.push_str(&format!(
            "\n  {:<4} {:<5} {:<24} {:<9} {:<5} {}",
            i + 1,
            c.used,
            c.name,
            c.data_type,
            c.id,
            c.label
        ));
    }
    out.push_str("\n\nrules");
    for (i, r) in def.rules.iter().enumerate() {
        out.push_str(&format!(
            "\n  {:<28} {} <- {}  params {}",
            def.step_name(i),
            r.module,
            r.source_columns.join(", "),
            serde_json::Value::Object(r.params.clone())
        ));
    }
    out
}

impl DatasetCommand {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<u8> {
        let mut reg = ctx.registry()?;
        let mut cat = Catalog::new(&mut reg);
        match self {
            DatasetCommand::Add(a) => {
                let d = cat.add_dataset(&a.name, &a.collection).map_err(fail)?;
                print(a.json, &d, || {
                    format!("added dataset {} ({})", d.name, d.collection)
                })
            }
            DatasetCommand::List(a) => {
                let all = cat.datasets().map_err(fail)?;
                print(a.json, &all, || {
                    let mut out = format!("{:<32} {:<6} {}", "NAME", "TYPE", "COLLECTION");
                    for d in &all {
                        out.push_str(&format!(
                            "\n{:<32} {:<6} {}",
                            d.name, d.repo_type, d.collection
                        ));
                    }
                    out
                })
            }
            DatasetCommand::Rm(a) => {
                let d = cat.remove_dataset(&a.name).map_err(fail)?;
                print(a.json, &d, || format!("removed dataset {}", d.name))
            }
        }
    }
}

impl ModelCommand {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<u8> {
        let mut reg = ctx.registry()?;
        let mut cat = Catalog::new(&mut reg);
        match self {
            ModelCommand::Create(a) => {
                let def =
                    ModelDef::from_file(&a.file).map_err(|e| UsageError(anyhow::Error::new(e)))?;
                let m = cat.create_model(&def).map_err(fail)?;
                print(a.json, &m, || {
                    format!("created model {}\n\n{}", m.def.name, describe(&m.def))
                })
            }
            ModelCommand::List(a) => {
                let all = cat.models().map_err(fail)?;
                print(a.json, &all, || {
                    let mut out = format!("{:<32} {:<32} {}", "NAME", "DATASET", "RULES");
                    for m in &all {
                        let rules: Vec<_> =
                            (0..m.def.rules.len()).map(|i| m.def.step_name(i)).collect();
                        out.push_str(&format!(
                            "\n{:<32} {:<32} {}",
                            m.def.name,
                            m.def.dataset,
                            rules.join(", ")
                        ));
                    }
                    out
                })
            }
            ModelCommand::Show(a) => {
                let m = cat.model(&a.name).map_err(fail)?;
                print(a.json, &m, || describe(&m.def))
            }
            ModelCommand::Rm(a) => {
                let m = cat.remove_model(&a.name).map_err(fail)?;
                print(a.json, &m, || format!("removed model {}", m.def.name))
            }
        }
    }
}
