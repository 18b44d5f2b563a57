//! `zipcraft`: a tiny, dependency-free raw ZIP writer for tests.
//!
//! Real ZIP libraries refuse (rightly) to write hostile archives. Tests of an extractor need
//! exactly those: names with arbitrary bytes (`../x`, `/etc/passwd`, CP949 without the UTF-8
//! flag, NUL bytes), duplicate names, symlink attributes, encryption flags, and headers whose
//! sizes or checksums lie. `zipcraft` writes whatever it is told, byte for byte.
//!
//! ```
//! use zipcraft::{Entry, ZipBuilder};
//!
//! let zip: Vec<u8> = ZipBuilder::new()
//!     .entry(Entry::dir("dataset/"))
//!     .entry(Entry::file("dataset/a.txt", b"hello".to_vec()))
//!     .entry(Entry::file(b"../evil".to_vec(), b"x".to_vec()))
//!     .entry(Entry::file("\u{ace0}.txt", b"utf-8 named".to_vec()).utf8())
//!     .build();
//! assert_eq!(&zip[..4], b"PK\x03\x04");
//! ```
//!
//! Layout of what [`ZipBuilder::build`] writes: an optional [`ZipBuilder::prefix`], then for
//! every entry a local file header followed by its payload (no data descriptors), then the
//! central directory, then (only when needed) the ZIP64 end record and locator, then the
//! end-of-central-directory record with the archive comment. Local and central headers of an
//! entry agree on everything (flags, method, time, CRC, sizes, extra fields) unless
//! [`Entry::local_name`] asks for a different local name.
//!
//! Defaults: timestamps are 1980-01-01 00:00 (DOS epoch); "version made by" is Unix, 2.0;
//! files get Unix mode `0o100644`, directories `0o040755` plus the DOS directory bit.
//! Sizes over `0xFFFF_FFFE` and more than `0xFFFF` entries switch on ZIP64 records
//! automatically.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// General purpose flag bit 0: the entry is encrypted.
pub const FLAG_ENCRYPTED: u16 = 1 << 0;
/// General purpose flag bit 3: sizes and CRC follow the data in a data descriptor.
///
/// `zipcraft` never writes data descriptors; setting this flag only sets the bit.
pub const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// General purpose flag bit 11 (EFS): the name and comment are UTF-8.
pub const FLAG_UTF8: u16 = 1 << 11;

/// Compression method 0: stored (no compression).
pub const METHOD_STORED: u16 = 0;
/// Compression method 8: deflate.
pub const METHOD_DEFLATED: u16 = 8;

/// Unix file type bits of a regular file (`S_IFREG`).
pub const S_IFREG: u32 = 0o100000;
/// Unix file type bits of a directory (`S_IFDIR`).
pub const S_IFDIR: u32 = 0o040000;
/// Unix file type bits of a symbolic link (`S_IFLNK`).
pub const S_IFLNK: u32 = 0o120000;

/// "Version made by" host byte for MS-DOS / FAT (external attributes are DOS attributes).
pub const HOST_DOS: u8 = 0;
/// "Version made by" host byte for Unix (upper 16 bits of external attributes are the mode).
pub const HOST_UNIX: u8 = 3;

const DOS_DIR_ATTR: u32 = 0x10;
const DOS_DATE_1980_01_01: u16 = (1 << 5) | 1;
const ZIP32_MAX: u64 = 0xFFFF_FFFF;

/// One archive entry: its name bytes, payload and every header field a test may want to bend.
///
/// Start from [`Entry::file`], [`Entry::dir`] or [`Entry::symlink`] and chain modifiers.
#[derive(Clone, Debug)]
pub struct Entry {
    name: Vec<u8>,
    local_name: Option<Vec<u8>>,
    data: Vec<u8>,
    payload: Option<Vec<u8>>,
    method: u16,
    flags: u16,
    version_made_by: u16,
    external_attr: u32,
    crc32: Option<u32>,
    declared_size: Option<u64>,
    declared_compressed_size: Option<u64>,
    extra: Vec<u8>,
    comment: Vec<u8>,
}

impl Entry {
    /// A stored regular file named `name` (raw bytes, written as is) holding `data`.
    ///
    /// CRC-32 and both sizes are computed from `data` unless overridden.
    pub fn file(name: impl Into<Vec<u8>>, data: impl Into<Vec<u8>>) -> Self {
        Entry {
            name: name.into(),
            local_name: None,
            data: data.into(),
            payload: None,
            method: METHOD_STORED,
            flags: 0,
            version_made_by: made_by(HOST_UNIX, 20),
            external_attr: (S_IFREG | 0o644) << 16,
            crc32: None,
            declared_size: None,
            declared_compressed_size: None,
            extra: Vec::new(),
            comment: Vec::new(),
        }
    }

