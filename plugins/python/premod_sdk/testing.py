"""Run a module natively (plain CPython, no WebAssembly), the way the component runs it:
same ``pm``/``im``/``rule`` objects, same logging route, same error kinds.

    from premod_sdk import testing

    result = testing.run_train("my_module.py", collection="data/collection",
                               output=tmp_out, meta=tmp_meta, params={"columns": ["x"]})
    assert result.error is None, result.error
    print(result.summary, result.messages())

    service = testing.start_service("my_module.py", meta=tmp_meta)
    print(service.transform([{"x": 1.0}]))

Folders are real host folders here (the sandbox paths are ``/collection``, ``/output``, ...
inside premod). Fast for unit tests; run the built component with ``premod exec`` too.
"""

import importlib.util
import io
import json
import os
import sys

from . import _runtime


class Captured:
    """Log lines ``(level, message)`` and progress ``(done, total)`` calls, in order."""

    def __init__(self):
        self.lines = []
        self.progress_calls = []

    def log(self, level, message):
        self.lines.append((level, message))

    def progress(self, done, total):
        self.progress_calls.append((done, total))

    def messages(self):
        """The log lines' text, without levels."""
        return [m for _, m in self.lines]


class _LineWriter(io.TextIOBase):
    """Stands in for stdout/stderr: each complete line becomes a log line at ``level``, as
    premod logs a component's stdout (info) and stderr (warn)."""

    def __init__(self, captured, level):
        self.captured = captured
        self.level = level
        self.pending = ""

    def writable(self):
        return True

    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.captured.log(self.level, line)
        return len(text)

    def flush(self):
        if self.pending:
            self.captured.log(self.level, self.pending)
            self.pending = ""


class capture:
    """Context manager collecting the log and progress of the code inside it, including
    ``print`` (info) and stderr (warn) lines::

        with testing.capture() as log:
            ...
        log.messages()
    """

    def __init__(self, captured=None):
        self.captured = Captured() if captured is None else captured

    def __enter__(self):
        self._previous = _runtime.set_sink(self.captured)
        self._stdio = (sys.stdout, sys.stderr)
        sys.stdout = _LineWriter(self.captured, "info")
        sys.stderr = _LineWriter(self.captured, "warn")
        return self.captured

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = self._stdio
        _runtime.set_sink(self._previous)
        return False


class Result:
    """The outcome of :func:`run_train`: ``summary`` (or None), ``error`` (None or
    ``(kind, message)``), the captured ``lines`` and ``progress`` calls."""

    def __init__(self, summary, error, captured):
        self.summary = summary
        self.error = error
        self.lines = captured.lines
        self.progress = captured.progress_calls

    def messages(self):
        return [m for _, m in self.lines]

    def __repr__(self):
        return "Result(summary={!r}, error={!r}, {} log lines)".format(
            self.summary, self.error, len(self.lines)
        )


class StepFailed(Exception):
    """Raised by :class:`Service` when a call fails: ``kind`` and ``message``."""

    def __init__(self, kind, message):
        super().__init__("{}: {}".format(kind, message))
        self.kind = kind
        self.message = message


def load_module(module):
    """``module`` itself, or the module loaded from a ``.py`` path."""
    if not isinstance(module, (str, os.PathLike)):
        return module
    path = os.fspath(module)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)  # sibling modules import as in the component
    try:
        spec.loader.exec_module(mod)
    finally:
        if added:
            sys.path.remove(folder)
    return mod


def _params_text(params):
    if params is None:
        return "{}"
    return params if isinstance(params, str) else json.dumps(params)


def run_train(module, collection, output, meta=None, input=None, params=None, do_fit=True,
              rule_no=0, columns=(("dataset", "file"),)):
    """Runs ``process_for_train(pm)`` of ``module`` (a module or a ``.py`` path) once.

    ``params`` is a dict or JSON text. Returns a :class:`Result`; a failure is in
    ``result.error`` as ``(kind, message)``, never raised.
    """
    mod = load_module(module)
    with capture() as captured:
        try:
            summary = _runtime.run_train(
                mod,
                collection=collection,
                output=output,
                meta=meta,
                input=input,
                rule_no=rule_no,
                columns=columns,
                params=_params_text(params),
                do_fit=do_fit,
            )
            error = None
        except _runtime.Failure as f:
            summary, error = None, (f.kind, f.message)
    return Result(summary, error, captured)


class Service:
    """A started service (``init_svc`` ran); :meth:`transform` calls ``transform``.
    ``lines`` collects the log of every call."""

    def __init__(self, module, meta, params=None, rule_no=0, columns=(("dataset", "file"),)):
        self.captured = Captured()
        self.lines = self.captured.lines
        self._next_id = 0
        with self._capture():
            try:
                self._service = _runtime.Service(
                    load_module(module), meta, rule_no, columns, _params_text(params)
                )
            except _runtime.Failure as f:
                raise StepFailed(f.kind, f.message)

    def _capture(self):
        return capture(self.captured)

    def transform(self, records, batch_id=None):
        """Sends ``records`` (JSON-able, usually a list of dicts) as one JSON batch and
        returns the decoded result; raises :class:`StepFailed`."""
        if batch_id is None:
            batch_id = self._next_id
        self._next_id = batch_id + 1
        data = json.dumps(records).encode("utf-8")
        with self._capture():
            try:
                _, out = self._service.transform(_runtime.JSON, data, batch_id)
            except _runtime.Failure as f:
                raise StepFailed(f.kind, f.message)
        return json.loads(out.decode("utf-8"))


def start_service(module, meta, params=None):
    """``Service(module, meta, params)``: runs ``init_svc`` (if defined)."""
    return Service(module, meta, params)
