//! `premod:native`: optional host-native capabilities (`wit/native/zip.wit`).
//!
//! `zip.extract` runs the extractor the first-party module runs in the sandbox
//! (`premod-unzip`), in the host process, at native speed. What keeps it inside the step's
//! sandbox:
//! - paths are guest paths, resolved here against the step's own mounts: the archive must be
//!   a regular file under `/collection` or `/input`, the destination a folder under
//!   `/output`; `..`, and a symbolic link anywhere on either path, are refused;
//! - every file and folder created and every buffer written is charged to the step's
//!   [`OutputQuota`] first, as the sandbox's filesystem charges the module's own writes;
//! - the step's deadline and stop request are checked at each of those points, so a long
//!   extraction ends on time even though no guest code runs meanwhile;
//! - going over a limit raises the very trap the module's own write would have raised.
//!
//! The trade-off (ARCHITECTURE.md, "Host-native capabilities"): the ZIP parser and inflater
//! then run in the host process, outside the WebAssembly sandbox, on untrusted archives.
//! They are memory-safe Rust and bounded (entry count, declared and actual sizes, a
//! fixed-size copy buffer), but an operator who wants every byte of untrusted input parsed
//! inside the sandbox turns the capability off (`--native-capabilities off`); the module
//! then extracts in the sandbox with the same code.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use premod_unzip::{ExtractError, Hooks, NameEncoding, Options};
use tokio_util::sync::CancellationToken;

use super::bindings::native::premod::native::zip;
use super::quota::OutputQuota;
use super::{Interrupted, StepState, logger};
use crate::step::Mounts;
use crate::steplog::{Level, Source};

/// The folders a capability may use, from the step's mounts (none when serving: `init-svc`
/// and `transform` have no `/collection` or `/output`).
#[derive(Clone, Debug)]
pub(crate) struct NativeAccess {
    pub(crate) enabled: bool,
    pub(crate) mounts: Option<Mounts>,
}

impl zip::Host for StepState {
    async fn extract(
        &mut self,
        archive: String,
        destination: String,
        options: zip::Options,
    ) -> wasmtime::Result<Result<zip::Stats, zip::ExtractError>> {
        if !self.native.enabled {
            return Ok(Err(zip::ExtractError::Unavailable(
                "host-native capabilities are turned off on this host \
                 (--native-capabilities off); extract in the module instead"
                    .into(),
            )));
        }
        let Some(mounts) = self.native.mounts.as_ref() else {
            return Ok(Err(zip::ExtractError::InvalidPath(
                "no /collection or /output is mounted in this call (only process-for-train \
                 and per-item calls have them)"
                    .into(),
            )));
        };
        let mut sources = vec![("collection", mounts.collection.as_path())];
        if let Some(input) = &mounts.input {
            sources.push(("input", input.as_path()));
        }
        let src = match resolve(&archive, &sources, Want::File) {
            Ok(p) => p,
            Err(why) => return Ok(Err(zip::ExtractError::InvalidPath(why))),
        };
        let dest = match resolve(
            &destination,
            &[("output", mounts.output.as_path())],
            Want::Dir,
        ) {
            Ok(p) => p,
            Err(why) => return Ok(Err(zip::ExtractError::InvalidPath(why))),
        };
        let opts = Options {
            max_total_bytes: options.max_total_bytes,
            max_entries: options.max_entries,
            // Inflate and write on every core: the step waits for this call alone.
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            name_encoding: match options.name_encoding {
                zip::NameEncoding::Auto => NameEncoding::Auto,
                zip::NameEncoding::Utf8 => NameEncoding::Utf8,
                zip::NameEncoding::Cp949 => NameEncoding::Cp949,
                zip::NameEncoding::Cp437 => NameEncoding::Cp437,
            },
        };
        let hooks = StepHooks {
            quota: Arc::clone(&self.quota),
            log: Arc::clone(&self.log),
            deadline: self.deadline,
            timeout: self.timeout,
            cancel: self.cancel.clone(),
            abandoned: Arc::new(AtomicBool::new(false)),
            progress: self.guest_progress,
            stopped: Mutex::new(None),
        };
        let started = Instant::now();
        let (src_shown, dest_shown) = (src.display().to_string(), dest.display().to_string());
        let (result, stopped) = Extraction::start(src, dest, opts, hooks)?.finish().await;
        if let Some(trap) = stopped {
            return Err(trap);
        }
        Ok(match result {
            Ok(s) => {
                self.log.log(
                    Level::Info,
                    Source::Host,
                    &format!(
                        "premod:native/zip extracted {} files ({} bytes) from {archive} into \
                         {destination} in {} ms",
                        s.files,
                        s.bytes,
                        started.elapsed().as_millis()
                    ),
                );
                Ok(zip::Stats {
                    entries: s.entries,
                    files: s.files,
                    dirs: s.dirs,
                    bytes: s.bytes,
                })
            }
            // Messages name paths as the module sees them, never the host's folders.
            Err(e) => {
                let guest = |m: String| {
                    m.replace(&dest_shown, destination.trim_end_matches('/'))
                        .replace(&src_shown, &archive)
                };
                match e {
                    ExtractError::InvalidData(m) => Err(zip::ExtractError::InvalidData(guest(m))),
                    ExtractError::Io(m) => Err(zip::ExtractError::Io(guest(m))),
                    // Only `StepHooks` aborts, and then it leaves its trap in `stopped`.
                    ExtractError::Aborted(m) => Err(zip::ExtractError::Io(guest(m))),
                }
            }
        })
    }
}

