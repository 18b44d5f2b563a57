//! A premodule that misbehaves on request: `process-for-train` reads `{"action": ...}` from
//! the rule's params and does what a buggy or malicious module would. Where a WASI call fails,
//! it returns `error::io` with the real error text, as a real module would.

wit_bindgen::generate!({ path: "../../../wit", world: "premodule" });

use exports::premod::premodule::{serve, train};
use premod::premodule::host;
use premod::premodule::types::{Batch, Error, Level, ServeContext, Summary, TrainContext};
use serde_json::{Value, json};
use std::fs;
use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Mutex;

const ACTIONS: &[&str] = &[
    "ok",
    "write_collection",
    "read_outside",
    "loop_forever",
    "sleep_forever",
    "alloc_unbounded",
    "recurse_unbounded",
    "write_past_quota",
    "write_at_offset",
    "set_size",
    "many_files",
    "flood_stdout",
    "symlink_escape",
    "hardlink_collection",
    "trap",
    "panic",
    "typed_error",
    "exit",
    "write_then_fail",
    "progress",
    "meta_roundtrip",
    "echo_context",
];

struct Hostile;

fn done(message: impl Into<String>) -> Result<Summary, Error> {
    Ok(Summary {
        total: 1,
        success: 1,
        error: 0,
        message: Some(message.into()),
    })
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::Io(format!("{what} failed: {e}"))
}

fn num(params: &Value, key: &str, default: u64) -> u64 {
    params.get(key).and_then(Value::as_u64).unwrap_or(default)
}

/// First regular file in /collection, if any.
fn first_collection_file() -> Option<String> {
    let mut names: Vec<String> = fs::read_dir("/collection")
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().next()
}

#[inline(never)]
fn recurse(n: u64, limit: u64) -> u64 {
    if n == limit {
        return n;
    }
    // Not an accumulator form, so it cannot become a loop; no locals in linear memory, so
    // the wasm stack (not the shadow stack) is what overflows.
    let r = recurse(n + 1, limit);
    r.wrapping_mul(r).wrapping_add(n)
}

unsafe extern "C" {
    // From wasi-libc, which Rust's wasm32-wasip2 std links.
    fn symlink(target: *const std::ffi::c_char, linkpath: *const std::ffi::c_char) -> i32;
}

