"""premod's benchmark suite driver (run it through scripts/bench.sh, which builds everything).

Runs every workload side by side in one run, repetitions interleaved so that a noisy machine
hurts every implementation alike, and prints a table of medians; writes target/bench/suite.json.

Workloads and implementations:
  extract    the bench dataset.zip (2,000 images): native (premod-unzip, image_classification's
             extractor, compiled natively), Python zipfile, premod (image_classification.wasm,
             one instance) with the host-native unzip (the default) and with it turned off
             (`--native-capabilities off`: the same extractor runs inside the sandbox)
  resize     decode + resize 224x224 + encode every image of the extracted dataset: native on
             1 and N threads, Python + Pillow, premod process-for-train (--whole, one instance),
             premod per-item on 1 and N instances (image_resize.wasm)
  transform  x - mean over a JSON batch of 10 and of 20,000 records: native, Python, premod
             (in-process, from `cargo bench --bench startup`)
  exec       `premod exec` of a trivial module, cold and warm, and the warm start to a ready
             instance (from `cargo bench --bench startup`)

Environment: PREMOD_BENCH_REPS (default 5; resize uses max(3, REPS // 2)).
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target")
BENCH = os.path.join(TARGET, "bench")
WORK = os.path.join(BENCH, "work")
DATASET = os.path.join(BENCH, "data", "collection")
PREMOD = os.path.join(TARGET, "release", "premod")
NATIVE = os.path.join(TARGET, "bench-native", "release", "bench-native")
PYTHON = [sys.executable, os.path.join(ROOT, "bench", "python", "platform_module.py")]
WASM = os.path.join(ROOT, "plugins", "target", "wasm32-wasip2", "release")
HOSTILE = os.path.join(ROOT, "tests", "guests", "target", "wasm32-wasip2", "release", "hostile.wasm")
CORES = os.cpu_count() or 1
REPS = int(os.environ.get("PREMOD_BENCH_REPS", "5"))


def run(cmd):
    """Runs `cmd`; returns (wall seconds, stdout)."""
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.decode()[-2000:]}")
    return wall, p.stdout.decode()


def run_rss(cmd):
    """Like run() but also returns the child's peak RSS (MiB), read with os.wait4."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode})")
    return wall, usage.ru_maxrss / 1024.0, out.decode()


def fresh(name):
    path = os.path.join(WORK, name)
    shutil.rmtree(path, ignore_errors=True)
    return path


def premod_exec(home, module, extra, output, native=True):
    cmd = [PREMOD, "--home", home, "--native-capabilities", "on" if native else "off",
           "exec", module, "--collection", DATASET, "--output", output, "--json"] + extra
    wall, rss, out = run_rss(cmd)
    report = json.loads(out)
    if report["status"] != "completed":
        raise SystemExit(f"premod exec failed: {report['error']}")
    return {"wall": wall, "rss": rss, "work": report["usage"]["wall_ms"] / 1000.0,
            "guest_peak_mib": report["usage"]["peak_memory_bytes"] / 2**20}


def timed(cmd):
    wall, rss, out = run_rss(cmd)
    data = json.loads(out)
    return {"wall": wall, "rss": rss, "work": data.get("seconds"), "data": data}


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from PIL import __version__ as pillow
    except ImportError:
        pillow = None
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": CORES, "cpu": model, "memory_gib": round(mem, 1),
            "kernel": platform.release(), "rustc": rustc, "python": platform.python_version(),
            "pillow": pillow, "load_average_at_start": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def summarize(samples):
    out = {}
    for key in ("wall", "rss", "work", "guest_peak_mib"):
        vals = [s[key] for s in samples if s.get(key) is not None]
        if vals:
            out[key] = statistics.median(vals)
    out["n"] = len(samples)
    return out


