#!/usr/bin/env bash
# Comet scale side by side: N held long-poll (then WebSocket) connections through tern,
# nginx and HAProxy in turn, in front of one tern-loadtest origin; 127.0.0.1 only.
#   loadtest/run.sh                      5000 connections per proxy
#   loadtest/run.sh --connections 9500   (at most 9900: 2 fds per connection, 20,000 per process)
# Table: bench/results/comet-latest.md. Flags: loadtest/run.sh --help. Engine: bench/lib/comet.py.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

if wants_flag --help "$@" || wants_flag -h "$@"; then
    exec python3 "$ROOT/bench/lib/comet.py" --help
fi
ensure_tools nginx:nginx haproxy:haproxy taskset:util-linux
if ! wants_flag --no-build "$@"; then build_release; fi
bench_lock
exec python3 "$ROOT/bench/lib/comet.py" --root "$ROOT" "$@"
