#!/usr/bin/env bash
# Runs moto 5.2.5's own Secrets Manager test suite in server mode against `palisade serve --dev`.
#
# Same mechanism as run-moto.sh (moto's sdist from PyPI holds the tests; TEST_SERVER_MODE points
# them at Palisade, which moto resets through POST /moto-api/reset before each test). Left out:
# the Lambda rotation tests (they create functions in moto's own Lambda backend at
# localhost:5000 and run them in Docker: test_rotate_simple_lambda.py, the tests named *lambda*,
# and test_cancel_rotate_secret) and test_server.py (it drives moto's in-process Flask app, not
# a server). Known failures and their reasons: docs/moto-secretsmanager-failures.md.
#
#   tests/peers/run-moto-secretsmanager.sh
#
# Environment: PALISADE_BIN (default: $CARGO_TARGET_DIR/debug/palisade), MOTO_WORK (default:
# /tmp/palisade-moto), PORT (default 4598). Extra pytest arguments go in PYTEST_ARGS.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${PALISADE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/palisade}"
WORK="${MOTO_WORK:-/tmp/palisade-moto}"
PORT="${PORT:-4598}"
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
"$BIN" serve --dev --listen "127.0.0.1:$PORT" --data-dir "$DATA" > "$WORK/sm-server.out" 2> "$WORK/sm-server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do
    grep -q "listening on" "$WORK/sm-server.out" 2>/dev/null && break
    sleep 0.1
done

cd "$WORK/moto-$VERSION"
export TEST_SERVER_MODE=true TEST_SERVER_MODE_ENDPOINT="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
"$WORK/venv/bin/python" -m pytest tests/test_secretsmanager -p no:cacheprovider -q -rf \
    --ignore tests/test_secretsmanager/test_server.py \
    --ignore tests/test_secretsmanager/test_rotate_simple_lambda.py \
    -m "not requires_docker" \
    -k "not lambda and (not test_cancel_rotate_secret or invalid_secret_id or after_delete or before_enable)" \
    ${PYTEST_ARGS:-} || true
