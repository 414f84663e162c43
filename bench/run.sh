#!/usr/bin/env bash
# Throughput/latency of the origin, tern, nginx and HAProxy side by side (wrk).
# See bench/README.md. Everything runs on 127.0.0.1 only.
#   bench/run.sh --quick                     short smoke run
#   bench/run.sh --duration 10s --rounds 5   full run
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

if wants_flag --help "$@" || wants_flag -h "$@"; then
    exec python3 "$ROOT/bench/lib/bench.py" --help
fi
if wants_flag --render "$@"; then  # only rewrites reports from saved samples
    exec python3 "$ROOT/bench/lib/bench.py" --root "$ROOT" "$@"
fi
ensure_tools nginx:nginx haproxy:haproxy wrk:wrk taskset:util-linux openssl:openssl
if ! wants_flag --no-build "$@"; then build_release; fi
bench_lock
exec python3 "$ROOT/bench/lib/bench.py" --root "$ROOT" "$@"
