//! A premodule that misbehaves on request: `process-for-train` reads `{"action": ...}` from
//! the rule's params and does what a buggy or malicious module would. Where a WASI call fails,
//! it returns `error::io` with the real error text, as a real module would. Actions whose
//! success would be a sandbox escape return `Ok` with a message starting `LEAK:`.
//!
//! Every endless behaviour goes through `black_box`, so the optimiser cannot delete it.

wit_bindgen::generate!({ path: "../../../wit", world: "premodule" });

/// The optional host-native capabilities, to try them with paths a module must not use.
mod native {
    wit_bindgen::generate!({ path: "../../../wit/native", world: "capabilities" });
}

use exports::premod::premodule::{serve, train};
use premod::premodule::host;
use premod::premodule::types::{Batch, Error, Level, ServeContext, Summary, TrainContext};
use serde_json::{Map, Value, json};
use std::fs;
use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Mutex;
use wasi::filesystem::preopens::get_directories;
use wasi::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

const ACTIONS: &[&str] = &[
    "ok",
    "native_zip",
    "write_collection",
    "read_outside",
    "loop_forever",
    "sleep_forever",
    "sleep_ms",
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

/// The content type that makes `transform` loop forever.
const LOOP_CONTENT_TYPE: &str = "application/x-hostile-loop";

/// The mean `init-svc` loaded from `/meta/state.json`.
static MEAN: Mutex<Option<f64>> = Mutex::new(None);

struct Hostile;

fn done(message: impl Into<String>) -> Result<Summary, Error> {
    Ok(Summary {
        total: 1,
        success: 1,
        error: 0,
        message: Some(message.into()),
    })
}

fn io(what: &str, err: std::io::Error) -> Error {
    Error::Io(format!("{what} failed: {err}"))
}

/// WASI's own text for an error code, e.g. `Operation not permitted, similar to `EPERM` in
/// POSIX (not-permitted)`.
fn wasi_text(err: ErrorCode) -> String {
    format!("{} ({})", err.message().trim_end_matches('.'), err.name())
}

fn wasi_io(what: &str, err: ErrorCode) -> Error {
    Error::Io(format!("{what} failed: {}", wasi_text(err)))
}

fn num(params: &Value, key: &str, default: u64) -> u64 {
    params.get(key).and_then(Value::as_u64).unwrap_or(default)
}

fn choice<'a>(params: &'a Value, key: &str, valid: &[&'a str]) -> Result<&'a str, Error> {
    match params.get(key) {
        None => Ok(valid[0]),
        Some(Value::String(s)) if valid.contains(&s.as_str()) => Ok(s),
        Some(other) => Err(Error::InvalidParams(format!(
            "{key} must be one of {valid:?}, got {other}"
        ))),
    }
}

/// Spins forever; `black_box` keeps the counter (and so the loop) alive.
fn spin() -> ! {
    let mut i = 0u64;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

/// The regular files of /collection, sorted by name.
fn collection_files() -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let entries = fs::read_dir("/collection").map_err(|e| io("listing /collection", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("listing /collection", e))?;
        let kind = entry
            .file_type()
            .map_err(|e| io("reading an entry's type in /collection", e))?;
        if kind.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn first_collection_file(purpose: &str) -> Result<String, Error> {
    collection_files()?
        .into_iter()
        .next()
        .ok_or_else(|| Error::InvalidData(format!("/collection has no file to {purpose}")))
}

/// The /output preopen as a raw WASI descriptor: std has no stable symlink or positioned
/// write on WASI (`std::os::wasi::fs` is nightly-only), so those actions call WASI directly.
fn output_dir() -> Result<Descriptor, Error> {
    get_directories()
        .into_iter()
        .find(|(_, path)| path.trim_end_matches('/') == "/output")
        .map(|(dir, _)| dir)
        .ok_or_else(|| Error::Io("finding the /output preopen failed: not preopened".into()))
}

/// Non-tail recursion with no locals in linear memory: the wasm (native) stack overflows,
/// which the host reports as a stack overflow.
#[inline(never)]
fn recurse_small(depth: u64, limit: u64) -> u64 {
    if depth >= limit {
        return depth;
    }
    let below = recurse_small(black_box(depth + 1), limit);
    below.wrapping_mul(below).wrapping_add(depth)
}

/// Non-tail recursion with a 4 KiB frame on the shadow stack in linear memory, live across
/// the call: the 1 MiB shadow stack runs out after ~256 levels, below address 0, so wasm
/// reports an out-of-bounds memory access rather than a stack overflow.
#[inline(never)]
fn recurse_big(depth: u64, limit: u64) -> u64 {
    let mut frame = [0u8; 4096];
    frame[(depth % 4096) as usize] = depth as u8;
    black_box(&mut frame);
    if depth >= limit {
        return u64::from(frame[0]);
    }
    let below = recurse_big(black_box(depth + 1), limit);
    below.wrapping_add(u64::from(frame[(depth.wrapping_mul(7) % 4096) as usize]))
}

/// Renders attempted operations as `what succeeded` / `what failed: error`.
fn report(tries: &[(String, std::io::Result<()>)]) -> String {
    tries
        .iter()
        .map(|(what, r)| match r {
            Ok(()) => format!("{what} succeeded"),
            Err(e) => format!("{what} failed: {e}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn write_collection() -> Result<Summary, Error> {
    let mut tries: Vec<(String, std::io::Result<()>)> = vec![(
        "create /collection/pwned.txt".into(),
        fs::write("/collection/pwned.txt", "pwned"),
    )];
    let path = format!("/collection/{}", first_collection_file("rename or remove")?);
    let renamed = fs::rename(&path, "/collection/renamed");
    // If the rename worked (already a leak), remove what it produced.
    let victim = match renamed {
        Ok(()) => "/collection/renamed".to_string(),
        Err(_) => path.clone(),
    };
    tries.push((format!("rename {path} to /collection/renamed"), renamed));
    tries.push((format!("remove {victim}"), fs::remove_file(&victim)));
    tries.push((
        format!("open {victim} for append"),
        fs::OpenOptions::new().append(true).open(&victim).map(drop),
    ));
    if tries.iter().any(|(_, r)| r.is_ok()) {
        return done(format!("LEAK: {}", report(&tries)));
    }
    Err(Error::Io(report(&tries)))
}

fn read_outside() -> Result<Summary, Error> {
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
            Err(e) => failures.push(format!("read {path} failed: {e}")),
        }
    }
    Err(Error::Io(failures.join("; ")))
}

fn alloc_unbounded() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 16 << 20];
        // Touch every page, so the memory is really used, not just reserved.
        for page in chunk.chunks_mut(4096) {
            page[0] = 0xAB;
        }
        hoard.push(black_box(chunk));
        black_box(&hoard);
    }
}

fn write_past_quota(params: &Value) -> Result<Summary, Error> {
    let total = num(params, "bytes", 64 << 20);
    let mut file =
        fs::File::create("/output/big.bin").map_err(|e| io("create /output/big.bin", e))?;
    let chunk = vec![0x5A; 1 << 20];
    let mut written = 0u64;
    while written < total {
        let n = (total - written).min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])
            .map_err(|e| io(&format!("write /output/big.bin at {written}"), e))?;
        written += n as u64;
    }
    file.flush().map_err(|e| io("flush /output/big.bin", e))?;
    done(format!("wrote {written} bytes"))
}

