//! Safe extraction of a ZIP archive into a folder.
//!
//! One implementation, two callers: the `image_classification` premodule runs it inside the
//! sandbox (every file operation is a WASI call the host checks), and premod's optional
//! host-native capability `premod:native/zip` runs the same code in the host process, where
//! [`Hooks`] charge the step's output quota and check its deadline before every file, folder
//! and buffer written. Plain Rust, no WIT bindings, unit-tested natively.
//!
//! Two passes over the central directory:
//!
//! 1. **Validate** every entry before anything is written: decoded name, path safety
//!    (absolute, `..`, drive letters, empty components, NUL), symlinks, encryption,
//!    compression method, duplicates (after `\` -> `/` and dropping a trailing `/`), a file
//!    that is also used as a folder, entries sharing one local header, the entry count and
//!    the *declared* total size.
//! 2. **Extract** the planned entries: folders are created, files are created with
//!    `create_new` (never overwriting) and filled by a streaming copy that counts the
//!    *actual* bytes inflated against `max_total_bytes` (headers can lie). CRC errors and
//!    entries that inflate past their declared size surface as invalid data naming the entry.
//!
//! Entries are named in errors as `entry #N 'name'`: `N` is the 0-based position in the
//! central directory, the name is the decoded name in Python `repr` form.
//!
//! The central directory is walked with `zip::unstable::read::ZipIterable`, not
//! `ZipArchive`: `ZipArchive` keys entries by name and silently collapses exact duplicates
//! (it only reports *that* there were some), while `ZipIterable` yields every central
//! directory record in order, so a duplicate can be named with its true index. The unstable
//! API is why `zip` is pinned with `=` in Cargo.toml, as its documentation requires.
//!
//! # Detecting the UTF-8 flag
//!
//! zip 9.9 (read in `src/read/mod.rs`, `src/types.rs`, `src/extra_fields/extra_field.rs`):
//! - `name_raw()` is the central-directory name bytes, *except* when an Info-ZIP Unicode
//!   Path extra field (0x7075) is present, its CRC-32 matches the header name and its
//!   content is valid UTF-8: then `name_raw()` is that UTF-8 path and the crate also sets
//!   flag bit 11 in `flags()`.
//! - `name()` ignores the flag entirely: it returns UTF-8 if the bytes happen to be valid
//!   UTF-8, else CP437. So comparing `name()` with a CP437 decoding cannot tell the flag.
//! - `flags()` returns the central directory's general purpose flags (`ZipFileFlags`,
//!   whose `as_u16()` is public), with bit 11 forced on when the Unicode Path field applied.
//!
//! We therefore read bit 11 straight from `flags().as_u16()` and decode `name_raw()`
//! ourselves ([`crate::names::decode_name`]). That is exact for plain headers and also
//! right for the Unicode Path case (the bytes are then UTF-8 and the bit says so).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use zip::CompressionMethod;
use zip::ZipReadOptions;
use zip::read::Config;
use zip::result::ZipError;
use zip::unstable::read::ZipIterable;

pub mod names;
pub mod seekbuf;

pub use names::NameEncoding;
use names::{decode_cp437, decode_name, py_repr};
use seekbuf::SeekBufReader;

/// Default `max_total_bytes`: 4 GiB of extracted data.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 4 << 30;
/// Default `max_entries`: files plus folders in the archive.
pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

/// Size of the copy buffer: one read/write host call per 256 KiB at most.
pub const COPY_BUFFER: usize = 256 * 1024;
/// Buffer of the reader that walks the central directory.
const META_BUFFER: usize = 64 * 1024;

/// General purpose flag bit 11 (EFS): name and comment are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

/// Limits and decoding choices for one extraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Cap on the bytes extracted, checked against the declared sizes before extracting and
    /// against the actual bytes while extracting.
    pub max_total_bytes: u64,
    /// Cap on the number of entries (files and folders).
    pub max_entries: u64,
    /// How names without the UTF-8 flag are decoded.
    pub name_encoding: NameEncoding,
    /// Threads that inflate and write files at once (1: this thread only, as inside a
    /// premodule, where there are no threads). Validation and folders always run first, on
    /// the calling thread; the result and every error are the same for any value.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            name_encoding: NameEncoding::Auto,
            threads: 1,
        }
    }
}

