//! Safe extraction of a ZIP archive into a folder.
//!
//! Plain Rust, no dependency on the WIT bindings, so it is unit-tested natively.
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

use zip::CompressionMethod;
use zip::ZipReadOptions;
use zip::read::Config;
use zip::result::ZipError;
use zip::unstable::read::ZipIterable;

use crate::names::{NameEncoding, decode_cp437, decode_name, py_repr};
use crate::params::{DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_BYTES};
use crate::seekbuf::SeekBufReader;

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            name_encoding: NameEncoding::Auto,
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
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::InvalidData(m) | ExtractError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ExtractError {}

/// One validated entry, in central-directory order.
struct Planned {
    /// Relative, `/`-separated, no trailing `/`; empty for a root folder entry (`./`).
    path: Box<str>,
    is_dir: bool,
    header_start: u64,
    declared_size: u64,
}

/// Extracts `archive` into `out_dir`, calling `progress(done, total)` at most ~102 times.
///
/// Nothing is written unless every entry passes validation. On an error during extraction
/// the partly written file is removed; files already extracted stay.
pub fn extract(
    archive: &Path,
    out_dir: &Path,
    opts: &Options,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Stats, ExtractError> {
    let archive_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| archive.display().to_string());
    let open = |what: &str| {
        File::open(archive).map_err(|e| {
            ExtractError::Io(format!("cannot open {} ({what}): {e}", archive.display()))
        })
    };
    let meta_reader = SeekBufReader::with_capacity(META_BUFFER, open("central directory")?);
    let mut body_reader = SeekBufReader::with_capacity(COPY_BUFFER, open("entry data")?);

    let mut zip = ZipIterable::try_new(meta_reader, Config::default())
        .map_err(|e| archive_error(&archive_name, e))?;
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
    let total = plan.len() as u64;

    // Pass 2: extract.
    progress(0, total);
    let step = (total / 100).max(1);
    let mut stats = Stats {
        entries: total,
        ..Stats::default()
    };
    let mut created: HashSet<Box<str>> = HashSet::new();
    let mut buf = vec![0u8; COPY_BUFFER];
    let files = zip.files().map_err(|e| archive_error(&archive_name, e))?;
    let mut done: u64 = 0;
    for (index, planned) in plan.iter().enumerate() {
        let label = || label(index, &planned.path, planned.is_dir);
        let entry = match files.next() {
            Some(Ok(entry)) if entry.header_start() == planned.header_start => entry,
            Some(Err(e)) => return Err(entry_error(&label(), e)),
            _ => {
                return Err(ExtractError::InvalidData(format!(
                    "{archive_name} changed while it was being extracted ({})",
                    label()
                )));
            }
        };
        if planned.is_dir {
            ensure_dir(out_dir, &planned.path, &mut created)
                .map_err(|e| io_error(&label(), out_dir, &planned.path, e))?;
            stats.dirs += 1;
        } else {
            if let Some(pos) = planned.path.rfind('/') {
                ensure_dir(out_dir, &planned.path[..pos], &mut created)
                    .map_err(|e| io_error(&label(), out_dir, &planned.path[..pos], e))?;
            }
            let target = out_dir.join(&*planned.path);
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(|e| io_error(&label(), out_dir, &planned.path, e))?;
            let mut reader = entry
                .with_reader(&mut body_reader, ZipReadOptions::new())
                .map_err(|e| entry_error(&label(), e))?;
            let budget = opts.max_total_bytes - stats.bytes;
            let copied = copy_capped(&mut reader, &mut out, &mut buf, budget);
            drop(reader);
            let copied = match copied {
                Ok(n) => n,
                Err(e) => {
                    drop(out);
                    let _ = fs::remove_file(&target);
                    return Err(copy_error(e, &label(), planned, opts, out_dir));
                }
            };
            stats.bytes += copied;
            stats.files += 1;
        }
        done += 1;
        if done.is_multiple_of(step) || done == total {
            progress(done, total);
        }
    }
    Ok(stats)
}

/// Pass 1: decodes and validates every central-directory entry.
fn plan_entries(
    files: &mut zip::unstable::read::ZipIterableFiles<SeekBufReader<File>>,
    opts: &Options,
    archive_name: &str,
) -> Result<Vec<Planned>, ExtractError> {
    let mut plan = Vec::with_capacity(files.len());
    let mut names = NameTable::default();
    let mut headers: HashMap<u64, usize> = HashMap::with_capacity(files.len());
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

/// Creates `out/rel` and its missing parents, remembering what exists.
fn ensure_dir(out: &Path, rel: &str, created: &mut HashSet<Box<str>>) -> io::Result<()> {
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
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !fs::symlink_metadata(&dir)?.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "it already exists and is not a folder",
                    ));
                }
            }
            Err(e) => return Err(e),
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
    /// More than the budget came out of the reader.
    OverBudget,
}

/// Streams `reader` into `writer` through `buf`, failing with [`CopyError::OverBudget`] as
/// soon as more than `budget` bytes come out (nothing past the budget is written). Reads
/// until the reader reports end of data, so the zip crate's CRC check runs.
pub fn copy_capped<R: Read + ?Sized, W: Write + ?Sized>(
    reader: &mut R,
    writer: &mut W,
    buf: &mut [u8],
    budget: u64,
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
        if copied > budget {
            return Err(CopyError::OverBudget);
        }
        if filled > 0 {
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
        CopyError::OverBudget => ExtractError::InvalidData(format!(
            "{label}: the data actually inflated passed max_total_bytes = {} bytes, more than \
             the headers declare: a zip bomb or a corrupt archive (raise the `max_total_bytes` \
             param only if the archive is trusted)",
            opts.max_total_bytes
        )),
    }
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
