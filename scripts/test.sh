#!/usr/bin/env bash
# Runs every test: the host's unit and integration tests (which build the guest components
# through tests/artifacts), the dataset generator's tests, and the plugins' native unit tests.
source "$(dirname "$0")/setup.sh"
echo "== host, examples and integration tests"
cargo test --release --workspace
echo "== plugin unit tests (native)"
(cd plugins && cargo test --release)
