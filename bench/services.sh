#!/usr/bin/env bash
# Throughput of a service's hot operations, Palisade and moto_server side by side in one run:
#
#   bash bench/services.sh kms [seconds] [connections]             # Encrypt, Decrypt, GenerateDataKey
#   bash bench/services.sh secretsmanager [seconds] [connections]  # GetSecretValue
#
# Palisade runs in strict mode (every request SigV4-verified, authorized by the policy engine and
# audited durably before its response). moto_server 5.2.5 (pinned in bench/requirements.txt,
# installed into a private virtualenv) accepts any credentials and keeps state in memory. Both
# get the same signed requests from the same load generator over loopback. Prints one JSON line
# per operation and server. Leaves nothing behind but the shared virtualenv (bench/venv.sh).
# Exits non-zero, with the server's log on stderr, when a server does not start, and with a
# warning when a run reports errors or no requests (moto_server included).
set -euo pipefail
cd "$(dirname "$0")/.."
service=${1:?usage: bench/services.sh kms|secretsmanager [seconds] [connections]}
seconds=${2:-10}
connections=${3:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade -p palisade-loadgen
bin="$CARGO_TARGET_DIR/release"

. bench/venv.sh
. bench/palisade.sh

dir=$(mktemp -d)
pids=()
# shellcheck disable=SC2154 # $p is the trap's own loop variable
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

measure() { # label endpoint credentials
  # The fixtures go to a file first: a loop at the end of a pipe would run in a subshell, where
  # loadgen's failure count (bench/palisade.sh) would be lost.
  "$venv/bin/python" bench/fixture.py --endpoint "$2" --credentials "$3" --service "$service" > "$dir/ops"
  while IFS=$'\t' read -r op body; do
    loadgen --endpoint "$2" --credentials "$3" --connections "$connections" \
      --seconds "$seconds" --operation "$op" --body "$body" --label "$1" < /dev/null
  done < "$dir/ops"
}

# Each operation gets a fresh server and data directory, so that none is measured against the
# audit table the previous ones filled.
index=0
while :; do
  index=$((index + 1))
  rm -rf "$dir/data"
  PALISADE_LOG=warn "$bin/palisade" serve --listen 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "$dir/log" &
  server=$!
  pids+=("$server")
  url=$(wait_listening "$server" "$dir/out" "$dir/log")
  line=$("$venv/bin/python" bench/fixture.py --endpoint "$url" --credentials "$dir/data/credentials" --service "$service" | sed -n "${index}p")
  if [ -z "$line" ]; then
    kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
    break
  fi
  IFS=$'\t' read -r op body <<< "$line"
  loadgen --endpoint "$url" --credentials "$dir/data/credentials" --connections "$connections" \
    --seconds "$seconds" --operation "$op" --body "$body" --label "palisade strict+audit"
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
done

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$dir/moto.log" 2>&1 &
moto=$!
pids+=("$moto")
up=
for _ in $(seq 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then up=1; break; fi
  kill -0 "$moto" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "bench: moto_server exited or did not answer within 20 s; its log:" >&2
  cat "$dir/moto.log" >&2
  exit 1
fi
printf '[palisade]\naws_access_key_id = AKIAMOTOBENCH0000000\naws_secret_access_key = moto\n' > "$dir/moto-credentials"
measure "moto_server 5.2.5" "http://127.0.0.1:$port" "$dir/moto-credentials"
loadgen_verdict
