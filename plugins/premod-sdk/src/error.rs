//! The module's error type: the WIT `error` variants.

use std::fmt;

/// Why a module call failed. Each variant is a WIT `error` variant; premod reports it as a
/// `module-error` with the variant and the text, so say what was wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// `invalid-params`: the rule's params are missing, malformed or out of range.
    InvalidParams(String),
    /// `invalid-data`: the dataset (or an inference batch) is not what the module expects.
    InvalidData(String),
    /// `io`: a file could not be read or written.
    Io(String),
    /// `unsupported`: the module does not implement this entry point.
    Unsupported(String),
    /// `other`: anything else.
    Other(String),
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The WIT name of the variant: `invalid-params`, `invalid-data`, `io`,
    /// `unsupported` or `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidParams(_) => "invalid-params",
            Error::InvalidData(_) => "invalid-data",
            Error::Io(_) => "io",
            Error::Unsupported(_) => "unsupported",
            Error::Other(_) => "other",
        }
    }

    /// The text.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidParams(m)
            | Error::InvalidData(m)
            | Error::Io(m)
            | Error::Unsupported(m)
            | Error::Other(m) => m,
        }
    }

    /// The same kind with `what: ` put before the text.
    pub fn context(self, what: impl fmt::Display) -> Error {
        let prefix = |m: String| format!("{what}: {m}");
        match self {
            Error::InvalidParams(m) => Error::InvalidParams(prefix(m)),
            Error::InvalidData(m) => Error::InvalidData(prefix(m)),
            Error::Io(m) => Error::Io(prefix(m)),
            Error::Unsupported(m) => Error::Unsupported(prefix(m)),
            Error::Other(m) => Error::Other(prefix(m)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Error {}

/// An I/O failure is `io`.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// A JSON document that does not decode is `invalid-data`.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::InvalidData(e.to_string())
    }
}

/// Adds what was being done to an error, like `anyhow::Context`:
///
/// ```
/// use premod_sdk::{Context, Result};
///
/// fn read_state(path: &str) -> Result<String> {
///     std::fs::read_to_string(path).context(format!("cannot read {path}"))
/// }
/// let err = read_state("/no/such/state.json").unwrap_err();
/// assert_eq!(err.kind(), "io");
/// assert!(err.message().starts_with("cannot read /no/such/state.json: "));
/// ```
pub trait Context<T> {
    /// Converts the error into [`Error`] (I/O errors become `io`, JSON errors
    /// `invalid-data`) and puts `what: ` before its text.
    fn context(self, what: impl fmt::Display) -> Result<T>;

    /// Like [`context`](Context::context), computing the text only on error.
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.into().context(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_context() {
        let e: Error = std::io::Error::new(std::io::ErrorKind::NotFound, "gone").into();
        assert_eq!(e, Error::Io("gone".into()));
        let r: Result<()> = Err(Error::InvalidData("bad row".into()));
        let e = r.with_context(|| "a.csv line 3").unwrap_err();
        assert_eq!(e, Error::InvalidData("a.csv line 3: bad row".into()));
        assert_eq!(e.to_string(), "invalid-data: a.csv line 3: bad row");
        let j = serde_json::from_str::<u8>("x").context("state.json");
        assert_eq!(j.unwrap_err().kind(), "invalid-data");
        assert_eq!(Error::Unsupported(String::new()).kind(), "unsupported");
        assert_eq!(Error::Other("o".into()).message(), "o");
    }
}