/// What an extraction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries in the archive (files and folders).
    pub entries: u64,
    /// Files written.
    pub files: u64,
    /// Folder entries in the archive (folders implied by file paths are not counted).
    pub dirs: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why an extraction failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtractError {
    /// The archive is hostile, corrupt or over a limit.
    InvalidData(String),
    /// Reading the archive or writing the output failed.
    Io(String),
    /// A [`Hooks`] method refused to go on (output quota, deadline, stop request); the
    /// text is the hook's reason. Nothing more is written.
    Aborted(String),
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::InvalidData(m) | ExtractError::Io(m) | ExtractError::Aborted(m) => {
                f.write_str(m)
            }
        }
    }
}

/// What the caller sees of an extraction while it runs, and where it may stop it.
///
/// Inside a premodule every file operation already goes through the host, so the module uses
/// [`NoHooks`] or [`Progress`]. premod's host-native capability implements these to apply
/// exactly the accounting the sandbox applies to a module's own writes: one file reservation
/// per file or folder created, byte reservations before each buffer is written, and the
/// step's deadline and stop request checked at each of them. With [`Options::threads`] above
/// 1 they are called from several threads at once.
pub trait Hooks: Sync {
    /// `done` of `total` entries extracted; called at most ~102 times.
    fn progress(&self, _done: u64, _total: u64) {}
    /// Called before a file or folder is created; an error stops the extraction.
    fn reserve_entry(&self) -> Result<(), String> {
        Ok(())
    }
    /// Gives back a reservation whose file or folder was not created (it existed already
    /// or creation failed).
    fn release_entry(&self) {}
    /// Called before `n` bytes are written; an error stops the extraction.
    fn reserve_bytes(&self, _n: u64) -> Result<(), String> {
        Ok(())
    }
}

/// Hooks that only report progress.
pub struct Progress<F: Fn(u64, u64) + Sync>(pub F);

impl<F: Fn(u64, u64) + Sync> Hooks for Progress<F> {
    fn progress(&self, done: u64, total: u64) {
        (self.0)(done, total)
    }
}

/// Hooks that do nothing.
pub struct NoHooks;

impl Hooks for NoHooks {}

/// One validated entry, in central-directory order.
struct Planned {
    /// Relative, `/`-separated, no trailing `/`; empty for a root folder entry (`./`).
    path: Box<str>,
    is_dir: bool,
    header_start: u64,
    declared_size: u64,
}

/// Extracts `archive` into `out_dir`, telling `hooks` about progress, entries and bytes.
///
/// Nothing is written unless every entry passes validation. Folders are then made in archive
/// order on this thread, and files are inflated and written by [`Options::threads`] threads,
/// each taking a contiguous run of entries. On an error the partly written file is removed
/// and the error of the earliest failing entry is returned (the same one whatever the
/// thread count); files already extracted stay.
pub fn extract(
    archive: &Path,
    out_dir: &Path,
    opts: &Options,
    hooks: &dyn Hooks,
) -> Result<Stats, ExtractError> {
    let archive_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| archive.display().to_string());
    let mut zip = open_archive(archive, &archive_name)?;
    let declared_entries = zip.len() as u64;
    if declared_entries > opts.max_entries {
        return Err(ExtractError::InvalidData(format!(
            "{archive_name} has {declared_entries} entries, over the limit max_entries = {}; \
             raise the `max_entries` param if the archive is trusted",
            opts.max_entries
        )));
    }

    // Pass 1: validate everything, write nothing.
    let files = zip.files().map_err(|e| archive_error(&archive_name, e))?;
    let plan = plan_entries(files, opts, &archive_name)?;
    drop(zip);
    let total = plan.len() as u64;

    // Pass 2: folders, in archive order, on this thread.
    hooks.progress(0, total);
    let progress = Counter {
        done: AtomicU64::new(0),
        total,
        step: (total / 100).max(1),
    };
    let mut stats = Stats {
        entries: total,
        ..Stats::default()
    };
    let mut created: HashSet<Box<str>> = HashSet::new();
    for (index, planned) in plan.iter().enumerate() {
        let folder = match (planned.is_dir, planned.path.rfind('/')) {
            (true, _) => &planned.path[..],
            (false, Some(pos)) => &planned.path[..pos],
            (false, None) => continue,
        };
        ensure_dir(out_dir, folder, &mut created, hooks).map_err(|e| {
            dir_error(
                &label(index, &planned.path, planned.is_dir),
                out_dir,
                folder,
                e,
            )
        })?;
        if planned.is_dir {
            stats.dirs += 1;
            progress.one_more(hooks);
        }
    }

    // Pass 3: files, on `threads` threads, each a contiguous run of entries of about the
    // same declared size.
    let job = FileJob {
        archive,
        archive_name: &archive_name,
        out_dir,
        plan: &plan,
        opts,
        hooks,
        written: ByteBudget::new(opts.max_total_bytes),
        first_failure: AtomicUsize::new(usize::MAX),
        progress: &progress,
    };
    let runs = split_files(&plan, opts.threads.max(1));
    let results: Vec<Result<(u64, u64), (usize, ExtractError)>> = if runs.len() <= 1 {
        runs.into_iter().map(|run| job.extract_run(run)).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = runs
                .into_iter()
                .map(|run| {
                    let job = &job;
                    scope.spawn(move || job.extract_run(run))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err((
                            usize::MAX,
                            ExtractError::Io("an extraction thread panicked".into()),
                        ))
                    })
                })
                .collect()
        })
    };
    let mut first_error: Option<(usize, ExtractError)> = None;
    for result in results {
        match result {
            Ok((files, bytes)) => {
                stats.files += files;
                stats.bytes += bytes;
            }
            Err((index, e)) => {
                if first_error.as_ref().is_none_or(|(i, _)| index < *i) {
                    first_error = Some((index, e));
                }
            }
        }
    }
    match first_error {
        Some((_, e)) => Err(e),
        None => Ok(stats),
    }
}

