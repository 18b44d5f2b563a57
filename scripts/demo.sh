#!/usr/bin/env bash
# Builds premod and the image_classification premodule, generates an image-classification
# dataset.zip, and runs the module on it in the sandbox, exactly as production does.
#   ./scripts/demo.sh [IMAGES]      (default 200 images; 2000 is the benchmark size)
source "$(dirname "$0")/setup.sh"
images="${1:-200}"
work="examples/out/demo"

echo "== building premod, the dataset generator and the image_classification module"
cargo build --release -p premod -p premod-datagen
(cd plugins && cargo build --release --target wasm32-wasip2)
module=plugins/target/wasm32-wasip2/release/image_classification.wasm

echo "== generating $work/collection/dataset.zip ($images images)"
rm -rf "$work"
mkdir -p "$work/collection"
target/release/gen-dataset --images "$images" --out "$work/collection/dataset.zip"

echo "== premod exec $module"
target/release/premod exec "$module" \
  --collection "$work/collection" --output "$work/output" --json > "$work/report.json"
echo "== report ($work/report.json)"
cat "$work/report.json"; echo
echo "== output ($work/output)"
find "$work/output" -maxdepth 2 | sort | head -20
