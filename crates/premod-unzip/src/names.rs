//! Entry-name decoding (UTF-8 / CP949 / CP437) and Python-style `repr` of names for the log.

use std::borrow::Cow;

use serde::Deserialize;

/// How to decode entry names that do not carry the UTF-8 flag (general purpose bit 11).
///
/// Names with the flag are always UTF-8, as the ZIP specification requires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum NameEncoding {
    /// Pure ASCII as is; else valid UTF-8 (macOS tools omit the flag); else valid CP949
    /// (Korean Windows); else CP437 (the specification's default, never fails).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// UTF-8 only; a name that is not valid UTF-8 is an error.
    #[serde(rename = "utf-8")]
    Utf8,
    /// CP949 (Windows Korean, a superset of EUC-KR) only; an invalid name is an error.
    #[serde(rename = "cp949")]
    Cp949,
    /// CP437 (the original IBM PC code page), what Python's `zipfile` uses. Never fails.
    #[serde(rename = "cp437")]
    Cp437,
}

impl NameEncoding {
    /// The spelling used in params.
    pub fn as_str(self) -> &'static str {
        match self {
            NameEncoding::Auto => "auto",
            NameEncoding::Utf8 => "utf-8",
            NameEncoding::Cp949 => "cp949",
            NameEncoding::Cp437 => "cp437",
        }
    }
}

/// Decodes a raw entry name.
///
/// `utf8_flag` is general purpose bit 11. A flagged name that is not valid UTF-8 (a broken
/// writer) is decoded as if it were unflagged rather than rejected: the bytes are still a
/// name, and every decoded name is validated as a path afterwards anyway.
///
/// Errors (only with a forced `encoding`) say why the name could not be decoded.
pub fn decode_name(
    raw: &[u8],
    utf8_flag: bool,
    encoding: NameEncoding,
) -> Result<Cow<'_, str>, String> {
    if utf8_flag && let Ok(s) = std::str::from_utf8(raw) {
        return Ok(Cow::Borrowed(s));
    }
    match encoding {
        NameEncoding::Auto => Ok(decode_auto(raw)),
        NameEncoding::Utf8 => std::str::from_utf8(raw).map(Cow::Borrowed).map_err(|_| {
            "the name is not valid UTF-8 (params set name_encoding = \"utf-8\"; \
             try \"auto\", \"cp949\" or \"cp437\")"
                .to_string()
        }),
        NameEncoding::Cp949 => decode_cp949(raw).ok_or_else(|| {
            "the name is not valid CP949 (params set name_encoding = \"cp949\"; \
             try \"auto\", \"utf-8\" or \"cp437\")"
                .to_string()
        }),
        NameEncoding::Cp437 => Ok(decode_cp437(raw)),
    }
}

/// ASCII, else UTF-8, else CP949, else CP437.
fn decode_auto(raw: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(raw) {
        // Covers pure ASCII too (ASCII is valid UTF-8 and identical in all four encodings).
        return Cow::Borrowed(s);
    }
    if let Some(s) = decode_cp949(raw) {
        return s;
    }
    decode_cp437(raw)
}

/// Strict CP949: `None` if any byte sequence is not valid CP949.
///
/// `encoding_rs::EUC_KR` is the WHATWG "EUC-KR" decoder, which is in fact Windows code
/// page 949 (Unified Hangul Code), the superset Korean Windows writes. Its trail bytes never
/// include `/` (0x2F) or `\` (0x5C), so path separators cannot hide inside a character.
fn decode_cp949(raw: &[u8]) -> Option<Cow<'_, str>> {
    encoding_rs::EUC_KR.decode_without_bom_handling_and_without_replacement(raw)
}

