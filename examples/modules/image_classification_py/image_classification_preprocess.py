"""image_classification_preprocess: the platform's image classification preprocessing module,
written to its Python template and built into a premod component with premod_sdk.

Same behaviour, log lines and summary as the Rust module plugins/image_classification:
``process_for_train`` unzips ``<source_path>/dataset.zip`` into ``target_path``, safely (every
entry is checked before anything is written: no absolute or ``..`` paths, links, encryption,
duplicates, file/folder clashes; entry count and extracted bytes are capped, the actual
bytes too). ``transform`` passes batches through.

Params (a JSON object, all optional):
  archive          file name inside the collection folder, default "dataset.zip"
  max_total_bytes  cap on the extracted bytes, declared and actual, default 4 GiB
  max_entries      cap on files plus folders in the archive, default 100000
  name_encoding    "auto" (default), "utf-8", "cp949" or "cp437", for entry names without
                   the UTF-8 flag ("auto": UTF-8, else CP949, else CP437)
"""

import logging
import os
import zipfile

from premod_sdk import InvalidData, InvalidParams, Summary, progress

DEFAULTS = {
    "archive": "dataset.zip",
    "max_total_bytes": 4 << 30,
    "max_entries": 100000,
    "name_encoding": "auto",
}
ENCODINGS = ("auto", "utf-8", "cp949", "cp437")
COPY_BUFFER = 256 * 1024
FLAG_ENCRYPTED = 0x1
FLAG_UTF8 = 0x800
S_IFMT = 0o170000
S_IFLNK = 0o120000


def process_for_train(pm):
    params = read_params(pm.params)

    logging.info('[hunmin log]  the start line of the function [exec_process]')
    logging.info('[hunmin log] pm.source_path : {}'.format(pm.source_path))
    dir_list = sorted(os.listdir(pm.source_path))
    logging.info('[hunmin log] Files and directories in {} :'.format(pm.source_path))
    logging.info('[hunmin log] dir_list : {}'.format(dir_list))

    archive = os.path.join(pm.source_path, params["archive"])
    if not os.path.exists(archive):
        raise InvalidData(
            "expected the archive {} but it does not exist; {} holds {} (set the `archive` "
            "param to pick another file)".format(archive, pm.source_path, dir_list)
        )
    if not os.path.isfile(archive):
        raise InvalidData(
            "{} is not a file; set the `archive` param to the ZIP file to extract ({} holds "
            "{})".format(archive, pm.source_path, dir_list)
        )

    files, written = extract(archive, pm.target_path, params)

    dir_list = sorted(os.listdir(pm.target_path))
    logging.info('[hunmin log] Files and directories in {} :'.format(pm.target_path))
    logging.info('[hunmin log] dir_list : {}'.format(dir_list))
    logging.info('[hunmin log]  the finish line of the function [exec_process]')
    logging.info('[hunmin log] the end line of the function [process_for_train]')
    return Summary(1, 1, 0, "extracted {} file{} ({}) from {}".format(
        files, "" if files == 1 else "s", human_bytes(written), params["archive"]))


def init_svc(im, rule):
    """Nothing was fitted: no state to load."""
    return {}


def transform(df, params, batch_id):
    """Image classification needs no inference-time preprocessing."""
    return df


def accepted():
    return (
        "accepted keys: `archive` (default \"dataset.zip\"), `max_total_bytes` (default "
        "4294967296), `max_entries` (default 100000), `name_encoding` (\"auto\" default, "
        "\"utf-8\", \"cp949\", \"cp437\")"
    )


