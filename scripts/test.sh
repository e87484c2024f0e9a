#!/usr/bin/env bash
# Sets up (first run only) and runs the checks: ruff, mypy (strict) and the test suite.
# Tests of the scale-out path use PostgreSQL/Redis on 127.0.0.1 and skip, saying why,
# where those servers are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
exec .venv/bin/pytest -n "${CADENZA_TEST_WORKERS:-2}" --dist worksteal "$@"
