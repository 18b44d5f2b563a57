//! `premod run`, `runs`, `logs`, `stop`, `rm` and the hidden `worker`.

use super::progress::TerminalObserver;
use super::{Context, LimitArgs, UsageError};
use crate::runs::{RunError, RunRecord, Runs, execute};
use clap::{Args, Subcommand};
use std::sync::Arc;
use std::time::Duration;

fn fail(e: RunError) -> anyhow::Error {
    match e.is_bad_input() {
        true => UsageError(anyhow::Error::new(e)).into(),
        false => anyhow::Error::new(e),
    }
}

fn workers_default() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct RunArgs {
    #[command(subcommand)]
    show: Option<RunSub>,
    /// The model to run
    model: Option<String>,
    /// Run on this dataset instead of the model's reference dataset
    #[arg(long)]
    dataset: Option<String>,
    /// Run in this process and wait for the end (log on stderr); otherwise a background
    /// worker runs it and the command prints the run id
    #[arg(long)]
    wait: bool,
    /// Runs that may execute at once on this machine (others wait as `registered`)
    #[arg(long, default_value_t = workers_default())]
    workers: usize,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, Subcommand)]
enum RunSub {
    /// Show a run and its steps
    Show(IdArgs),
}

#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// Run id
    id: i64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Run id
    id: i64,
    /// Only this step (its rule number)
    #[arg(long)]
    step: Option<u32>,
    /// Keep printing new lines until the run ends
    #[arg(long)]
    follow: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    id: i64,
    #[arg(long, default_value_t = workers_default())]
    workers: usize,
}

fn describe(r: &RunRecord) -> String {
    let mut out = format!(
        "run {}  model {}  dataset {}  status {}\nstarted {}  finished {}",
        r.id,
        r.model,
        r.dataset,
        r.status,
        r.started_at.as_deref().unwrap_or("-"),
        r.finished_at.as_deref().unwrap_or("-")
    );
    if let Some(e) = &r.error {
        out.push_str(&format!("\nerror ({}): {}", e.kind, e.message));
    }
    if let Some(o) = &r.output {
        out.push_str(&format!("\noutput {o}"));
    }
    out.push_str(&format!(
        "\n\n{:<36} {:<10} {:<12} {:<10} {:<20} {}",
        "STEP", "STATUS", "MODULE", "PROGRESS", "FINISHED", "LOG"
    ));
    for s in &r.steps {
        out.push_str(&format!(
            "\n{:<36} {:<10} {:<12} {:<10} {:<20} {}",
            s.name,
            s.status,
            s.module_version.as_deref().unwrap_or("-"),
            format!("{}/{}", s.progress.0, s.progress.1),
            s.finished_at.as_deref().unwrap_or("-"),
            s.log
        ));
    }
    out
}

fn print_run(json: bool, r: &RunRecord) -> anyhow::Result<()> {
    match json {
        true => out!("{}", serde_json::to_string(r)?),
        false => out!("{}", describe(r)),
    }
    Ok(())
}

fn exit_code(r: &RunRecord) -> u8 {
    match r.status.as_str() {
        "completed" => 0,
        _ => 1,
    }
}

impl RunArgs {
    pub(crate) async fn run(self, ctx: &Context) -> anyhow::Result<u8> {
        let mut reg = ctx.registry()?;
        Runs::new(&mut reg).recover().map_err(fail)?;
        if let Some(RunSub::Show(a)) = self.show {
            let r = Runs::new(&mut reg).get(a.id).map_err(fail)?;
            print_run(a.json, &r)?;
            return Ok(0);
        }
        let Some(model) = self.model else {
            return Err(
                UsageError(anyhow::anyhow!("name the model to run: premod run MODEL")).into(),
            );
        };
        let limits = self.limits.limits().map_err(UsageError)?;
        let run = Runs::new(&mut reg)
            .create(&model, self.dataset.as_deref(), &limits)
            .map_err(fail)?;
        if self.wait {
            let engine = ctx.engine()?;
            let view = Arc::new(TerminalObserver::new());
            let r = execute(&ctx.home, &engine, run.id, self.workers, Some(view.clone())).await;
            view.finish();
            let r = r.map_err(fail)?;
            print_run(self.json, &r)?;
            return Ok(exit_code(&r));
        }
        // A background worker, in its own process group so that the shell's Ctrl-C for this
        // command does not reach it.
        let spawned = crate::runs::spawn_worker(
            &std::env::current_exe()?,
            &ctx.home,
            run.id,
            self.workers,
            ctx.native_capabilities,
        );
        if let Err(e) = spawned {
            Runs::new(&mut reg).request_stop(run.id).map_err(fail)?;
            anyhow::bail!("cannot start a worker for run {}: {e}", run.id);
        }
        let r = Runs::new(&mut reg).get(run.id).map_err(fail)?;
        match self.json {
            true => out!("{}", serde_json::to_string(&r)?),
            false => out!(
                "run {} of {} registered; follow it with `premod logs {} --follow`",
                r.id,
                r.model,
                r.id
            ),
        }
        Ok(0)
    }
}

