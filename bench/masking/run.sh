#!/usr/bin/env bash
# Masking throughput: palisade-masking against presidio-anonymizer on the same values.
#
#   bash bench/masking/run.sh [rows] [presidio_rows]
#
# Builds the mask_bench example (release), which generates a CSV of `rows` rows (default
# 1,000,000) with five sensitive columns and prints one JSON line per measurement: each
# transform alone over its column on one thread (values/s per core), then the whole CSV masked
# end to end. Then installs presidio-anonymizer (pinned) into a venv and runs its closest
# operators over the first `presidio_rows` rows (default 100,000) of the same file.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-1000000}
prows=${2:-100000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade-masking --example mask_bench
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$CARGO_TARGET_DIR/release/examples/mask_bench" --rows "$rows" --dir "$dir"
venv=${PRESIDIO_VENV:-$HOME/.cache/palisade-presidio-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "presidio-anonymizer==2.2.366"
"$venv/bin/python" bench/masking/presidio_bench.py "$dir/people.csv" "$prows"
