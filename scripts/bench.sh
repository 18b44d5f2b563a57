#!/usr/bin/env bash
# The benchmark suite, one command: builds premod, the modules, the native twin and the bench
# dataset (2,000 images, ~100 MB, from the examples generator), installs Pillow if needed,
# then runs bench/run.py: a table on stdout, machine-readable results in target/bench/suite.json
# (and target/bench/startup.json). Not part of the tests or CI: it takes several minutes.
#   PREMOD_BENCH_REPS=N   repetitions (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release -p premod -p premod-datagen
(cd plugins && cargo build --release --target wasm32-wasip2 -p image_classification -p image_resize)
(cd tests/guests && cargo build --release --target wasm32-wasip2 -p hostile)
CARGO_TARGET_DIR="$PWD/target/bench-native" cargo build --release --manifest-path bench/native/Cargo.toml
python3 -c 'import PIL' 2>/dev/null || python3 -m pip install --quiet pillow

zip=target/bench/data/collection/dataset.zip
if [ ! -f "$zip" ]; then
  mkdir -p "$(dirname "$zip")"
  target/release/gen-dataset --preset bench --out "$zip"
fi
python3 bench/run.py
