//! The normalisation itself: params, the fitted state file, the CSV rewrite and the records
//! of a JSON batch. Plain Rust over `premod-sdk` types, tested natively.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::Path;

use premod_sdk::py::{py_list_repr, py_repr};
use premod_sdk::{Error, Result, Rule, Summary, TrainContext, dir_list, info, progress};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The fitted state's file name inside `/meta`.
pub const STATE_FILE: &str = "state.json";
/// Version of the state file's layout.
pub const STATE_VERSION: u32 = 1;
/// Default `decimals`.
pub const DEFAULT_DECIMALS: usize = 6;
/// Largest `decimals` (an `f64` has 17 significant digits).
pub const MAX_DECIMALS: usize = 17;

/// How a column is scaled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `(x - mean) / std`, population standard deviation (`std` 0 counts as 1).
    #[default]
    Zscore,
    /// `(x - min) / (max - min)` (a constant column counts as range 1).
    Minmax,
}

impl Method {
    /// The name in params and in the state file.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Zscore => "zscore",
            Method::Minmax => "minmax",
        }
    }
}

/// Training params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// The columns to normalise, by header name; default: the rule's source columns.
    pub columns: Option<Vec<String>>,
    /// `zscore` (default) or `minmax`; fixed when fitting, checked when reusing a state.
    pub method: Option<Method>,
    /// Decimals of the normalised values in the output CSV (default 6).
    pub decimals: Option<usize>,
}

impl Params {
    /// The columns to normalise (the `columns` param, else the rule's source columns) after
    /// the checks serde cannot make: at least one column, no duplicates, `decimals` in range.
    pub fn columns(&self, rule: &Rule) -> Result<Vec<String>> {
        let columns = match &self.columns {
            Some(c) => c.clone(),
            None => rule.source_columns.iter().map(|c| c.name.clone()).collect(),
        };
        if columns.is_empty() {
            return Err(Error::InvalidParams(
                "no column to normalise: give the rule source columns (`premod exec --column \
                 NAME:number`) or the `columns` param, e.g. {\"columns\": [\"x\"]}"
                    .into(),
            ));
        }
        let mut seen = HashSet::new();
        for c in &columns {
            if !seen.insert(c) {
                return Err(Error::InvalidParams(format!(
                    "the columns name {} twice",
                    py_repr(c)
                )));
            }
        }
        Ok(columns)
    }

    /// `decimals`, checked.
    pub fn decimals(&self) -> Result<usize> {
        let decimals = self.decimals.unwrap_or(DEFAULT_DECIMALS);
        if decimals > MAX_DECIMALS {
            return Err(Error::InvalidParams(format!(
                "`decimals` must be at most {MAX_DECIMALS}, got {decimals}"
            )));
        }
        Ok(decimals)
    }
}

/// Serving params: the training params are accepted too (the platform passes the rule's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeParams {
    /// The columns `transform` normalises; default: every fitted column.
    pub columns: Option<Vec<String>>,
    /// Checked against the state's method when given.
    pub method: Option<Method>,
    /// Accepted and unused: `transform` returns full-precision numbers.
    pub decimals: Option<usize>,
}

/// The fitted statistics of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Header name.
    pub name: String,
    /// Mean over all rows.
    pub mean: f64,
    /// Population standard deviation over all rows.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl ColumnStats {
    /// The normalised value of `x`: `(x - mean) / std` or `(x - min) / (max - min)`, with a
    /// zero divisor counted as 1.
    pub fn apply(&self, method: Method, x: f64) -> f64 {
        let (offset, scale) = match method {
            Method::Zscore => (self.mean, self.std),
            Method::Minmax => (self.min, self.max - self.min),
        };
        (x - offset) / if scale > 0.0 { scale } else { 1.0 }
    }
}

/// `/meta/state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// How `transform` and later training steps scale the columns.
    pub method: Method,
    /// Rows the statistics were fitted on.
    pub rows: u64,
    /// One entry per fitted column, in the params' order.
    pub columns: Vec<ColumnStats>,
}

