#!/usr/bin/env bash
# Regenerate crates/model/src/generated from the vendored botocore models.
#   scripts/codegen.sh          write (rustfmt-formatted) files
#   scripts/codegen.sh --check  exit 1 naming stale files (CI drift check)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run -q -p palisade-codegen --locked -- "$@"