fn open_archive(
    archive: &Path,
    archive_name: &str,
) -> Result<ZipIterable<SeekBufReader<File>>, ExtractError> {
    let file = File::open(archive)
        .map_err(|e| ExtractError::Io(format!("cannot open {}: {e}", archive.display())))?;
    ZipIterable::try_new(
        SeekBufReader::with_capacity(META_BUFFER, file),
        Config::default(),
    )
    .map_err(|e| archive_error(archive_name, e))
}

/// Entries done, reported through the hooks about a hundred times in all.
struct Counter {
    done: AtomicU64,
    total: u64,
    step: u64,
}

impl Counter {
    fn one_more(&self, hooks: &dyn Hooks) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if done.is_multiple_of(self.step) || done == self.total {
            hooks.progress(done, self.total);
        }
    }
}

/// Contiguous runs of plan indices holding files, about `threads` of them, balanced by
/// declared size (each file also counts as 4 KiB, for its creation).
fn split_files(plan: &[Planned], threads: usize) -> Vec<std::ops::Range<usize>> {
    let weight = |p: &Planned| if p.is_dir { 0 } else { p.declared_size + 4096 };
    let total: u64 = plan.iter().map(weight).sum();
    if total == 0 {
        return Vec::new();
    }
    let share = total.div_ceil(threads as u64);
    let mut runs = Vec::with_capacity(threads);
    let (mut start, mut acc) = (0, 0u64);
    for (i, p) in plan.iter().enumerate() {
        acc += weight(p);
        if acc >= share && runs.len() + 1 < threads {
            runs.push(start..i + 1);
            start = i + 1;
            acc = 0;
        }
    }
    if start < plan.len() {
        runs.push(start..plan.len());
    }
    runs
}

/// What every file-writing thread shares.
struct FileJob<'a> {
    archive: &'a Path,
    archive_name: &'a str,
    out_dir: &'a Path,
    plan: &'a [Planned],
    opts: &'a Options,
    hooks: &'a dyn Hooks,
    /// Bytes written by every thread, against `max_total_bytes`.
    written: ByteBudget,
    /// The lowest entry index that failed so far: a thread stops before any later entry, so
    /// the earliest failing entry is always found, whatever the threads' timing.
    first_failure: AtomicUsize,
    progress: &'a Counter,
}

