//! The step log: lines in the platform's format, and the observer that receives them.
//!
//! The seed platform's log looks like
//! `2022-08-24 04:29:37,366 [ INFO] root: ### preprocessing start ###`; premod writes the same
//! shape so that existing tooling and people reading platform logs see what they expect.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Mutex;
use time::OffsetDateTime;
use time::macros::format_description;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The five-character, right-aligned tag of the seed's format (`[ INFO]`).
    pub fn tag(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => " INFO",
            Level::Warn => " WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Who wrote a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// premod itself: start, params, finish and status lines.
    Host,
    /// The module, through the `host.log` import.
    Module,
    /// The module's stdout, captured.
    Stdout,
    /// The module's stderr, captured.
    Stderr,
}

/// One line of a step log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub level: Level,
    pub source: Source,
    pub message: String,
}

impl LogLine {
    pub fn now(level: Level, source: Source, message: impl Into<String>) -> Self {
        LogLine {
            at: OffsetDateTime::now_utc(),
            level,
            source,
            message: message.into(),
        }
    }
}

impl fmt::Display for LogLine {
    /// `2022-08-24 04:29:37,366 [ INFO] root: message` (UTC).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stamp = self
            .at
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second],[subsecond digits:3]"
            ))
            .map_err(|_| fmt::Error)?;
        write!(f, "{stamp} [{}] root: {}", self.level.tag(), self.message)
    }
}

/// Receives a step's log lines and progress as they happen. Implementations must be cheap:
/// they are called from the thread running the module.
pub trait StepObserver: Send + Sync {
    fn log(&self, line: &LogLine);
    fn progress(&self, _done: u64, _total: u64) {}
}

/// Discards everything; for callers that only want the outcome.
pub struct NullObserver;

impl StepObserver for NullObserver {
    fn log(&self, _line: &LogLine) {}
}

/// Keeps every line in memory; handy for tests and for callers that render logs later.
#[derive(Default)]
pub struct MemoryObserver {
    lines: Mutex<Vec<LogLine>>,
    progress: Mutex<Vec<(u64, u64)>>,
}

impl MemoryObserver {
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn messages(&self) -> Vec<String> {
        self.lines().into_iter().map(|l| l.message).collect()
    }

    pub fn progress_events(&self) -> Vec<(u64, u64)> {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl StepObserver for MemoryObserver {
    fn log(&self, line: &LogLine) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.clone());
    }

    fn progress(&self, done: u64, total: u64) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((done, total));
    }
}

/// Writes each line to stderr as it arrives: `premod exec`'s live log.
pub struct StderrObserver;

impl StepObserver for StderrObserver {
    fn log(&self, line: &LogLine) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_like_the_seed_platform() {
        let line = LogLine {
            at: datetime!(2022-08-24 04:29:37.366 UTC),
            level: Level::Info,
            source: Source::Host,
            message: "### preprocessing start ###".into(),
        };
        assert_eq!(
            line.to_string(),
            "2022-08-24 04:29:37,366 [ INFO] root: ### preprocessing start ###"
        );
        let warn = LogLine {
            level: Level::Warn,
            ..line
        };
        assert!(warn.to_string().contains("[ WARN] root: "));
    }
}
