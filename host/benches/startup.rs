//! Cold vs warm start of a premodule, measured side by side in one run.
//!
//! `cargo bench -p premod --bench startup` prints a table (medians of N runs) and writes
//! `target/bench/startup.json`. The module is the hostile test guest's `ok` action: it writes
//! one small file and logs one line, so the figures are premod's own overhead.

use premod::engine::{Engine, EngineConfig, TrainJob};
use premod::limits::Limits;
use premod::step::{Mounts, Rule};
use premod::steplog::NullObserver;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The batch of bench/native and bench/python: `rows` records with an id, `x` and a label.
fn batch_json(rows: usize) -> Vec<u8> {
    let records: Vec<serde_json::Value> = (0..rows)
        .map(|i| {
            serde_json::json!({"id": i, "x": (i % 1000) as f64 * 0.5, "label": format!("c{}", i % 7)})
        })
        .collect();
    serde_json::to_vec(&records).unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let bytes = std::fs::read(premod_test_artifacts::HOSTILE).expect("hostile guest");
    let python = std::env::var("PREMOD_BENCH_PY").ok();
    let cache = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows: Vec<(String, f64)> = Vec::new();

    // Cold: compile from component bytes (a fresh engine each time, no artifact cache).
    let cold: Vec<Duration> = (0..RUNS.min(7))
        .map(|_| {
            let engine = Engine::new().unwrap();
            let t = Instant::now();
            engine.load(&bytes).unwrap();
            t.elapsed()
        })
        .collect();
    rows.push((
        "cold load (compile) of a 0.4 MB Rust component".into(),
        ms(median(cold)),
    ));

    // Warm: a new engine (as in a new process) loading the precompiled artifact.
    Engine::with_config(&config).unwrap().load(&bytes).unwrap();
    let warm: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let engine = Engine::with_config(&config).unwrap();
            let t = Instant::now();
            engine.load(&bytes).unwrap();
            t.elapsed()
        })
        .collect();
    rows.push(("warm load (precompiled artifact)".into(), ms(median(warm))));

    // Engine creation itself (config, linker, epoch thread).
    let create: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let e = Engine::with_config(&config).unwrap();
            let d = t.elapsed();
            drop(e);
            d
        })
        .collect();
    rows.push(("engine creation".into(), ms(median(create))));

    // A whole step in-process: fresh store + instance + process-for-train("ok").
    let engine = Engine::with_config(&config).unwrap();
    let module = engine.load(&bytes).unwrap();
    let step: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let (col, out) = (dir.path().join("c"), dir.path().join("o"));
            std::fs::create_dir(&col).unwrap();
            std::fs::create_dir(&out).unwrap();
            let mut rule = Rule::default();
            rule.params.insert("action".into(), "ok".into());
            let job = TrainJob {
                mounts: Mounts {
                    collection: col,
                    input: None,
                    output: out,
                    meta: None,
                },
                rule,
                do_fit: true,
                limits: Limits::default(),
                cancel: Default::default(),
            };
            let t = Instant::now();
            let outcome = rt.block_on(engine.run_train(&module, job, Arc::new(NullObserver)));
            let d = t.elapsed();
            assert!(outcome.result.is_ok(), "{:?}", outcome.result);
            d
        })
        .collect();
    rows.push((
        "step in-process: instantiate + process-for-train(ok)".into(),
        ms(median(step)),
    ));

    // Warm start: a new engine (a new process) from the cached artifact to an instance that
    // is ready to serve (`init-svc` done), then `transform` calls on that instance: a small
    // batch (per-call overhead) and a 20,000-row one. The batch and the work (`x - mean` on
    // JSON records) are those of bench/native and bench/python.
    let meta = tempfile::tempdir().unwrap();
    std::fs::write(meta.path().join("state.json"), r#"{"mean": 1.0}"#).unwrap();
    let serve = |engine: &Engine| {
        let module = engine.load(&bytes).unwrap();
        rt.block_on(engine.start_service(
            &module,
            Some(meta.path()),
            Rule::default(),
            Limits::default(),
            Arc::new(NullObserver),
        ))
        .unwrap()
    };
    let ready: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let engine = Engine::with_config(&config).unwrap();
            let t = Instant::now();
            let service = serve(&engine);
            let d = t.elapsed();
            drop(service);
            d
        })
        .collect();
    rows.push((
        "warm start: cached artifact to ready instance (load + init-svc)".into(),
        ms(median(ready)),
    ));
    let mut service = serve(&engine);
    for (rows_n, calls) in [(10, 2000), (20_000, 15)] {
        let batch = premod::step::Batch::json(batch_json(rows_n));
        let times: Vec<Duration> = (0..calls)
            .map(|i| {
                let b = batch.clone();
                let t = Instant::now();
                let out = rt.block_on(service.transform(b, i as u64)).unwrap();
                let d = t.elapsed();
                std::hint::black_box(out);
                d
            })
            .collect();
        rows.push((
            format!("transform of a {rows_n}-row JSON batch (one call)"),
            ms(median(times)),
        ));
    }

    // `premod exec` as a process, warm (artifact cached in the home folder).
    let exe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/premod");
    if exe.exists() {
        let home = tempfile::tempdir().unwrap();
        let run = || {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("c")).unwrap();
            let t = Instant::now();
            let out = std::process::Command::new(&exe)
                .arg("--home")
                .arg(home.path())
                .args(["exec", premod_test_artifacts::HOSTILE, "--collection"])
                .arg(dir.path().join("c"))
                .arg("--output")
                .arg(dir.path().join("o"))
                .args(["--params", r#"{"action":"ok"}"#, "--json"])
                .output()
                .unwrap();
            assert!(out.status.success());
            t.elapsed()
        };
        let first = run();
        rows.push((
            "`premod exec` process, cold (first run, compiles)".into(),
            ms(first),
        ));
        let warm: Vec<Duration> = (0..RUNS).map(|_| run()).collect();
        rows.push((
            "`premod exec` process, warm (cached artifact)".into(),
            ms(median(warm)),
        ));
    } else {
        eprintln!("(build target/release/premod to measure whole-process exec)");
    }

    if let Some(py) = python {
        let py_bytes = std::fs::read(py).unwrap();
        let engine = Engine::new().unwrap();
        let t = Instant::now();
        engine.load(&py_bytes).unwrap();
        rows.push((
            format!(
                "cold load of a {:.1} MB Python component",
                py_bytes.len() as f64 / 1e6
            ),
            ms(t.elapsed()),
        ));
        let e2 = Engine::with_config(&config).unwrap();
        e2.load(&py_bytes).unwrap();
        let e3 = Engine::with_config(&config).unwrap();
        let t = Instant::now();
        e3.load(&py_bytes).unwrap();
        rows.push(("warm load of the Python component".into(), ms(t.elapsed())));
    }

    println!("{:<58} {:>10}", "startup (median)", "ms");
    for (what, v) in &rows {
        println!("{what:<58} {v:>10.3}");
    }
    let json: Vec<_> = rows
        .iter()
        .map(|(w, v)| serde_json::json!({"what": w, "ms": v}))
        .collect();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("startup.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
}
