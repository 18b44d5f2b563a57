//! `bench-native`: the module logic of the benchmark workloads, run natively. Each command
//! prints one JSON object (timings measured in-process) on stdout.
//!
//! ```text
//! bench-native extract ZIP OUT              unzip with premod-unzip, image_classification's safe extractor
//! bench-native resize SRC OUT [THREADS]     image_resize over every image, on THREADS threads
//! bench-native transform ROWS CALLS         x - mean over a JSON batch of ROWS records
//! ```

use serde_json::{Map, Value, json};
use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str {
        args.get(i).map(String::as_str).unwrap_or_else(|| {
            eprintln!("usage: bench-native extract ZIP OUT | resize SRC OUT [THREADS] | transform ROWS CALLS");
            std::process::exit(2)
        })
    };
    let out = match arg(0) {
        "extract" => extract(Path::new(arg(1)), Path::new(arg(2))),
        "resize" => {
            let threads = args.get(3).map_or(1, |t| t.parse().expect("THREADS"));
            resize(Path::new(arg(1)), Path::new(arg(2)), threads)
        }
        "transform" => transform(
            arg(1).parse().expect("ROWS"),
            arg(2).parse().expect("CALLS"),
        ),
        other => {
            eprintln!("unknown command {other:?}");
            std::process::exit(2)
        }
    };
    println!("{out}");
}

fn extract(zip: &Path, out: &Path) -> Value {
    std::fs::create_dir_all(out).unwrap();
    let t = Instant::now();
    let stats = premod_unzip::extract(
        zip,
        out,
        &premod_unzip::Options::default(),
        &premod_unzip::NoHooks,
    )
    .unwrap_or_else(|e| panic!("extract: {e}"));
    json!({"seconds": t.elapsed().as_secs_f64(), "files": stats.files, "bytes": stats.bytes})
}

fn resize(src: &Path, out: &Path, threads: usize) -> Value {
    let exts = image_resize::params::Params::default().extensions;
    let t = Instant::now();
    let images = image_resize::resize::list_images(src, &exts).unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(rel) = images.get(i) else { break };
                    image_resize::resize::resize_file(&src.join(rel), &out.join(rel), 224)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            });
        }
    });
    let seconds = t.elapsed().as_secs_f64();
    json!({"seconds": seconds, "images": images.len(), "ms_per_image": seconds * 1000.0 / images.len() as f64 * threads.max(1) as f64})
}

/// The `hostile` guest's transform: parse a JSON array of records, replace `x` with
/// `x - mean`, serialize.
fn transform_once(data: &[u8], mean: f64) -> Vec<u8> {
    let mut records: Vec<Map<String, Value>> = serde_json::from_slice(data).unwrap();
    for record in &mut records {
        let x = record.get("x").and_then(Value::as_f64).unwrap();
        record.insert("x".into(), json!(x - mean));
    }
    serde_json::to_vec(&records).unwrap()
}

/// The batch every implementation transforms: ROWS records like a small tabular dataset.
pub fn batch(rows: usize) -> Vec<u8> {
    let records: Vec<Value> = (0..rows)
        .map(|i| json!({"id": i, "x": (i % 1000) as f64 * 0.5, "label": format!("c{}", i % 7)}))
        .collect();
    serde_json::to_vec(&records).unwrap()
}

fn transform(rows: usize, calls: usize) -> Value {
    let data = batch(rows);
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        std::hint::black_box(transform_once(std::hint::black_box(&data), 1.0));
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    json!({"median_us": times[times.len() / 2] * 1e6, "rows": rows, "calls": calls})
}
