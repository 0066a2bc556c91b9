#!/usr/bin/env bash
# Runs moto 5.2.5's own KMS test suite in server mode against `palisade serve --dev`.
#
# Same mechanism as run-moto.sh (moto's sdist from PyPI holds the tests; TEST_SERVER_MODE points
# them at Palisade, which moto resets through POST /moto-api/reset before each test). Left out:
# test_utils.py and test_model.py (unit tests of moto's own Python code, which never reach a
# server), test_server.py (moto's in-process Flask app) and the CloudFormation tests (a service
# Palisade does not serve). Known failures and their reasons: docs/moto-kms-failures.md.
#
#   tests/peers/run-moto-kms.sh
#
# Environment: PALISADE_BIN (default: $CARGO_TARGET_DIR/debug/palisade), MOTO_WORK (default:
# /tmp/palisade-moto), PORT (default 4597). Extra pytest arguments go in PYTEST_ARGS.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${PALISADE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/palisade}"
WORK="${MOTO_WORK:-/tmp/palisade-moto}"
PORT="${PORT:-4597}"
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
"$BIN" serve --dev --listen "127.0.0.1:$PORT" --data-dir "$DATA" > "$WORK/kms-server.out" 2> "$WORK/kms-server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do
    grep -q "listening on" "$WORK/kms-server.out" 2>/dev/null && break
    sleep 0.1
done

cd "$WORK/moto-$VERSION"
export TEST_SERVER_MODE=true TEST_SERVER_MODE_ENDPOINT="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
"$WORK/venv/bin/python" -m pytest tests/test_kms -p no:cacheprovider -q -rf \
    --ignore tests/test_kms/test_utils.py \
    --ignore tests/test_kms/test_model.py \
    --ignore tests/test_kms/test_server.py \
    --ignore tests/test_kms/test_kms_cloudformation.py \
    ${PYTEST_ARGS:-} || true
