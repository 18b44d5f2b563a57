"""Standard-library modules imported when the component is built.

componentize-py snapshots the interpreter after importing the app: a module that was not
imported then cannot be imported at run time (``ModuleNotFoundError``). The standard library
also imports some modules lazily, e.g. ``zipfile`` needs ``encodings.cp437`` only when it
meets a name without the UTF-8 flag, and ``datetime.strptime`` needs ``_strptime``. So the
adapter imports the modules below before the user's module; a module that needs anything
else imports it at top level (or passes ``--import NAME`` to the build).
"""

import importlib

#: Modules dataset preprocessing commonly uses, plus the ones the standard library imports
#: lazily on their behalf. Missing ones (e.g. ``bz2``, ``lzma``: not built for WASI) are
#: skipped.
STDLIB = (
    "abc", "array", "base64", "binascii", "bisect", "calendar", "codecs", "collections",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "_strptime", "decimal", "enum",
    "fnmatch", "fractions", "functools", "glob", "gzip", "hashlib", "heapq", "io",
    "itertools", "json", "linecache", "locale", "logging", "math", "numbers", "operator",
    "os", "pathlib", "pprint", "random", "re", "shutil", "statistics", "string", "struct",
    "tarfile", "tempfile", "textwrap", "time", "tokenize", "traceback", "types", "typing",
    "unicodedata", "uuid", "warnings", "zipfile", "zlib",
)

#: Text codecs: UTF variants, Latin-1/ASCII, CP437 (ZIP names), Korean (CP949/EUC-KR,
#: Johab), Japanese, Chinese and Windows code pages.
ENCODINGS = (
    "ascii", "latin_1", "utf_8", "utf_8_sig", "utf_16", "utf_16_le", "utf_16_be", "utf_32",
    "cp437", "cp949", "euc_kr", "johab", "cp1252", "cp932", "shift_jis", "euc_jp", "gbk",
    "gb2312", "gb18030", "big5", "idna", "raw_unicode_escape", "unicode_escape",
)


def preload(extra=()):
    """Imports :data:`STDLIB`, :data:`ENCODINGS` and ``extra``; returns what was skipped."""
    skipped = []
    for name in STDLIB + tuple("encodings." + e for e in ENCODINGS):
        try:
            importlib.import_module(name)
        except ImportError:
            skipped.append(name)
    for name in extra:
        importlib.import_module(name)  # an explicit --import must exist
    return skipped
