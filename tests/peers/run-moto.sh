#!/usr/bin/env bash
# Runs moto 5.2.5's own IAM and STS test suites in server mode against `palisade serve --dev`.
#
# moto's code is not part of Palisade: this script downloads the moto sdist from PyPI (it holds
# the tests), installs moto[server] 5.2.5 and the suites' test dependencies into a private
# virtualenv, starts Palisade, and points the suites at it (TEST_SERVER_MODE; moto then resets
# the server through POST /moto-api/reset before each test).
#
#   tests/peers/run-moto.sh                 # both suites
#   tests/peers/run-moto.sh tests/test_sts  # one suite (paths inside the moto sdist)
#
# Environment: PALISADE_BIN (default: $CARGO_TARGET_DIR/debug/palisade), MOTO_WORK (default:
# /tmp/palisade-moto), PORT (default 4599). Extra pytest arguments go in PYTEST_ARGS.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${PALISADE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/palisade}"
WORK="${MOTO_WORK:-/tmp/palisade-moto}"
PORT="${PORT:-4599}"
VERSION=5.2.5
mkdir -p "$WORK"

if [ ! -x "$WORK/venv/bin/python" ]; then
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q "moto[server]==$VERSION" pytest==9.2.0 freezegun==1.5.5 pyotp==2.12.0
fi
if [ ! -d "$WORK/moto-$VERSION" ]; then
    (cd "$WORK" && "$WORK/venv/bin/pip" download -q --no-deps --no-binary :all: "moto==$VERSION" -d . \
        && tar xzf "moto-$VERSION.tar.gz")
fi

DATA="$(mktemp -d)"
"$BIN" serve --dev --listen "127.0.0.1:$PORT" --data-dir "$DATA" > "$WORK/server.out" 2> "$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do
    grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
    sleep 0.1
done

cd "$WORK/moto-$VERSION"
export TEST_SERVER_MODE=true TEST_SERVER_MODE_ENDPOINT="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
SUITES=("$@")
[ ${#SUITES[@]} -eq 0 ] && SUITES=(tests/test_iam tests/test_sts)
# test_server.py files drive moto's in-process Flask app, never the server: they test moto, not
# Palisade, so they are left out.
"$WORK/venv/bin/python" -m pytest "${SUITES[@]}" -p no:cacheprovider -q -rf \
    --ignore tests/test_iam/test_server.py --ignore tests/test_sts/test_server.py \
    ${PYTEST_ARGS:-} || true
