#!/usr/bin/env bash
# Speed and accuracy of `palisade scan`, with Presidio on the same corpus.
#
#   bench/discovery/run.sh [PII_MB] [CLEAN_MB]     # defaults 16 and 128
#
# Needs python3 and PyPI access for Faker and presidio-analyzer (requirements.txt, pinned), which
# go into a private virtualenv: $PALISADE_DISCOVERY_VENV, default bench/discovery/.venv, rebuilt
# when requirements.txt changes (a sha256 stamp, as in bench/venv.sh; a failed install is retried
# on the next run). The corpus and run.py's results.json go to $PALISADE_BENCH_CORPUS, default
# bench/discovery/corpus/. Both the venv and the corpus stay after the run (both git-ignored):
# delete them to reclaim the space. Binaries are built into ${CARGO_TARGET_DIR:-<repo>/target}.
#
# Prints the in-memory engine figures (`cargo bench -p palisade-discovery --bench throughput`),
# then run.py's table: MB/s per core and precision/recall per type, palisade and Presidio.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PALISADE_DISCOVERY_VENV:-$here/.venv}"
corpus="${PALISADE_BENCH_CORPUS:-$here/corpus}"
target="${CARGO_TARGET_DIR:-$root/target}"

want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$venv/.requirements.sha256"
fi
"$venv/bin/python" "$here/gen_corpus.py" --out "$corpus" --pii-mb "${1:-16}" --clean-mb "${2:-128}"
(cd "$root" && cargo build --release --locked -q -p palisade-discovery --example scan)
echo "single-core engine figures (in-memory, no I/O):"
(cd "$root" && cargo bench --locked -q -p palisade-discovery --bench throughput)
"$venv/bin/python" "$here/run.py" --scan "$target/release/examples/scan" --corpus "$corpus" --json "$corpus/results.json"
