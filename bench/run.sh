#!/usr/bin/env bash
# Throughput of the foundation: STS GetCallerIdentity over loopback with 64 connections, every
# request SigV4-signed and verified, every request audited (durable before the response).
#
#   bash bench/run.sh [seconds] [connections]
#
# Builds release binaries, starts `palisade serve` in strict mode on a free port with a fresh data
# directory, runs the load generator, and prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade -p palisade-loadgen
bin="$CARGO_TARGET_DIR/release"
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
PALISADE_LOG=warn "$bin/palisade" serve --listen 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "$dir/log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on //p' "$dir/out")
echo "server: $url (strict mode, audit on)" >&2
"$bin/palisade-loadgen" --endpoint "$url" --credentials "$dir/data/credentials" \
  --connections "$connections" --seconds "$seconds" --operation sts:GetCallerIdentity \
  --label "palisade strict+audit"
events=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from audit_events').fetchone()[0])" "$dir/data/palisade.db")
echo "audit events recorded: $events" >&2