impl FileJob<'_> {
    /// Extracts the files among `run`; on failure, the entry index and the error.
    fn extract_run(
        &self,
        run: std::ops::Range<usize>,
    ) -> Result<(u64, u64), (usize, ExtractError)> {
        let r = self.try_run(run);
        if let Err((index, _)) = &r {
            self.first_failure.fetch_min(*index, Ordering::Relaxed);
        }
        r
    }

    fn try_run(&self, run: std::ops::Range<usize>) -> Result<(u64, u64), (usize, ExtractError)> {
        let at_start = |e| (run.start, e);
        let mut zip = open_archive(self.archive, self.archive_name).map_err(at_start)?;
        let body = File::open(self.archive).map_err(|e| {
            at_start(ExtractError::Io(format!(
                "cannot open {}: {e}",
                self.archive.display()
            )))
        })?;
        let mut body_reader = SeekBufReader::with_capacity(COPY_BUFFER, body);
        let mut buf = vec![0u8; COPY_BUFFER];
        let (mut files_done, mut bytes_done) = (0u64, 0u64);
        let files = zip
            .files()
            .map_err(|e| at_start(archive_error(self.archive_name, e)))?;
        let mut seen = 0;
        for (index, entry) in files.enumerate().take(run.end) {
            seen = index + 1;
            if index < run.start {
                continue;
            }
            let planned = &self.plan[index];
            if planned.is_dir {
                continue;
            }
            if self.first_failure.load(Ordering::Relaxed) < index {
                // An earlier entry failed on another thread; its error is the one reported.
                return Err((usize::MAX, ExtractError::Aborted("stopped".into())));
            }
            let label = || label(index, &planned.path, planned.is_dir);
            let entry = match entry {
                Ok(entry) if entry.header_start() == planned.header_start => entry,
                Err(e) => return Err((index, entry_error(&label(), e))),
                Ok(_) => {
                    return Err((
                        index,
                        ExtractError::InvalidData(format!(
                            "{} changed while it was being extracted ({})",
                            self.archive_name,
                            label()
                        )),
                    ));
                }
            };
            let target = self.out_dir.join(&*planned.path);
            self.hooks
                .reserve_entry()
                .map_err(|why| (index, ExtractError::Aborted(why)))?;
            let mut out = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
            {
                Ok(out) => out,
                Err(e) => {
                    self.hooks.release_entry();
                    return Err((index, io_error(&label(), self.out_dir, &planned.path, e)));
                }
            };
            let mut reader = entry
                .with_reader(&mut body_reader, ZipReadOptions::new())
                .map_err(|e| (index, entry_error(&label(), e)))?;
            let copied = copy_capped(&mut reader, &mut out, &mut buf, &mut |n| {
                self.written.reserve(n)?;
                self.hooks.reserve_bytes(n).map_err(CopyError::Aborted)
            });
            drop(reader);
            let copied = match copied {
                Ok(n) => n,
                Err(e) => {
                    drop(out);
                    let _ = fs::remove_file(&target);
                    let e = copy_error(e, &label(), planned, self.opts, self.out_dir);
                    return Err((index, e));
                }
            };
            bytes_done += copied;
            files_done += 1;
            self.progress.one_more(self.hooks);
        }
        if seen < run.end {
            return Err((
                seen,
                ExtractError::InvalidData(format!(
                    "{} changed while it was being extracted (it now has {seen} entries)",
                    self.archive_name
                )),
            ));
        }
        Ok((files_done, bytes_done))
    }
}

