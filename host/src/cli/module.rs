use super::{Context, UsageError};
use crate::registry::{self, AddRequest, Registry, RegistryError};
use crate::store::ModuleVersion;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum ModuleCommand {
    /// Validate a component and store it as NAME@VERSION
    Add(AddArgs),
    /// List module versions
    List(ListArgs),
    /// Show a module's versions and deployment history, or one version
    Show(RefArgs),
    /// Make NAME@VERSION the deployed version (what NAME resolves to)
    Deploy(DeployArgs),
    /// Flag NAME@VERSION for removal (it still runs where pinned)
    Deprecate(RefArgs),
    /// Return NAME to the version deployed before the current one
    Rollback(RefArgs),
    /// Remove NAME@VERSION's bytes (its record stays, marked retired)
    Rm(RefArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The component file (.wasm)
    file: PathBuf,
    /// Module name: a-z, 0-9, `_`, `-`
    #[arg(long)]
    name: String,
    /// Semantic version, e.g. 1.0.0
    #[arg(long)]
    version: String,
    /// Language/template (default: read from the component's producers section)
    #[arg(long)]
    template: Option<String>,
    /// A note stored with the version (who, why)
    #[arg(long)]
    note: Option<String>,
    /// Largest accepted component, in MiB
    #[arg(long, value_name = "MIB", default_value_t = registry::DEFAULT_MAX_SIZE >> 20)]
    max_size: u64,
    /// Longest accepted compile time, in seconds
    #[arg(long, value_name = "SECS", default_value_t = registry::DEFAULT_MAX_COMPILE.as_secs())]
    max_compile: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this module's versions
    name: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RefArgs {
    /// NAME or NAME@VERSION
    module: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// NAME@VERSION
    module: String,
    /// A note stored in the deployment history
    #[arg(long)]
    note: Option<String>,
    #[arg(long)]
    json: bool,
}

fn fail(e: RegistryError) -> anyhow::Error {
    if e.is_bad_input() {
        UsageError(anyhow::Error::new(e)).into()
    } else {
        anyhow::Error::new(e)
    }
}

fn exact(text: &str) -> anyhow::Result<(String, String)> {
    match registry::parse_ref(text).map_err(fail)? {
        (name, Some(version)) => Ok((name, version)),
        (name, None) => Err(UsageError(anyhow::anyhow!(
            "name a version: {name}@VERSION (`premod module show {name}` lists them)"
        ))
        .into()),
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

fn line(v: &ModuleVersion) -> String {
    format!(
        "{:<32} {:<12} {:<10} {:<8} {:>10}  {}  {}",
        v.name,
        v.version,
        v.status.as_str(),
        v.template.as_deref().unwrap_or("-"),
        v.size,
        &v.digest[..v.digest.len().min(19)],
        v.deploy_dt.as_deref().unwrap_or("-"),
    )
}

fn table(versions: &[ModuleVersion]) -> String {
    let mut out = format!(
        "{:<32} {:<12} {:<10} {:<8} {:>10}  {:<19}  {}",
        "NAME", "VERSION", "STATUS", "TEMPLATE", "SIZE", "DIGEST", "DEPLOYED"
    );
    for v in versions {
        out.push('\n');
        out.push_str(&line(v));
    }
    out
}

impl ModuleCommand {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<u8> {
        let mut reg: Registry = ctx.registry()?;
        match self {
            ModuleCommand::Add(a) => {
                let bytes = std::fs::read(&a.file).map_err(|e| {
                    UsageError(anyhow::anyhow!("cannot read {}: {e}", a.file.display()))
                })?;
                let engine = ctx.engine()?;
                let req = AddRequest {
                    name: a.name,
                    version: a.version,
                    template: a.template,
                    note: a.note,
                    max_size: a.max_size << 20,
                    max_compile: std::time::Duration::from_secs(a.max_compile),
                };
                let added = reg.add(&engine, &bytes, &req).map_err(fail)?;
                print(a.json, &added, || {
                    let verb = if added.created {
                        "added"
                    } else {
                        "already stored"
                    };
                    format!(
                        "{verb}: {}@{} ({}, {} bytes, {})",
                        added.version.name,
                        added.version.version,
                        added.version.digest,
                        added.version.size,
                        added.version.status.as_str()
                    )
                })
            }
            ModuleCommand::List(a) => {
                if let Some(n) = &a.name {
                    registry::validate_name(n).map_err(fail)?;
                }
                let versions = reg.list(a.name.as_deref()).map_err(fail)?;
                print(a.json, &versions, || table(&versions))
            }
            ModuleCommand::Show(a) => {
                let (name, version) = registry::parse_ref(&a.module).map_err(fail)?;
                match version {
                    Some(v) => {
                        let v = reg.get(&name, &v).map_err(fail)?;
                        let leases = reg.leases(&v).map_err(fail)?;
                        #[derive(Serialize)]
                        struct Show<'a> {
                            #[serde(flatten)]
                            version: &'a ModuleVersion,
                            leases: Vec<crate::store::Lease>,
                        }
                        let show = Show {
                            version: &v,
                            leases,
                        };
                        print(a.json, &show, || {
                            format!(
                                "{}\n{}\nuploaded {}  api {}  note {}",
                                table(std::slice::from_ref(&v)),
                                v.digest,
                                v.uploaded_at,
                                v.api_version,
                                v.note.as_deref().unwrap_or("-")
                            )
                        })
                    }
                    None => {
                        let versions = reg.list(Some(&name)).map_err(fail)?;
                        if versions.is_empty() {
                            return Err(fail(RegistryError::NoModule(name)));
                        }
                        let history = reg.history(&name).map_err(fail)?;
                        #[derive(Serialize)]
                        struct Show {
                            versions: Vec<ModuleVersion>,
                            history: Vec<crate::store::Deployment>,
                        }
                        let show = Show { versions, history };
                        print(a.json, &show, || {
                            let mut out = table(&show.versions);
                            out.push_str("\n\nHISTORY");
                            for d in &show.history {
                                out.push_str(&format!("\n{}  {:<8} {}", d.at, d.action, d.version));
                            }
                            out
                        })
                    }
                }
            }
            ModuleCommand::Deploy(a) => {
                let (name, version) = exact(&a.module)?;
                let v = reg
                    .deploy(&name, &version, a.note.as_deref())
                    .map_err(fail)?;
                print(a.json, &v, || format!("deployed {}@{}", v.name, v.version))
            }
            ModuleCommand::Deprecate(a) => {
                let (name, version) = exact(&a.module)?;
                let v = reg.deprecate(&name, &version).map_err(fail)?;
                print(a.json, &v, || {
                    format!("deprecated {}@{}", v.name, v.version)
                })
            }
            ModuleCommand::Rollback(a) => {
                let (name, version) = registry::parse_ref(&a.module).map_err(fail)?;
                if version.is_some() {
                    return Err(UsageError(anyhow::anyhow!(
                        "rollback takes a module name, not a version: premod module rollback {name}"
                    ))
                    .into());
                }
                let v = reg.rollback(&name).map_err(fail)?;
                print(a.json, &v, || {
                    format!("rolled back {} to {}", v.name, v.version)
                })
            }
            ModuleCommand::Rm(a) => {
                let (name, version) = exact(&a.module)?;
                let v = reg.remove(&name, &version).map_err(fail)?;
                print(a.json, &v, || {
                    format!("removed {}@{} (retired)", v.name, v.version)
                })
            }
        }
    }
}