    /// An empty directory entry. The name is written as is: add the trailing `/` yourself.
    pub fn dir(name: impl Into<Vec<u8>>) -> Self {
        Entry::file(name, Vec::new()).external_attr(((S_IFDIR | 0o755) << 16) | DOS_DIR_ATTR)
    }

    /// A Unix symbolic link named `name` pointing at `target` (the payload is the target).
    pub fn symlink(name: impl Into<Vec<u8>>, target: impl Into<Vec<u8>>) -> Self {
        Entry::file(name, target).unix_mode(S_IFLNK | 0o777)
    }

    /// Replaces the general purpose flags (see [`FLAG_UTF8`], [`FLAG_ENCRYPTED`], ...).
    pub fn flags(mut self, flags: u16) -> Self {
        self.flags = flags;
        self
    }

    /// Sets flag bit 11: the name is declared UTF-8.
    pub fn utf8(mut self) -> Self {
        self.flags |= FLAG_UTF8;
        self
    }

    /// Sets flag bit 0: the entry is declared encrypted (the payload is left as is).
    pub fn encrypted(mut self) -> Self {
        self.flags |= FLAG_ENCRYPTED;
        self
    }

    /// Replaces the 32-bit external attributes field.
    pub fn external_attr(mut self, attr: u32) -> Self {
        self.external_attr = attr;
        self
    }

    /// Sets a Unix mode (type and permission bits, e.g. `S_IFLNK | 0o777`) in the upper
    /// 16 bits of the external attributes and marks the entry as made on Unix.
    pub fn unix_mode(mut self, mode: u32) -> Self {
        self.external_attr = (mode & 0xFFFF) << 16;
        self.version_made_by = made_by(HOST_UNIX, (self.version_made_by & 0xFF) as u8);
        self
    }

    /// Replaces the whole 16-bit "version made by" field; see [`made_by`].
    pub fn version_made_by(mut self, value: u16) -> Self {
        self.version_made_by = value;
        self
    }

    /// Stores `compressed` (a raw deflate stream, e.g. from `flate2::write::DeflateEncoder`)
    /// as the payload with method 8. CRC-32 and the uncompressed size are still computed
    /// from the entry's data unless overridden, so a test can pass the original data to
    /// [`Entry::file`] and the compressed bytes here, or empty data plus explicit
    /// [`Entry::crc32`] and [`Entry::declared_size`].
    pub fn deflated(mut self, compressed: impl Into<Vec<u8>>) -> Self {
        self.payload = Some(compressed.into());
        self.method = METHOD_DEFLATED;
        self
    }

    /// Replaces the compression method number without touching the payload.
    pub fn method(mut self, method: u16) -> Self {
        self.method = method;
        self
    }

    /// Writes `size` as the uncompressed size in both headers, whatever the data is.
    pub fn declared_size(mut self, size: u64) -> Self {
        self.declared_size = Some(size);
        self
    }

    /// Writes `size` as the compressed size in both headers, whatever the payload is.
    pub fn declared_compressed_size(mut self, size: u64) -> Self {
        self.declared_compressed_size = Some(size);
        self
    }

    /// Writes `crc` as the CRC-32 in both headers instead of the real checksum.
    pub fn crc32(mut self, crc: u32) -> Self {
        self.crc32 = Some(crc);
        self
    }

    /// Appends raw extra-field bytes (id, length, data, ...) to both headers.
    pub fn extra(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.extra.extend_from_slice(bytes.as_ref());
        self
    }

    /// Adds an Info-ZIP Unicode Path extra field (0x7075, version 1) carrying `utf8_name`,
    /// bound to the header name by its CRC-32 as the specification requires.
    pub fn unicode_path(self, utf8_name: &str) -> Self {
        let mut data = vec![1u8];
        data.extend_from_slice(&crc32(&self.name).to_le_bytes());
        data.extend_from_slice(utf8_name.as_bytes());
        let field = extra_field(0x7075, &data);
        self.extra(field)
    }

    /// Writes a different name in the local header than in the central directory.
    pub fn local_name(mut self, name: impl Into<Vec<u8>>) -> Self {
        self.local_name = Some(name.into());
        self
    }

