"""The adapter's logic without the WIT bindings: building ``pm``/``im``/``rule``, calling the
module's functions, logging, and turning exceptions into WIT error kinds.

Used by the component (``premod_sdk._component``) and natively by ``premod_sdk.testing``.
"""

import json
import logging
import sys
import traceback

from . import IM, PM, Column, PremodError, Rule, Summary

#: The one batch media type the adapter reads and writes: a JSON array of records.
JSON = "application/json"

LEVELS = ("trace", "debug", "info", "warn", "error")

# Where log lines and progress go: the host in a component, a capture in tests; None means
# stderr as `[ INFO] root: message`.
_sink = None


def set_sink(sink):
    """Routes ``emit``/``report_progress`` to ``sink`` (``.log(level, message)`` and
    ``.progress(done, total)``); returns the previous sink."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def emit(level, message):
    if _sink is not None:
        _sink.log(level, message)
        return
    for line in message.split("\n"):
        sys.stderr.write("[{:>5}] root: {}\n".format(level.upper(), line))


def report_progress(done, total):
    if _sink is not None:
        _sink.progress(done, total)


def level_name(level):
    """A WIT level name for a ``logging`` level number or a name."""
    if isinstance(level, int):
        if level >= logging.ERROR:
            return "error"
        if level >= logging.WARNING:
            return "warn"
        if level >= logging.INFO:
            return "info"
        if level >= logging.DEBUG:
            return "debug"
        return "trace"
    name = str(level).lower()
    name = {"warning": "warn", "critical": "error", "fatal": "error"}.get(name, name)
    if name not in LEVELS:
        raise ValueError("unknown log level {!r}; use one of {}".format(level, LEVELS))
    return name


class HostHandler(logging.Handler):
    """Sends ``logging`` records to the step log: the message (plus the traceback of
    ``logging.exception``), prefixed with the logger's name unless it is the root logger."""

    def __init__(self):
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record):
        try:
            message = self.format(record)
            if record.name != "root":
                message = "{}: {}".format(record.name, message)
            emit(level_name(record.levelno), message)
        except Exception:
            self.handleError(record)


_logging_installed = False


def install_logging():
    """Puts a :class:`HostHandler` on the root logger (again, if the module removed it).
    The first time, also lowers the root level to ``NOTSET`` so that every level reaches
    the step log; a module may raise it again."""
    global _logging_installed
    root = logging.getLogger()
    if not any(isinstance(h, HostHandler) for h in root.handlers):
        root.addHandler(HostHandler())
    if not _logging_installed:
        root.setLevel(logging.NOTSET)
        _logging_installed = True


class Failure(Exception):
    """A failed call: ``kind`` is the WIT error variant, ``message`` its text."""

    def __init__(self, kind, message):
        super().__init__("{}: {}".format(kind, message))
        self.kind = kind
        self.message = message


def classify(exc):
    """The WIT error kind for an exception the module did not raise on purpose."""
    if isinstance(exc, PremodError):
        return exc.kind
    if isinstance(exc, NotImplementedError):
        return "unsupported"
    if isinstance(exc, OSError):
        return "io"
    if isinstance(exc, ValueError):
        return "invalid-data"
    for module, name in (("zipfile", "BadZipFile"), ("csv", "Error"), ("tarfile", "TarError")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return "invalid-data"
    return "other"


def failure(exc, where):
    """Turns an exception from the module's ``where`` function into a :class:`Failure`.

    :class:`premod_sdk.PremodError` keeps its message as is; anything else is reported as
    ``TypeName: message`` and its traceback is logged at error level.
    """
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, PremodError):
        return Failure(exc.kind, str(exc) or type(exc).__name__)
    if isinstance(exc, SystemExit):
        return Failure("other", "{} called sys.exit({!r})".format(where, exc.code))
    # Skip the adapter's own frame: the traceback starts in the module's function.
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    trace = "".join(traceback.format_exception(type(exc), exc, tb))
    emit("error", "{} failed:\n{}".format(where, trace.rstrip("\n")))
    text = str(exc)
    message = "{}: {}".format(type(exc).__name__, text) if text else type(exc).__name__
    if isinstance(exc, ImportError) and exc.name:
        message += (
            " (only modules imported when the component was built are in it: import {0} at "
            "the top of your module, or build with `--import {0}`)".format(exc.name)
        )
    return Failure(classify(exc), message)


