#!/usr/bin/env bash
# Runs every test: the host's unit and integration tests (which build the guest components
# through tests/artifacts; the Python premodules through plugins/python/build.sh), the dataset
# generator's tests, the plugins' native unit tests and the Python SDK's unit tests.
source "$(dirname "$0")/setup.sh"
echo "== host, examples and integration tests"
cargo test --release --workspace
echo "== plugin unit tests (native)"
(cd plugins && cargo test --release)
echo "== Python SDK unit tests (native)"
(cd plugins/python && "${PYTHON:-python3}" -m unittest discover -s tests)