/// Pass 1: decodes and validates every central-directory entry.
fn plan_entries(
    files: &mut zip::unstable::read::ZipIterableFiles<SeekBufReader<File>>,
    opts: &Options,
    archive_name: &str,
) -> Result<Vec<Planned>, ExtractError> {
    // The declared count is only a hint (a zip64 record may claim 2^60 entries): reserve for
    // a bounded number and grow with the entries actually read, so the host never tries to
    // allocate what an archive claims.
    let hint = files.len().min(4096);
    let mut plan = Vec::with_capacity(hint);
    let mut names = NameTable::default();
    let mut headers: HashMap<u64, usize> = HashMap::with_capacity(hint);
    let mut declared_total: u64 = 0;
    for (index, entry) in files.enumerate() {
        let entry = entry.map_err(|e| {
            ExtractError::InvalidData(format!(
                "{archive_name}: central directory record #{index} is corrupt: {e}"
            ))
        })?;
        if index as u64 >= opts.max_entries {
            return Err(ExtractError::InvalidData(format!(
                "{archive_name} has more than max_entries = {} entries; raise the \
                 `max_entries` param if the archive is trusted",
                opts.max_entries
            )));
        }
        let utf8_flag = entry.flags().as_u16() & FLAG_UTF8 != 0;
        let raw = entry.name_raw();
        let name = match decode_name(raw, utf8_flag, opts.name_encoding) {
            Ok(name) => name,
            Err(why) => {
                let shown = decode_cp437(raw);
                return Err(ExtractError::InvalidData(format!(
                    "entry #{index} {} (shown as CP437): {why}",
                    py_repr(&shown)
                )));
            }
        };
        // Built only on error: no per-entry formatting on the happy path.
        let invalid = |why: &str| {
            ExtractError::InvalidData(format!("entry #{index} {}: {why}", py_repr(&name)))
        };

        if entry.encrypted() {
            return Err(invalid(
                "is encrypted; password-protected archives are not supported (re-create the \
                 archive without a password)",
            ));
        }
        if (entry.external_attributes() >> 16) & S_IFMT == S_IFLNK {
            return Err(invalid(
                "is a symbolic link; links are refused because they can point outside the \
                 output folder (re-create the archive without links, e.g. `zip` without `-y`)",
            ));
        }
        let Some((path, is_dir)) = checked_path(&name).map_err(|why| invalid(&why))? else {
            // `./` or similar: the output folder itself.
            plan.push(Planned {
                path: "".into(),
                is_dir: true,
                header_start: entry.header_start(),
                declared_size: 0,
            });
            continue;
        };
        if !is_dir {
            let method = entry.compression();
            if method != CompressionMethod::Stored && method != CompressionMethod::Deflated {
                return Err(invalid(&format!(
                    "uses compression method {method:?}; only stored and deflate are \
                         supported (re-create the archive with deflate, the default of most tools)"
                )));
            }
        }
        names
            .register(&path, is_dir, index)
            .map_err(|why| invalid(&why))?;
        if let Some(other) = headers.insert(entry.header_start(), index) {
            return Err(invalid(&format!(
                "shares its local header (offset {}) with entry #{other}; overlapping \
                     entries are a zip-bomb technique",
                entry.header_start()
            )));
        }
        let declared_size = if is_dir { 0 } else { entry.size() };
        if !is_dir {
            declared_total = declared_total.saturating_add(declared_size);
            if declared_total > opts.max_total_bytes {
                return Err(invalid(&format!(
                    "brings the declared uncompressed size of {archive_name} to {} bytes, \
                         over the limit max_total_bytes = {} bytes; raise the \
                         `max_total_bytes` param if the archive is trusted",
                    declared_total, opts.max_total_bytes
                )));
            }
        }
        plan.push(Planned {
            path: path.into(),
            is_dir,
            header_start: entry.header_start(),
            declared_size,
        });
    }
    Ok(plan)
}

