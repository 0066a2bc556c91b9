#!/usr/bin/env bash
# LookupEvents latency over a large audit trail:
#
#   bash bench/lookup-events.sh [events]     # default 1,000,000
#
# Seeds a fresh data directory with synthetic events (crates/store/examples/seed_events.rs:
# 8 operations × 5 variants, 200 users, 1,000 keys, 30 days), starts `palisade serve` on it and
# times each kind of LookupEvents query with boto3 (20 calls each, one page of 50). Prints one
# JSON line per query with p50 and p95 in milliseconds, measured at the client, so they include
# boto3's own overhead. CloudTrail's moto has no LookupEvents to compare with.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade -p palisade-store --example seed_events
bin="$CARGO_TARGET_DIR/release"

. bench/venv.sh

dir=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin/examples/seed_events" "$dir/data" "$events"
PALISADE_LOG=warn "$bin/palisade" serve --dev --listen 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "$dir/log" &
server=$!
for _ in $(seq 300); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on //p' "$dir/out")
"$venv/bin/python" bench/lookup_events.py --endpoint "$url" --events "$events"
