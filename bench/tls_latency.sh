#!/usr/bin/env bash
# New TLS connections at a fixed rate, tern next to nginx and HAProxy: connect, handshake and
# request timed apart (wrk times only the request, and sets no rate). See bench/README.md.
# Everything runs on 127.0.0.1 only.
#   bench/tls_latency.sh                   300 and 800 resumed connections/s, 5 s, 2 rounds (~2 min)
#   bench/tls_latency.sh --full --rates 300,800 --proxies tern,nginx
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

run_engine tlslat.py "nginx:nginx haproxy:haproxy openssl:openssl" "$@"
