//! The host's `log` and `progress`: imported functions in the component, stderr natively;
//! inside [`crate::testing::capture`] they are recorded instead, on every target.

use crate::context::Level;

/// Appends one line to the step log (`[ INFO] root: message`). Embedded newlines become
/// separate lines. The log has a size limit (`--max-log`): past it lines are dropped and
/// the step goes on. Prefer the [`info!`](crate::info) family of macros.
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}

/// Reports progress: `done` of `total` units (`total` 0 when unknown). The host keeps the
/// latest value; call it as often as is useful.
pub fn progress(done: u64, total: u64) {
    imp::progress(done, total)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::__private::bindings::premod::premodule::host;
    use crate::__private::wit;
    use crate::context::Level;
    use crate::testing;

    pub fn log(level: Level, message: &str) {
        if testing::record_log(level, message) {
            return;
        }
        let level = match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        host::log(level, message);
    }

    pub fn progress(done: u64, total: u64) {
        if !testing::record_progress(done, total) {
            host::progress(done, total);
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use crate::context::Level;
    use crate::testing;

    pub fn log(level: Level, message: &str) {
        if !testing::record_log(level, message) {
            for line in message.split('\n') {
                eprintln!("[{level:>5}] root: {line}");
            }
        }
    }

    pub fn progress(done: u64, total: u64) {
        testing::record_progress(done, total);
    }
}
