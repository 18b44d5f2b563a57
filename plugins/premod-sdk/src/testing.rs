//! Running a module in `cargo test`.
//!
//! Call your [`Premodule`](crate::Premodule) functions directly with
//! [`TrainContext::new`](crate::TrainContext::new) /
//! [`ServeContext::new`](crate::ServeContext::new) on temporary folders, inside
//! [`capture`] to see what they log:
//!
//! ```
//! use premod_sdk::{Level, info, progress, testing};
//!
//! let ((), log) = testing::capture(|| {
//!     info!("[hunmin log] hello {}", 1);
//!     progress(1, 2);
//! });
//! assert_eq!(log.messages(), ["[hunmin log] hello 1"]);
//! assert_eq!(log.lines[0].0, Level::Info);
//! assert_eq!(log.progress, [(1, 2)]);
//! ```
//!
//! Outside `capture`, log lines go to the host in a component and to stderr natively
//! (as `[ INFO] root: message`).

use std::cell::RefCell;

use crate::context::Level;

thread_local! {
    static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// What a module logged and reported while [`capture`] ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// Log lines in order, one per `log` call.
    pub lines: Vec<(Level, String)>,
    /// `progress(done, total)` calls in order.
    pub progress: Vec<(u64, u64)>,
}

impl Captured {
    /// The log lines' text, without levels.
    pub fn messages(&self) -> Vec<&str> {
        self.lines.iter().map(|(_, m)| m.as_str()).collect()
    }
}

/// Runs `f`, collecting the log lines and progress it reports on this thread.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    struct Restore(Option<Captured>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CAPTURE.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CAPTURE.with(|c| c.borrow_mut().replace(Captured::default()));
    let restore = Restore(previous);
    let result = f();
    let captured = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (result, captured)
}

/// Records a line if a capture is active on this thread.
pub(crate) fn record_log(level: Level, message: &str) -> bool {
    CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(cap) => {
            cap.lines.push((level, message.to_string()));
            true
        }
        None => false,
    })
}

/// Records progress if a capture is active on this thread.
pub(crate) fn record_progress(done: u64, total: u64) -> bool {
    CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(cap) => {
            cap.progress.push((done, total));
            true
        }
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{log, warn};

    #[test]
    fn nested_captures_restore_the_outer_one() {
        let ((), outer) = capture(|| {
            warn!("outer {}", 1);
            let ((), inner) = capture(|| log(Level::Debug, "inner"));
            assert_eq!(inner.lines, [(Level::Debug, "inner".to_string())]);
            crate::error!("outer 2");
        });
        assert_eq!(
            outer.lines,
            [
                (Level::Warn, "outer 1".to_string()),
                (Level::Error, "outer 2".to_string())
            ]
        );
        assert!(!record_log(Level::Info, "not captured"));
    }
}
