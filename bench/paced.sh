#!/usr/bin/env bash
# Keep-alive requests at a fixed rate, tern next to nginx and HAProxy: latency at the same
# offered load (wrk offers the faster proxy more). See bench/README.md.
# Everything runs on 127.0.0.1 only.
#   bench/paced.sh                        256k, 2000 and 3000 req/s, 2 workers, tuned, 5 s, 2 rounds (~1 min)
#   bench/paced.sh --scenario small --rates 8000,16000 --workers 1 --mode defaults
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

run_engine paced.py "nginx:nginx haproxy:haproxy" "$@"
