#!/usr/bin/env bash
# Throughput of the foundation: STS GetCallerIdentity over loopback with 64 connections, every
# request SigV4-signed and verified, every request audited (durable before the response).
#
#   bash bench/run.sh [seconds] [connections]
#
# Builds release binaries, starts `palisade serve` in strict mode on a free port with a fresh data
# directory, runs the load generator, and prints one JSON line per run, then (stderr) the number of
# audit events recorded. Leaves nothing behind (its temp dir is removed on exit). Exits non-zero,
# with the server's log on stderr, when the server does not start, and with a warning when the
# load generator reports errors or no requests.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade -p palisade-loadgen
bin="$CARGO_TARGET_DIR/release"
. bench/palisade.sh
dir=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT
PALISADE_LOG=warn "$bin/palisade" serve --listen 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "$dir/log" &
pid=$!
url=$(wait_listening "$pid" "$dir/out" "$dir/log")
echo "server: $url (strict mode, audit on)" >&2
loadgen --endpoint "$url" --credentials "$dir/data/credentials" \
  --connections "$connections" --seconds "$seconds" --operation sts:GetCallerIdentity \
  --label "palisade strict+audit"
# The event log's frames: u32 length, u32 checksum, body (crates/store/src/event_log.rs).
events=$(python3 - "$dir/data/events" <<'PY'
import os, struct, sys
n = 0
for name in sorted(os.listdir(sys.argv[1])):
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    at = 0
    while at + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, at)
        if length == 0 or at + 8 + length > len(data):
            break
        n += 1
        at += 8 + length
print(n)
PY
)
echo "audit events recorded: $events" >&2
loadgen_verdict
