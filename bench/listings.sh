#!/usr/bin/env bash
# Listing every page of large listings, as a team that has grown pages through them:
#
#   bash bench/listings.sh [grants] [secrets] [users] [binary]   # default 10000 3000 1000
#
# Starts `palisade serve` in strict mode on a temp data directory, creates GRANTS grants on one
# KMS key, SECRETS secrets and USERS IAM users with boto3 (16 threads), then times, at the client
# (boto3's own overhead included): KMS ListGrants, Secrets Manager ListSecrets and IAM
# GetAccountAuthorizationDetails, each whole (every page, 100 a page) and its first page (median
# of 7). Prints one JSON line per listing. Give BINARY to time another build of palisade (an
# older one side by side). No peer: moto keeps lists in memory without authorization or audit.
# Leaves nothing behind; exits non-zero, with the server's log on stderr, when it does not start.
set -euo pipefail
cd "$(dirname "$0")/.."
grants=${1:-10000}
secrets=${2:-3000}
users=${3:-1000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
if [ -n "${4:-}" ]; then
  palisade=$4
else
  cargo build --quiet --release --locked -p palisade
  palisade="$CARGO_TARGET_DIR/release/palisade"
fi
bin="$CARGO_TARGET_DIR/release"

. bench/venv.sh
. bench/palisade.sh

dir=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
PALISADE_LOG=warn "$palisade" serve --listen 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "$dir/log" &
server=$!
url=$(wait_listening "$server" "$dir/out" "$dir/log")
"$venv/bin/python" bench/listings.py --endpoint "$url" --credentials "$dir/data/credentials" \
  --grants "$grants" --secrets "$secrets" --users "$users"
