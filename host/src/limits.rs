//! Per-step resource limits. Plain data: the engine enforces them.

use serde::{Deserialize, Serialize};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// What one step may use. Every field has a default chosen for a shared 2-core / 24 GiB
/// worker running image and tabular preprocessing; `premod exec` flags override each one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// All linear memories and tables of the instance together, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock time for the whole step, including time blocked in WASI calls.
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
    /// Bytes the module may write to `/output` and `/meta` together (every byte written counts,
    /// overwrites included, and so does growth by `set-size` or by writing past the end).
    pub max_output_bytes: u64,
    /// Files and directories the module may create in `/output` and `/meta` together.
    pub max_output_files: u64,
    /// Bytes of module log (host `log` calls and captured stdout/stderr). Past it, lines are
    /// dropped and one truncation marker is logged; the step does not fail.
    pub max_log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Decoding a few large images or a 20k-row table fits easily; a 32-bit guest can
            // address 4 GiB, and two concurrent steps at this size still fit a 24 GiB worker
            // with room for the host.
            memory_bytes: 2048 * MIB,
            // Extracting a 100 MB dataset takes about a second; an hour leaves room for
            // datasets a hundred times larger while still ending runaway modules.
            timeout: Duration::from_secs(3600),
            // A processed image dataset is usually at most a few times its archive.
            max_output_bytes: 10 * 1024 * MIB,
            // Real datasets have tens of thousands of files; a module that creates millions
            // is broken or hostile and would exhaust the worker's inodes.
            max_output_files: 200_000,
            // A step log is read by people: 8 MiB is about 80,000 lines.
            max_log_bytes: 8 * MIB,
        }
    }
}

impl Limits {
    pub fn memory_mib(&self) -> u64 {
        self.memory_bytes / MIB
    }
}

/// Converts a limit given in MiB to bytes, saturating.
pub fn mib(n: u64) -> u64 {
    n.saturating_mul(MIB)
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