type Outcome = (
    Result<premod_unzip::Stats, ExtractError>,
    Option<wasmtime::Error>,
);

/// One extraction on its own thread. The call awaits it, so the runtime keeps serving the
/// step's timer and stop request (and other steps). If the call is dropped (the step timed
/// out or was stopped), dropping this tells the thread to stop at its next file or buffer and
/// waits for it: an extraction never outlives its step or writes after its cleanup.
struct Extraction {
    thread: Option<std::thread::JoinHandle<()>>,
    abandoned: Arc<AtomicBool>,
    done: Option<tokio::sync::oneshot::Receiver<Outcome>>,
}

impl Extraction {
    fn start(
        src: PathBuf,
        dest: PathBuf,
        opts: Options,
        hooks: StepHooks,
    ) -> wasmtime::Result<Extraction> {
        let abandoned = Arc::clone(&hooks.abandoned);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("premod-native-zip".into())
            .spawn(move || {
                let result = premod_unzip::extract(&src, &dest, &opts, &hooks);
                let stopped = hooks
                    .stopped
                    .into_inner()
                    .unwrap_or_else(|e| e.into_inner());
                let _ = tx.send((result, stopped));
            })?;
        Ok(Extraction {
            thread: Some(thread),
            abandoned,
            done: Some(rx),
        })
    }

    async fn finish(mut self) -> Outcome {
        let rx = self.done.take().expect("finish runs once");
        match rx.await {
            Ok(outcome) => outcome,
            Err(_) => (
                Err(ExtractError::Io("the extraction thread panicked".into())),
                None,
            ),
        }
    }
}

impl Drop for Extraction {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The step's limits, applied to what the extractor writes.
struct StepHooks {
    quota: Arc<OutputQuota>,
    log: Arc<logger::ModuleLog>,
    deadline: Instant,
    timeout: Duration,
    cancel: CancellationToken,
    /// Set when the call was dropped: stop without a report.
    abandoned: Arc<AtomicBool>,
    progress: bool,
    /// The trap that ends the step: the first limit hit, by any extraction thread.
    stopped: Mutex<Option<wasmtime::Error>>,
}

impl StepHooks {
    fn stop(&self, trap: wasmtime::Error) -> String {
        let text = trap.to_string();
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        stopped.get_or_insert(trap);
        text
    }

