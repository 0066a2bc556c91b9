#!/usr/bin/env bash
# The project's test command: formatting, generated-code drift, lints, the Rust tests, and the
# black-box suite that drives the real binary with boto3 and the aws CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "generated code is fresh"
cargo run --quiet --locked -p palisade-codegen -- --check

step "clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "rust tests"
cargo test --locked --workspace

step "black-box tests (real binary, boto3, aws CLI)"
cargo build --locked -p palisade
venv=$(bash tests/clients/setup.sh)
PALISADE_BIN="$CARGO_TARGET_DIR/debug/palisade" "$venv/bin/python" -m pytest tests/clients -q