    /// Sets the per-entry comment (central directory only).
    pub fn comment(mut self, comment: impl Into<Vec<u8>>) -> Self {
        self.comment = comment.into();
        self
    }

    fn payload(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or(&self.data)
    }
}

/// Builds an archive from [`Entry`] values, in the order they are added.
#[derive(Clone, Debug, Default)]
pub struct ZipBuilder {
    prefix: Vec<u8>,
    entries: Vec<Entry>,
    comment: Vec<u8>,
}

impl ZipBuilder {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub fn entry(mut self, entry: Entry) -> Self {
        self.entries.push(entry);
        self
    }

    /// Adds several entries.
    pub fn entries(mut self, entries: impl IntoIterator<Item = Entry>) -> Self {
        self.entries.extend(entries);
        self
    }

    /// Bytes written before the first local header (like a self-extractor stub).
    /// Offsets in the headers account for it.
    pub fn prefix(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.prefix = bytes.into();
        self
    }

    /// The archive comment, written after the end-of-central-directory record.
    pub fn comment(mut self, comment: impl Into<Vec<u8>>) -> Self {
        self.comment = comment.into();
        self
    }

    /// Writes the archive.
    ///
    /// # Panics
    ///
    /// If a name, extra field or comment is longer than 65,535 bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        let mut central = Vec::new();
        for entry in &self.entries {
            let offset = out.len() as u64;
            let payload = entry.payload();
            let crc = entry.crc32.unwrap_or_else(|| crc32(&entry.data));
            let size = entry.declared_size.unwrap_or(entry.data.len() as u64);
            let csize = entry
                .declared_compressed_size
                .unwrap_or(payload.len() as u64);
            let zip64_sizes = size >= ZIP32_MAX || csize >= ZIP32_MAX;
            let needed: u16 = if zip64_sizes || offset >= ZIP32_MAX {
                45
            } else {
                20
            };
            let (size32, csize32) = if zip64_sizes {
                (u32::MAX, u32::MAX)
            } else {
                (size as u32, csize as u32)
            };

            // Local header.
            let local_name = entry.local_name.as_deref().unwrap_or(&entry.name);
            let mut local_extra = Vec::new();
            if zip64_sizes {
                let mut z = Vec::new();
                z.extend_from_slice(&size.to_le_bytes());
                z.extend_from_slice(&csize.to_le_bytes());
                local_extra.extend_from_slice(&extra_field(0x0001, &z));
            }
            local_extra.extend_from_slice(&entry.extra);
            put32(&mut out, 0x0403_4b50);
            put16(&mut out, needed);
            put16(&mut out, entry.flags);
            put16(&mut out, entry.method);
            put16(&mut out, 0); // time 00:00:00
            put16(&mut out, DOS_DATE_1980_01_01);
            put32(&mut out, crc);
            put32(&mut out, csize32);
            put32(&mut out, size32);
            put16(&mut out, len16(local_name.len(), "name"));
            put16(&mut out, len16(local_extra.len(), "extra field"));
            out.extend_from_slice(local_name);
            out.extend_from_slice(&local_extra);
            out.extend_from_slice(payload);

            // Central directory header.
            let offset_over = offset >= ZIP32_MAX;
            let mut central_extra = Vec::new();
            if zip64_sizes || offset_over {
                let mut z = Vec::new();
                if zip64_sizes {
                    z.extend_from_slice(&size.to_le_bytes());
                    z.extend_from_slice(&csize.to_le_bytes());
                }
                if offset_over {
                    z.extend_from_slice(&offset.to_le_bytes());
                }
                central_extra.extend_from_slice(&extra_field(0x0001, &z));
            }
            central_extra.extend_from_slice(&entry.extra);
            put32(&mut central, 0x0201_4b50);
            put16(&mut central, entry.version_made_by);
            put16(&mut central, needed);
            put16(&mut central, entry.flags);
            put16(&mut central, entry.method);
            put16(&mut central, 0);
            put16(&mut central, DOS_DATE_1980_01_01);
            put32(&mut central, crc);
            put32(&mut central, csize32);
            put32(&mut central, size32);
            put16(&mut central, len16(entry.name.len(), "name"));
            put16(&mut central, len16(central_extra.len(), "extra field"));
            put16(&mut central, len16(entry.comment.len(), "entry comment"));
            put16(&mut central, 0); // disk number start
            put16(&mut central, 0); // internal attributes
            put32(&mut central, entry.external_attr);
            put32(
                &mut central,
                if offset_over { u32::MAX } else { offset as u32 },
            );
            central.extend_from_slice(&entry.name);
            central.extend_from_slice(&central_extra);
            central.extend_from_slice(&entry.comment);
        }

