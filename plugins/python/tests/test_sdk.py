"""Native tests of premod_sdk (plain CPython, no WebAssembly): the adapter logic, the build
command's checks, and the example modules. Run from plugins/python:

    python3 -m unittest discover -s tests -v

The components themselves are built by build-examples.sh and run in premod by the host's
integration tests.
"""

import io
import json
import logging
import os
import shutil
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_ROOT = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(SDK_ROOT))
sys.path.insert(0, SDK_ROOT)

import premod_sdk  # noqa: E402
from premod_sdk import _runtime, build, testing  # noqa: E402

PROBE = os.path.join(HERE, "sdk_probe.py")
IMAGE = os.path.join(REPO, "examples", "modules", "image_classification_py",
                     "image_classification_preprocess.py")
TABULAR = os.path.join(REPO, "examples", "modules", "tabular_normalize", "tabular_normalize.py")
SAMPLE = os.path.join(REPO, "examples", "modules", "tabular_normalize", "sample")


class Scratch:
    """A temporary folder with collection/, output/ and meta/."""

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="premod-sdk-test-")
        for d in ("collection", "output", "meta"):
            os.mkdir(os.path.join(self.root, d))
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)


class WitCopy(unittest.TestCase):
    def test_packaged_wit_is_the_released_wit_of_its_api_version(self):
        # The SDK builds against a released (frozen) API version, so that its components run
        # on every host of that major version: the copy must be that release, byte for byte.
        version = premod_sdk.API_VERSION
        frozen = os.path.join(REPO, "wit", "since_v" + version, "premodule.wit")
        current = os.path.join(REPO, "wit", "premodule.wit")
        if not os.path.exists(current):
            self.skipTest("not in the premod repository")
        with open(current) as f:
            current_is_it = "package premod:premodule@{};".format(version) in f.read()
        released = frozen if os.path.exists(frozen) or not current_is_it else current
        with open(released, "rb") as a, open(os.path.join(build.WIT_DIR, "premodule.wit"), "rb") as b:
            self.assertEqual(a.read(), b.read(), "copy {} to premod_sdk/wit/".format(released))
        rust = os.path.join(REPO, "plugins", "premod-sdk", "wit", "premodule.wit")
        with open(rust, "rb") as a, open(os.path.join(build.WIT_DIR, "premodule.wit"), "rb") as b:
            self.assertEqual(a.read(), b.read(), "the Rust and Python SDKs use the same WIT")
        with open(released) as f:
            self.assertIn("package premod:premodule@{};".format(version), f.read())


class Logging(unittest.TestCase):
    def test_every_level_named_loggers_and_tracebacks(self):
        with Scratch() as s:
            r = testing.run_train(PROBE, s.path("collection"), s.path("output"))
        self.assertIsNone(r.error)
        self.assertEqual(r.summary, premod_sdk.Summary(3, 2, 1, "probe done"))
        lines = r.lines
        self.assertEqual(lines[0], ("debug", "probe debug"))
        self.assertEqual(lines[1], ("info", "probe info " + s.path("collection")))
        self.assertEqual(lines[2:6], [("warn", "probe warning"), ("error", "probe error"),
                                      ("error", "probe critical"), ("trace", "probe level 5")])
        self.assertEqual(lines[6], ("info", "probe: probe named"))
        self.assertEqual(lines[7], ("info", "probe print"))
        self.assertEqual(lines[8], ("info", "probe two\nlines"))
        level, text = lines[9]
        self.assertEqual(level, "error")
        self.assertTrue(text.startswith("probe caught\nTraceback (most recent call last):"), text)
        self.assertTrue(text.endswith("ZeroDivisionError: division by zero"), text)
        self.assertEqual(r.progress, [(1, 2)])
        self.assertIn("source_columns=['dataset']", lines[10][1])

    def test_level_names(self):
        self.assertEqual(_runtime.level_name(logging.WARNING), "warn")
        self.assertEqual(_runtime.level_name(1), "trace")
        self.assertEqual(_runtime.level_name("WARNING"), "warn")
        self.assertEqual(_runtime.level_name("critical"), "error")
        with self.assertRaises(ValueError):
            _runtime.level_name("loud")

    def test_log_and_progress_functions(self):
        with testing.capture() as log:
            premod_sdk.log("warn", "w")
            premod_sdk.log(logging.DEBUG, "d")
            premod_sdk.progress(3, 4)
        self.assertEqual(log.lines, [("warn", "w"), ("debug", "d")])
        self.assertEqual(log.progress_calls, [(3, 4)])

    def test_stderr_without_a_sink(self):
        err = io.StringIO()
        old, sys.stderr = sys.stderr, err
        try:
            _runtime.emit("info", "a\nb")
        finally:
            sys.stderr = old
        self.assertEqual(err.getvalue(), "[ INFO] root: a\n[ INFO] root: b\n")


