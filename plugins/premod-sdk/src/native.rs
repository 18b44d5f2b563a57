//! Host-native capabilities (`premod:native`, `wit/native/zip.wit`): work the host can do
//! for the module at native speed, under the same rules as the module's own file operations
//! (guest paths inside the mounts, output charged to the step's limits, deadline and stop
//! honoured).
//!
//! They are optional: an operator may turn them off, and natively (`cargo test`) there is
//! no host. Every function therefore answers `Ok(None)` when the capability is unavailable,
//! and the module does the same work itself:
//!
//! ```ignore
//! let stats = match premod_sdk::native::extract_zip(&archive, &output, &options)? {
//!     Some(stats) => stats,                      // the host extracted it
//!     None => my_own_extractor(&archive, &output)?, // same result, in the sandbox
//! };
//! ```
//!
//! A component imports `premod:native/zip` only if it calls [`extract_zip`]; it then needs a
//! premod that provides `premod:native@1.x` (every premod since this SDK).

use crate::Result;

/// How entry names without the ZIP UTF-8 flag are decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZipNames {
    /// ASCII as is; else valid UTF-8; else valid CP949 (Korean Windows); else CP437.
    #[default]
    Auto,
    /// UTF-8 only; other names are an error.
    Utf8,
    /// CP949 only; other names are an error.
    Cp949,
    /// CP437, what Python's `zipfile` uses. Never fails.
    Cp437,
}

/// Limits of one extraction, on top of the step's output limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZipOptions {
    /// Cap on the bytes extracted, declared and actual.
    pub max_total_bytes: u64,
    /// Cap on the entries (files and folders).
    pub max_entries: u64,
    pub names: ZipNames,
}

/// What an extraction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZipStats {
    /// Entries in the archive (files and folders).
    pub entries: u64,
    /// Files written.
    pub files: u64,
    /// Folder entries in the archive.
    pub dirs: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Asks the host to extract the ZIP file at `archive` (a path under `/collection` or
/// `/input`) into the existing folder `destination` (under `/output`), validating every
/// entry first exactly as premod's first-party extractor does. `Ok(None)`: the host does
/// not offer it now; extract in the module. Errors name the entry and the reason
/// ([`crate::Error::InvalidData`] for a hostile or corrupt archive or a refused path,
/// [`crate::Error::Io`] for storage).
pub fn extract_zip(
    archive: &str,
    destination: &str,
    options: &ZipOptions,
) -> Result<Option<ZipStats>> {
    imp::extract_zip(archive, destination, options)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{ZipNames, ZipOptions, ZipStats};
    use crate::__private::native_bindings::premod::native::zip;
    use crate::{Error, Result};

    pub fn extract_zip(
        archive: &str,
        destination: &str,
        options: &ZipOptions,
    ) -> Result<Option<ZipStats>> {
        let options = zip::Options {
            max_total_bytes: options.max_total_bytes,
            max_entries: options.max_entries,
            name_encoding: match options.names {
                ZipNames::Auto => zip::NameEncoding::Auto,
                ZipNames::Utf8 => zip::NameEncoding::Utf8,
                ZipNames::Cp949 => zip::NameEncoding::Cp949,
                ZipNames::Cp437 => zip::NameEncoding::Cp437,
            },
        };
        match zip::extract(archive, destination, options) {
            Ok(s) => Ok(Some(ZipStats {
                entries: s.entries,
                files: s.files,
                dirs: s.dirs,
                bytes: s.bytes,
            })),
            Err(zip::ExtractError::Unavailable(_)) => Ok(None),
            Err(zip::ExtractError::InvalidPath(m)) => Err(Error::InvalidData(m)),
            Err(zip::ExtractError::InvalidData(m)) => Err(Error::InvalidData(m)),
            Err(zip::ExtractError::Io(m)) => Err(Error::Io(m)),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{ZipOptions, ZipStats};
    use crate::Result;

    /// No host natively: the module's own path runs, as with the capability turned off.
    pub fn extract_zip(_: &str, _: &str, _: &ZipOptions) -> Result<Option<ZipStats>> {
        Ok(None)
    }
}