def read_params(raw):
    params = dict(DEFAULTS)
    for key, value in raw.items():
        if key == "archive":
            bad = (
                not isinstance(value, str) or value in ("", ".", "..")
                or any(c in value for c in "/\\\0")
                or (value[:1].isalpha() and value[1:2] == ":")
            )
            if bad:
                raise InvalidParams(
                    "`archive` must be a plain file name inside /collection (no `/`, `\\`, "
                    "`..`), got {!r}; {}".format(value, accepted()))
        elif key in ("max_total_bytes", "max_entries"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidParams(
                    "`{}` must be a whole number of at least 1, got {!r}; {}".format(
                        key, value, accepted()))
        elif key == "name_encoding":
            if value not in ENCODINGS:
                raise InvalidParams(
                    "`name_encoding` must be one of \"auto\", \"utf-8\", \"cp949\", "
                    "\"cp437\", got {!r}; {}".format(value, accepted()))
        else:
            raise InvalidParams("unknown param `{}`; {}".format(key, accepted()))
        params[key] = value
    return params


def decode_name(info, encoding):
    """The entry's name from its raw bytes (zipfile decoded them as UTF-8 or CP437)."""
    flagged = bool(info.flag_bits & FLAG_UTF8)
    raw = info.orig_filename.encode("utf-8" if flagged else "cp437")
    if flagged:
        return raw.decode("utf-8")
    if encoding == "auto":
        for codec in ("utf-8", "cp949"):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                pass
        return raw.decode("cp437")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        others = ", ".join('"{}"'.format(e) for e in ENCODINGS if e != encoding)
        raise InvalidData("the name is not valid {} (params set name_encoding = \"{}\"; try "
                          "{})".format(encoding.upper(), encoding, others))


def checked_path(name):
    """``(relative path, is_dir)``; ``(None, True)`` for the root folder itself (``./``)."""
    if not name:
        raise ValueError("has an empty name")
    if "\0" in name:
        raise ValueError("has a NUL byte in its name")
    name = name.replace("\\", "/")
    if name.startswith("/"):
        raise ValueError("is an absolute path; entries must stay inside the output folder")
    first = name.split("/", 1)[0]
    if len(first) >= 2 and first[0].isascii() and first[0].isalpha() and first[1] == ":":
        raise ValueError("starts with a drive letter; entries must stay inside the output folder")
    is_dir = name.endswith("/")
    parts = (name[:-1] if is_dir else name).split("/")
    if "" in parts:
        raise ValueError("has an empty path component (`//`)")
    if ".." in parts:
        raise ValueError("has a `..` component, which would escape the output folder")
    path = "/".join(p for p in parts if p != ".")
    if not path:
        if is_dir:
            return None, True
        raise ValueError("names no file (only `.` components)")
    return path, is_dir


def plan(zf, archive_name, params):
    """Pass 1: decode and check every entry; nothing is written."""
    infos = zf.infolist()
    if len(infos) > params["max_entries"]:
        raise InvalidData(
            "{} has {} entries, over the limit max_entries = {}; raise the `max_entries` "
            "param if the archive is trusted".format(archive_name, len(infos), params["max_entries"]))
    seen = {}  # path -> (kind, index); kind "file", "dir" or "implied"
    headers = {}
    declared = 0
    planned = []
    for index, info in enumerate(infos):
        try:
            name = decode_name(info, params["name_encoding"])
        except InvalidData as e:
            raise InvalidData("entry #{} {!r} (shown as CP437): {}".format(
                index, info.orig_filename, e))

        def invalid(why):
            return InvalidData("entry #{} {!r}: {}".format(index, name, why))

        if info.flag_bits & FLAG_ENCRYPTED:
            raise invalid("is encrypted; password-protected archives are not supported "
                          "(re-create the archive without a password)")
        if (info.external_attr >> 16) & S_IFMT == S_IFLNK:
            raise invalid("is a symbolic link; links are refused because they can point "
                          "outside the output folder (re-create the archive without links, "
                          "e.g. `zip` without `-y`)")
        try:
            path, is_dir = checked_path(name)
        except ValueError as e:
            raise invalid(str(e))
        if path is None:
            planned.append((index, info, "", True))
            continue
        if not is_dir and info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise invalid("uses compression method {}; only stored and deflate are supported "
                          "(re-create the archive with deflate, the default of most "
                          "tools)".format(info.compress_type))
        parts = path.split("/")
        for end in range(1, len(parts)):
            folder = "/".join(parts[:end])
            kind, other = seen.get(folder, (None, None))
            if kind == "file":
                raise invalid("uses {!r} as a folder, but entry #{} is a file with that "
                              "name".format(folder, other))
            if kind is None:
                seen[folder] = ("implied", index)
        kind, other = seen.get(path, (None, None))
        if kind is None or (kind == "implied" and is_dir):
            seen[path] = ("dir" if is_dir else "file", index)
        elif kind == "implied":
            raise invalid("is a file, but entry #{} uses {!r} as a folder".format(other, path))
        else:
            raise invalid("duplicates entry #{} (both are {!r} once `\\` is read as `/` and a "
                          "trailing `/` is dropped)".format(other, path))
        if info.header_offset in headers:
            raise invalid("shares its local header (offset {}) with entry #{}; overlapping "
                          "entries are a zip-bomb technique".format(
                              info.header_offset, headers[info.header_offset]))
        headers[info.header_offset] = index
        if not is_dir:
            declared += info.file_size
            if declared > params["max_total_bytes"]:
                raise invalid(
                    "brings the declared uncompressed size of {} to {} bytes, over the limit "
                    "max_total_bytes = {} bytes; raise the `max_total_bytes` param if the "
                    "archive is trusted".format(archive_name, declared, params["max_total_bytes"]))
        planned.append((index, info, path, is_dir))
    return planned


def extract(archive, out_dir, params):
    """Extracts ``archive`` into ``out_dir``; returns ``(files, bytes)`` written."""
    archive_name = os.path.basename(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise InvalidData("{} is not a valid ZIP archive: {}".format(archive_name, e))
    with zf:
        planned = plan(zf, archive_name, params)
        total = len(planned)
        progress(0, total)
        step = max(total // 100, 1)
        files = written = 0
        for done, (index, info, path, is_dir) in enumerate(planned, 1):
            label = "entry #{} {!r}".format(index, path + "/" if is_dir else path)
            target = os.path.join(out_dir, path) if path else out_dir
            if is_dir:
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                budget = params["max_total_bytes"] - written
                try:
                    written += copy_entry(zf, info, target, budget)
                except InvalidData as e:
                    raise InvalidData("{}: {}".format(label, e))
                except (zipfile.BadZipFile, EOFError, ValueError) as e:  # CRC, truncation, zlib
                    raise InvalidData("{}: {}".format(label, e))
                files += 1
            if done % step == 0 or done == total:
                progress(done, total)
    return files, written


def copy_entry(zf, info, target, budget):
    """Copies one entry into a new file, at most ``budget`` bytes; removes it on failure."""
    copied = 0
    dst = open(target, "xb")  # never overwrites
    try:
        with dst, zf.open(info) as src:
            while True:
                chunk = src.read(COPY_BUFFER)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > budget:
                    raise InvalidData("inflates past the limit max_total_bytes; raise the "
                                      "`max_total_bytes` param if the archive is trusted")
                dst.write(chunk)
    except BaseException:
        os.remove(target)
        raise
    return copied


def human_bytes(n):
    """Decimal units with one decimal, e.g. ``95.1 MB``."""
    if n < 1000:
        return "{} bytes".format(n)
    units = ("kB", "MB", "GB", "TB", "PB")
    value, unit = n / 1000.0, 0
    while value >= 999.95 and unit + 1 < len(units):
        value /= 1000.0
        unit += 1
    return "{:.1f} {}".format(value, units[unit])
