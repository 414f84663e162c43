#!/usr/bin/env bash
# The floor (issue 13): what a small keep-alive request costs tern, nginx and HAProxy, next to a
# minimal epoll forwarder (tern-loadtest forwarder). CPU per request from /proc, syscalls and
# io_uring SQEs/CQEs per request from perf (strace -c for the breakdown), one table.
# See bench/README.md, "The floor". Everything runs on 127.0.0.1 only.
#   bench/floor.sh --duration 3s --rounds 1      development run (~3 min)
#   bench/floor.sh --duration 8s --rounds 3      the measurement (~6 min), on a quiet machine
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

if wants_flag --help "$@" || wants_flag -h "$@"; then
    exec python3 "$ROOT/bench/lib/floor.py" --help
fi
ensure_tools nginx:nginx haproxy:haproxy wrk:wrk taskset:util-linux openssl:openssl
# The counters are optional: without them the table says n/a and why.
ensure_tools perf:linux-perf || log "no perf: syscall and io_uring counts fall back to strace or n/a"
ensure_tools strace:strace || log "no strace: no per-syscall breakdown"
# The io_uring counts are tracepoints: a fresh machine may not have tracefs mounted yet.
if [ ! -d /sys/kernel/tracing/events ] && [ "$(id -u)" = 0 ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
        log "tracefs could not be mounted: io_uring counts are n/a"
fi
if ! wants_flag --no-build "$@"; then build_release; fi
bench_lock
exec python3 "$ROOT/bench/lib/floor.py" --root "$ROOT" "$@"