fn try_symlink(target: &str, link: &str) -> std::io::Result<()> {
    let t = std::ffi::CString::new(target).unwrap();
    let l = std::ffi::CString::new(link).unwrap();
    match unsafe { symlink(t.as_ptr(), l.as_ptr()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

impl train::Guest for Hostile {
    fn process_for_train(ctx: TrainContext) -> Result<Summary, Error> {
        let params: Value = serde_json::from_str(&ctx.rule.params)
            .map_err(|e| Error::InvalidParams(format!("params are not JSON: {e}")))?;
        let action = params.get("action").and_then(Value::as_str).unwrap_or("");
        match action {
            "ok" => {
                fs::write("/output/ok.txt", "ok\n").map_err(|e| io("write /output/ok.txt", e))?;
                host::log(Level::Info, "hostile: ok");
                done("ok")
            }
            "write_collection" => {
                let mut failures = Vec::new();
                if let Err(e) = fs::write("/collection/pwned.txt", "pwned") {
                    failures.push(format!("create /collection/pwned.txt: {e}"));
                }
                if let Some(name) = first_collection_file() {
                    let path = format!("/collection/{name}");
                    if let Err(e) = fs::rename(&path, "/collection/renamed") {
                        failures.push(format!("rename {path}: {e}"));
                    }
                    if let Err(e) = fs::remove_file(&path) {
                        failures.push(format!("remove {path}: {e}"));
                    }
                    if let Err(e) = fs::OpenOptions::new().append(true).open(&path) {
                        failures.push(format!("open {path} for append: {e}"));
                    }
                }
                if failures.len() < 4 {
                    return done(format!(
                        "LEAK: some writes to /collection worked: {failures:?}"
                    ));
                }
                Err(Error::Io(format!(
                    "writing to /collection failed: {}",
                    failures.join("; ")
                )))
            }
            "read_outside" => {
                let mut failures = Vec::new();
                for path in [
                    "/etc/passwd",
                    "/collection/../../etc/passwd",
                    "../etc/passwd",
                ] {
                    match fs::read(path) {
                        Ok(bytes) => {
                            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]);
                            return done(format!("LEAK: {head}"));
                        }
                        Err(e) => failures.push(format!("{path}: {e}")),
                    }
                }
                Err(Error::Io(format!(
                    "reading outside failed: {}",
                    failures.join("; ")
                )))
            }
            "loop_forever" => {
                let mut i = 0u64;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "sleep_forever" => {
                std::thread::sleep(std::time::Duration::from_secs(1_000_000));
                done("woke up")
            }
            "alloc_unbounded" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xAB; 16 << 20]);
                    black_box(&hoard);
                }
            }
            "recurse_unbounded" => {
                let limit = black_box(num(&params, "limit", u64::MAX));
                done(format!("recursed: {}", recurse(0, limit)))
            }
            "write_past_quota" => {
                let total = num(&params, "bytes", 64 << 20);
                let mut f =
                    fs::File::create("/output/big.bin").map_err(|e| io("create big.bin", e))?;
                let chunk = vec![0x5A; 1 << 20];
                let mut written = 0;
                while written < total {
                    f.write_all(&chunk).map_err(|e| io("write big.bin", e))?;
                    written += chunk.len() as u64;
                }
                done(format!("wrote {written} bytes"))
            }
            "write_at_offset" => {
                let offset = num(&params, "offset", 1 << 40);
                let mut f =
                    fs::File::create("/output/sparse.bin").map_err(|e| io("create sparse", e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| io("seek sparse", e))?;
                f.write_all(b"x").map_err(|e| io("write sparse", e))?;
                done(format!("wrote 1 byte at {offset}"))
            }
            "set_size" => {
                let size = num(&params, "bytes", 1 << 40);
                let f = fs::File::create("/output/grown.bin").map_err(|e| io("create grown", e))?;
                f.set_len(size).map_err(|e| io("set_len", e))?;
                done(format!("grew to {size}"))
            }
            "many_files" => {
                let count = num(&params, "count", 2_000_000);
                let dirs = params.get("dirs").and_then(Value::as_bool).unwrap_or(false);
                for i in 0..count {
                    let path = format!("/output/f{i}");
                    let r = match dirs {
                        true => fs::create_dir(&path),
                        false => fs::File::create(&path).map(drop),
                    };
                    r.map_err(|e| io(&format!("create {path}"), e))?;
                }
                done(format!("created {count}"))
            }
            "flood_stdout" => {
                let bytes = num(&params, "bytes", 64 << 20);
                let log_lines = num(&params, "log_lines", 100_000);
                let line = "x".repeat(99);
                let mut out = std::io::stdout().lock();
                let mut written = 0;
                while written < bytes {
                    writeln!(out, "{line}").map_err(|e| io("write stdout", e))?;
                    written += 100;
                }
                drop(out);
                for i in 0..3 {
                    eprintln!("stderr line {i}");
                }
                for i in 0..log_lines {
                    host::log(Level::Info, &format!("log line {i}"));
                }
                done("flooded")
            }
            "symlink_escape" => {
                let mut failures = Vec::new();
                for (target, link) in [("/etc/passwd", "/output/escape"), ("../..", "/output/up")] {
                    match try_symlink(target, link) {
                        Ok(()) => {
                            let wrote = fs::write(link, "through the link");
                            return done(format!("LEAK: symlink {link} created ({wrote:?})"));
                        }
                        Err(e) => failures.push(format!("symlink {link} -> {target}: {e}")),
                    }
                }
                Err(Error::Io(failures.join("; ")))
            }
            "hardlink_collection" => {
                // A link into the read-only collection, and one inside /output (which would
                // duplicate bytes without writing them).
                let name = first_collection_file()
                    .ok_or_else(|| Error::InvalidData("/collection has no file".into()))?;
                fs::write("/output/own.txt", "own").map_err(|e| io("write own.txt", e))?;
                let mut failures = Vec::new();
                for (src, dst) in [
                    (format!("/collection/{name}"), "/output/linked"),
                    ("/output/own.txt".to_string(), "/output/own-again.txt"),
                ] {
                    match fs::hard_link(&src, dst) {
                        Ok(()) => {
                            let wrote = fs::write(dst, "pwned");
                            return done(format!("LEAK: hard link {dst} -> {src} ({wrote:?})"));
                        }
                        Err(e) => failures.push(format!("hard link {dst} -> {src}: {e}")),
                    }
                }
                Err(Error::Io(failures.join("; ")))
            }
            "trap" => core::arch::wasm32::unreachable(),
            "panic" => panic!("hostile module panicked on purpose"),
            "typed_error" => Err(Error::InvalidParams(
                "threshold must be between 0 and 1, got 7".into(),
            )),
            "exit" => std::process::exit(3),
            "write_then_fail" => {
                fs::write("/output/partial.txt", "half").map_err(|e| io("write partial", e))?;
                Err(Error::Other("failed after writing".into()))
            }
            "progress" => {
                for i in 0..=10 {
                    host::progress(i, 10);
                }
                done("progressed")
            }
            "meta_roundtrip" => {
                if ctx.do_fit {
                    fs::write("/meta/state.json", r#"{"mean": 2.5}"#)
                        .map_err(|e| io("write /meta/state.json", e))?;
                }
                done("fitted")
            }
            "echo_context" => {
                let context = json!({
                    "paths": {
                        "collection": ctx.paths.collection,
                        "input": ctx.paths.input,
                        "output": ctx.paths.output,
                        "meta": ctx.paths.meta,
                    },
                    "rule_no": ctx.rule.rule_no,
                    "params": ctx.rule.params,
                    "do_fit": ctx.do_fit,
                });
                let env = json!({
                    "vars": std::env::vars().collect::<Vec<_>>(),
                    "args": std::env::args().collect::<Vec<_>>(),
                    "cwd": std::env::current_dir().map(|p| p.display().to_string()).ok(),
                });
                let root = match fs::read_dir("/") {
                    Ok(rd) => json!(
                        rd.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                    ),
                    Err(e) => json!({ "error": e.to_string() }),
                };
                for (name, value) in [("context", context), ("env", env), ("root", root)] {
                    fs::write(format!("/output/{name}.json"), value.to_string())
                        .map_err(|e| io(&format!("write {name}.json"), e))?;
                }
                done("echoed")
            }
            other => Err(Error::InvalidParams(format!(
                "unknown action {other:?}; valid actions: {}",
                ACTIONS.join(", ")
            ))),
        }
    }
}