class Errors(unittest.TestCase):
    CASES = {
        "invalid-params": ("invalid-params", "probe: bad params"),
        "invalid-data": ("invalid-data", "probe: bad data"),
        "io": ("io", "probe: cannot write"),
        "unsupported": ("unsupported", "probe: not here"),
        "other": ("other", "probe: other"),
        "ValueError": ("invalid-data", "ValueError: could not convert string to float: 'abc'"),
        "NotImplementedError": ("unsupported", "NotImplementedError: probe: later"),
        "KeyError": ("other", "KeyError: 'missing'"),
        "BadZipFile": ("invalid-data", "BadZipFile: probe: not a zip"),
        "exit": ("other", "process_for_train called sys.exit(3)"),
    }

    def run_probe(self, mode):
        with Scratch() as s:
            return testing.run_train(PROBE, s.path("collection"), s.path("output"),
                                     params={"mode": mode})

    def test_mapping(self):
        for what, expected in self.CASES.items():
            with self.subTest(what=what):
                r = self.run_probe("raise:" + what)
                self.assertEqual(r.error, expected)
                traced = any("Traceback" in m for m in r.messages())
                deliberate = what in ("invalid-params", "invalid-data", "io", "unsupported",
                                      "other", "exit")
                self.assertEqual(traced, not deliberate, r.messages())

    def test_oserror_is_io_and_traceback_starts_in_the_module(self):
        r = self.run_probe("raise:OSError")
        self.assertEqual(r.error[0], "io")
        self.assertIn("FileNotFoundError", r.error[1])
        trace = r.messages()[0]
        self.assertNotIn("_runtime.py", trace)
        self.assertIn("sdk_probe.py", trace)

    def test_bad_params_and_bad_summaries(self):
        with Scratch() as s:
            r = testing.run_train(PROBE, s.path("collection"), s.path("output"), params="[1]")
            self.assertEqual(r.error[0], "invalid-params")
            r = testing.run_train(PROBE, s.path("collection"), s.path("output"), params="{")
            self.assertEqual(r.error[0], "invalid-params")
        self.assertEqual(_runtime.to_summary(None), premod_sdk.Summary(1, 1, 0))
        self.assertEqual(_runtime.to_summary(5), premod_sdk.Summary(5, 5, 0))
        self.assertEqual(_runtime.to_summary("m"), premod_sdk.Summary(1, 1, 0, "m"))
        with self.assertRaises(_runtime.Failure):
            _runtime.to_summary({"totl": 1})
        with self.assertRaises(_runtime.Failure):
            _runtime.to_summary(True)

    def test_missing_entry_points(self):
        class Empty:
            __name__ = "empty"

        with self.assertRaises(_runtime.Failure) as e:
            _runtime.run_train(Empty, "/c", "/o")
        self.assertEqual(e.exception.kind, "unsupported")
        service = _runtime.Service(Empty, "/meta", params='{"a": 1}')
        self.assertEqual(service.params, {"a": 1})
        with self.assertRaises(_runtime.Failure) as e:
            service.transform("application/json", b"[]", 0)
        self.assertEqual(e.exception.kind, "unsupported")


