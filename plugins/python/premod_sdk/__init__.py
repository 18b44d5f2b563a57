"""premod_sdk: premod preprocessing modules in Python, written to the platform's template.

A module is one ``.py`` file with top-level functions::

    import logging, os

    def process_for_train(pm):          # required
        logging.info('[hunmin log] pm.source_path : {}'.format(pm.source_path))
        ...                             # read pm.source_path, write pm.target_path

    def init_svc(im, rule):             # optional: load state from im.meta_path
        return {...}                    # becomes `params` of every transform call

    def transform(df, params, batch_id):  # optional: df is a list of dict records
        return df

``python -m premod_sdk.build module.py -o module.wasm`` turns it into a component of the
``premod:premodule`` world (see ``premod_sdk.build``). Inside the component:

* ``logging`` (the root logger and any named logger, every level) goes to the step log with
  the matching level; ``print`` and stderr go there too;
* exceptions become the WIT ``error`` variants: raise :class:`InvalidParams`,
  :class:`InvalidData`, :class:`IoError`, :class:`Unsupported` or :class:`ModuleError` to choose one; otherwise
  ``OSError`` is ``io``, ``ValueError`` (and ``zipfile.BadZipFile``, ``csv.Error``,
  ``tarfile.TarError``) is ``invalid-data``, ``NotImplementedError`` is ``unsupported`` and
  anything else is ``other``. Unexpected exceptions also log their traceback.

The same module runs natively, unchanged, with :mod:`premod_sdk.testing`.
"""

import os

__version__ = "0.1.0"

#: The ``premod:premodule`` WIT version this SDK builds against; the build stores it in the
#: component's ``premod-api-version`` custom section.
API_VERSION = "1.0.0"

__all__ = [
    "API_VERSION",
    "Column",
    "IM",
    "InvalidData",
    "InvalidParams",
    "IoError",
    "ModuleError",
    "PM",
    "PremodError",
    "Rule",
    "Summary",
    "Unsupported",
    "dir_list",
    "log",
    "progress",
]


class PremodError(Exception):
    """Base of the errors a module raises on purpose; ``kind`` is the WIT ``error`` variant.

    The message is reported as is (no traceback is logged): say what was wrong and how to
    fix it.
    """

    kind = "other"


class InvalidParams(PremodError):
    """``invalid-params``: the rule's params are missing, malformed or out of range."""

    kind = "invalid-params"


class InvalidData(PremodError):
    """``invalid-data``: the dataset (or an inference batch) is not what the module expects."""

    kind = "invalid-data"


class IoError(PremodError):
    """``io``: a file could not be read or written (a plain ``OSError`` maps to ``io`` too,
    with its traceback logged; this one reports just the message). Not the built-in
    ``IOError``, which is ``OSError``."""

    kind = "io"


class Unsupported(PremodError):
    """``unsupported``: the module does not implement this entry point."""

    kind = "unsupported"


class ModuleError(PremodError):
    """``other``: anything else the module wants to report as a clean failure."""

    kind = "other"


class Column:
    """A dataset column the rule reads: ``name`` (e.g. ``dataset``) and ``data_type``
    (``file``, ``text``, ``number``, ...)."""

    __slots__ = ("name", "data_type")

    def __init__(self, name, data_type):
        self.name = name
        self.data_type = data_type

    def __repr__(self):
        return "Column(name={!r}, data_type={!r})".format(self.name, self.data_type)

    def __eq__(self, other):
        return isinstance(other, Column) and (self.name, self.data_type) == (
            other.name,
            other.data_type,
        )


class Rule:
    """The rule a step executes, as ``init_svc(im, rule)`` receives it.

    Attributes: ``rule_no`` (int), ``params`` (dict), ``columns`` (list of :class:`Column`),
    ``source_columns`` and ``source_types`` (lists of str). The platform's dict keys work
    too: ``rule['param']``, ``rule['source_column']``, ``rule['source_type']``,
    ``rule['rule_no']`` (a str, as on the platform).
    """

    _KEYS = ("param", "source_column", "source_type", "rule_no")

    def __init__(self, rule_no=0, params=None, columns=()):
        self.rule_no = rule_no
        self.params = {} if params is None else params
        self.columns = list(columns)

    @property
    def source_columns(self):
        return [c.name for c in self.columns]

    @property
    def source_types(self):
        return [c.data_type for c in self.columns]

    def __getitem__(self, key):
        if key == "param":
            return self.params
        if key == "source_column":
            return self.source_columns
        if key == "source_type":
            return self.source_types
        if key == "rule_no":
            return str(self.rule_no)
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self):
        return list(self._KEYS)

    def __repr__(self):
        return "Rule(rule_no={!r}, params={!r}, columns={!r})".format(
            self.rule_no, self.params, self.columns
        )