fn write_at_offset(params: &Value) -> Result<Summary, Error> {
    let offset = num(params, "offset", 1 << 40);
    match choice(params, "api", &["std", "wasi"])? {
        // std's FileExt::write_at is nightly-only on WASI: seek, then write.
        "std" => {
            let mut file = fs::File::create("/output/sparse.bin")
                .map_err(|e| io("create /output/sparse.bin", e))?;
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| io(&format!("seek /output/sparse.bin to {offset}"), e))?;
            file.write_all(b"x")
                .map_err(|e| io(&format!("write at {offset} of /output/sparse.bin"), e))?;
        }
        // WASI's own positioned write (descriptor.write), not the output-stream path.
        _ => {
            let file = output_dir()?
                .open_at(
                    PathFlags::empty(),
                    "sparse.bin",
                    OpenFlags::CREATE,
                    DescriptorFlags::WRITE,
                )
                .map_err(|e| wasi_io("open /output/sparse.bin", e))?;
            file.write(b"x", offset)
                .map_err(|e| wasi_io(&format!("write at {offset} of /output/sparse.bin"), e))?;
        }
    }
    done(format!("wrote 1 byte at {offset}"))
}

fn set_size(params: &Value) -> Result<Summary, Error> {
    let size = num(params, "bytes", 1 << 40);
    let file =
        fs::File::create("/output/grown.bin").map_err(|e| io("create /output/grown.bin", e))?;
    file.set_len(size)
        .map_err(|e| io(&format!("set_len({size}) of /output/grown.bin"), e))?;
    done(format!("grew /output/grown.bin to {size} bytes"))
}

