#!/usr/bin/env bash
# A longer schemathesis campaign over /openapi.json than the test suite's (which runs a
# bounded one in-process, tests/unit/api/test_api_fuzz.py), by hand:
#
#   scripts/schemathesis.sh                      # a throwaway server in a temp data dir
#   CADENZA_URL=http://host:8000 CADENZA_KEY=... scripts/schemathesis.sh   # a running one
#   scripts/schemathesis.sh --max-examples 500 --checks all    # extra args go to schemathesis
#
# Submits start real renders on a real server: the key's concurrency limit (4 here) bounds
# them, and the submits beyond it answer 429 concurrency_limited, which is documented.
# Defaults: every phase, the checks in scripts/schemathesis.toml (the suite's plus the
# negative-data, auth and method ones), 100 examples per operation, a new seed each run
# (printed; --seed N repeats one), and 75 s per request: a video waits up to
# CADENZA_VIDEO_WAIT_S, an upload up to CADENZA_WAIT_AUDIO_S, a blocking AceData submit up to
# CADENZA_ACEDATA_WAIT_S (60 s on the throwaway server; 504 timeout past it) for its task.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev

url="${CADENZA_URL:-}"
key="${CADENZA_KEY:-}"
if [ -z "$url" ]; then
  data=$(mktemp -d)
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  CADENZA_LOG_LEVEL=WARNING CADENZA_ACEDATA_WAIT_S=60 \
    .venv/bin/cadenza serve --data-dir "$data" --port "$port" >"$data/server.log" 2>&1 &
  server=$!
  stop() {
    local status=$?
    kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$data"
    exit "$status"
  }
  trap stop EXIT
  for _ in $(seq 120); do
    curl -sf "$url/healthz" >/dev/null && break
    sleep 0.5
  done
  key=$(.venv/bin/cadenza keys create --data-dir "$data" --name schemathesis \
    --credits 1000000 --rpm 100000 --concurrency 4 | tail -n1 | awk '{print $NF}')
  echo "server $url (log: $data/server.log)"
fi
: "${key:?set CADENZA_KEY to a funded key of the server at CADENZA_URL}"

# Not exec: the EXIT trap must still stop the throwaway server.
.venv/bin/schemathesis --config-file scripts/schemathesis.toml run "$url/openapi.json" \
  --header "X-API-Key: $key" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples 100 \
  --request-timeout 75 \
  --generation-database none \
  "$@"