/// The upper half of code page 437; the lower half is ASCII.
#[rustfmt::skip]
const CP437_HIGH: [char; 128] = [
    '\u{00C7}', '\u{00FC}', '\u{00E9}', '\u{00E2}', '\u{00E4}', '\u{00E0}', '\u{00E5}', '\u{00E7}', // 0x80
    '\u{00EA}', '\u{00EB}', '\u{00E8}', '\u{00EF}', '\u{00EE}', '\u{00EC}', '\u{00C4}', '\u{00C5}', // 0x88
    '\u{00C9}', '\u{00E6}', '\u{00C6}', '\u{00F4}', '\u{00F6}', '\u{00F2}', '\u{00FB}', '\u{00F9}', // 0x90
    '\u{00FF}', '\u{00D6}', '\u{00DC}', '\u{00A2}', '\u{00A3}', '\u{00A5}', '\u{20A7}', '\u{0192}', // 0x98
    '\u{00E1}', '\u{00ED}', '\u{00F3}', '\u{00FA}', '\u{00F1}', '\u{00D1}', '\u{00AA}', '\u{00BA}', // 0xA0
    '\u{00BF}', '\u{2310}', '\u{00AC}', '\u{00BD}', '\u{00BC}', '\u{00A1}', '\u{00AB}', '\u{00BB}', // 0xA8
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}', // 0xB0
    '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255D}', '\u{255C}', '\u{255B}', '\u{2510}', // 0xB8
    '\u{2514}', '\u{2534}', '\u{252C}', '\u{251C}', '\u{2500}', '\u{253C}', '\u{255E}', '\u{255F}', // 0xC0
    '\u{255A}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256C}', '\u{2567}', // 0xC8
    '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256B}', // 0xD0
    '\u{256A}', '\u{2518}', '\u{250C}', '\u{2588}', '\u{2584}', '\u{258C}', '\u{2590}', '\u{2580}', // 0xD8
    '\u{03B1}', '\u{00DF}', '\u{0393}', '\u{03C0}', '\u{03A3}', '\u{03C3}', '\u{00B5}', '\u{03C4}', // 0xE0
    '\u{03A6}', '\u{0398}', '\u{03A9}', '\u{03B4}', '\u{221E}', '\u{03C6}', '\u{03B5}', '\u{2229}', // 0xE8
    '\u{2261}', '\u{00B1}', '\u{2265}', '\u{2264}', '\u{2320}', '\u{2321}', '\u{00F7}', '\u{2248}', // 0xF0
    '\u{00B0}', '\u{2219}', '\u{00B7}', '\u{221A}', '\u{207F}', '\u{00B2}', '\u{25A0}', '\u{00A0}', // 0xF8
];

/// CP437, as Python's `cp437` codec decodes it (bytes 0x00-0x7F are ASCII).
pub fn decode_cp437(raw: &[u8]) -> Cow<'_, str> {
    if raw.is_ascii() {
        // ASCII bytes are valid UTF-8.
        return Cow::Borrowed(std::str::from_utf8(raw).unwrap_or_default());
    }
    Cow::Owned(
        raw.iter()
            .map(|&b| {
                if b < 0x80 {
                    char::from(b)
                } else {
                    CP437_HIGH[usize::from(b - 0x80)]
                }
            })
            .collect(),
    )
}

/// Python `repr()` of names for error messages (`entry #3 '../x'`), from the SDK.
pub use premod_sdk::py::{py_list_repr, py_repr};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp437_matches_python() {
        // bytes(range(0x80, 0x100)).decode("cp437")[:16] in Python.
        let s = decode_cp437(&(0x80u8..=0x8F).collect::<Vec<_>>()).into_owned();
        assert_eq!(s, "ÇüéâäàåçêëèïîìÄÅ");
        assert_eq!(decode_cp437(&[0xFF]), "\u{a0}");
        assert_eq!(decode_cp437(b"plain.txt"), "plain.txt");
    }

    #[test]
    fn auto_detects_utf8_cp949_and_falls_back_to_cp437() {
        let korean = "고양이/사진1.png";
        let (cp949, _, had_errors) = encoding_rs::EUC_KR.encode(korean);
        assert!(!had_errors);
        assert_eq!(
            decode_name(&cp949, false, NameEncoding::Auto).unwrap(),
            korean
        );
        assert_eq!(
            decode_name(korean.as_bytes(), false, NameEncoding::Auto).unwrap(),
            korean
        );
        // 0x82 at the end is neither UTF-8 nor CP949 -> CP437 'é'.
        assert_eq!(
            decode_name(b"caf\x82", false, NameEncoding::Auto).unwrap(),
            "café"
        );
    }

    #[test]
    fn flag_wins_and_forced_encodings_are_strict() {
        let korean = "고양이.png";
        let (cp949, _, _) = encoding_rs::EUC_KR.encode(korean);
        assert_eq!(
            decode_name(korean.as_bytes(), true, NameEncoding::Cp437).unwrap(),
            korean
        );
        assert!(decode_name(&cp949, false, NameEncoding::Utf8).is_err());
        assert!(decode_name(b"caf\x82", false, NameEncoding::Cp949).is_err());
        assert_eq!(
            decode_name(&cp949, false, NameEncoding::Cp949).unwrap(),
            korean
        );
        // What Python's zipfile shows for the CP949 name.
        assert_ne!(
            decode_name(&cp949, false, NameEncoding::Cp437).unwrap(),
            korean
        );
    }
}