    fn check_time(&self) -> Result<(), String> {
        if self.cancel.is_cancelled() || self.abandoned.load(Ordering::Relaxed) {
            return Err(self.stop(Interrupted::Stopped.into()));
        }
        if Instant::now() >= self.deadline {
            return Err(self.stop(Interrupted::Timeout(self.timeout).into()));
        }
        Ok(())
    }
}

impl Hooks for StepHooks {
    fn progress(&self, done: u64, total: u64) {
        if self.progress {
            self.log.observer().progress(done, total);
        }
    }

    fn reserve_entry(&self) -> Result<(), String> {
        self.check_time()?;
        self.quota.charge_file().map_err(|e| self.stop(e.into()))
    }

    fn release_entry(&self) {
        self.quota.refund_file();
    }

    fn reserve_bytes(&self, n: u64) -> Result<(), String> {
        self.check_time()?;
        self.quota.charge_bytes(n).map_err(|e| self.stop(e.into()))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    File,
    Dir,
}

/// Maps a guest path under one of `mounts` (`(name, host folder)`) to the host path, refusing
/// `..`, other mounts, symbolic links on the way and the wrong kind of file.
fn resolve(guest: &str, mounts: &[(&str, &Path)], want: Want) -> Result<PathBuf, String> {
    let allowed = || {
        mounts
            .iter()
            .map(|(name, _)| format!("/{name}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let mut parts = Vec::new();
    for c in Path::new(guest).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!(
                    "{guest:?} has a `..` component; give a path under {}",
                    allowed()
                ));
            }
        }
    }
    if !guest.starts_with('/') {
        return Err(format!(
            "{guest:?} is not an absolute guest path; give a path under {}",
            allowed()
        ));
    }
    let root = parts
        .first()
        .and_then(|first| mounts.iter().find(|(name, _)| *first == *name))
        .map(|(_, host)| *host)
        .ok_or_else(|| format!("{guest:?} is not under {}", allowed()))?;
    let mut host = root.to_path_buf();
    for part in &parts[1..] {
        host.push(part);
        let meta = std::fs::symlink_metadata(&host).map_err(|e| format!("{guest:?}: {e}"))?;
        if meta.file_type().is_symlink() {
            return Err(format!(
                "{guest:?} goes through a symbolic link; native capabilities follow no links"
            ));
        }
    }
    let meta = std::fs::metadata(&host).map_err(|e| format!("{guest:?}: {e}"))?;
    match want {
        Want::File if !meta.is_file() => Err(format!("{guest:?} is not a regular file")),
        Want::Dir if !meta.is_dir() => Err(format!("{guest:?} is not a folder")),
        _ => Ok(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_only_inside_the_named_mounts() {
        let tmp = tempfile::tempdir().unwrap();
        let col = tmp.path().join("col");
        let out = tmp.path().join("out");
        std::fs::create_dir_all(col.join("sub")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(col.join("sub/a.zip"), b"x").unwrap();
        std::fs::write(tmp.path().join("secret.zip"), b"x").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.zip"), col.join("link.zip")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), col.join("up")).unwrap();
        let src = [("collection", col.as_path())];
        let dst = [("output", out.as_path())];

        assert_eq!(
            resolve("/collection/sub/a.zip", &src, Want::File).unwrap(),
            col.join("sub/a.zip")
        );
        assert_eq!(resolve("/output", &dst, Want::Dir).unwrap(), out);
        assert_eq!(resolve("/output/", &dst, Want::Dir).unwrap(), out);
        for (path, why) in [
            ("/collection/../secret.zip", "`..`"),
            ("/collection/link.zip", "symbolic link"),
            ("/collection/up/secret.zip", "symbolic link"),
            ("/output/x.zip", "is not under /collection"),
            ("collection/sub/a.zip", "not an absolute"),
            ("/collection/sub", "not a regular file"),
            ("/collection/none.zip", "No such file"),
            ("/", "is not under"),
        ] {
            let err = resolve(path, &src, Want::File).unwrap_err();
            assert!(err.contains(why), "{path}: {err}");
        }
        let err = resolve("/collection", &dst, Want::Dir).unwrap_err();
        assert!(err.contains("is not under /output"), "{err}");
    }
}
