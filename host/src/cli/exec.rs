use super::progress::TerminalObserver;
use super::{LimitArgs, UsageError, parse_params};
use crate::exec::{ExecRequest, exec};
use crate::step::{Column, OnItemError, Parallel, Rule};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The module: a component file (.wasm), or a registered NAME@VERSION, or NAME (its
    /// deployed version)
    module: String,
    /// Dataset collection folder, mounted read-only at /collection
    #[arg(long, value_name = "DIR")]
    collection: PathBuf,
    /// Output folder (new or empty); receives /output only if the step succeeds
    #[arg(long, value_name = "DIR")]
    output: PathBuf,
    /// Previous step's output, mounted read-only at /input
    #[arg(long, value_name = "DIR")]
    input: Option<PathBuf>,
    /// Fitted-state folder, mounted at /meta (written when fitting, read-only with --no-fit)
    #[arg(long, value_name = "DIR")]
    meta: Option<PathBuf>,
    /// Tell the module not to fit (do-fit = false): it reuses the state in --meta
    #[arg(long)]
    no_fit: bool,
    /// Rule parameters, a JSON object
    #[arg(long, value_name = "JSON")]
    params: Option<String>,
    /// Rule number reported to the module
    #[arg(long, value_name = "N", default_value_t = 0)]
    rule_no: u32,
    /// Source column as NAME:TYPE (repeatable); default dataset:file
    #[arg(long = "column", value_name = "NAME:TYPE")]
    columns: Vec<String>,
    /// Replace the contents of a non-empty output folder when the step succeeds
    #[arg(long)]
    replace: bool,
    /// Print one JSON object with the outcome to stdout
    #[arg(long)]
    json: bool,
    /// Instances running items at once, for modules that export `items` (default: cores)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    parallel: Option<u16>,
    /// What a failed item does, for modules that export `items`: fail the step, or skip it
    /// (logged, counted as an error)
    #[arg(long, value_name = "fail|skip", default_value = "fail")]
    on_item_error: OnItemError,
    /// Run `process-for-train` in one instance even if the module exports `items`
    #[arg(long)]
    whole: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

impl ExecArgs {
    fn request(&self, module: PathBuf) -> anyhow::Result<ExecRequest> {
        let mut rule = Rule {
            rule_no: self.rule_no,
            params: parse_params(self.params.as_deref())?,
            ..Rule::default()
        };
        if !self.columns.is_empty() {
            rule.source_columns = self
                .columns
                .iter()
                .map(|c| match c.split_once(':') {
                    Some((name, ty)) if !name.is_empty() && !ty.is_empty() => Ok(Column {
                        name: name.into(),
                        data_type: ty.into(),
                    }),
                    _ => Err(anyhow::anyhow!(
                        "--column must look like NAME:TYPE (e.g. dataset:file), got {c:?}"
                    )),
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if self.no_fit && self.meta.is_none() {
            anyhow::bail!("--no-fit needs --meta DIR: the fitted state the module should reuse");
        }
        Ok(ExecRequest {
            module,
            collection: self.collection.clone(),
            output: self.output.clone(),
            input: self.input.clone(),
            meta: self.meta.clone(),
            rule,
            do_fit: !self.no_fit,
            limits: self.limits.limits()?,
            replace: self.replace,
            registered: None,
            parallel: Parallel {
                workers: self
                    .parallel
                    .map_or_else(crate::step::default_workers, usize::from),
                on_item_error: self.on_item_error,
                whole: self.whole,
            },
        })
    }

    pub(crate) async fn run(self, ctx: &super::Context) -> anyhow::Result<u8> {
        let path = PathBuf::from(&self.module);
        let by_name = !path.exists()
            && !self.module.contains('/')
            && !self.module.ends_with(".wasm")
            && !self.module.ends_with(".wat");
        let mut request = self.request(path).map_err(UsageError)?;
        // A module run by name resolves to one exact version now, once: a deploy during the
        // run changes nothing for it. The lease keeps the version from being removed.
        let mut lease = None;
        let registry = match by_name {
            true => Some(ctx.registry()?),
            false => None,
        };
        if let Some(reg) = &registry {
            let (name, version) = crate::registry::parse_ref(&self.module).map_err(|e| {
                UsageError(anyhow::anyhow!(
                    "{} is neither a file nor a module name: {e}",
                    self.module
                ))
            })?;
            let v = reg.resolve(&name, version.as_deref()).map_err(|e| {
                let bad = e.is_bad_input();
                let e = anyhow::Error::new(e);
                if bad { UsageError(e).into() } else { e }
            })?;
            lease = Some(reg.lease(&v, "run", &format!("exec pid {}", std::process::id()))?);
            request.module = reg.home().blob(&v.digest);
            request.registered = Some(v);
        }
        let engine = ctx.engine()?;
        let cancel = CancellationToken::new();
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.cancel();
            }
        });
        let view = Arc::new(TerminalObserver::new());
        let report = exec(&engine, request, view.clone(), cancel).await;
        view.finish();
        if let (Some(reg), Some(lease)) = (&registry, lease) {
            reg.release(lease)?;
        }
        if self.json {
            out!("{}", serde_json::to_string(&report)?);
        } else if let Some(e) = &report.error {
            eprintln!("error ({}): {}", e.kind, e.message);
        } else if let Some(out) = &report.output {
            eprintln!(
                "completed in {} ms: output in {}",
                report.usage.wall_ms,
                out.display()
            );
        }
        Ok(report.exit_code())
    }
}