class Serving(unittest.TestCase):
    def test_init_svc_result_is_the_params_of_transform(self):
        service = testing.start_service(PROBE, "/meta", params={"scale": 10})
        self.assertEqual(service.transform([{"x": 1}, {"x": 2.5, "y": "k"}]),
                         [{"x": 10, "batch": 0}, {"x": 25.0, "y": "k", "batch": 0}])
        self.assertEqual(service.transform([{}])[0]["batch"], 1)
        self.assertIn("probe init_svc IM(meta_path='/meta')", service.lines[0][1])

    def test_batches_must_be_json(self):
        service = _runtime.Service(testing.load_module(PROBE), "/meta")
        with self.assertRaises(_runtime.Failure) as e:
            service.transform("text/csv", b"x\n1", 0)
        self.assertEqual(e.exception.kind, "invalid-data")
        with self.assertRaises(_runtime.Failure) as e:
            service.transform("application/json", b"[{", 4)
        self.assertEqual(e.exception.kind, "invalid-data")
        self.assertIn("batch 4", e.exception.message)
        ctype, data = service.transform("application/json; charset=utf-8", '[{"é":1}]'.encode(), 0)
        self.assertEqual((ctype, data), ("application/json", '[{"é":1,"batch":0,"x":0}]'.encode()))


class Rule(unittest.TestCase):
    def test_platform_keys(self):
        rule = premod_sdk.Rule(2, {"a": 1}, [premod_sdk.Column("dataset", "file")])
        self.assertEqual(rule["param"], {"a": 1})
        self.assertEqual(rule["source_column"], ["dataset"])
        self.assertEqual(rule["source_type"], ["file"])
        self.assertEqual(rule["rule_no"], "2")
        self.assertIsNone(rule.get("nope"))


class Build(unittest.TestCase):
    def write(self, folder, name, text):
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_check_module(self):
        with tempfile.TemporaryDirectory() as d:
            ok = self.write(d, "mine.py", "def process_for_train(pm):\n    pass\n"
                                          "def transform(df, params, batch_id=0):\n    return df\n")
            self.assertEqual(build.check_module(ok),
                             ("mine", ["process_for_train(pm)", "transform(df, params, batch_id)"]))
            cases = {
                "nofn.py": ("x = 1\n", "defines no top-level function process_for_train(pm)"),
                "arity.py": ("def process_for_train(pm, extra):\n    pass\n", "takes 2 positional"),
                "few.py": ("def process_for_train(pm):\n    pass\ndef init_svc(im):\n    pass\n",
                           "init_svc takes 1"),
                "syntax.py": ("def process_for_train(pm)\n", "syntax.py:1"),
                "csv.py": ("def process_for_train(pm):\n    pass\n", "clashes"),
                "my-mod.py": ("def process_for_train(pm):\n    pass\n", "valid Python identifier"),
            }
            for name, (text, message) in cases.items():
                with self.subTest(name=name):
                    with self.assertRaises(build.BuildError) as e:
                        build.check_module(self.write(d, name, text))
                    self.assertIn(message, str(e.exception))

    def test_custom_sections(self):
        self.assertEqual(build.custom_section("ab", b"xyz"), b"\x00\x06\x02abxyz")
        self.assertEqual(build._leb128(300), b"\xac\x02")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.wasm")
            with open(path, "wb") as f:
                f.write(build.COMPONENT_HEADER)
            build.add_custom_sections(path, {"premod-api-version": "1.0.0"})
            with open(path, "rb") as f:
                self.assertEqual(f.read()[8:], b"\x00\x18\x12premod-api-version1.0.0")
            with open(path, "wb") as f:
                f.write(b"\x00asm\x01\x00\x00\x00")
            with self.assertRaises(build.BuildError):
                build.add_custom_sections(path, {"a": "b"})

    def test_producers_name_python_and_componentize_py(self):
        existing = build.custom_section(
            "producers",
            build.producers_payload([("processed-by", [("wit-component", "0.245.1")])]),
        )
        other = build.custom_section("name", b"x")
        data = build.COMPONENT_HEADER + existing + other
        marked = build.mark_producers(data, ("Python", "3.11"), ("componentize-py", "0.25.1"))
        self.assertTrue(marked.startswith(build.COMPONENT_HEADER + other))
        payload = marked[len(build.COMPONENT_HEADER + other):]
        size, body = build._read_leb128(payload, 1)
        name, start = build._read_name(payload, body)
        self.assertEqual(name, "producers")
        self.assertEqual(build.parse_producers(payload[start:body + size]), [
            ("language", [("Python", "3.11")]),
            ("processed-by", [("componentize-py", "0.25.1"), ("wit-component", "0.245.1")]),
        ])
        # Marking twice changes nothing more; a component without the section gets one.
        self.assertEqual(build.mark_producers(marked, ("Python", "3.11"),
                                              ("componentize-py", "0.25.1")), marked)
        bare = build.mark_producers(build.COMPONENT_HEADER, ("Python", "3.11"), ("c", "1"))
        self.assertIn(b"producers", bare)

    def test_app_source_imports_preload_first(self):
        src = build.app_source("mine", ["encodings.cp1250"])
        self.assertLess(src.index("_preload.preload(('encodings.cp1250',))"), src.index("import mine"))
        self.assertIn("Train, Serve = _component.exports_for(_user_module)", src)


