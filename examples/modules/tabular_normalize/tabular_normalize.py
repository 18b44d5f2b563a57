"""tabular_normalize: normalisation of CSV columns with fitted state, written to the
platform's Python template. The Rust twin is plugins/tabular_normalize: for the same input
both write byte-identical CSV files and the same state values, and log the same lines.

process_for_train(pm): reads every *.csv in pm.input_path (the previous rule's output) or,
for the first rule, pm.source_path. With pm.do_fit it fits, for each column to normalise,
the mean, population standard deviation, min and max over all rows of all files and writes
them with the method to <meta_path>/state.json; otherwise it reads that file. Each CSV is
written to pm.target_path under the same name with those columns replaced by
(x - mean) / std ("zscore") or (x - min) / (max - min) ("minmax"), a zero divisor counting
as 1, printed with params["decimals"] decimals (default 6).

init_svc(im, rule) loads <im.meta_path>/state.json once; transform(df, params, batch_id)
normalises the same fields of each record (a JSON number or a string holding one).

Params (all optional): "columns" (default: the rule's source columns; when serving, every
fitted column), "method" ("zscore" default, or "minmax"; when reusing a state it must match
the fitted one), "decimals" (default 6, at most 17).
"""

import csv
import json
import logging
import math
import os

from premod_sdk import InvalidData, InvalidParams, IoError, ModuleError, Summary, progress

STATE_FILE = "state.json"
STATE_VERSION = 1
DEFAULT_DECIMALS = 6
MAX_DECIMALS = 17
METHODS = ("zscore", "minmax")


def process_for_train(pm):
    columns, method, decimals = train_params(pm.params, pm.source_columns)
    source = pm.input_path or pm.source_path
    logging.info("[tabular] source_path : {}".format(source))
    listing = sorted(os.listdir(source))
    files = [n for n in listing if n.lower().endswith(".csv")]
    logging.info("[tabular] csv files : {}".format(files))
    if not files:
        raise InvalidData("no .csv file in {}; it holds {}".format(source, listing))
    if pm.meta_path is None:
        raise ModuleError("this module needs a fitted-state folder but none is mounted at "
                          "/meta; run it with one (`premod exec --meta DIR`)")
    state_path = "{}/{}".format(pm.meta_path, STATE_FILE)

    if pm.do_fit:
        state = fit(source, files, columns, method or "zscore")
        with open(state_path, "w") as f:
            f.write(json.dumps(state, indent=2) + "\n")
        for c in state["columns"]:
            a, b = ("mean", "std") if state["method"] == "zscore" else ("min", "max")
            logging.info("[tabular] fitted {!r}: {}={:.6f} {}={:.6f}".format(
                c["name"], a, c[a], b, c[b]))
        logging.info("[tabular] wrote {} ({}, {} rows)".format(
            state_path, state["method"], state["rows"]))
    else:
        state = load_state(pm.meta_path)
        check_method(state, method)
        logging.info("[tabular] loaded {} ({}, {} rows)".format(
            state_path, state["method"], state["rows"]))
    stats = select(state, columns)

    rows = 0
    for i, name in enumerate(files):
        n = rewrite(os.path.join(source, name), os.path.join(pm.target_path, name), name,
                    stats, state["method"], decimals)
        logging.info("[tabular] normalised {!r}: {} rows".format(name, n))
        rows += n
        progress(i + 1, len(files))
    return Summary(rows, rows, 0, "normalised {} ({}) in {} file{} ({} rows)".format(
        [c["name"] for c in stats], state["method"], len(files),
        "" if len(files) == 1 else "s", rows))


def init_svc(im, rule):
    columns, method = serve_params(rule.params)
    state = load_state(im.meta_path)
    check_method(state, method)
    stats = select(state, columns)
    logging.info("[tabular] init_svc: loaded {}/{} ({}) for {}".format(
        im.meta_path, STATE_FILE, state["method"], [c["name"] for c in stats]))
    return {"method": state["method"], "columns": stats}


def transform(df, params, batch_id):
    """``df``: a list of dict records; ``params``: what init_svc returned."""
    if not isinstance(df, list) or not all(isinstance(r, dict) for r in df):
        raise InvalidData("batch {} is not a JSON array of records".format(batch_id))
    method, stats = params["method"], params["columns"]
    names = [c["name"] for c in stats]
    for i, record in enumerate(df):
        for c in stats:
            if c["name"] not in record:
                raise InvalidData("record #{} has no field {!r}; each record needs {}".format(
                    i, c["name"], names))
            value = record[c["name"]]
            x = to_number(value)
            if x is None:
                raise InvalidData("record #{} field {!r} is {}, not a number".format(
                    i, c["name"], json.dumps(value)))
            record[c["name"]] = apply(c, method, x)
    return df


# --- params and state ---------------------------------------------------------------------

def train_params(params, source_columns):
    unknown = set(params) - {"columns", "method", "decimals"}
    if unknown:
        raise InvalidParams("unknown param(s) {}; accepted: `columns`, `method`, "
                            "`decimals`".format(sorted(unknown)))
    columns = params.get("columns")
    if columns is None:
        columns = list(source_columns)
    elif not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidParams("`columns` must be a list of column names, got {}".format(
            json.dumps(columns)))
    if not columns:
        raise InvalidParams("no column to normalise: give the rule source columns (`premod "
                            "exec --column NAME:number`) or the `columns` param, e.g. "
                            "{\"columns\": [\"x\"]}")
    for i, c in enumerate(columns):
        if c in columns[:i]:
            raise InvalidParams("the columns name {!r} twice".format(c))
    method = method_param(params)
    decimals = params.get("decimals", DEFAULT_DECIMALS)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0:
        raise InvalidParams("`decimals` must be a whole number, got {}".format(
            json.dumps(decimals)))
    if decimals > MAX_DECIMALS:
        raise InvalidParams("`decimals` must be at most {}, got {}".format(MAX_DECIMALS, decimals))
    return columns, method, decimals