pub(crate) async fn worker(ctx: &Context, a: WorkerArgs) -> anyhow::Result<u8> {
    let engine = ctx.engine()?;
    let r = execute(&ctx.home, &engine, a.id, a.workers, None)
        .await
        .map_err(fail)?;
    Ok(exit_code(&r))
}

pub(crate) fn list(ctx: &Context, a: ListArgs) -> anyhow::Result<u8> {
    let mut reg = ctx.registry()?;
    let mut runs = Runs::new(&mut reg);
    runs.recover().map_err(fail)?;
    let all = runs.list().map_err(fail)?;
    match a.json {
        true => out!("{}", serde_json::to_string(&all)?),
        false => {
            out!(
                "{:<5} {:<32} {:<32} {:<32} {:<32} STATUS",
                "ID",
                "MODEL",
                "DATASET",
                "STARTED",
                "FINISHED"
            );
            for r in &all {
                out!(
                    "{:<5} {:<32} {:<32} {:<32} {:<32} {}",
                    r.id,
                    r.model,
                    r.dataset,
                    r.started_at.as_deref().unwrap_or("-"),
                    r.finished_at.as_deref().unwrap_or("-"),
                    r.status
                );
            }
        }
    }
    Ok(0)
}

pub(crate) async fn logs(ctx: &Context, a: LogsArgs) -> anyhow::Result<u8> {
    let mut reg = ctx.registry()?;
    let mut printed: Vec<u64> = Vec::new();
    loop {
        let mut runs = Runs::new(&mut reg);
        runs.recover().map_err(fail)?;
        let r = runs.get(a.id).map_err(fail)?;
        let steps: Vec<_> = r
            .steps
            .iter()
            .filter(|s| a.step.is_none_or(|n| n == s.rule_no))
            .collect();
        if steps.is_empty() {
            return Err(
                UsageError(anyhow::anyhow!("run {} has no step {:?}", a.id, a.step)).into(),
            );
        }
        printed.resize(steps.len(), 0);
        for (i, s) in steps.iter().enumerate() {
            let Ok(text) = std::fs::read(&s.log) else {
                continue;
            };
            let from = (printed[i] as usize).min(text.len());
            // Only whole lines, so a line being written is printed once, complete.
            let end = text[from..]
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|p| from + p + 1)
                .unwrap_or(from);
            if end > from {
                use std::io::Write;
                std::io::stdout().write_all(&text[from..end])?;
                printed[i] = end as u64;
            }
        }
        if !a.follow || r.is_final() {
            return Ok(0);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn stop(ctx: &Context, a: IdArgs) -> anyhow::Result<u8> {
    let mut reg = ctx.registry()?;
    let mut runs = Runs::new(&mut reg);
    runs.recover().map_err(fail)?;
    let mut r = runs.request_stop(a.id).map_err(fail)?;
    for _ in 0..50 {
        if r.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        r = runs.get(a.id).map_err(fail)?;
    }
    print_run(a.json, &r)?;
    Ok(match r.is_final() {
        true => 0,
        false => 1,
    })
}

pub(crate) fn remove(ctx: &Context, a: IdArgs) -> anyhow::Result<u8> {
    let mut reg = ctx.registry()?;
    let mut runs = Runs::new(&mut reg);
    runs.recover().map_err(fail)?;
    let r = runs.remove(a.id).map_err(fail)?;
    match a.json {
        true => out!("{}", serde_json::to_string(&r)?),
        false => out!("removed run {} (records, logs and output)", r.id),
    }
    Ok(0)
}