def main():
    os.makedirs(WORK, exist_ok=True)
    zip_path = os.path.join(DATASET, "dataset.zip")
    home = tempfile.mkdtemp(prefix="premod-bench-home-")
    results = {"machine": machine(), "workloads": {}}
    ic = os.path.join(WASM, "image_classification.wasm")
    ir = os.path.join(WASM, "image_resize.wasm")

    # Compile both modules once into the bench home: every premod row below is warm.
    premod_exec(home, ic, [], fresh("warmup-ic"))
    extracted = fresh("extracted")
    timed([NATIVE, "extract", zip_path, extracted])
    premod_exec(home, ir, ["--input", extracted, "--parallel", "1"], fresh("warmup-ir"))

    print(f"extract: {REPS} interleaved runs", file=sys.stderr)
    extract = {"native": [], "python": [], "premod, host-native unzip": [],
               "premod, in the module (native off)": []}
    for _ in range(REPS):
        extract["native"].append(timed([NATIVE, "extract", zip_path, fresh("x-native")]))
        extract["python"].append(timed(PYTHON + ["extract", zip_path, fresh("x-python")]))
        extract["premod, host-native unzip"].append(
            premod_exec(home, ic, [], fresh("x-premod")))
        extract["premod, in the module (native off)"].append(
            premod_exec(home, ic, [], fresh("x-premod-wasm"), native=False))
    results["workloads"]["extract"] = {k: summarize(v) for k, v in extract.items()}

    reps = max(3, REPS // 2)
    print(f"resize: {reps} interleaved runs", file=sys.stderr)
    resize = {"native 1 thread": [], f"native {CORES} threads": [], "python": [],
              "premod 1 instance (--whole)": [], "premod per-item, 1 instance": [],
              f"premod per-item, {CORES} instances": []}
    for _ in range(reps):
        resize["native 1 thread"].append(timed([NATIVE, "resize", extracted, fresh("r-n1"), "1"]))
        resize[f"native {CORES} threads"].append(
            timed([NATIVE, "resize", extracted, fresh("r-nN"), str(CORES)]))
        resize["python"].append(timed(PYTHON + ["resize", extracted, fresh("r-py")]))
        base = ["--input", extracted]
        resize["premod 1 instance (--whole)"].append(
            premod_exec(home, ir, base + ["--whole"], fresh("r-pw")))
        resize["premod per-item, 1 instance"].append(
            premod_exec(home, ir, base + ["--parallel", "1"], fresh("r-p1")))
        resize[f"premod per-item, {CORES} instances"].append(
            premod_exec(home, ir, base + ["--parallel", str(CORES)], fresh("r-pN")))
    results["workloads"]["resize"] = {k: summarize(v) for k, v in resize.items()}

    print("transform", file=sys.stderr)
    transform = {}
    for rows, calls in ((10, 2000), (20000, 15)):
        n = json.loads(run([NATIVE, "transform", str(rows), str(calls)])[1])
        p = json.loads(run(PYTHON + ["transform", str(rows), str(calls)])[1])
        transform[f"{rows} rows"] = {"native": {"work": n["median_us"] / 1e6},
                                     "python": {"work": p["median_us"] / 1e6}}

    print("premod in-process figures: cargo bench --bench startup", file=sys.stderr)
    subprocess.run(["cargo", "bench", "-q", "-p", "premod", "--bench", "startup"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(BENCH, "startup.json")) as f:
        startup = {row["what"]: row["ms"] for row in json.load(f)}
    for rows in (10, 20000):
        key = f"transform of a {rows}-row JSON batch (one call)"
        if key in startup:
            transform[f"{rows} rows"]["premod 1 instance"] = {"work": startup[key] / 1000.0}
    results["workloads"]["transform"] = transform
    results["startup_ms"] = startup

    # Memory: the host alone (a trivial module, warm) and per instance.
    trivial = []
    for _ in range(REPS):
        out = fresh("trivial")
        c = fresh("trivial-c")
        os.makedirs(c)
        cmd = [PREMOD, "--home", home, "exec", HOSTILE, "--collection", c, "--output", out,
               "--params", '{"action":"ok"}', "--json"]
        trivial.append(run_rss(cmd)[1])
    r = results["workloads"]["resize"]
    one = r["premod per-item, 1 instance"]
    many = r[f"premod per-item, {CORES} instances"]
    results["memory"] = {
        "host_baseline_rss_mib": statistics.median(trivial),
        "resize_rss_1_instance_mib": one["rss"],
        f"resize_rss_{CORES}_instances_mib": many["rss"],
        "per_instance_rss_mib": (many["rss"] - one["rss"]) / max(1, CORES - 1),
        "guest_linear_memory_per_instance_mib": one.get("guest_peak_mib"),
    }
    shutil.rmtree(home, ignore_errors=True)

    report(results)
    with open(os.path.join(BENCH, "suite.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwritten: {os.path.join(BENCH, 'suite.json')}")


def report(results):
    m = results["machine"]
    print(f"\nmachine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}, "
          f"{m['rustc']}, Python {m['python']}, Pillow {m['pillow']}; load at start "
          f"{m['load_average_at_start'][0]:.1f}; {m['date']}")
    w = results["workloads"]
    for name in ("extract", "resize"):
        rows = w[name]
        native = next(v for k, v in rows.items() if k.startswith("native"))
        python = rows["python"]
        print(f"\n{name} (median of {native['n']})")
        print(f"  {'implementation':<40}{'process s':>10}{'work s':>9}{'x native':>9}"
              f"{'x python':>9}{'peak RSS MiB':>13}")
        for k, v in rows.items():
            print(f"  {k:<40}{v['wall']:>10.3f}{v.get('work') or 0:>9.3f}"
                  f"{v['wall'] / native['wall']:>9.2f}{v['wall'] / python['wall']:>9.2f}"
                  f"{v['rss']:>13.1f}")
    print("\ntransform (median per call)")
    for size, rows in w["transform"].items():
        parts = ", ".join(f"{k} {v['work'] * 1e6:,.1f} µs" for k, v in rows.items())
        print(f"  {size}: {parts}")
    print("\nstartup (premod, median ms)")
    for k, v in results["startup_ms"].items():
        print(f"  {k:<66}{v:>10.3f}")
    print("\nmemory (MiB)")
    for k, v in results["memory"].items():
        print(f"  {k:<46}{(v or 0):>8.1f}")


if __name__ == "__main__":
    main()
