//! The one error type a step can end with, shared by the CLI's `--json` output, the step log
//! and (later) the run store and HTTP API.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a step did not complete. The kebab-case names are part of the CLI's JSON contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The step ran past its wall-time limit.
    Timeout,
    /// The module tried to grow its memory (all linear memories and tables together) past the limit.
    MemoryLimit,
    /// The module tried to write more bytes or create more files than the output limits allow.
    OutputLimit,
    /// The module trapped: `unreachable`, a panic, stack overflow, an out-of-bounds access, `exit`.
    Trap,
    /// The module returned one of the WIT `error` variants.
    ModuleError,
    /// The file is not a premodule this host can run (not wasm, wrong world, version, imports).
    InvalidModule,
    /// The host was given bad input: a missing folder, bad params JSON, a non-empty output folder.
    InvalidInput,
    /// The step was stopped on request (Ctrl-C, `premod stop`).
    Stopped,
    /// The host process died while the step ran (found and recorded at the next start).
    Interrupted,
}

impl ErrorKind {
    /// The name used in JSON and logs, e.g. `memory-limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::MemoryLimit => "memory-limit",
            ErrorKind::OutputLimit => "output-limit",
            ErrorKind::Trap => "trap",
            ErrorKind::ModuleError => "module-error",
            ErrorKind::InvalidModule => "invalid-module",
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Stopped => "stopped",
            ErrorKind::Interrupted => "interrupted",
        }
    }

    /// Whether this failure is the caller's fault (exit code 2) rather than the module's (1).
    pub fn is_bad_input(self) -> bool {
        matches!(self, ErrorKind::InvalidModule | ErrorKind::InvalidInput)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed step: what kind of failure, and a message that says what happened and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StepError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StepError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn invalid_module(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidModule, message)
    }
}
