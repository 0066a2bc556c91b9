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
# per operation and server.
set -euo pipefail
cd "$(dirname "$0")/.."
service=${1:?usage: bench/services.sh kms|secretsmanager [seconds] [connections]}
seconds=${2:-10}
connections=${3:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade -p palisade-loadgen
bin="$CARGO_TARGET_DIR/release"

. bench/venv.sh

dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

measure() { # label endpoint credentials
  "$venv/bin/python" bench/fixture.py --endpoint "$2" --credentials "$3" --service "$service" |
    while IFS=$'\t' read -r op body; do
      "$bin/palisade-loadgen" --endpoint "$2" --credentials "$3" --connections "$connections" \
        --seconds "$seconds" --operation "$op" --body "$body" --label "$1" < /dev/null
    done
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
  for _ in $(seq 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/.*listening on //p' "$dir/out")
  line=$("$venv/bin/python" bench/fixture.py --endpoint "$url" --credentials "$dir/data/credentials" --service "$service" | sed -n "${index}p")
  if [ -z "$line" ]; then
    kill "$server"; wait "$server" 2>/dev/null || true
    break
  fi
  IFS=$'\t' read -r op body <<< "$line"
  "$bin/palisade-loadgen" --endpoint "$url" --credentials "$dir/data/credentials" --connections "$connections" \
    --seconds "$seconds" --operation "$op" --body "$body" --label "palisade strict+audit"
  kill "$server"; wait "$server" 2>/dev/null || true
done

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$dir/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
printf '[palisade]\naws_access_key_id = AKIAMOTOBENCH0000000\naws_secret_access_key = moto\n' > "$dir/moto-credentials"
measure "moto_server 5.2.5" "http://127.0.0.1:$port" "$dir/moto-credentials"