/// Checks a decoded entry name and returns its relative path (`/`-separated, no trailing
/// `/`) and whether it names a folder. `Ok(None)` is a folder entry for the root itself
/// (`./`). `.` components are dropped, as Python's `zipfile` does.
fn checked_path(name: &str) -> Result<Option<(Cow<'_, str>, bool)>, String> {
    if name.is_empty() {
        return Err("has an empty name".into());
    }
    if name.contains('\0') {
        return Err("has a NUL byte in its name".into());
    }
    // Windows tools sometimes write `\` as the separator: treat it as one everywhere.
    let unified: Cow<'_, str> = if name.contains('\\') {
        Cow::Owned(name.replace('\\', "/"))
    } else {
        Cow::Borrowed(name)
    };
    if unified.starts_with('/') {
        return Err("is an absolute path; entries must stay inside the output folder".into());
    }
    let first = unified.split('/').next().unwrap_or_default().as_bytes();
    if first.len() >= 2 && first[0].is_ascii_alphabetic() && first[1] == b':' {
        return Err(
            "starts with a drive letter; entries must stay inside the output folder".into(),
        );
    }
    let is_dir = unified.ends_with('/');
    let body_len = unified.len() - usize::from(is_dir);
    let mut has_dot = false;
    for component in unified[..body_len].split('/') {
        match component {
            "" => return Err("has an empty path component (`//`)".into()),
            ".." => {
                return Err("has a `..` component, which would escape the output folder".into());
            }
            "." => has_dot = true,
            _ => {}
        }
    }
    let path: Cow<'_, str> = if has_dot {
        let kept: Vec<&str> = unified[..body_len]
            .split('/')
            .filter(|c| *c != ".")
            .collect();
        Cow::Owned(kept.join("/"))
    } else {
        match unified {
            Cow::Borrowed(s) => Cow::Borrowed(&s[..body_len]),
            Cow::Owned(mut s) => {
                s.truncate(body_len);
                Cow::Owned(s)
            }
        }
    };
    if path.is_empty() {
        return if is_dir {
            Ok(None)
        } else {
            Err("names no file (only `.` components)".into())
        };
    }
    Ok(Some((path, is_dir)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// A folder only implied by a longer path.
    Implied,
}

/// Every path seen so far: duplicates and file/folder clashes.
#[derive(Default)]
struct NameTable {
    seen: HashMap<Box<str>, (Kind, usize)>,
}

impl NameTable {
    fn register(&mut self, path: &str, is_dir: bool, index: usize) -> Result<(), String> {
        for (pos, _) in path.match_indices('/') {
            let folder = &path[..pos];
            match self.seen.get(folder) {
                Some((Kind::File, other)) => {
                    return Err(format!(
                        "uses {} as a folder, but entry #{other} is a file with that name",
                        py_repr(folder)
                    ));
                }
                Some(_) => {}
                None => {
                    self.seen.insert(folder.into(), (Kind::Implied, index));
                }
            }
        }
        match self.seen.get_mut(path) {
            None => {
                let kind = if is_dir { Kind::Dir } else { Kind::File };
                self.seen.insert(path.into(), (kind, index));
                Ok(())
            }
            Some(slot) => match (slot.0, is_dir) {
                (Kind::Implied, true) => {
                    *slot = (Kind::Dir, index);
                    Ok(())
                }
                (Kind::Implied, false) => Err(format!(
                    "is a file, but entry #{} uses {} as a folder",
                    slot.1,
                    py_repr(path)
                )),
                _ => Err(format!(
                    "duplicates entry #{} (both are {} once `\\` is read as `/` and a trailing \
                     `/` is dropped)",
                    slot.1,
                    py_repr(path)
                )),
            },
        }
    }
}

/// Why a folder could not be made.
enum DirError {
    Io(io::Error),
    Aborted(String),
}

fn dir_error(label: &str, out_dir: &Path, rel: &str, e: DirError) -> ExtractError {
    match e {
        DirError::Io(e) => io_error(label, out_dir, rel, e),
        DirError::Aborted(why) => ExtractError::Aborted(why),
    }
}

/// Creates `out/rel` and its missing parents, remembering what exists.
fn ensure_dir(
    out: &Path,
    rel: &str,
    created: &mut HashSet<Box<str>>,
    hooks: &dyn Hooks,
) -> Result<(), DirError> {
    if rel.is_empty() || created.contains(rel) {
        return Ok(());
    }
    let ends = rel
        .match_indices('/')
        .map(|(pos, _)| pos)
        .chain([rel.len()]);
    for end in ends {
        let prefix = &rel[..end];
        if created.contains(prefix) {
            continue;
        }
        let dir = out.join(prefix);
        hooks.reserve_entry().map_err(DirError::Aborted)?;
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                hooks.release_entry();
                let meta = fs::symlink_metadata(&dir).map_err(DirError::Io)?;
                if !meta.is_dir() {
                    return Err(DirError::Io(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "it already exists and is not a folder",
                    )));
                }
            }
            Err(e) => {
                hooks.release_entry();
                return Err(DirError::Io(e));
            }
        }
        created.insert(prefix.into());
    }
    Ok(())
}

/// How [`copy_capped`] failed.
#[derive(Debug)]
pub enum CopyError {
    /// Reading (inflating, CRC checking) failed.
    Read(io::Error),
    /// Writing failed.
    Write(io::Error),
    /// More than the [`ByteBudget`] came out of the reader.
    OverBudget,
    /// The `reserve` callback refused the next write.
    Aborted(String),
}

/// The actual bytes an extraction may write, shared by its threads: headers can lie about
/// sizes, so the bytes that really come out of the inflater are counted too.
pub struct ByteBudget {
    written: AtomicU64,
    max: u64,
}