impl State {
    /// Reads `<meta>/state.json`.
    pub fn load(meta: &str) -> Result<State> {
        let path = format!("{meta}/{STATE_FILE}");
        let text = fs::read_to_string(&path).map_err(|e| {
            Error::Io(format!(
                "cannot read the fitted state {path}: {e}; run the training step with do_fit \
                 first so that it exists"
            ))
        })?;
        let state: State = serde_json::from_str(&text).map_err(|e| {
            Error::InvalidData(format!(
                "{path} is not a state file written by tabular_normalize: {e}"
            ))
        })?;
        if state.version != STATE_VERSION {
            return Err(Error::InvalidData(format!(
                "{path} has version {}, this module reads version {STATE_VERSION}; fit again",
                state.version
            )));
        }
        Ok(state)
    }

    /// Writes `<meta>/state.json`.
    pub fn save(&self, meta: &str) -> Result<()> {
        let path = format!("{meta}/{STATE_FILE}");
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot encode the state: {e}")))?;
        text.push('\n');
        fs::write(&path, text).map_err(|e| Error::Io(format!("cannot write {path}: {e}")))
    }

    /// Fails with `invalid-params` if `method` is given and is not the fitted one.
    pub fn check_method(&self, method: Option<Method>) -> Result<()> {
        match method {
            Some(m) if m != self.method => Err(Error::InvalidParams(format!(
                "`method` is \"{}\" but the state was fitted with \"{}\"; fit again or drop \
                 the param",
                m.as_str(),
                self.method.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// The statistics of `names` (all fitted columns if `None`), in that order.
    pub fn select(&self, names: Option<&[String]>) -> Result<Vec<ColumnStats>> {
        let Some(names) = names else {
            return Ok(self.columns.clone());
        };
        names
            .iter()
            .map(|n| {
                self.columns
                    .iter()
                    .find(|c| &c.name == n)
                    .cloned()
                    .ok_or_else(|| {
                        Error::InvalidParams(format!(
                            "column {} was not fitted; the state has {}",
                            py_repr(n),
                            names_repr(&self.columns)
                        ))
                    })
            })
            .collect()
    }
}

/// The column names as a Python list: `['x', 'y']`.
pub fn names_repr(columns: &[ColumnStats]) -> String {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    py_list_repr(&names)
}

/// Welford's running mean and variance (one pass, numerically stable), and the range. The
/// Python twin uses the same arithmetic in the same order, so both fit bit-identical
/// statistics.
struct Running {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Default for Running {
    fn default() -> Self {
        Running {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Running {
    fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    fn stats(&self, name: &str) -> ColumnStats {
        let empty = self.n == 0;
        ColumnStats {
            name: name.to_string(),
            mean: self.mean,
            std: if empty {
                0.0
            } else {
                (self.m2 / self.n as f64).sqrt()
            },
            min: if empty { 0.0 } else { self.min },
            max: if empty { 0.0 } else { self.max },
        }
    }
}

/// `process-for-train`.
pub fn train(ctx: &TrainContext) -> Result<Summary> {
    let params: Params = ctx.params()?;
    let names = params.columns(&ctx.rule)?;
    let decimals = params.decimals()?;
    let source = ctx.paths.input.as_deref().unwrap_or(&ctx.paths.collection);
    let output = ctx.paths.output.as_str();
    info!("[tabular] source_path : {source}");
    let listing = dir_list(source)?;
    let files: Vec<String> = listing
        .iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".csv"))
        .cloned()
        .collect();
    info!("[tabular] csv files : {}", py_list_repr(&files));
    if files.is_empty() {
        return Err(Error::InvalidData(format!(
            "no .csv file in {source}; it holds {listing}"
        )));
    }
    let meta = ctx.meta()?;

    let state = if ctx.do_fit {
        let state = fit(source, &files, &names, params.method.unwrap_or_default())?;
        state.save(meta)?;
        for c in &state.columns {
            let (a, b) = match state.method {
                Method::Zscore => (("mean", c.mean), ("std", c.std)),
                Method::Minmax => (("min", c.min), ("max", c.max)),
            };
            info!(
                "[tabular] fitted {}: {}={:.6} {}={:.6}",
                py_repr(&c.name),
                a.0,
                a.1,
                b.0,
                b.1
            );
        }
        info!(
            "[tabular] wrote {meta}/{STATE_FILE} ({}, {} rows)",
            state.method.as_str(),
            state.rows
        );
        state
    } else {
        let state = State::load(meta)?;
        state.check_method(params.method)?;
        info!(
            "[tabular] loaded {meta}/{STATE_FILE} ({}, {} rows)",
            state.method.as_str(),
            state.rows
        );
        state
    };
    let columns = state.select(Some(&names))?;

    let mut rows = 0;
    for (i, name) in files.iter().enumerate() {
        let src = Path::new(source).join(name);
        let dst = Path::new(output).join(name);
        let n = rewrite(&src, &dst, name, &columns, state.method, decimals)?;
        info!("[tabular] normalised {}: {n} rows", py_repr(name));
        rows += n;
        progress(i as u64 + 1, files.len() as u64);
    }
    Ok(Summary::ok(rows).with_message(format!(
        "normalised {} ({}) in {} file{} ({rows} rows)",
        names_repr(&columns),
        state.method.as_str(),
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    )))
}

/// Fits the statistics of `columns` over every row of every file.
fn fit(source: &str, files: &[String], columns: &[String], method: Method) -> Result<State> {
    let mut running: Vec<Running> = columns.iter().map(|_| Running::default()).collect();
    let mut rows = 0;
    for name in files {
        let mut reader = open(&Path::new(source).join(name))?;
        let index = column_index(&mut reader, name, columns)?;
        let mut record = csv::StringRecord::new();
        while read(&mut reader, &mut record, name)? {
            for (r, &i) in running.iter_mut().zip(&index) {
                r.push(number(&record, i, &index, name, columns)?);
            }
            rows += 1;
        }
    }
    Ok(State {
        version: STATE_VERSION,
        method,
        rows,
        columns: columns
            .iter()
            .zip(&running)
            .map(|(c, r)| r.stats(c))
            .collect(),
    })
}

/// Writes `src` to `dst` with the columns normalised; returns the number of rows.
fn rewrite(
    src: &Path,
    dst: &Path,
    name: &str,
    columns: &[ColumnStats],
    method: Method,
    decimals: usize,
) -> Result<u64> {
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let mut reader = open(src)?;
    let index = column_index(&mut reader, name, &names)?;
    let file = File::create(dst)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", dst.display())))?;
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(file);
    let write_err = |e: csv::Error| Error::Io(format!("cannot write {}: {e}", dst.display()));
    let header = reader.headers().map_err(|e| csv_error(e, name))?.clone();
    writer.write_record(&header).map_err(write_err)?;
    let mut record = csv::StringRecord::new();
    let mut fields: Vec<String> = Vec::new();
    let mut rows = 0;
    while read(&mut reader, &mut record, name)? {
        fields.clear();
        fields.extend(record.iter().map(str::to_string));
        for (c, &i) in columns.iter().zip(&index) {
            let x = number(&record, i, &index, name, &names)?;
            fields[i] = format!("{:.*}", decimals, c.apply(method, x));
        }
        writer.write_record(&fields).map_err(write_err)?;
        rows += 1;
    }
    writer
        .flush()
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", dst.display())))?;
    Ok(rows)
}

fn open(path: &Path) -> Result<csv::Reader<File>> {
    let file =
        File::open(path).map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
    // `flexible`: `read` checks the field count itself, with the Python twin's message.
    Ok(csv::ReaderBuilder::new().flexible(true).from_reader(file))
}

/// Positions of `columns` in the header of `name`.
fn column_index(
    reader: &mut csv::Reader<File>,
    name: &str,
    columns: &[String],
) -> Result<Vec<usize>> {
    let header = reader.headers().map_err(|e| csv_error(e, name))?;
    columns
        .iter()
        .map(|c| {
            header.iter().position(|h| h == c).ok_or_else(|| {
                let have: Vec<&str> = header.iter().collect();
                Error::InvalidData(format!(
                    "{name} has no column {}; its columns are {}",
                    py_repr(c),
                    py_list_repr(&have)
                ))
            })
        })
        .collect()
}

/// Reads the next record; false at the end. A record whose field count differs from the
/// header's is invalid data.
fn read(
    reader: &mut csv::Reader<File>,
    record: &mut csv::StringRecord,
    name: &str,
) -> Result<bool> {
    if !reader.read_record(record).map_err(|e| csv_error(e, name))? {
        return Ok(false);
    }
    let width = reader.headers().map_err(|e| csv_error(e, name))?.len();
    if record.len() != width {
        return Err(Error::InvalidData(format!(
            "{name} line {}: {} fields, the header has {width}",
            line(record),
            record.len()
        )));
    }
    Ok(true)
}

/// Field `i` of `record` as a finite number.
fn number(
    record: &csv::StringRecord,
    i: usize,
    index: &[usize],
    name: &str,
    columns: &[String],
) -> Result<f64> {
    let cell = &record[i];
    match cell.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => {
            let column = index
                .iter()
                .position(|&j| j == i)
                .map(|k| columns[k].as_str())
                .unwrap_or("?");
            Err(Error::InvalidData(format!(
                "{name} line {}: column {} holds {}, not a number",
                line(record),
                py_repr(column),
                py_repr(cell)
            )))
        }
    }
}

fn line(record: &csv::StringRecord) -> u64 {
    record.position().map(|p| p.line()).unwrap_or(0)
}

fn csv_error(e: csv::Error, name: &str) -> Error {
    if e.is_io_error() {
        Error::Io(format!("cannot read {name}: {e}"))
    } else {
        Error::InvalidData(format!("{name}: {e}"))
    }
}

/// Normalises the `columns` fields of every record, in place. A field may be a JSON number
/// or a string holding one; anything else, or a missing field, is invalid data.
pub fn transform_records(
    records: &mut [Map<String, Value>],
    columns: &[ColumnStats],
    method: Method,
) -> Result<()> {
    for (i, record) in records.iter_mut().enumerate() {
        for c in columns {
            let value = record.get_mut(&c.name).ok_or_else(|| {
                Error::InvalidData(format!(
                    "record #{i} has no field {}; each record needs {}",
                    py_repr(&c.name),
                    names_repr(columns)
                ))
            })?;
            let x = match &*value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                Error::InvalidData(format!(
                    "record #{i} field {} is {value}, not a number",
                    py_repr(&c.name)
                ))
            })?;
            *value = Value::from(c.apply(method, x));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use premod_sdk::testing::capture;
    use serde_json::json;

    use super::*;

    /// `collection/` with `files`, empty `output/` and `meta/`; removed on drop.
    struct Step {
        root: PathBuf,
    }

    impl Step {
        fn new(tag: &str, files: &[(&str, &str)]) -> Step {
            let root =
                std::env::temp_dir().join(format!("premod-tabular-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            for d in ["collection", "output", "meta"] {
                fs::create_dir_all(root.join(d)).unwrap();
            }
            for (name, text) in files {
                fs::write(root.join("collection").join(name), text).unwrap();
            }
            Step { root }
        }

        fn dir(&self, name: &str) -> String {
            self.root.join(name).to_string_lossy().into_owned()
        }

        fn ctx(&self, params: &str) -> TrainContext {
            TrainContext::new(self.dir("collection"), self.dir("output"))
                .with_meta(self.dir("meta"))
                .with_params(params)
        }

        fn read(&self, path: &str) -> String {
            fs::read_to_string(self.root.join(path)).unwrap()
        }
    }

    impl Drop for Step {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    const A: &str = "id,x,y,label\n1,1,10,a\n2,2,10,b\n";
    const B: &str = "id,x,y,label\n3,3,10,c\n4,4,10,d\n";

    fn stats(name: &str, mean: f64, std: f64, min: f64, max: f64) -> ColumnStats {
        ColumnStats {
            name: name.into(),
            mean,
            std,
            min,
            max,
        }
    }

    #[test]
    fn fits_writes_state_and_normalises() {
        let step = Step::new("fit", &[("a.csv", A), ("b.csv", B), ("notes.txt", "x")]);
        let (summary, log) = capture(|| train(&step.ctx(r#"{"columns": ["x", "y"]}"#)));
        let summary = summary.unwrap();
        assert_eq!((summary.total, summary.success, summary.error), (4, 4, 0));
        assert_eq!(
            summary.message.as_deref(),
            Some("normalised ['x', 'y'] (zscore) in 2 files (4 rows)")
        );
        let state: State = serde_json::from_str(&step.read("meta/state.json")).unwrap();
        assert_eq!((state.rows, state.method), (4, Method::Zscore));
        assert_eq!(
            state.columns,
            [
                stats("x", 2.5, 1.25f64.sqrt(), 1.0, 4.0),
                stats("y", 10.0, 0.0, 10.0, 10.0)
            ]
        );
        assert_eq!(
            step.read("output/a.csv"),
            "id,x,y,label\n1,-1.341641,0.000000,a\n2,-0.447214,0.000000,b\n"
        );
        assert_eq!(
            log.messages()[..3],
            [
                format!("[tabular] source_path : {}", step.dir("collection")).as_str(),
                "[tabular] csv files : ['a.csv', 'b.csv']",
                "[tabular] fitted 'x': mean=2.500000 std=1.118034",
            ]
        );
        assert_eq!(log.progress.last(), Some(&(2, 2)));
        assert!(!step.root.join("output/notes.txt").exists());
    }

    #[test]
    fn minmax_on_the_rule_source_columns() {
        let step = Step::new("minmax", &[("a.csv", A), ("b.csv", B)]);
        let ctx = step
            .ctx(r#"{"method": "minmax", "decimals": 3}"#)
            .with_column("x", "number");
        let (summary, log) = capture(|| train(&ctx));
        assert_eq!(summary.unwrap().total, 4);
        assert_eq!(
            step.read("output/b.csv"),
            "id,x,y,label\n3,0.667,10,c\n4,1.000,10,d\n"
        );
        assert_eq!(
            log.messages()[2],
            "[tabular] fitted 'x': min=1.000000 max=4.000000"
        );
        let state = State::load(&step.dir("meta")).unwrap();
        assert_eq!(state.method, Method::Minmax);
        assert!(matches!(
            state.check_method(Some(Method::Zscore)),
            Err(Error::InvalidParams(m)) if m.contains("fitted with \"minmax\"")
        ));
    }

    #[test]
    fn reuses_the_state_when_not_fitting() {
        let step = Step::new("nofit", &[("a.csv", A)]);
        State {
            version: 1,
            method: Method::Zscore,
            rows: 9,
            columns: vec![stats("x", 1.0, 2.0, 0.0, 1.0)],
        }
        .save(&step.dir("meta"))
        .unwrap();
        let ctx = step
            .ctx(r#"{"columns": ["x"], "decimals": 2}"#)
            .with_do_fit(false);
        let (summary, log) = capture(|| train(&ctx));
        assert_eq!(summary.unwrap().total, 2);
        assert_eq!(
            step.read("output/a.csv"),
            "id,x,y,label\n1,0.00,10,a\n2,0.50,10,b\n"
        );
        assert!(
            log.messages()
                .iter()
                .any(|l| l.ends_with("state.json (zscore, 9 rows)"))
        );
        let ctx = step.ctx(r#"{"columns": ["y"]}"#).with_do_fit(false);
        let err = capture(|| train(&ctx)).0.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidParams(m) if m.contains("'y' was not fitted")),
            "{err:?}"
        );
        let ctx = step
            .ctx(r#"{"columns": ["x"], "method": "minmax"}"#)
            .with_do_fit(false);
        assert!(matches!(
            capture(|| train(&ctx)).0,
            Err(Error::InvalidParams(m)) if m.contains("fitted with \"zscore\"")
        ));
    }

    #[test]
    fn errors_name_the_problem() {
        let step = Step::new("errors", &[("a.csv", "x,y\n1,2\nfoo,3\n")]);
        let err = |params: &str| capture(|| train(&step.ctx(params))).0.unwrap_err();
        assert!(
            matches!(err("{}"), Error::InvalidParams(m) if m.contains("no column to normalise"))
        );
        assert!(
            matches!(err(r#"{"columns": []}"#), Error::InvalidParams(m) if m.contains("no column"))
        );
        assert!(
            matches!(err(r#"{"columns": ["x","x"]}"#), Error::InvalidParams(m) if m.contains("twice"))
        );
        assert!(
            matches!(err(r#"{"columns": ["x"], "method": "max"}"#), Error::InvalidParams(m) if m.contains("unknown variant `max`"))
        );
        assert!(matches!(
            err(r#"{"columns": ["x"], "decimals": 40}"#),
            Error::InvalidParams(_)
        ));
        let e = err(r#"{"columns": ["x"]}"#);
        assert_eq!(
            e,
            Error::InvalidData("a.csv line 3: column 'x' holds 'foo', not a number".into())
        );
        let e = err(r#"{"columns": ["z"]}"#);
        assert_eq!(
            e,
            Error::InvalidData("a.csv has no column 'z'; its columns are ['x', 'y']".into())
        );
        fs::write(step.root.join("collection/a.csv"), "x,y\n1,2\n3\n").unwrap();
        assert_eq!(
            err(r#"{"columns": ["y"]}"#),
            Error::InvalidData("a.csv line 3: 1 fields, the header has 2".into())
        );
        fs::remove_file(step.root.join("collection/a.csv")).unwrap();
        assert!(
            matches!(err(r#"{"columns": ["x"]}"#), Error::InvalidData(m) if m.starts_with("no .csv file"))
        );
        let ctx = TrainContext::new(step.dir("collection"), step.dir("output"))
            .with_params(r#"{"columns": ["x"]}"#);
        fs::write(step.root.join("collection/a.csv"), A).unwrap();
        assert!(
            matches!(capture(|| train(&ctx)).0, Err(Error::Other(m)) if m.contains("--meta DIR"))
        );
    }

    #[test]
    fn transforms_records_in_place() {
        let stats = vec![stats("x", 2.0, 0.5, 1.0, 5.0)];
        let mut records: Vec<Map<String, Value>> =
            serde_json::from_value(json!([{"id": 1, "x": 3}, {"x": "1.5", "id": 2}])).unwrap();
        transform_records(&mut records, &stats, Method::Zscore).unwrap();
        assert_eq!(
            serde_json::to_string(&records).unwrap(),
            r#"[{"id":1,"x":2.0},{"x":-1.0,"id":2}]"#
        );
        let mut records: Vec<Map<String, Value>> =
            serde_json::from_value(json!([{"x": 3}])).unwrap();
        transform_records(&mut records, &stats, Method::Minmax).unwrap();
        assert_eq!(records[0]["x"], json!(0.5));
        let mut bad: Vec<Map<String, Value>> =
            serde_json::from_value(json!([{"x": 1}, {"y": 2}])).unwrap();
        assert!(matches!(
            transform_records(&mut bad, &stats, Method::Zscore),
            Err(Error::InvalidData(m)) if m.starts_with("record #1 has no field 'x'")
        ));
        let mut bad: Vec<Map<String, Value>> =
            serde_json::from_value(json!([{"x": null}])).unwrap();
        assert_eq!(
            transform_records(&mut bad, &stats, Method::Zscore),
            Err(Error::InvalidData(
                "record #0 field 'x' is null, not a number".into()
            ))
        );
    }
}
