//! The plain Rust counterparts of the WIT `types` interface.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Severity of a log line; the step log shows it as `[ INFO] root: message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal progress lines (the platform's `logging.info`).
    Info,
    /// Something looks wrong but the step goes on.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// The name the step log prints: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A dataset column the rule reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Column {
    /// Column name as defined in the model, e.g. `dataset`.
    pub name: String,
    /// Column type as defined in the model: `file`, `text`, `number`, ...
    pub data_type: String,
}

/// The rule a step executes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Position of the rule in the model, from 0.
    pub rule_no: u32,
    /// The source columns, in the model's order.
    pub source_columns: Vec<Column>,
    /// The rule's params: the text of a JSON object, `{}` when there are none.
    pub params: String,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            rule_no: 0,
            source_columns: Vec::new(),
            params: "{}".into(),
        }
    }
}

impl Rule {
    /// Parses the params into `T` with serde. Empty text counts as `{}`.
    ///
    /// Fails with [`Error::InvalidParams`] saying what is wrong, e.g. `rule params
    /// {"colums":["x"]}: unknown field `colums`, expected `columns` at line 1 column 9`.
    /// Use `#[serde(deny_unknown_fields)]` so that typos are reported, and
    /// `#[serde(default)]` for optional keys.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T> {
        let text = if self.params.trim().is_empty() {
            "{}"
        } else {
            self.params.as_str()
        };
        serde_json::from_str(text)
            .map_err(|e| Error::InvalidParams(format!("rule params {text}: {e}")))
    }
}

/// Guest paths of the folders mounted for a training step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The dataset's collection folder, read-only: `/collection`.
    pub collection: String,
    /// The previous rule's output, read-only (`/input`); `None` for the first rule.
    pub input: Option<String>,
    /// This rule's output folder, writable: `/output`.
    pub output: String,
    /// The fitted-state folder (`/meta`) if the host mounted one: writable when fitting.
    pub meta: Option<String>,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            collection: "/collection".into(),
            input: None,
            output: "/output".into(),
            meta: None,
        }
    }
}

/// Everything `process_for_train` is told about its step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrainContext {
    /// The mounted folders.
    pub paths: Paths,
    /// The rule being executed.
    pub rule: Rule,
    /// True: fit the state and write it to `/meta` (training data). False: reuse the
    /// fitted state (test data).
    pub do_fit: bool,
}

impl TrainContext {
    /// A context for running the module outside premod (unit tests): the given folders,
    /// no `/input` or `/meta`, params `{}`, rule 0 without columns, `do_fit` true.
    pub fn new(collection: impl Into<String>, output: impl Into<String>) -> Self {
        TrainContext {
            paths: Paths {
                collection: collection.into(),
                output: output.into(),
                ..Paths::default()
            },
            rule: Rule::default(),
            do_fit: true,
        }
    }

    /// Sets the fitted-state folder.
    pub fn with_meta(mut self, meta: impl Into<String>) -> Self {
        self.paths.meta = Some(meta.into());
        self
    }

    /// Sets the previous rule's output folder.
    pub fn with_input(mut self, input: impl Into<String>) -> Self {
        self.paths.input = Some(input.into());
        self
    }

    /// Sets the params text (a JSON object).
    pub fn with_params(mut self, params: impl Into<String>) -> Self {
        self.rule.params = params.into();
        self
    }

    /// Adds a source column to the rule (`premod exec --column NAME:TYPE`).
    pub fn with_column(mut self, name: impl Into<String>, data_type: impl Into<String>) -> Self {
        self.rule.source_columns.push(Column {
            name: name.into(),
            data_type: data_type.into(),
        });
        self
    }

    /// Sets `do_fit`.
    pub fn with_do_fit(mut self, do_fit: bool) -> Self {
        self.do_fit = do_fit;
        self
    }

    /// [`Rule::params`] of this step's rule.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T> {
        self.rule.params()
    }

    /// The fitted-state folder, or [`Error::Other`] saying that the step needs one.
    pub fn meta(&self) -> Result<&str> {
        self.paths.meta.as_deref().ok_or_else(|| {
            Error::Other(
                "this module needs a fitted-state folder but none is mounted at /meta; run it \
                 with one (`premod exec --meta DIR`)"
                    .into(),
            )
        })
    }
}

/// What `init_svc` is told when an inference service starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeContext {
    /// Guest path of the fitted state, read-only: `/meta`.
    pub meta: String,
    /// The rule being served.
    pub rule: Rule,
}

impl ServeContext {
    /// A context for running the module outside premod (unit tests).
    pub fn new(meta: impl Into<String>) -> Self {
        ServeContext {
            meta: meta.into(),
            rule: Rule::default(),
        }
    }

    /// Sets the params text (a JSON object).
    pub fn with_params(mut self, params: impl Into<String>) -> Self {
        self.rule.params = params.into();
        self
    }

    /// Adds a source column to the served rule.
    pub fn with_column(mut self, name: impl Into<String>, data_type: impl Into<String>) -> Self {
        self.rule.source_columns.push(Column {
            name: name.into(),
            data_type: data_type.into(),
        });
        self
    }

