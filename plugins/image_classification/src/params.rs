//! The rule's params (`ctx.rule.params`, the text of a JSON object).

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use premod_unzip::{DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_BYTES, NameEncoding};

/// Default `archive`: the file the platform's reference module unzips.
pub const DEFAULT_ARCHIVE: &str = "dataset.zip";

/// Accepted keys, in the order the error messages list them.
pub const KEYS: [&str; 4] = ["archive", "max_total_bytes", "max_entries", "name_encoding"];

/// Parsed, validated params.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// File name inside `/collection` (a plain name: no `/`, `\`, `..`).
    pub archive: String,
    /// Cap on the bytes extracted, declared and actual.
    pub max_total_bytes: u64,
    /// Cap on the number of entries (files and folders) in the archive.
    pub max_entries: u64,
    /// How names without the UTF-8 flag are decoded.
    pub name_encoding: NameEncoding,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            archive: DEFAULT_ARCHIVE.to_string(),
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            name_encoding: NameEncoding::Auto,
        }
    }
}

impl Params {
    /// Parses the params text. Empty text means `{}`. Errors name the offending key and
    /// list the accepted keys, ready for `error::invalid-params`.
    pub fn parse(text: &str) -> Result<Params, String> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("params are not valid JSON ({e}); {}", accepted()))?;
        let serde_json::Value::Object(map) = &value else {
            return Err(format!(
                "params must be a JSON object, got `{text}`; {}",
                accepted()
            ));
        };
        // Check key by key first: serde's own errors do not say which key a bad value is for.
        for (key, v) in map {
            match key.as_str() {
                "archive" => {
                    let name: String = field(key, v)?;
                    check_archive_name(&name)?;
                }
                "max_total_bytes" | "max_entries" => {
                    let n: u64 = field(key, v)?;
                    if n == 0 {
                        return Err(format!("`{key}` must be at least 1; {}", accepted()));
                    }
                }
                "name_encoding" => {
                    field::<NameEncoding>(key, v).map_err(|_| {
                        format!(
                            "`name_encoding` must be one of \"auto\", \"utf-8\", \"cp949\", \
                             \"cp437\", got {v}; {}",
                            accepted()
                        )
                    })?;
                }
                _ => return Err(format!("unknown param `{key}`; {}", accepted())),
            }
        }
        serde_json::from_value(value).map_err(|e| format!("{e}; {}", accepted()))
    }
}

fn field<T: DeserializeOwned>(key: &str, value: &serde_json::Value) -> Result<T, String> {
    T::deserialize(value).map_err(|e| format!("`{key}`: {e}; {}", accepted()))
}

fn accepted() -> String {
    format!(
        "accepted keys: `{}` (default \"{DEFAULT_ARCHIVE}\"), `{}` (default \
         {DEFAULT_MAX_TOTAL_BYTES}), `{}` (default {DEFAULT_MAX_ENTRIES}), `{}` (\"auto\" \
         default, \"utf-8\", \"cp949\", \"cp437\")",
        KEYS[0], KEYS[1], KEYS[2], KEYS[3]
    )
}

fn check_archive_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || (name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.get(1..2) == Some(":"));
    if bad {
        Err(format!(
            "`archive` must be a plain file name inside /collection (no `/`, `\\`, `..`), \
             got {name:?}; {}",
            accepted()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        assert_eq!(Params::parse("{}").unwrap(), Params::default());
        assert_eq!(Params::parse("").unwrap(), Params::default());
        assert_eq!(Params::default().max_total_bytes, 4_294_967_296);
    }

    #[test]
    fn all_keys() {
        let p = Params::parse(
            r#"{"archive":"a.zip","max_total_bytes":10,"max_entries":2,"name_encoding":"cp949"}"#,
        )
        .unwrap();
        assert_eq!(p.archive, "a.zip");
        assert_eq!(p.max_total_bytes, 10);
        assert_eq!(p.max_entries, 2);
        assert_eq!(p.name_encoding, NameEncoding::Cp949);
        let p = Params::parse(r#"{"name_encoding":"utf-8"}"#).unwrap();
        assert_eq!(p.name_encoding, NameEncoding::Utf8);
    }

    #[test]
    fn errors_name_the_key() {
        let e = Params::parse(r#"{"archvie":"a.zip"}"#).unwrap_err();
        assert!(
            e.contains("`archvie`") && e.contains("`max_entries`"),
            "{e}"
        );
        let e = Params::parse(r#"{"max_entries":"many"}"#).unwrap_err();
        assert!(e.starts_with("`max_entries`"), "{e}");
        let e = Params::parse(r#"{"max_total_bytes":-1}"#).unwrap_err();
        assert!(e.starts_with("`max_total_bytes`"), "{e}");
        let e = Params::parse(r#"{"max_entries":0}"#).unwrap_err();
        assert!(e.contains("`max_entries`"), "{e}");
        let e = Params::parse(r#"{"name_encoding":"latin1"}"#).unwrap_err();
        assert!(e.contains("`name_encoding`"), "{e}");
        for bad in ["../x.zip", "a/b.zip", "..", "", "c:x.zip", "a\\b.zip"] {
            let e = Params::parse(&format!(r#"{{"archive":{bad:?}}}"#)).unwrap_err();
            assert!(e.contains("`archive`"), "{bad}: {e}");
        }
        assert!(Params::parse("[1]").unwrap_err().contains("JSON object"));
        assert!(Params::parse("{").unwrap_err().contains("not valid JSON"));
    }
}
