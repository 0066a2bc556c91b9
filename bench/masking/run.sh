#!/usr/bin/env bash
# Masking throughput: palisade-masking against presidio-anonymizer on the same values.
#
#   bash bench/masking/run.sh [rows] [presidio_rows]
#
# Builds the mask_bench example (release), which generates a CSV of `rows` rows (default
# 1,000,000) with five sensitive columns and prints one JSON line per measurement: each
# transform alone over its column on one thread ("values_per_sec", values/s per core), then the
# whole CSV masked end to end ("rows_per_sec": this script renames mask_bench's "values" and
# "values_per_sec" on those lines, which count CSV rows). Then runs presidio-anonymizer's closest
# operators over the first `presidio_rows` rows (default 100,000) of the same file. Presidio
# (bench/masking/requirements.txt, pinned) lives in a private virtualenv, $PRESIDIO_VENV (default
# ~/.cache/palisade-presidio-venv), installed once and rebuilt only when requirements.txt changes
# (a sha256 stamp, as in bench/venv.sh). The CSVs go to a temp dir removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-1000000}
prows=${2:-100000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade-masking --example mask_bench
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$CARGO_TARGET_DIR/release/examples/mask_bench" --rows "$rows" --dir "$dir" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        print(line, end="", flush=True)
        continue
    if str(r.get("transform", "")).startswith("csv end to end"):
        r = {{"values": "rows", "values_per_sec": "rows_per_sec"}.get(k, k): v for k, v in r.items()}
    print(json.dumps(r), flush=True)
'
venv=${PRESIDIO_VENV:-$HOME/.cache/palisade-presidio-venv}
want=$(sha256sum bench/masking/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/masking/requirements.txt
  echo "$want" > "$venv/.requirements.sha256"
fi
"$venv/bin/python" bench/masking/presidio_bench.py "$dir/people.csv" "$prows"
