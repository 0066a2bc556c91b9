# shellcheck shell=bash
# Sourced by the bench scripts that start `palisade serve` and drive it with palisade-loadgen.
# Expects $bin (the release directory). Defines:
#
#   wait_listening PID OUT LOG [TRIES]  prints the URL the server at PID wrote to OUT ("listening
#                                       on URL"), polling every 0.1 s (default 100 tries). When
#                                       the server exits first or never listens, prints its LOG to
#                                       stderr and returns 1 (the caller's `set -e` then exits).
#   loadgen ARGS...                     runs palisade-loadgen with ARGS, prints its JSON line, and
#                                       warns on stderr when it reports errors or no requests
#                                       (counted in $loadgen_failures); returns 1 when
#                                       palisade-loadgen itself fails.
#   loadgen_verdict                     at the end of a script: returns 1, with a warning, when
#                                       any loadgen run was bad.
: "${bin:?bench/palisade.sh needs \$bin, the directory of the release binaries}"
loadgen_failures=0

wait_listening() {
  local pid=$1 out=$2 log=$3 tries=${4:-100} url
  for _ in $(seq "$tries"); do
    url=$(sed -n 's/.*listening on //p' "$out" 2>/dev/null | head -1)
    if [ -n "$url" ]; then
      printf '%s\n' "$url"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: palisade serve (pid $pid) exited before listening; its log:" >&2
      cat "$log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "bench: palisade serve (pid $pid) did not print 'listening on' within $tries tries of 0.1 s; its log:" >&2
  cat "$log" >&2 || true
  return 1
}

loadgen() {
  local line
  if ! line=$("$bin/palisade-loadgen" "$@"); then
    echo "bench: palisade-loadgen failed (arguments: $*)" >&2
    return 1
  fi
  printf '%s\n' "$line"
  if ! python3 -c 'import json, sys
r = json.loads(sys.argv[1])
sys.exit(0 if r.get("errors", 0) == 0 and r.get("requests", 0) > 0 else 1)' "$line"; then
    echo "bench: WARNING: the run above reported errors or no requests: its figures are not valid" >&2
    loadgen_failures=$((loadgen_failures + 1))
  fi
}

loadgen_verdict() {
  if [ "$loadgen_failures" -gt 0 ]; then
    echo "bench: WARNING: $loadgen_failures load generator run(s) reported errors or no requests (see above); exiting 1" >&2
    return 1
  fi
}