fn many_files(params: &Value) -> Result<Summary, Error> {
    let count = num(params, "count", 2_000_000);
    let dirs = params.get("dirs").and_then(Value::as_bool).unwrap_or(false);
    for i in 0..count {
        let path = format!("/output/f{i}");
        if dirs {
            fs::create_dir(&path).map_err(|e| io(&format!("create_dir {path}"), e))?;
        } else {
            fs::File::create(&path).map_err(|e| io(&format!("create {path}"), e))?;
        }
    }
    done(format!("created {count}"))
}

fn flood_stdout(params: &Value) -> Result<Summary, Error> {
    let bytes = num(params, "bytes", 64 << 20);
    let log_lines = num(params, "log_lines", 100_000);
    let line = "x".repeat(99);
    let mut printed = 0u64;
    while printed < bytes {
        println!("{line}");
        printed += 100;
    }
    for i in 0..3 {
        eprintln!("hostile: stderr line {i}");
    }
    for i in 0..log_lines {
        host::log(Level::Info, &format!("hostile: log line {i}"));
    }
    done(format!("printed {printed} bytes, logged {log_lines} lines"))
}

fn symlink_escape() -> Result<Summary, Error> {
    let output = output_dir()?;
    let mut failures = Vec::new();
    let mut leaks = Vec::new();
    for (target, name, probe) in [
        ("/etc/passwd", "escape", "/output/escape"),
        ("../..", "up", "/output/up/pwned.txt"),
    ] {
        match output.symlink_at(target, name) {
            Ok(()) => {
                let wrote = fs::write(probe, "pwned");
                leaks.push(format!(
                    "symlink /output/{name} -> {target} created, writing {probe}: {wrote:?}"
                ));
            }
            Err(e) => failures.push(format!(
                "symlink /output/{name} -> {target} failed: {}",
                wasi_text(e)
            )),
        }
    }
    if !leaks.is_empty() {
        return done(format!("LEAK: {}", leaks.join("; ")));
    }
    Err(Error::Io(failures.join("; ")))
}

fn hardlink_collection() -> Result<Summary, Error> {
    let src = format!("/collection/{}", first_collection_file("link")?);
    fs::write("/output/own.txt", "own\n").map_err(|e| io("write /output/own.txt", e))?;
    // Out of the collection (writing through such a link would change the dataset)...
    let out = fs::hard_link(&src, "/output/linked");
    let then = match out {
        Ok(()) => format!(
            " (writing through it: {:?})",
            fs::write("/output/linked", "pwned")
        ),
        Err(_) => String::new(),
    };
    let mut tries = vec![(format!("hard link {src} to /output/linked{then}"), out)];
    // ... and into it (planting a file in the read-only collection).
    tries.push((
        "hard link /output/own.txt to /collection/linked".into(),
        fs::hard_link("/output/own.txt", "/collection/linked"),
    ));
    // ... and inside /output (the same bytes twice without writing them twice).
    tries.push((
        "hard link /output/own.txt to /output/own-again.txt".into(),
        fs::hard_link("/output/own.txt", "/output/own-again.txt"),
    ));
    if tries.iter().any(|(_, r)| r.is_ok()) {
        return done(format!("LEAK: {}", report(&tries)));
    }
    Err(Error::Io(report(&tries)))
}

fn echo_context(ctx: &TrainContext) -> Result<Summary, Error> {
    let columns: Vec<Value> = ctx
        .rule
        .source_columns
        .iter()
        .map(|c| json!({ "name": c.name, "data_type": c.data_type }))
        .collect();
    let context = json!({
        "paths": {
            "collection": ctx.paths.collection,
            "input": ctx.paths.input,
            "output": ctx.paths.output,
            "meta": ctx.paths.meta,
        },
        "rule": {
            "rule_no": ctx.rule.rule_no,
            "source_columns": columns,
            "params": ctx.rule.params,
        },
        "do_fit": ctx.do_fit,
    });
    let env = json!({
        "vars": std::env::vars().collect::<Vec<_>>(),
        "args": std::env::args().collect::<Vec<_>>(),
        "cwd": match std::env::current_dir() {
            Ok(dir) => json!(dir.display().to_string()),
            Err(e) => json!({ "error": e.to_string() }),
        },
    });
    let root = match fs::read_dir("/") {
        Ok(entries) => json!(
            entries
                .map(|e| match e {
                    Ok(e) => json!(e.file_name().to_string_lossy()),
                    Err(e) => json!({ "error": e.to_string() }),
                })
                .collect::<Vec<_>>()
        ),
        Err(e) => json!({ "error": e.to_string() }),
    };
    for (name, value) in [("context", context), ("env", env), ("root", root)] {
        let path = format!("/output/{name}.json");
        fs::write(&path, value.to_string()).map_err(|e| io(&format!("write {path}"), e))?;
    }
    done("echoed")
}

