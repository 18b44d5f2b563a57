//! The live view of a step on the terminal: log lines on stderr and the guest's
//! `progress(done, total)` as an indicatif bar, or as plain, throttled lines when stderr is not
//! a terminal (CI logs, pipes), so that a redirected log stays readable.

use crate::steplog::{LogLine, StepObserver};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// Prints a step's log and progress to stderr.
pub(crate) struct TerminalObserver {
    view: View,
}

enum View {
    Bar(ProgressBar),
    Lines(Mutex<LineState>),
}

/// What the plain-line view last printed, to print only when something visible changed.
#[derive(Default)]
struct LineState {
    total: u64,
    tenth: u64,
}

impl TerminalObserver {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub(crate) fn new() -> TerminalObserver {
        match std::io::stderr().is_terminal() {
            true => TerminalObserver::bar(ProgressDrawTarget::stderr()),
            false => TerminalObserver::lines(),
        }
    }

    fn bar(target: ProgressDrawTarget) -> TerminalObserver {
        let bar = ProgressBar::with_draw_target(None, target);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({percent}%) eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        TerminalObserver {
            view: View::Bar(bar),
        }
    }

    fn lines() -> TerminalObserver {
        TerminalObserver {
            view: View::Lines(Mutex::new(LineState::default())),
        }
    }

    /// Removes the bar so that what follows (the run's summary) prints on a clean line.
    pub(crate) fn finish(&self) {
        if let View::Bar(bar) = &self.view {
            bar.finish_and_clear();
        }
    }
}

impl LineState {
    /// The line to print for this progress report, if it is worth a line: a new total (a new
    /// step), every tenth of the way, and the end.
    fn report(&mut self, done: u64, total: u64) -> Option<String> {
        if total == 0 {
            return None;
        }
        let done = done.min(total);
        let tenth = done.saturating_mul(10) / total;
        let fresh = total != self.total || tenth < self.tenth;
        if !fresh && tenth == self.tenth {
            return None;
        }
        self.total = total;
        self.tenth = tenth;
        Some(format!(
            "progress {done}/{total} ({}%)",
            done.saturating_mul(100) / total
        ))
    }
}

impl StepObserver for TerminalObserver {
    fn log(&self, line: &LogLine) {
        match &self.view {
            View::Bar(bar) => bar.suspend(|| {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }),
            View::Lines(_) => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    fn progress(&self, done: u64, total: u64) {
        match &self.view {
            View::Bar(bar) => {
                if bar.length() != Some(total) {
                    bar.set_length(total);
                }
                bar.set_position(done.min(total));
            }
            View::Lines(state) => {
                let line = state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .report(done, total);
                if let Some(line) = line {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_throttled_to_tenths_and_restart_with_a_new_total() {
        let mut s = LineState::default();
        let printed: Vec<String> = (0..=200u64).filter_map(|d| s.report(d, 200)).collect();
        assert_eq!(printed.len(), 11, "{printed:?}");
        assert_eq!(
            printed.first().map(String::as_str),
            Some("progress 0/200 (0%)")
        );
        assert_eq!(
            printed.last().map(String::as_str),
            Some("progress 200/200 (100%)")
        );
        // The next step reports its own total: it starts a new series.
        assert_eq!(s.report(1, 3).as_deref(), Some("progress 1/3 (33%)"));
        assert_eq!(s.report(0, 0), None);
        // A guest that reports more than its total is clamped, not printed as 150%.
        assert_eq!(s.report(9, 6).as_deref(), Some("progress 6/6 (100%)"));
    }

    #[test]
    fn the_bar_follows_the_guest() {
        let o = TerminalObserver::bar(ProgressDrawTarget::hidden());
        o.progress(3, 10);
        let View::Bar(bar) = &o.view else {
            panic!("expected a bar")
        };
        assert_eq!((bar.position(), bar.length()), (3, Some(10)));
        o.progress(12, 10);
        assert_eq!(bar.position(), 10);
        o.progress(1, 4);
        assert_eq!((bar.position(), bar.length()), (1, Some(4)));
        o.finish();
        assert!(bar.is_finished());
    }
}