    /// [`Rule::params`] of the served rule.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T> {
        self.rule.params()
    }
}

/// What a module reports when it succeeds; the host prints
/// `Status : total:N, success:N, error:N`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Units of work considered (files, archives, rows, ...).
    pub total: u64,
    /// Units processed successfully.
    pub success: u64,
    /// Units that failed without failing the step.
    pub error: u64,
    /// One line for the user.
    pub message: Option<String>,
}

impl Summary {
    /// `total`, `success`, `error` and no message.
    pub fn new(total: u64, success: u64, error: u64) -> Self {
        Summary {
            total,
            success,
            error,
            message: None,
        }
    }

    /// `n` units, all successful.
    pub fn ok(n: u64) -> Self {
        Summary::new(n, n, 0)
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// A batch of inference data, in and out of `transform`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Media type of `data`; [`Batch::JSON`] is a JSON array of records.
    pub content_type: String,
    /// The encoded batch.
    pub data: Vec<u8>,
}

impl Batch {
    /// `application/json`: a JSON array of records (objects keyed by column name), what
    /// `premod transform` and the platform send.
    pub const JSON: &'static str = "application/json";

    /// A JSON batch holding `value` (usually a `Vec` of records).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Batch> {
        let data = serde_json::to_vec(value)
            .map_err(|e| Error::Other(format!("cannot encode the batch as JSON: {e}")))?;
        Ok(Batch {
            content_type: Batch::JSON.into(),
            data,
        })
    }

    /// Decodes a JSON batch into `T` (e.g. `serde_json::Value`).
    ///
    /// Fails with [`Error::InvalidData`] if the content type is not JSON or the data does
    /// not decode, saying why.
    pub fn parse_json<T: DeserializeOwned>(&self) -> Result<T> {
        let media = self.content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case(Batch::JSON) {
            return Err(Error::InvalidData(format!(
                "batch has content type `{}`; this module reads `{}` (a JSON array of \
                 records)",
                self.content_type,
                Batch::JSON
            )));
        }
        serde_json::from_slice(&self.data)
            .map_err(|e| Error::InvalidData(format!("batch is not the expected JSON: {e}")))
    }

    /// Decodes a JSON array of records, e.g. into `Vec<serde_json::Map<String, Value>>` or
    /// a `Vec` of your own `Deserialize` struct.
    pub fn records<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.parse_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct P {
        columns: Vec<String>,
        #[serde(default)]
        scale: f64,
    }

    #[test]
    fn params_parse_and_name_the_problem() {
        let rule = Rule {
            params: r#"{"columns":["x"]}"#.into(),
            ..Rule::default()
        };
        assert_eq!(
            rule.params::<P>().unwrap(),
            P {
                columns: vec!["x".into()],
                scale: 0.0
            }
        );
        let bad = Rule {
            params: r#"{"colums":["x"]}"#.into(),
            ..Rule::default()
        };
        let Error::InvalidParams(m) = bad.params::<P>().unwrap_err() else {
            panic!()
        };
        assert!(
            m.contains("unknown field `colums`") && m.contains("`columns`"),
            "{m}"
        );
        let empty = Rule {
            params: " ".into(),
            ..Rule::default()
        };
        let Error::InvalidParams(m) = empty.params::<P>().unwrap_err() else {
            panic!()
        };
        assert!(m.contains("missing field `columns`"), "{m}");
        let wrong = Rule {
            params: r#"{"columns":"x"}"#.into(),
            ..Rule::default()
        };
        assert!(
            matches!(wrong.params::<P>(), Err(Error::InvalidParams(m)) if m.contains("invalid type"))
        );
    }

    #[test]
    fn json_batches() {
        let b = Batch::json(&serde_json::json!([{"x": 1}])).unwrap();
        assert_eq!(b.content_type, "application/json");
        assert_eq!(b.data, br#"[{"x":1}]"#);
        let recs: Vec<serde_json::Value> = b.records().unwrap();
        assert_eq!(recs.len(), 1);
        let csv = Batch {
            content_type: "text/csv".into(),
            data: b"x\n1".to_vec(),
        };
        assert!(
            matches!(csv.records::<serde_json::Value>(), Err(Error::InvalidData(m)) if m.contains("text/csv"))
        );
        let broken = Batch {
            content_type: "application/json; charset=utf-8".into(),
            data: b"[{".to_vec(),
        };
        assert!(
            matches!(broken.records::<serde_json::Value>(), Err(Error::InvalidData(m)) if m.contains("not the expected JSON"))
        );
    }

    #[test]
    fn builders_and_levels() {
        let ctx = TrainContext::new("/c", "/o")
            .with_meta("/m")
            .with_params("{}")
            .with_do_fit(false);
        assert_eq!(ctx.meta().unwrap(), "/m");
        assert!(!ctx.do_fit);
        assert!(matches!(
            TrainContext::new("/c", "/o").meta(),
            Err(Error::Other(_))
        ));
        assert_eq!(format!("[{:>5}]", Level::Info), "[ INFO]");
        assert_eq!(
            Summary::ok(3).with_message("m"),
            Summary {
                total: 3,
                success: 3,
                error: 0,
                message: Some("m".into())
            }
        );
    }
}
