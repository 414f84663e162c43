#!/usr/bin/env bash
# The soak: every kind of trouble at once against one tern, for MINUTES (default 10).
#
#   loadtest/soak.sh [MINUTES]
#   SOAK_PROFILE=dev loadtest/soak.sh 2      debug builds (quicker to build, slower to run)
#   SOAK_ARGS="--longpolls 500" loadtest/soak.sh 5   more flags for `tern-loadtest soak`
#
# Starts tern (pid file, 5 s client_header timeout) in front of a tern-loadtest origin,
# and `tern-loadtest soak`, which runs the origin (restarting it every minute), reloads
# tern every 30 s, drives the clients and prints tern's RSS and descriptors every 10 s,
# failures by cause and a verdict; its exit status is this script's. 127.0.0.1 only.
# Everything started here is ended by PID on exit. See loadtest/README.md.
set -euo pipefail
MINUTES=${1:-10}
case $MINUTES in ''|*[!0-9]*) echo "usage: $0 [MINUTES]" >&2; exit 2 ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=${SOAK_PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")

cargo build --quiet --profile "$PROFILE" --manifest-path "$ROOT/Cargo.toml" --bins \
    -p tern -p tern-loadtest
LOADTEST=$OUT/tern-loadtest

WORK=$(mktemp -d /tmp/tern-soak.XXXXXX)
TERN_PID="" SOAK_PID=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    for pid in "$SOAK_PID" "$TERN_PID" "$(cat "$WORK/origin.pid" 2>/dev/null || true)"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One process may open 20,000 files here: tern and the soak both stay under it.
ulimit -n 20000
TERN_PORT=$("$LOADTEST" port)
ORIGIN_PORT=$("$LOADTEST" port)
ADMIN_PORT=$("$LOADTEST" port)
cat >"$WORK/tern.toml" <<TOML
[server]
pid_file = "$WORK/tern.pid"

[server.timeouts]
client_header = "5s"

[admin]
bind = "127.0.0.1:$ADMIN_PORT"

[log]
error = "$WORK/error.log"

[[listener]]
bind = "127.0.0.1:$TERN_PORT"

[[route]]
backend = "origin"

[backend.origin]
servers = ["127.0.0.1:$ORIGIN_PORT"]
TOML

"$OUT/tern" --config "$WORK/tern.toml" &
TERN_PID=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$TERN_PORT") 2>/dev/null; then break; fi
    sleep 0.1
done

# shellcheck disable=SC2086 # SOAK_ARGS is a list of flags
"$LOADTEST" soak --target "127.0.0.1:$TERN_PORT" --origin "127.0.0.1:$ORIGIN_PORT" \
    --tern-pid "$TERN_PID" --seconds $((MINUTES * 60)) --header-timeout 5 \
    --origin-pid-file "$WORK/origin.pid" --admin "127.0.0.1:$ADMIN_PORT" ${SOAK_ARGS:-} &
SOAK_PID=$!
status=0
wait "$SOAK_PID" || status=$?
SOAK_PID=""
if [ -s "$WORK/error.log" ]; then
    echo "tern's error log (last 20 lines):"
    tail -20 "$WORK/error.log"
fi
exit "$status"