def method_param(params):
    method = params.get("method")
    if method is not None and method not in METHODS:
        raise InvalidParams("`method` must be \"zscore\" or \"minmax\", got {}".format(
            json.dumps(method)))
    return method


def serve_params(params):
    unknown = set(params) - {"columns", "method", "decimals"}
    if unknown:
        raise InvalidParams("unknown param(s) {}; accepted: `columns`, `method`, "
                            "`decimals`".format(sorted(unknown)))
    columns = params.get("columns")
    if columns is not None and (not isinstance(columns, list)
                                or not all(isinstance(c, str) for c in columns)):
        raise InvalidParams("`columns` must be a list of column names, got {}".format(
            json.dumps(columns)))
    return columns, method_param(params)


def check_method(state, method):
    if method is not None and method != state["method"]:
        raise InvalidParams("`method` is \"{}\" but the state was fitted with \"{}\"; fit "
                            "again or drop the param".format(method, state["method"]))


def load_state(meta):
    path = "{}/{}".format(meta, STATE_FILE)
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise IoError("cannot read the fitted state {}: {}; run the training step with "
                      "do_fit first so that it exists".format(path, e.strerror or e))
    try:
        state = json.loads(text)
        version = state["version"]
        if state["method"] not in METHODS:
            raise ValueError("unknown method {!r}".format(state["method"]))
        for c in state["columns"]:
            for k in ("mean", "std", "min", "max"):
                c[k] = float(c[k])
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidData("{} is not a state file written by tabular_normalize: {!r}".format(
            path, e))
    if version != STATE_VERSION:
        raise InvalidData("{} has version {}, this module reads version {}; fit again".format(
            path, version, STATE_VERSION))
    return state


def select(state, names):
    if names is None:
        return list(state["columns"])
    fitted = {c["name"]: c for c in state["columns"]}
    for n in names:
        if n not in fitted:
            raise InvalidParams("column {!r} was not fitted; the state has {}".format(
                n, [c["name"] for c in state["columns"]]))
    return [fitted[n] for n in names]


# --- numbers --------------------------------------------------------------------------------

def apply(c, method, x):
    if method == "zscore":
        offset, scale = c["mean"], c["std"]
    else:
        offset, scale = c["min"], c["max"] - c["min"]
    return (x - offset) / (scale if scale > 0.0 else 1.0)


def to_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) else None


def fit(source, files, columns, method):
    """Welford's running mean and variance, and the range, over every row of every file:
    the same arithmetic, in the same order, as the Rust twin."""
    n = 0
    mean = [0.0] * len(columns)
    m2 = [0.0] * len(columns)
    lo = [math.inf] * len(columns)
    hi = [-math.inf] * len(columns)
    for name in files:
        for line, values, _ in read_rows(os.path.join(source, name), name, columns):
            n += 1
            for k, x in enumerate(values):
                delta = x - mean[k]
                mean[k] += delta / n
                m2[k] += delta * (x - mean[k])
                lo[k] = min(lo[k], x)
                hi[k] = max(hi[k], x)
    return {
        "version": STATE_VERSION,
        "method": method,
        "rows": n,
        "columns": [
            {
                "name": c,
                "mean": mean[k],
                "std": math.sqrt(m2[k] / n) if n else 0.0,
                "min": lo[k] if n else 0.0,
                "max": hi[k] if n else 0.0,
            }
            for k, c in enumerate(columns)
        ],
    }


# --- CSV ------------------------------------------------------------------------------------

def read_rows(path, name, columns, header_out=None):
    """Yields ``(line, values of columns, row)`` for every record of the CSV file."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise InvalidData("{} is empty; it needs a header line".format(name))
        if header_out is not None:
            header_out.extend(header)
        index = []
        for c in columns:
            if c not in header:
                raise InvalidData("{} has no column {!r}; its columns are {}".format(
                    name, c, header))
            index.append(header.index(c))
        for row in reader:
            if not row:
                continue  # blank line
            line = reader.line_num
            if len(row) != len(header):
                raise InvalidData("{} line {}: {} fields, the header has {}".format(
                    name, line, len(row), len(header)))
            values = []
            for c, i in zip(columns, index):
                x = to_number(row[i])
                if x is None:
                    raise InvalidData("{} line {}: column {!r} holds {!r}, not a number".format(
                        name, line, c, row[i]))
                values.append(x)
            yield line, values, row


def rewrite(src, dst, name, stats, method, decimals):
    names = [c["name"] for c in stats]
    header = []
    rows = 0
    with open(dst, "w", newline="", encoding="utf-8") as out:
        writer = None
        for _, values, row in read_rows(src, name, names, header):
            if writer is None:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(header)
            for c, x in zip(stats, values):
                row[header.index(c["name"])] = "{:.{}f}".format(apply(c, method, x), decimals)
            writer.writerow(row)
            rows += 1
        if writer is None:
            csv.writer(out, lineterminator="\n").writerow(header)
    return rows