impl ByteBudget {
    pub fn new(max: u64) -> Self {
        ByteBudget {
            written: AtomicU64::new(0),
            max,
        }
    }

    /// Takes `n` more bytes, or fails with [`CopyError::OverBudget`] past the maximum.
    pub fn reserve(&self, n: u64) -> Result<(), CopyError> {
        if self.written.fetch_add(n, Ordering::Relaxed) + n > self.max {
            return Err(CopyError::OverBudget);
        }
        Ok(())
    }
}

/// Streams `reader` into `writer` through `buf`, asking `reserve(n)` before every write of
/// `n` bytes (a refusal ends the copy; nothing refused is written). Reads until the reader
/// reports end of data, so the zip crate's CRC check runs.
pub fn copy_capped<R: Read + ?Sized, W: Write + ?Sized>(
    reader: &mut R,
    writer: &mut W,
    buf: &mut [u8],
    reserve: &mut dyn FnMut(u64) -> Result<(), CopyError>,
) -> Result<u64, CopyError> {
    let mut copied: u64 = 0;
    loop {
        // Fill the whole buffer first: one write (one host call) per buffer.
        let mut filled = 0;
        let mut eof = false;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CopyError::Read(e)),
            }
        }
        copied += filled as u64;
        if filled > 0 {
            reserve(filled as u64)?;
            writer.write_all(&buf[..filled]).map_err(CopyError::Write)?;
        }
        if eof {
            return Ok(copied);
        }
    }
}

fn label(index: usize, path: &str, is_dir: bool) -> String {
    if is_dir {
        format!("entry #{index} {}", py_repr(&format!("{path}/")))
    } else {
        format!("entry #{index} {}", py_repr(path))
    }
}

/// Errors a corrupt or hostile archive produces (as opposed to failing storage).
fn is_data_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

fn archive_error(archive_name: &str, e: ZipError) -> ExtractError {
    match e {
        ZipError::Io(e) if !is_data_error(&e) => {
            ExtractError::Io(format!("cannot read {archive_name}: {e}"))
        }
        e => ExtractError::InvalidData(format!("{archive_name} is not a valid ZIP archive: {e}")),
    }
}

fn entry_error(label: &str, e: ZipError) -> ExtractError {
    match e {
        ZipError::Io(e) if !is_data_error(&e) => {
            ExtractError::Io(format!("{label}: cannot read the archive: {e}"))
        }
        e => ExtractError::InvalidData(format!("{label}: {e}")),
    }
}

fn io_error(label: &str, out_dir: &Path, rel: &str, e: io::Error) -> ExtractError {
    let what = if e.kind() == io::ErrorKind::AlreadyExists {
        " (the output folder must not already hold it; nothing is overwritten)"
    } else {
        ""
    };
    ExtractError::Io(format!(
        "{label}: cannot create {}: {e}{what}",
        out_dir.join(rel).display()
    ))
}

fn copy_error(
    e: CopyError,
    label: &str,
    planned: &Planned,
    opts: &Options,
    out_dir: &Path,
) -> ExtractError {
    match e {
        CopyError::Read(e) if is_data_error(&e) => {
            let text = e.to_string();
            let why = if text.contains("checksum") {
                "CRC-32 mismatch: the data is corrupt".to_string()
            } else if text.contains("larger than its declared") {
                format!(
                    "inflates past its declared size of {} bytes: a zip bomb or a corrupt header",
                    planned.declared_size
                )
            } else {
                format!("cannot be decompressed: {text}")
            };
            ExtractError::InvalidData(format!("{label}: {why}"))
        }
        CopyError::Read(e) => ExtractError::Io(format!("{label}: cannot read the archive: {e}")),
        CopyError::Write(e) => ExtractError::Io(format!(
            "{label}: cannot write {}: {e}",
            out_dir.join(&*planned.path).display()
        )),
        CopyError::Aborted(why) => ExtractError::Aborted(why),
        CopyError::OverBudget => ExtractError::InvalidData(format!(
            "{label}: the data actually inflated passed max_total_bytes = {} bytes, more than \
             the headers declare: a zip bomb or a corrupt archive (raise the `max_total_bytes` \
             param only if the archive is trusted)",
            opts.max_total_bytes
        )),
    }
}

#[cfg(test)]
mod tests;
