//! premod's own types for one step: what it runs on and what it reports. The engine converts
//! these to and from the WIT bindings; nothing outside the engine sees generated types.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A dataset column a rule reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// `file`, `text`, `number`, ...
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The rule a step executes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub rule_no: u32,
    pub source_columns: Vec<Column>,
    /// Always a JSON object.
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            rule_no: 0,
            source_columns: vec![Column {
                name: "dataset".into(),
                data_type: "file".into(),
            }],
            params: serde_json::Map::new(),
        }
    }
}

/// Host folders mounted into a step. `output` (and `meta` when writable) should be fresh
/// staging folders: the engine writes there and never moves anything itself.
#[derive(Clone, Debug)]
pub struct Mounts {
    /// Mounted read-only at `/collection`.
    pub collection: PathBuf,
    /// Mounted read-only at `/input`.
    pub input: Option<PathBuf>,
    /// Mounted writable at `/output`.
    pub output: PathBuf,
    /// Mounted at `/meta`, writable or not.
    pub meta: Option<MetaMount>,
}

#[derive(Clone, Debug)]
pub struct MetaMount {
    pub path: PathBuf,
    pub writable: bool,
}

/// What a module reported on success.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: u64,
    pub success: u64,
    pub error: u64,
    pub message: Option<String>,
}

/// Resources a step used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Wall time from instantiation to return, in milliseconds.
    pub wall_ms: u64,
    /// Largest total size of the instance's memories and tables, in bytes.
    pub peak_memory_bytes: u64,
    /// Bytes charged against the output limit.
    pub output_bytes: u64,
    /// Files and directories created.
    pub output_files: u64,
    /// Bytes of module log kept.
    pub log_bytes: u64,
    /// Module log lines dropped past the log limit.
    pub log_lines_dropped: u64,
}

/// A batch for `transform`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub content_type: String,
    pub data: Vec<u8>,
}

impl Batch {
    pub const JSON: &'static str = "application/json";

    pub fn json(data: impl Into<Vec<u8>>) -> Self {
        Batch {
            content_type: Self::JSON.into(),
            data: data.into(),
        }
    }
}

/// How a per-item step runs: the module exports `premod:premodule/items` (1.1.0) and the
/// host runs `process-item` on a pool of instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parallel {
    /// Instances running items at the same time (at least 1). Default: the machine's cores.
    pub workers: usize,
    /// What an item that fails does to the step.
    pub on_item_error: OnItemError,
    /// Run `process-for-train` in one instance even when the module exports `items`.
    pub whole: bool,
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel {
            workers: default_workers(),
            on_item_error: OnItemError::Fail,
            whole: false,
        }
    }
}

/// One worker per core the process may use (1 if that cannot be read).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What a failed item (an `error` result, a trap or the memory limit) does to its step.
/// The time limit, the output quota and a stop request always end the whole step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnItemError {
    /// The first failed item fails the step; the other workers stop.
    #[default]
    Fail,
    /// The item is logged with its reason and counted as an error; the step goes on.
    Skip,
}

impl std::str::FromStr for OnItemError {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(OnItemError::Fail),
            "skip" => Ok(OnItemError::Skip),
            other => Err(format!(
                "unknown item error policy {other:?}; use `fail` (the step fails) or `skip` \
                 (count the item as an error and go on)"
            )),
        }
    }
}
