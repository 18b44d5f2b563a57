"""A test module for the Python SDK: exercises logging and the exception mapping.

params {"mode": ...}:
  "log" (default)  logs at every level, through a named logger, print, an embedded newline,
                   logging.exception; reports progress; returns a dict summary
  "raise:<what>"   raises: invalid-params, invalid-data, io, unsupported, other (the SDK
                   classes), ValueError, OSError, NotImplementedError, KeyError, BadZipFile,
                   exit, lazy-import (a module not imported at build time)
"""

import logging
import sys
import zipfile

import premod_sdk

named = logging.getLogger("probe")


def process_for_train(pm):
    mode = pm.params.get("mode", "log")
    if mode == "log":
        logging.debug("probe debug")
        logging.info("probe info %s", pm.source_path)
        logging.warning("probe warning")
        logging.error("probe error")
        logging.critical("probe critical")
        logging.log(5, "probe level 5")
        named.info("probe named")
        print("probe print")
        logging.info("probe two\nlines")
        try:
            1 / 0
        except ZeroDivisionError:
            logging.exception("probe caught")
        premod_sdk.progress(1, 2)
        logging.info("probe pm %r", pm)
        return {"total": 3, "success": 2, "error": 1, "message": "probe done"}
    what = mode.split(":", 1)[1]
    if what == "invalid-params":
        raise premod_sdk.InvalidParams("probe: bad params")
    if what == "invalid-data":
        raise premod_sdk.InvalidData("probe: bad data")
    if what == "io":
        raise premod_sdk.IoError("probe: cannot write")
    if what == "unsupported":
        raise premod_sdk.Unsupported("probe: not here")
    if what == "other":
        raise premod_sdk.ModuleError("probe: other")
    if what == "ValueError":
        float("abc")
    if what == "OSError":
        open("/collection/no-such-file")
    if what == "NotImplementedError":
        raise NotImplementedError("probe: later")
    if what == "KeyError":
        {}["missing"]
    if what == "BadZipFile":
        raise zipfile.BadZipFile("probe: not a zip")
    if what == "exit":
        sys.exit(3)
    if what == "lazy-import":
        import encodings.cp1250  # noqa: F401 - not imported at build time
    return None


def init_svc(im, rule):
    logging.info("probe init_svc %r %r", im, rule)
    return {"scale": rule.params.get("scale", 2)}


def transform(df, params, batch_id):
    logging.debug("probe transform batch %d", batch_id)
    return [dict(r, batch=batch_id, x=r.get("x", 0) * params["scale"]) for r in df]
