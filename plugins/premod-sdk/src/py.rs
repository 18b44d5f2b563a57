//! Python-style text for log lines that match the platform's Python modules, e.g.
//! `[hunmin log] dir_list : ['dataset.zip']`.

use std::fmt;
use std::fs;
use std::ops::Deref;

use crate::error::{Error, Result};

/// The names in a folder, sorted; prints like the Python list of `sorted(os.listdir(path))`:
/// `['a.txt', 'dataset.zip']`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirList(pub Vec<String>);

impl Deref for DirList {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for DirList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&py_list_repr(&self.0))
    }
}

/// Sorted names in `dir` (not recursive). Fails with [`Error::Io`]
/// `cannot list <dir>: <reason>`. Non-UTF-8 names are converted lossily.
pub fn dir_list(dir: &str) -> Result<DirList> {
    let read = |e: std::io::Error| Error::Io(format!("cannot list {dir}: {e}"));
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(read)? {
        names.push(
            entry
                .map_err(read)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort_unstable();
    Ok(DirList(names))
}

/// Python's `repr()` of a `str`: quotes and escapes like CPython does.
///
/// Printability follows `str.isprintable()` for everything a file name plausibly holds
/// (control, format, separator, private-use and non-characters are escaped); unassigned
/// code points, which need Unicode tables to recognise, are printed as is.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let n = u32::from(c);
                let escaped = if n < 0x100 {
                    format!("\\x{n:02x}")
                } else if n < 0x10000 {
                    format!("\\u{n:04x}")
                } else {
                    format!("\\U{n:08x}")
                };
                out.push_str(&escaped);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr()` of a `list` of `str`: `['a', 'b']`.
pub fn py_list_repr<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&py_repr(item.as_ref()));
    }
    out.push(']');
    out
}

fn is_printable(c: char) -> bool {
    let n = u32::from(c);
    !matches!(n,
        // Cc
        0x00..=0x1F | 0x7F..=0x9F
        // Zs other than ' ', Zl, Zp
        | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000
        // Cf
        | 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890 | 0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        // Co
        | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
        // Cn: non-characters
        | 0xFDD0..=0xFDEF
    ) && (n & 0xFFFE) != 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_like_python() {
        assert_eq!(py_repr("dataset.zip"), "'dataset.zip'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(
            py_repr("a\\b\n\0\u{7f}\u{a0}"),
            "'a\\\\b\\n\\x00\\x7f\\xa0'"
        );
        assert_eq!(py_repr("고양이"), "'고양이'");
        assert_eq!(py_repr("\u{200b}\u{10ffff}"), "'\\u200b\\U0010ffff'");
        assert_eq!(py_list_repr(&["dataset"]), "['dataset']");
        assert_eq!(py_list_repr::<&str>(&[]), "[]");
        assert_eq!(py_list_repr(&["a", "b"]), "['a', 'b']");
    }

    #[test]
    fn dir_list_sorted_and_errors_name_the_folder() {
        let dir = std::env::temp_dir().join(format!("premod-sdk-dirlist-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("b.zip"), b"").unwrap();
        fs::write(dir.join("a.txt"), b"").unwrap();
        let d = dir.to_string_lossy().into_owned();
        let list = dir_list(&d).unwrap();
        assert_eq!(list.to_string(), "['a.txt', 'b.zip', 'sub']");
        assert_eq!(list.len(), 3);
        fs::remove_dir_all(&dir).unwrap();
        let Error::Io(m) = dir_list(&d).unwrap_err() else {
            panic!()
        };
        assert!(m.starts_with(&format!("cannot list {d}: ")), "{m}");
    }
}
