#!/usr/bin/env bash
# Builds every Python premodule the repository ships into one folder (default
# examples/modules/target/), for CI and the host's integration tests:
#   image_classification_py.wasm  examples/modules/image_classification_py
#   tabular_normalize_py.wasm     examples/modules/tabular_normalize (Python twin)
#   python_sdk_probe.wasm         plugins/python/tests/sdk_probe.py (logging, error kinds)
# Runs the SDK's native unit tests first. Installs componentize-py 0.25.1 if it is missing.
# Usage: plugins/python/build-examples.sh [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/examples/modules/target}"
py="${PYTHON:-python3}"

if ! "$py" -c 'import componentize_py' 2>/dev/null; then
    echo "== installing componentize-py 0.25.1"
    "$py" -m pip install --quiet componentize-py==0.25.1
fi

echo "== premod_sdk unit tests (native)"
(cd "$here" && "$py" -m unittest discover -s tests)

mkdir -p "$out"
build() {
    echo "== $2.wasm"
    "$here/build.sh" "$1" -o "$out/$2.wasm"
}
build "$repo/examples/modules/image_classification_py/image_classification_preprocess.py" \
    image_classification_py
build "$repo/examples/modules/tabular_normalize/tabular_normalize.py" tabular_normalize_py
build "$here/tests/sdk_probe.py" python_sdk_probe
