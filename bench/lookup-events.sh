#!/usr/bin/env bash
# LookupEvents latency over a large audit trail:
#
#   bash bench/lookup-events.sh [events]     # default 1,000,000
#
# Seeds a fresh data directory with synthetic events (crates/store/examples/seed_events.rs:
# 8 operations × 5 variants, 200 users, 1,000 keys, 30 days), starts `palisade serve` on it and
# times each kind of LookupEvents query with boto3 (20 calls each, one page of 50). Prints one
# JSON line per query with p50 and p95 in milliseconds, measured at the client, so they include
# boto3's own overhead. CloudTrail's moto has no LookupEvents to compare with. Leaves nothing
# behind (the seeded data directory is a temp dir removed on exit); exits non-zero, with the
# server's log on stderr, when the server does not start.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
# Two builds: `--example` would limit a single build to the example, leaving the server unbuilt.
cargo build --quiet --release --locked -p palisade
cargo build --quiet --release --locked -p palisade-store --example seed_events
bin="$CARGO_TARGET_DIR/release"

. bench/venv.sh
. bench/palisade.sh

dir=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin/examples/seed_events" "$dir/data" "$events"
# seed_events writes palisade.db but no key-encryption key, and the server refuses a store
# without its KEK. Give it a fresh one (32 random bytes, base64, mode 0600) before its first start,
# which seals the root credentials under it. A PALISADE_KEK in the environment still takes
# precedence, as everywhere.
(umask 077 && head -c 32 /dev/urandom | base64 > "$dir/data/kek")
PALISADE_LOG=warn "$bin/palisade" serve --dev --listen 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "$dir/log" &
server=$!
# Startup reads the whole event log (a few seconds for 1,000,000 events): wait up to 60 s.
url=$(wait_listening "$server" "$dir/out" "$dir/log" 600)
"$venv/bin/python" bench/lookup_events.py --endpoint "$url" --events "$events"
