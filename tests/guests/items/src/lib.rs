//! A per-item module (`premodule-items`, premod:premodule@1.1.0) for the tests of per-item
//! steps. Each item is a file whose content says what to do with it:
//!
//! - `fail...`: return `invalid-data`;
//! - `trap...`: panic (a trap);
//! - `spin...`: loop forever (only a timeout or a stop ends it);
//! - `grow...`: allocate until the memory limit traps;
//! - anything else: write its content upper-cased to the same relative path under
//!   `/output`, and note its length.
//!
//! `finish` writes `/output/manifest.txt`: one line per item in item order,
//! `index key ok:<note>` or `index key err:<reason>`. `process-for-train` does the same in
//! one instance, enumerating the files itself, so both paths can be compared.
//!
//! Params: `root` (default `/collection`), `extensions` (default `[]`), `keys` (a list:
//! plan returns these keys instead of files; a key's item is the file `/collection/<key>`),
//! `finish_error` (finish fails).

wit_bindgen::generate!({ path: "../../../wit", world: "premodule-items" });

use exports::premod::premodule::items::{
    self, FileSelector, Item, ItemOutcome, ItemSource, ItemSummary,
};
use exports::premod::premodule::{serve, train};
use premod::premodule::types::{Batch, Error, ServeContext, Summary, TrainContext};
use serde_json::Value;
use std::fs;
use std::hint::black_box;

struct Items;

fn params(ctx: &TrainContext) -> Result<Value, Error> {
    serde_json::from_str(&ctx.rule.params)
        .map_err(|e| Error::InvalidParams(format!("params are not JSON: {e}")))
}

fn root(p: &Value) -> String {
    p.get("root")
        .and_then(Value::as_str)
        .unwrap_or("/collection")
        .to_string()
}

fn extensions(p: &Value) -> Vec<String> {
    p.get("extensions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn keys(p: &Value) -> Option<Vec<String>> {
    p.get("keys").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// The file an item reads: its key, or `/collection/<key>` for module-listed keys.
fn source_path(p: &Value, key: &str) -> String {
    match keys(p) {
        Some(_) => format!("/collection/{key}"),
        None => key.to_string(),
    }
}

/// The output path of an item: its path relative to the item root, under `/output`.
fn output_path(p: &Value, key: &str) -> String {
    match keys(p) {
        Some(_) => format!("/output/{key}.out"),
        None => {
            let root = root(p);
            let rel = key
                .strip_prefix(root.trim_end_matches('/'))
                .unwrap_or(key)
                .trim_start_matches('/');
            format!("/output/{rel}")
        }
    }
}

fn process(p: &Value, key: &str) -> Result<Option<String>, Error> {
    let path = source_path(p, key);
    let data = fs::read(&path).map_err(|e| Error::Io(format!("read {path}: {e}")))?;
    if data.starts_with(b"fail") {
        return Err(Error::InvalidData(format!("{path} says fail")));
    }
    if data.starts_with(b"trap") {
        panic!("{path} says trap");
    }
    if data.starts_with(b"spin") {
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
    if data.starts_with(b"grow") {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 16 << 20]);
            black_box(&hoard);
        }
    }
    let out = output_path(p, key);
    if let Some((dir, _)) = out.rsplit_once('/') {
        fs::create_dir_all(dir).map_err(|e| Error::Io(format!("create {dir}: {e}")))?;
    }
    fs::write(&out, data.to_ascii_uppercase())
        .map_err(|e| Error::Io(format!("write {out}: {e}")))?;
    Ok(Some(data.len().to_string()))
}

fn manifest(lines: &[String]) -> Result<(), Error> {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write("/output/manifest.txt", text).map_err(|e| Error::Io(format!("manifest: {e}")))
}

fn line(index: u64, key: &str, r: &Result<Option<String>, String>) -> String {
    match r {
        Ok(note) => format!("{index} {key} ok:{}", note.as_deref().unwrap_or("")),
        Err(why) => format!("{index} {key} err:{why}"),
    }
}

/// Every file under `dir` (a guest path), recursively, as guest paths.
fn walk(dir: &str, out: &mut Vec<String>) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::Io(format!("list {dir}: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io(format!("list {dir}: {e}")))?;
        let path = format!(
            "{}/{}",
            dir.trim_end_matches('/'),
            entry.file_name().to_string_lossy()
        );
        let ty = entry
            .file_type()
            .map_err(|e| Error::Io(format!("{path}: {e}")))?;
        if ty.is_dir() {
            walk(&path, out)?;
        } else if ty.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

impl items::Guest for Items {
    fn plan(ctx: TrainContext) -> Result<ItemSource, Error> {
        let p = params(&ctx)?;
        Ok(match keys(&p) {
            Some(keys) => ItemSource::Keys(keys),
            None => ItemSource::Files(FileSelector {
                root: root(&p),
                extensions: extensions(&p),
            }),
        })
    }

    fn process_item(ctx: TrainContext, item: Item) -> Result<ItemSummary, Error> {
        let p = params(&ctx)?;
        Ok(ItemSummary {
            note: process(&p, &item.key)?,
        })
    }

    fn finish(ctx: TrainContext, outcomes: Vec<ItemOutcome>) -> Result<Option<String>, Error> {
        let p = params(&ctx)?;
        if p.get("finish_error").is_some() {
            return Err(Error::Other("finish was told to fail".into()));
        }
        let lines: Vec<String> = outcomes
            .iter()
            .map(|o| {
                let r = o.summary.clone().map(|s| s.note);
                line(o.item.index, &o.item.key, &r)
            })
            .collect();
        manifest(&lines)?;
        Ok(Some(format!("{} items", outcomes.len())))
    }
}

impl train::Guest for Items {
    /// The same work in one instance: the single-instance path the per-item one must match.
    fn process_for_train(ctx: TrainContext) -> Result<Summary, Error> {
        let p = params(&ctx)?;
        let keys = match keys(&p) {
            Some(keys) => keys,
            None => {
                let mut files = Vec::new();
                walk(&root(&p), &mut files)?;
                let exts: Vec<String> = extensions(&p).iter().map(|e| e.to_lowercase()).collect();
                files.retain(|f| {
                    exts.is_empty() || exts.iter().any(|e| f.to_lowercase().ends_with(e))
                });
                files.sort();
                files
            }
        };
        let mut lines = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            let r = process(&p, key)?;
            lines.push(line(index as u64, key, &Ok(r)));
        }
        manifest(&lines)?;
        Ok(Summary {
            total: keys.len() as u64,
            success: keys.len() as u64,
            error: 0,
            message: Some(format!("{} items", keys.len())),
        })
    }
}

impl serve::Guest for Items {
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        Ok(())
    }

    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(Items);