def parse_params(text):
    """The rule's params text as a dict (empty text counts as ``{}``)."""
    text = (text or "").strip() or "{}"
    try:
        value = json.loads(text)
    except ValueError as e:
        raise Failure("invalid-params", "rule params are not valid JSON ({}): {}".format(e, text))
    if not isinstance(value, dict):
        raise Failure("invalid-params", "rule params must be a JSON object, got {}".format(text))
    return value


def make_rule(rule_no, columns, params):
    return Rule(rule_no, parse_params(params), [Column(n, t) for n, t in columns])


def module_name(user):
    return getattr(user, "__name__", "the module")


def to_summary(result):
    """What ``process_for_train`` returned, as a :class:`premod_sdk.Summary`."""
    if result is None:
        return Summary(1, 1, 0)
    if isinstance(result, Summary):
        return result
    if isinstance(result, bool):
        pass
    elif isinstance(result, int):
        return Summary(result, result, 0)
    elif isinstance(result, str):
        return Summary(1, 1, 0, result)
    elif isinstance(result, dict):
        unknown = set(result) - {"total", "success", "error", "message"}
        if not unknown:
            try:
                return Summary(**result)
            except (TypeError, ValueError):
                pass
    raise Failure(
        "other",
        "process_for_train returned {!r}; return None, a premod_sdk.Summary, a dict with "
        "total/success/error/message, an int or a message str".format(result),
    )


def run_train(user, collection, output, meta=None, input=None, rule_no=0, columns=(),
              params="{}", do_fit=True):
    """Runs ``user.process_for_train(pm)``; returns a Summary or raises :class:`Failure`."""
    install_logging()
    fn = getattr(user, "process_for_train", None)
    if fn is None:
        raise Failure("unsupported", "{} defines no process_for_train(pm)".format(module_name(user)))
    pm = PM(collection, output, meta, input, make_rule(rule_no, columns, params), do_fit)
    try:
        result = fn(pm)
    except BaseException as e:  # noqa: B902 - every failure must become a WIT error
        raise failure(e, "process_for_train")
    summary = to_summary(result)
    if min(summary.total, summary.success, summary.error) < 0:
        raise Failure("other", "process_for_train returned negative counts: {!r}".format(summary))
    return summary


class Service:
    """A started service: ``init_svc(im, rule)`` ran (if defined) and its result is the
    ``params`` of every ``transform(df, params, batch_id)``."""

    def __init__(self, user, meta, rule_no=0, columns=(), params="{}"):
        install_logging()
        self.user = user
        rule = make_rule(rule_no, columns, params)
        init = getattr(user, "init_svc", None)
        if init is None:
            self.params = rule.params
            return
        try:
            self.params = init(IM(meta), rule)
        except BaseException as e:  # noqa: B902
            raise failure(e, "init_svc")

    def transform(self, content_type, data, batch_id):
        """Decodes the JSON batch, calls ``transform`` and encodes its result; returns
        ``(content_type, bytes)`` or raises :class:`Failure`."""
        install_logging()
        fn = getattr(self.user, "transform", None)
        if fn is None:
            raise Failure(
                "unsupported",
                "{} defines no transform(df, params, batch_id)".format(module_name(self.user)),
            )
        media = content_type.split(";")[0].strip().lower()
        if media != JSON:
            raise Failure(
                "invalid-data",
                "batch {} has content type {!r}; this module reads {} (a JSON array of "
                "records)".format(batch_id, content_type, JSON),
            )
        try:
            df = json.loads(bytes(data).decode("utf-8"))
        except ValueError as e:
            raise Failure("invalid-data", "batch {} is not JSON: {}".format(batch_id, e))
        try:
            out = fn(df, self.params, batch_id)
        except BaseException as e:  # noqa: B902
            raise failure(e, "transform")
        try:
            encoded = json.dumps(out, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise Failure(
                "other",
                "transform returned a value that is not JSON ({}); return a list of dict "
                "records".format(e),
            )
        return JSON, encoded.encode("utf-8")
