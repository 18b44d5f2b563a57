# Sourced by demo.sh and test.sh: makes sure the toolchain can build premod and its guests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v cargo >/dev/null; then
  echo "error: cargo not found; install Rust 1.95 or newer with rustup (https://rustup.rs)" >&2
  exit 2
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "== installing the wasm32-wasip2 target (rustup target add wasm32-wasip2)"
  rustup target add wasm32-wasip2
fi
# Python premodules (the Python SDK, its examples and `premod new --lang python`) build with
# componentize-py from PyPI; the integration tests fail without it. If the system Python
# refuses pip installs (PEP 668), it goes into a virtual environment in target/py-venv, and
# PYTHON (read by the tests, `premod build` and plugins/python/build.sh) points at it.
py="${PYTHON:-python3}"
if [ -x target/py-venv/bin/python ] && [ -z "${PYTHON:-}" ]; then
  py="$PWD/target/py-venv/bin/python"
fi
if ! command -v "$py" >/dev/null; then
  echo "error: $py not found; install Python 3.9 or newer (the Python SDK's tests and builds need it)" >&2
  exit 2
fi
if ! "$py" -c 'import componentize_py' 2>/dev/null; then
  echo "== installing componentize-py 0.25.1 ($py -m pip install componentize-py==0.25.1)"
  if ! "$py" -m pip install --quiet componentize-py==0.25.1; then
    echo "== pip refused; installing it into target/py-venv instead"
    "$py" -m venv target/py-venv
    py="$PWD/target/py-venv/bin/python"
    "$py" -m pip install --quiet componentize-py==0.25.1
  fi
fi
export PYTHON="$py"
