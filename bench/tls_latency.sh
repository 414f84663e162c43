#!/usr/bin/env bash
# A request on a new TLS connection: handshake and request timed apart, tern next to nginx and
# HAProxy (wrk times only the request). See bench/README.md. Everything runs on 127.0.0.1 only.
#   bench/tls_latency.sh                   12 clients x 150 resumed connections, 2 rounds
#   bench/tls_latency.sh --full --proxies tern,nginx
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

if wants_flag --help "$@" || wants_flag -h "$@"; then
    exec python3 "$ROOT/bench/lib/tlslat.py" --help
fi
ensure_tools nginx:nginx haproxy:haproxy openssl:openssl
if ! wants_flag --no-build "$@"; then build_release; fi
bench_lock
args=()
for arg in "$@"; do [ "$arg" = --no-build ] || args+=("$arg"); done
exec python3 "$ROOT/bench/lib/tlslat.py" --root "$ROOT" "${args[@]}"
