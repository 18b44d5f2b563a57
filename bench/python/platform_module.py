"""The platform-style Python module for the benchmark suite: what a T3Q.ai preprocessing
module does today, unsandboxed. Each command prints one JSON object with in-process timings.

    python3 platform_module.py extract ZIP OUT          zipfile.ZipFile(...).extractall(OUT)
    python3 platform_module.py resize SRC OUT           Pillow: open, resize 224x224 bilinear, save
    python3 platform_module.py transform ROWS CALLS     json.loads, x - mean, json.dumps

The work matches bench/native and the premod modules: same inputs, same outputs (format kept,
JPEG quality 75 as Pillow's default), same batch.
"""

import json
import os
import sys
import time
import zipfile

EXTENSIONS = (".png", ".jpg", ".jpeg")


def extract(zip_path, out):
    os.makedirs(out, exist_ok=True)
    t = time.perf_counter()
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(out)
    return {"seconds": time.perf_counter() - t}


def list_images(src):
    found = []
    for dirpath, _dirs, files in os.walk(src):
        for name in files:
            if name.lower().endswith(EXTENSIONS):
                found.append(os.path.relpath(os.path.join(dirpath, name), src))
    return sorted(found)


def resize(src, out):
    from PIL import Image

    t = time.perf_counter()
    images = list_images(src)
    for rel in images:
        dst = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with Image.open(os.path.join(src, rel)) as im:
            fmt = im.format
            small = im.resize((224, 224), Image.BILINEAR)
            if fmt == "JPEG" and small.mode not in ("RGB", "L"):
                small = small.convert("RGB")
            small.save(dst, format=fmt)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "images": len(images), "ms_per_image": seconds * 1000 / len(images)}


def batch(rows):
    records = [{"id": i, "x": (i % 1000) * 0.5, "label": "c%d" % (i % 7)} for i in range(rows)]
    return json.dumps(records, separators=(",", ":")).encode()


def transform_once(data, mean):
    records = json.loads(data)
    for r in records:
        r["x"] = r["x"] - mean
    return json.dumps(records, separators=(",", ":")).encode()


def transform(rows, calls):
    data = batch(rows)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        transform_once(data, 1.0)
        times.append(time.perf_counter() - t)
    times.sort()
    return {"median_us": times[len(times) // 2] * 1e6, "rows": rows, "calls": calls}


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "extract":
        out = extract(argv[2], argv[3])
    elif cmd == "resize":
        out = resize(argv[2], argv[3])
    elif cmd == "transform":
        out = transform(int(argv[2]), int(argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