class PM:
    """What ``process_for_train(pm)`` receives (the platform's ``pm`` object).

    * ``source_path``: the dataset's collection folder, read-only (``/collection``);
    * ``target_path``: this rule's output folder, writable (``/output``);
    * ``meta_path``: the fitted-state folder (``/meta``) or ``None`` when none is mounted;
      writable when ``do_fit``;
    * ``input_path``: the previous rule's output, read-only (``/input``), or ``None``;
    * ``params``: the rule's params, a dict; ``do_fit``: bool; ``rule_no``: int;
    * ``source_columns``, ``source_types``: lists of str; ``columns``: list of
      :class:`Column`; ``rule``: the :class:`Rule`.
    """

    def __init__(
        self,
        source_path,
        target_path,
        meta_path=None,
        input_path=None,
        rule=None,
        do_fit=True,
    ):
        self.source_path = source_path
        self.target_path = target_path
        self.meta_path = meta_path
        self.input_path = input_path
        self.rule = Rule() if rule is None else rule
        self.do_fit = do_fit

    @property
    def params(self):
        return self.rule.params

    @property
    def rule_no(self):
        return self.rule.rule_no

    @property
    def columns(self):
        return self.rule.columns

    @property
    def source_columns(self):
        return self.rule.source_columns

    @property
    def source_types(self):
        return self.rule.source_types

    def __repr__(self):
        return (
            "PM(source_path={!r}, target_path={!r}, meta_path={!r}, input_path={!r}, "
            "params={!r}, do_fit={!r}, rule_no={!r}, source_columns={!r})"
        ).format(
            self.source_path,
            self.target_path,
            self.meta_path,
            self.input_path,
            self.params,
            self.do_fit,
            self.rule_no,
            self.source_columns,
        )


class IM:
    """What ``init_svc(im, rule)`` receives: ``meta_path``, the fitted state (``/meta``),
    read-only."""

    def __init__(self, meta_path):
        self.meta_path = meta_path

    def __repr__(self):
        return "IM(meta_path={!r})".format(self.meta_path)


class Summary:
    """What ``process_for_train`` may return; the host prints
    ``Status : total:N, success:N, error:N``.

    Returning ``None`` means ``Summary(1, 1, 0)``; a dict with these keys, an int ``n``
    (``Summary(n, n, 0)``) or a str (the message, with ``Summary(1, 1, 0)``) work too.
    """

    __slots__ = ("total", "success", "error", "message")

    def __init__(self, total=1, success=None, error=0, message=None):
        self.total = int(total)
        self.success = self.total if success is None else int(success)
        self.error = int(error)
        self.message = message

    def __repr__(self):
        return "Summary(total={}, success={}, error={}, message={!r})".format(
            self.total, self.success, self.error, self.message
        )

    def __eq__(self, other):
        return isinstance(other, Summary) and (
            self.total,
            self.success,
            self.error,
            self.message,
        ) == (other.total, other.success, other.error, other.message)


def log(level, message):
    """Appends ``message`` to the step log at ``level`` (``"trace"``, ``"debug"``,
    ``"info"``, ``"warn"``, ``"error"``, or a ``logging`` level number). Plain ``logging``
    calls do the same."""
    from . import _runtime

    _runtime.emit(_runtime.level_name(level), str(message))


def progress(done, total=0):
    """Reports progress: ``done`` of ``total`` units (``total`` 0 when unknown)."""
    _runtime.report_progress(int(done), int(total))


def dir_list(path):
    """``sorted(os.listdir(path))``: the listing the platform's modules log as
    ``dir_list : [...]``."""
    return sorted(os.listdir(path))


from . import _runtime  # noqa: E402  (it uses the classes above)
