//! The module's side of the step log: `host.log` calls and captured stdout/stderr, counted
//! against the log limit. Past the limit lines are dropped and one marker says so; the step
//! carries on, because a chatty module is not a broken one.

use crate::steplog::{Level, LogLine, Source, StepObserver};
use std::sync::{Arc, Mutex};
use wasmtime_wasi::async_trait;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// One step's bounded module log, shared by the `host.log` import and the stdio streams.
pub(crate) struct ModuleLog {
    observer: Arc<dyn StepObserver>,
    max_bytes: u64,
    state: Mutex<Budget>,
}

#[derive(Default)]
struct Budget {
    bytes: u64,
    dropped_lines: u64,
    truncated: bool,
}

/// What the module logged, for the step's resource figures.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogUsage {
    pub(crate) bytes: u64,
    pub(crate) dropped_lines: u64,
}

impl ModuleLog {
    pub(crate) fn new(observer: Arc<dyn StepObserver>, max_bytes: u64) -> Self {
        ModuleLog {
            observer,
            max_bytes,
            state: Mutex::new(Budget::default()),
        }
    }

    pub(crate) fn observer(&self) -> &Arc<dyn StepObserver> {
        &self.observer
    }

    /// Logs `message`, one line per embedded newline.
    pub(crate) fn log(&self, level: Level, source: Source, message: &str) {
        for line in message.lines() {
            self.line(level, source, line);
        }
        if message.is_empty() {
            self.line(level, source, "");
        }
    }

    fn line(&self, level: Level, source: Source, line: &str) {
        let cost = line.len() as u64 + 1;
        let mut budget = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if budget.truncated || budget.bytes.saturating_add(cost) > self.max_bytes {
            budget.dropped_lines += 1;
            if !budget.truncated {
                budget.truncated = true;
                drop(budget);
                self.observer.log(&LogLine::now(
                    Level::Warn,
                    Source::Host,
                    format!(
                        "[premod] log truncated: the module's log reached the limit of {} bytes; \
                         further module output is dropped (the step goes on)",
                        self.max_bytes
                    ),
                ));
            }
            return;
        }
        budget.bytes += cost;
        drop(budget);
        self.observer.log(&LogLine::now(level, source, line));
    }

    pub(crate) fn usage(&self) -> LogUsage {
        let budget = self.state.lock().unwrap_or_else(|e| e.into_inner());
        LogUsage {
            bytes: budget.bytes,
            dropped_lines: budget.dropped_lines,
        }
    }
}

/// The guest's stdout or stderr: bytes are split into lines and logged.
pub(crate) struct CapturedStdio {
    pub(crate) log: Arc<ModuleLog>,
    pub(crate) source: Source,
}

impl IsTerminal for CapturedStdio {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStdio {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineStream {
            log: Arc::clone(&self.log),
            source: self.source,
            pending: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineStream {
            log: Arc::clone(&self.log),
            source: self.source,
            pending: Vec::new(),
        })
    }
}

/// Longest partial line kept before it is logged anyway.
const MAX_PENDING: usize = 16 * 1024;

struct LineStream {
    log: Arc<ModuleLog>,
    source: Source,
    pending: Vec<u8>,
}

impl LineStream {
    fn level(&self) -> Level {
        match self.source {
            Source::Stderr => Level::Warn,
            _ => Level::Info,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&bytes[..pos]);
            self.emit();
            bytes = &bytes[pos + 1..];
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_PENDING {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.pending);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        self.log.line(self.level(), self.source, text);
        self.pending.clear();
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

#[async_trait]
impl Pollable for LineStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LineStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

impl tokio::io::AsyncWrite for LineStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steplog::MemoryObserver;

    #[test]
    fn truncates_once_and_counts_dropped_lines() {
        let obs = Arc::new(MemoryObserver::default());
        let log = ModuleLog::new(obs.clone(), 20);
        log.log(Level::Info, Source::Module, "0123456789");
        log.log(Level::Info, Source::Module, "0123456789");
        log.log(Level::Info, Source::Module, "more");
        let msgs = obs.messages();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(msgs[0], "0123456789");
        assert!(msgs[1].contains("log truncated"), "{msgs:?}");
        assert_eq!(log.usage().dropped_lines, 2);
    }

    #[test]
    fn stdio_is_split_into_lines() {
        let obs = Arc::new(MemoryObserver::default());
        let log = Arc::new(ModuleLog::new(obs.clone(), 1 << 20));
        let mut s = LineStream {
            log,
            source: Source::Stdout,
            pending: Vec::new(),
        };
        s.push(b"hello\r\nwor");
        s.push(b"ld\npartial");
        drop(s);
        assert_eq!(obs.messages(), ["hello", "world", "partial"]);
    }
}
