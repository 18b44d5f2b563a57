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
