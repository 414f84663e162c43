#!/usr/bin/env bash
# HTTP/2 to clients: tern, nginx and HAProxy side by side (h2load over TLS, then held long-poll
# streams). See bench/README.md. Everything runs on 127.0.0.1 only.
#   bench/h2.sh                                   10 connections x 100 streams, 9,500 held streams
#   bench/h2.sh --duration 5 --held 2000 --proxies tern,nginx
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

if wants_flag --help "$@" || wants_flag -h "$@"; then
    exec python3 "$ROOT/bench/lib/h2bench.py" --help
fi
ensure_tools nginx:nginx haproxy:haproxy h2load:nghttp2-client openssl:openssl
python3 -c 'import h2' 2>/dev/null || python3 -m pip install --quiet h2
if ! wants_flag --no-build "$@"; then build_release; fi
bench_lock
args=()
for arg in "$@"; do [ "$arg" = --no-build ] || args+=("$arg"); done
exec python3 "$ROOT/bench/lib/h2bench.py" --root "$ROOT" "${args[@]}"