static MEAN: Mutex<Option<f64>> = Mutex::new(None);

impl serve::Guest for Hostile {
    fn init_svc(ctx: ServeContext) -> Result<(), Error> {
        let path = format!("{}/state.json", ctx.meta);
        let text = fs::read_to_string(&path).map_err(|e| io(&format!("read {path}"), e))?;
        let state: Value = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidData(format!("{path} is not JSON: {e}")))?;
        let mean = state["mean"]
            .as_f64()
            .ok_or_else(|| Error::InvalidData(format!("{path} has no numeric mean")))?;
        *MEAN.lock().unwrap() = Some(mean);
        Ok(())
    }

    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        if batch.content_type == "application/x-hostile-loop" {
            let mut i = 0u64;
            loop {
                i = black_box(i.wrapping_add(1));
            }
        }
        let mean = MEAN
            .lock()
            .unwrap()
            .ok_or_else(|| Error::Other("init-svc has not run".into()))?;
        let records: Vec<Value> = serde_json::from_slice(&batch.data)
            .map_err(|e| Error::InvalidData(format!("batch is not a JSON array: {e}")))?;
        let out: Vec<Value> = records
            .into_iter()
            .map(|r| {
                let x = r["x"].as_f64().unwrap_or(0.0);
                json!({ "x": x - mean })
            })
            .collect();
        Ok(Batch {
            content_type: "application/json".into(),
            data: serde_json::to_vec(&out).unwrap(),
        })
    }
}

export!(Hostile);