        let cd_start = out.len() as u64;
        let cd_size = central.len() as u64;
        let count = self.entries.len() as u64;
        out.extend_from_slice(&central);

        let zip64_end = count >= 0xFFFF || cd_start >= ZIP32_MAX || cd_size >= ZIP32_MAX;
        if zip64_end {
            let end64_offset = out.len() as u64;
            put32(&mut out, 0x0606_4b50);
            put64(&mut out, 44); // size of the rest of this record
            put16(&mut out, made_by(HOST_UNIX, 45));
            put16(&mut out, 45);
            put32(&mut out, 0); // this disk
            put32(&mut out, 0); // disk with the central directory
            put64(&mut out, count);
            put64(&mut out, count);
            put64(&mut out, cd_size);
            put64(&mut out, cd_start);
            put32(&mut out, 0x0706_4b50);
            put32(&mut out, 0);
            put64(&mut out, end64_offset);
            put32(&mut out, 1); // total disks
        }
        let count16 = if zip64_end { 0xFFFF } else { count as u16 };
        put32(&mut out, 0x0605_4b50);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, count16);
        put16(&mut out, count16);
        put32(&mut out, cd_size.min(ZIP32_MAX) as u32);
        put32(&mut out, cd_start.min(ZIP32_MAX) as u32);
        put16(&mut out, len16(self.comment.len(), "archive comment"));
        out.extend_from_slice(&self.comment);
        out
    }
}

/// The 16-bit "version made by" value for `host` (e.g. [`HOST_UNIX`]) and a spec version
/// times ten (20 = 2.0).
pub fn made_by(host: u8, version: u8) -> u16 {
    (u16::from(host) << 8) | u16::from(version)
}

/// One extra field record: 2-byte id, 2-byte length, data.
///
/// # Panics
///
/// If `data` is longer than 65,535 bytes.
pub fn extra_field(id: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len());
    put16(&mut out, id);
    put16(&mut out, len16(data.len(), "extra field data"));
    out.extend_from_slice(data);
    out
}

/// CRC-32 (IEEE 802.3, as ZIP uses it) of `data`. Bitwise and slow; meant for test data.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn len16(len: usize, what: &str) -> u16 {
    u16::try_from(len).unwrap_or_else(|_| panic!("zipcraft: {what} longer than 65535 bytes"))
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn layout_of_one_stored_file() {
        let zip = ZipBuilder::new()
            .entry(Entry::file("a.txt", b"hello".to_vec()))
            .build();
        // Local header.
        assert_eq!(u32_at(&zip, 0), 0x0403_4b50);
        assert_eq!(u32_at(&zip, 14), crc32(b"hello"));
        assert_eq!(u32_at(&zip, 18), 5);
        assert_eq!(u32_at(&zip, 22), 5);
        assert_eq!(&zip[30..35], b"a.txt");
        assert_eq!(&zip[35..40], b"hello");
        // Central directory and end record.
        assert_eq!(u32_at(&zip, 40), 0x0201_4b50);
        let eocd = zip.len() - 22;
        assert_eq!(u32_at(&zip, eocd), 0x0605_4b50);
        assert_eq!(u16_at(&zip, eocd + 10), 1);
        assert_eq!(u32_at(&zip, eocd + 16), 40);
    }

    #[test]
    fn lies_are_written_as_told() {
        let zip = ZipBuilder::new()
            .entry(
                Entry::file(b"x".to_vec(), b"data".to_vec())
                    .declared_size(1)
                    .crc32(7)
                    .flags(FLAG_UTF8 | FLAG_ENCRYPTED),
            )
            .build();
        assert_eq!(u16_at(&zip, 6), FLAG_UTF8 | FLAG_ENCRYPTED);
        assert_eq!(u32_at(&zip, 14), 7);
        assert_eq!(u32_at(&zip, 22), 1);
    }

    #[test]
    fn zip64_sizes_use_the_extra_field() {
        let zip = ZipBuilder::new()
            .entry(Entry::file("big", Vec::new()).declared_size(5 << 32))
            .build();
        assert_eq!(u32_at(&zip, 22), u32::MAX);
        assert_eq!(u16_at(&zip, 28), 20); // one zip64 record: 4 + 16 bytes
        assert_eq!(u16_at(&zip, 33), 0x0001);
    }
}
