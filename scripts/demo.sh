#!/usr/bin/env bash
# The main job end to end on the embedded defaults (local files + SQLite): builds premod and the
# image_classification premodule, generates an image-classification dataset.zip, runs the
# module once with `premod exec`, then does what a platform user does in a fresh home folder
# (examples/out/demo/home): register and deploy the module, add the dataset, create the seed's
# preprocessing model, run it, list the runs and print the run's log.
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

home="$work/home"
premod() { target/release/premod --home "$home" "$@"; }
echo "== the platform flow in $home"
premod module add "$module" --name image_classification_premodule --version 1.0.0
premod module deploy image_classification_premodule@1.0.0
premod dataset add image_classification_dataset --collection "$work/collection"
premod model create examples/models/image_classification_premodel.toml
premod run image_classification_premodel --wait
premod runs
echo "== premod logs 1"
premod logs 1
echo
echo "Browse it: target/release/premod --home $home serve   (then open http://127.0.0.1:8080)"
