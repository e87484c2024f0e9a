#!/usr/bin/env bash
# Sets up (first run only) and starts Cadenza on the embedded default:
# SQLite + local media under ./data, an in-process worker pool, the built-in engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/cadenza serve "$@"
