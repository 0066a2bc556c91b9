#!/usr/bin/env bash
# Speed and accuracy of `palisade scan`, with Presidio on the same corpus.
#   bench/discovery/run.sh [PII_MB] [CLEAN_MB]
# Needs python3 (venv) and PyPI access for Faker and presidio-analyzer (requirements.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PALISADE_BENCH_VENV:-$here/.venv}"
corpus="${PALISADE_BENCH_CORPUS:-$here/corpus}"
target="${CARGO_TARGET_DIR:-$root/target}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
"$venv/bin/python" "$here/gen_corpus.py" --out "$corpus" --pii-mb "${1:-16}" --clean-mb "${2:-128}"
(cd "$root" && cargo build --release -q -p palisade-discovery --example scan)
echo "single-core engine figures (in-memory, no I/O):"
(cd "$root" && cargo bench -q -p palisade-discovery --bench throughput)
"$venv/bin/python" "$here/run.py" --scan "$target/release/examples/scan" --corpus "$corpus" --json "$corpus/results.json"
