#!/usr/bin/env bash
# Builds a premod component from a Python module written to the platform's template, without
# installing the SDK:  plugins/python/build.sh my_module.py -o my_module.wasm
# (the same as `python3 -m premod_sdk.build ...` with this folder on PYTHONPATH).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m premod_sdk.build "$@"