def make_zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)


class ImageClassificationExample(unittest.TestCase):
    def test_logs_like_the_reference_module(self):
        with Scratch() as s:
            make_zip(s.path("collection", "dataset.zip"),
                     [("dataset/", b""), ("dataset/cat/1.png", b"\x01" * 1500),
                      ("dataset/dog/2.png", b"\x02" * 500)])
            r = testing.run_train(IMAGE, s.path("collection"), s.path("output"))
            c, o = s.path("collection"), s.path("output")
            self.assertIsNone(r.error)
            self.assertEqual(r.messages(), [
                "[hunmin log]  the start line of the function [exec_process]",
                "[hunmin log] pm.source_path : " + c,
                "[hunmin log] Files and directories in {} :".format(c),
                "[hunmin log] dir_list : ['dataset.zip']",
                "[hunmin log] Files and directories in {} :".format(o),
                "[hunmin log] dir_list : ['dataset']",
                "[hunmin log]  the finish line of the function [exec_process]",
                "[hunmin log] the end line of the function [process_for_train]",
            ])
            self.assertEqual(r.summary, premod_sdk.Summary(
                1, 1, 0, "extracted 2 files (2.0 kB) from dataset.zip"))
            self.assertEqual(r.progress[-1], (3, 3))
            with open(s.path("output", "dataset", "dog", "2.png"), "rb") as f:
                self.assertEqual(f.read(), b"\x02" * 500)

    def test_refuses_hostile_and_bad_input(self):
        with Scratch() as s:
            make_zip(s.path("collection", "dataset.zip"), [("../x", b"x")])
            r = testing.run_train(IMAGE, s.path("collection"), s.path("output"))
            self.assertEqual(r.error[0], "invalid-data")
            self.assertTrue(r.error[1].startswith("entry #0 '../x'"), r.error)
            self.assertEqual(os.listdir(s.path("output")), [])
            r = testing.run_train(IMAGE, s.path("collection"), s.path("output"),
                                  params={"max_entry": 3})
            self.assertEqual(r.error[0], "invalid-params")
            self.assertIn("`max_entry`", r.error[1])
            self.assertEqual(r.lines, [])
            r = testing.run_train(IMAGE, s.path("collection"), s.path("output"),
                                  params={"archive": "other.zip"})
            self.assertEqual(r.error[0], "invalid-data")
            self.assertIn("['dataset.zip']", r.error[1])
            make_zip(s.path("collection", "dataset.zip"), [("a", b"1" * 600), ("b", b"2" * 600)])
            r = testing.run_train(IMAGE, s.path("collection"), s.path("output"),
                                  params={"max_total_bytes": 1000})
            self.assertEqual(r.error[0], "invalid-data")
            self.assertIn("max_total_bytes", r.error[1])

    def test_korean_cp949_names(self):
        with Scratch() as s:
            raw = "고양이/1.png".encode("cp949")  # what Korean Windows tools write, no UTF-8 flag
            placeholder = b"x" * (len(raw) - 6) + b"/1.png"
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr(placeholder.decode("ascii"), b"img")
            with open(s.path("collection", "dataset.zip"), "wb") as f:
                f.write(buf.getvalue().replace(placeholder, raw))
            r = testing.run_train(IMAGE, s.path("collection"), s.path("output"))
            self.assertIsNone(r.error, r.error)
            self.assertEqual(os.listdir(s.path("output")), ["고양이"])
            r = testing.run_train(IMAGE, s.path("collection"), s.path("output"),
                                  params={"name_encoding": "utf-8"})
            self.assertEqual(r.error[0], "invalid-data")
            self.assertIn("not valid UTF-8", r.error[1])


