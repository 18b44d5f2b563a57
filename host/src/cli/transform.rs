use super::{LimitArgs, UsageError, parse_params};
use crate::step::{Batch, Rule};
use crate::steplog::StderrObserver;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Args)]
pub(crate) struct TransformArgs {
    /// The module: a WebAssembly component file (.wasm)
    module: PathBuf,
    /// Fitted state written by process-for-train, mounted read-only at /meta
    #[arg(long, value_name = "DIR")]
    meta: Option<PathBuf>,
    /// Rule parameters, a JSON object
    #[arg(long, value_name = "JSON")]
    params: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
}

impl TransformArgs {
    pub(crate) async fn run(self, ctx: &super::Context) -> anyhow::Result<u8> {
        let rule = Rule {
            params: parse_params(self.params.as_deref()).map_err(UsageError)?,
            ..Rule::default()
        };
        let limits = self.limits.limits().map_err(UsageError)?;
        if let Some(meta) = &self.meta
            && !meta.is_dir()
        {
            return Err(UsageError(anyhow::anyhow!(
                "--meta {} is not a folder; give the fitted-state folder written by `premod \
                 exec --meta`",
                meta.display()
            ))
            .into());
        }
        let engine = ctx.engine()?;
        let module = match engine.load_file(&self.module) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error ({}): {}", e.kind, e.message);
                return Ok(2);
            }
        };
        let mut service = match engine
            .start_service(
                &module,
                self.meta.as_deref(),
                rule,
                limits,
                Arc::new(StderrObserver),
            )
            .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error ({}): init-svc failed: {}", e.kind, e.message);
                return Ok(if e.kind.is_bad_input() { 2 } else { 1 });
            }
        };
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut batch_id = 0u64;
        while let Some(line) = lines.next_line().await? {
            if line.trim().is_empty() {
                continue;
            }
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&line) {
                eprintln!(
                    "error (invalid-input): batch {batch_id} on stdin is not JSON ({e}); send \
                     one JSON array of records per line"
                );
                return Ok(2);
            }
            match service.transform(Batch::json(line), batch_id).await {
                Ok(out) => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&out.data)?;
                    stdout.write_all(b"\n")?;
                    stdout.flush()?;
                }
                Err(e) => {
                    eprintln!("error ({}): batch {batch_id}: {}", e.kind, e.message);
                    return Ok(1);
                }
            }
            batch_id += 1;
        }
        Ok(0)
    }
}