/// Calls `premod:native/zip.extract` with the `archive` and `destination` params. Success is
/// reported as `extracted N files`; a refusal as `error::other` with the variant's debug text.
fn native_zip(params: &Value) -> Result<Summary, Error> {
    use native::premod::native::zip;
    let text = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let options = zip::Options {
        max_total_bytes: num(params, "max_total_bytes", 1 << 30),
        max_entries: 100_000,
        name_encoding: zip::NameEncoding::Auto,
    };
    match zip::extract(&text("archive"), &text("destination"), options) {
        Ok(stats) => done(format!("extracted {} files", stats.files)),
        Err(e) => Err(Error::Other(format!("{e:?}"))),
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
            "write_collection" => write_collection(),
            "read_outside" => read_outside(),
            "loop_forever" => spin(),
            "sleep_ms" => {
                // A slow but well-behaved module: sleeps, then writes like `ok`.
                let ms = num(&params, "ms", 1000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                fs::write("/output/ok.txt", "ok\n").map_err(|e| io("write /output/ok.txt", e))?;
                done(format!("slept {ms} ms"))
            }
            "sleep_forever" => {
                std::thread::sleep(std::time::Duration::from_secs(1_000_000));
                done("woke up")
            }
            "alloc_unbounded" => alloc_unbounded(),
            "recurse_unbounded" => {
                let limit = black_box(num(&params, "limit", u64::MAX));
                let result = match choice(&params, "stack", &["wasm", "shadow"])? {
                    "wasm" => recurse_small(0, limit),
                    _ => recurse_big(0, limit),
                };
                done(format!("recursed: {result}"))
            }
            "write_past_quota" => write_past_quota(&params),
            "write_at_offset" => write_at_offset(&params),
            "set_size" => set_size(&params),
            "many_files" => many_files(&params),
            "flood_stdout" => flood_stdout(&params),
            "symlink_escape" => symlink_escape(),
            "hardlink_collection" => hardlink_collection(),
            "trap" => core::arch::wasm32::unreachable(),
            "panic" => panic!("hostile module panicked on purpose"),
            "typed_error" => Err(Error::InvalidParams(
                "threshold must be between 0 and 1, got 7".into(),
            )),
            "exit" => std::process::exit(3),
            "write_then_fail" => {
                fs::write("/output/partial.txt", "partial\n")
                    .map_err(|e| io("write /output/partial.txt", e))?;
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
                    return done("fitted");
                }
                done("reused the fitted state")
            }
            "echo_context" => echo_context(&ctx),
            "native_zip" => native_zip(&params),
            other => Err(Error::InvalidParams(format!(
                "unknown action {other:?}; valid actions: {}",
                ACTIONS.join(", ")
            ))),
        }
    }
}

impl serve::Guest for Hostile {
    fn init_svc(ctx: ServeContext) -> Result<(), Error> {
        let path = format!("{}/state.json", ctx.meta.trim_end_matches('/'));
        let text = fs::read_to_string(&path).map_err(|e| io(&format!("read {path}"), e))?;
        let state: Value = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidData(format!("{path} is not JSON: {e}")))?;
        let mean = state
            .get("mean")
            .and_then(Value::as_f64)
            .ok_or_else(|| Error::InvalidData(format!("{path} has no numeric mean")))?;
        *MEAN.lock().unwrap_or_else(|e| e.into_inner()) = Some(mean);
        Ok(())
    }

    fn transform(batch: Batch, batch_id: u64) -> Result<Batch, Error> {
        if batch.content_type == LOOP_CONTENT_TYPE {
            spin();
        }
        let mean = MEAN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ok_or_else(|| Error::Other("init-svc has not run".into()))?;
        let mut records: Vec<Map<String, Value>> =
            serde_json::from_slice(&batch.data).map_err(|e| {
                Error::InvalidData(format!(
                    "batch {batch_id} is not a JSON array of objects: {e}"
                ))
            })?;
        for (i, record) in records.iter_mut().enumerate() {
            let x = record.get("x").and_then(Value::as_f64).ok_or_else(|| {
                Error::InvalidData(format!("record {i} of batch {batch_id} has no numeric x"))
            })?;
            record.insert("x".into(), json!(x - mean));
        }
        let data = serde_json::to_vec(&records)
            .map_err(|e| Error::Other(format!("encoding batch {batch_id} failed: {e}")))?;
        Ok(Batch {
            content_type: "application/json".into(),
            data,
        })
    }
}

export!(Hostile);
