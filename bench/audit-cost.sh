#!/usr/bin/env bash
# What auditing costs: KMS Encrypt throughput with the audit step on and off, in one run.
#
#   bash bench/audit-cost.sh [seconds] [connections] [rounds]
#
# Both servers run in strict mode (SigV4 verified, policies enforced); "off" is started with the
# hidden `--no-audit-benchmark-only`, which records nothing and exists only for this comparison.
# Rounds alternate on/off on fresh data directories so that drift on a shared machine falls on
# both. A third mode, "audit on (tmpfs)", keeps the data directory in /dev/shm, where fdatasync
# returns at once: it separates what auditing costs in CPU from what waiting for the disk costs.
# Prints one JSON line per round and mode, then the median costs in percent. Leaves nothing behind.
#
# Each round warms the server up with its own, unmeasured load generator call
# ($PALISADE_BENCH_WARMUP seconds, default 2), then measures with `--warmup 0`: the server's CPU
# time is read from /proc right before and after the measured call only, so that
# server_cpu_us_per_request divides the CPU of the measured seconds by their requests.
# Exits non-zero, with the server's log on stderr, when a server does not start, and with a
# warning when a measured run reports errors or no requests.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
rounds=${3:-3}
warmup=${PALISADE_BENCH_WARMUP:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}
cargo build --quiet --release --locked -p palisade -p palisade-loadgen
bin="$CARGO_TARGET_DIR/release"

. bench/venv.sh
. bench/palisade.sh

dir=$(mktemp -d)
shm=
[ -d /dev/shm ] && [ -w /dev/shm ] && shm=$(mktemp -d -p /dev/shm)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; wait 2>/dev/null || true; rm -rf "$dir" ${shm:+"$shm"}' EXIT

run() { # label data-parent extra-args...
  local label=$1 parent=$2; shift 2
  rm -rf "$parent/data"
  PALISADE_LOG=warn "$bin/palisade" serve --listen 127.0.0.1:0 --data-dir "$parent/data" "$@" > "$dir/out" 2> "$dir/log" &
  server=$!
  url=$(wait_listening "$server" "$dir/out" "$dir/log")
  IFS=$'\t' read -r op body < <("$venv/bin/python" bench/fixture.py --endpoint "$url" --credentials "$parent/data/credentials" --service kms | head -1)
  local common=(--endpoint "$url" --credentials "$parent/data/credentials" --connections "$connections" --operation "$op" --body "$body")
  # Warm-up: a call of its own, outside the CPU window below; its figures are discarded.
  if [ "$warmup" -gt 0 ]; then
    "$bin/palisade-loadgen" "${common[@]}" --warmup 0 --seconds "$warmup" --label "$label (warm-up)" > /dev/null
  fi
  # The server's own CPU time per request (utime + stime, in clock ticks, from /proc): steadier
  # than requests/s on a shared machine, where the load generator competes for the same cores.
  # Read right around the measured call, which has no warm-up of its own.
  local ticks0 ticks1
  ticks0=$(awk '{print $14 + $15}' "/proc/$server/stat")
  loadgen "${common[@]}" --warmup 0 --seconds "$seconds" --label "$label" > "$dir/round"
  ticks1=$(awk '{print $14 + $15}' "/proc/$server/stat")
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
r["server_cpu_us_per_request"] = round((int(sys.argv[2]) - int(sys.argv[3])) * 1e6 / int(sys.argv[4]) / max(r["requests"], 1), 1)
print(json.dumps(r))' "$dir/round" "$ticks1" "$ticks0" "$(getconf CLK_TCK)" | tee -a "$dir/results"
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  server=
}

for _ in $(seq "$rounds"); do
  run "audit on" "$dir"
  run "audit off" "$dir" --no-audit-benchmark-only
  if [ -n "$shm" ]; then run "audit on (tmpfs)" "$shm"; fi
done
python3 - "$dir/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
key = next(k for k in ("requests_per_second", "rps", "req_per_s") if k in rows[0])
def median(label):
    xs = [r[key] for r in rows if r["label"] == label]
    return statistics.median(xs) if xs else None
def cpu(label):
    xs = [r["server_cpu_us_per_request"] for r in rows if r["label"] == label]
    return statistics.median(xs) if xs else None
on, off, tmpfs = median("audit on"), median("audit off"), median("audit on (tmpfs)")
out = {"audit_on_median": round(on), "audit_off_median": round(off), "audit_cost_percent": round(100 * (1 - on / off), 1)}
if tmpfs:
    out["audit_on_tmpfs_median"] = round(tmpfs)
    out["cpu_cost_percent"] = round(100 * (1 - tmpfs / off), 1)
# Server CPU per request, medians: what auditing adds to each request's work, disk and tmpfs.
out["server_cpu_us_per_request"] = {"on": cpu("audit on"), "off": cpu("audit off"), "on_tmpfs": cpu("audit on (tmpfs)")}
print(json.dumps(out))
PY
loadgen_verdict