class TabularExample(unittest.TestCase):
    def test_fit_then_reuse_then_transform(self):
        with Scratch() as s:
            params = {"columns": ["area", "rooms"]}
            r = testing.run_train(TABULAR, os.path.join(SAMPLE, "train"), s.path("output"),
                                  meta=s.path("meta"), params=params)
            self.assertIsNone(r.error, r.error)
            self.assertEqual(r.summary.total, 8)
            with open(s.path("meta", "state.json")) as f:
                state = json.load(f)
            self.assertEqual([c["name"] for c in state["columns"]], ["area", "rooms"])
            self.assertEqual(state["columns"][1]["mean"], 2.75)
            with open(s.path("output", "houses_b.csv")) as f:
                self.assertEqual(f.read().splitlines()[3],
                                 '8,0.615567,0.258199,598.5,"Suwon, Gyeonggi"')
            os.mkdir(s.path("test-output"))
            r = testing.run_train(TABULAR, os.path.join(SAMPLE, "test"), s.path("test-output"),
                                  meta=s.path("meta"), params=params, do_fit=False)
            self.assertIsNone(r.error, r.error)
            self.assertIn("[tabular] loaded", r.messages()[2])
            service = testing.start_service(TABULAR, s.path("meta"))
            out = service.transform([{"id": 1, "area": 78.7875, "rooms": "2.75", "city": "x"}])
            self.assertEqual(list(out[0]), ["id", "area", "rooms", "city"])
            self.assertAlmostEqual(out[0]["area"], 0.0, places=12)
            self.assertEqual(out[0]["rooms"], 0.0)
            with self.assertRaises(testing.StepFailed) as e:
                service.transform([{"area": 1}])
            self.assertEqual(e.exception.kind, "invalid-data")
            self.assertIn("record #0 has no field 'rooms'", e.exception.message)
            with self.assertRaises(testing.StepFailed) as e:
                testing.start_service(TABULAR, s.path("meta"), params={"columns": ["zz"]})
            self.assertEqual(e.exception.kind, "invalid-params")

    def test_minmax_on_the_rule_source_columns(self):
        with Scratch() as s:
            r = testing.run_train(TABULAR, os.path.join(SAMPLE, "train"), s.path("output"),
                                  meta=s.path("meta"), params={"method": "minmax"},
                                  columns=(("rooms", "number"),))
            self.assertIsNone(r.error, r.error)
            self.assertEqual(r.messages()[2], "[tabular] fitted 'rooms': min=1.000000 max=4.000000")
            with open(s.path("output", "houses_a.csv")) as f:
                self.assertEqual(f.read().splitlines()[1], "1,84.5,0.666667,512.0,Seoul")
            service = testing.start_service(TABULAR, s.path("meta"))
            self.assertEqual(service.transform([{"rooms": 4}]), [{"rooms": 1.0}])
            with self.assertRaises(testing.StepFailed) as e:
                testing.start_service(TABULAR, s.path("meta"), params={"method": "zscore"})
            self.assertIn('fitted with "minmax"', e.exception.message)

    def test_errors(self):
        with Scratch() as s:
            with open(s.path("collection", "a.csv"), "w") as f:
                f.write("x,y\n1,2\nfoo,3\n")
            run = lambda params, **kw: testing.run_train(  # noqa: E731
                TABULAR, s.path("collection"), s.path("output"), meta=s.path("meta"),
                params=params, **kw)
            self.assertEqual(run({}, columns=()).error[0], "invalid-params")
            self.assertEqual(run({"columns": ["x"], "method": "max"}).error[0], "invalid-params")
            self.assertEqual(run({"columns": ["x"]}).error,
                             ("invalid-data", "a.csv line 3: column 'x' holds 'foo', not a number"))
            self.assertEqual(run({"columns": ["z"]}).error,
                             ("invalid-data", "a.csv has no column 'z'; its columns are ['x', 'y']"))
            self.assertEqual(run({"columns": ["y"]}, do_fit=False).error[0], "io")
            r = testing.run_train(TABULAR, s.path("collection"), s.path("output"),
                                  params={"columns": ["y"]})
            self.assertEqual(r.error[0], "other")


if __name__ == "__main__":
    unittest.main()
