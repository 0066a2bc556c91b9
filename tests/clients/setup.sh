#!/usr/bin/env bash
# Creates the virtualenv the black-box tests run in, with the pinned real clients (boto3, the
# aws CLI, pytest). Idempotent: a venv whose requirements have not changed is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${PALISADE_VENV:-$HOME/.cache/palisade-venv}
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv"
  exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
echo "$want" > "$stamp"
echo "$venv"
