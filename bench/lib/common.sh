# shellcheck shell=bash
# Shared shell helpers for bench/run.sh and loadtest/run.sh.
# Sourced, not executed. Expects ROOT to be the repository root.

log() { printf '[bench] %s\n' "$*" >&2; }

# ensure_tools CMD:PACKAGE ... — apt-get installs the packages whose command is missing.
ensure_tools() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing missing packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        log "not root: install ${missing[*]} yourself"; return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # policy-rc.d 101 keeps the postinst scripts from starting system nginx/haproxy services.
    local prc=/usr/sbin/policy-rc.d created=0
    if [ ! -e "$prc" ]; then printf '#!/bin/sh\nexit 101\n' >"$prc"; chmod +x "$prc"; created=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || { [ $created = 1 ] && rm -f "$prc"; return 1; }
    [ $created = 1 ] && rm -f "$prc"
    return 0
}

# build_release — builds tern and tern-loadtest in release mode. A failed build is reported,
# not fatal: the Python side skips a target whose binary is missing or does not start.
build_release() {
    ( cd "$ROOT" && cargo build --release ) >&2 || log "WARNING: 'cargo build --release' failed; tern may be skipped"
    ( cd "$ROOT" && cargo build --release -p tern-loadtest ) >&2 || log "WARNING: tern-loadtest build failed; origin falls back to nginx where allowed"
}

# wants_flag FLAG ARGS... — true if FLAG is among ARGS.
wants_flag() {
    local f=$1; shift
    local a; for a in "$@"; do [ "$a" = "$f" ] && return 0; done
    return 1
}

# bench_lock — one benchmark at a time on this machine: two runs side by side would disturb
# each other's numbers. Waits up to BENCH_LOCK_WAIT seconds (default 1800) for the other one.
bench_lock() {
    local lock=/tmp/tern-bench.lock wait=${BENCH_LOCK_WAIT:-1800}
    exec 9>>"$lock"
    if ! flock -n 9; then
        log "another bench/run.sh or loadtest/run.sh is running; waiting up to ${wait}s for it"
        flock -w "$wait" 9 || { log "gave up waiting for $lock"; return 1; }
    fi
}

# run_engine ENGINE TOOLS ARGS... — what the side-by-side entry scripts end with: --help from
# bench/lib/ENGINE, the Debian packages TOOLS names ("cmd:package ..."), the release build
# unless --no-build, the lock, then ENGINE with --root and the other ARGS.
run_engine() {
    local engine=$ROOT/bench/lib/$1 tools=$2 arg args=()
    shift 2
    if wants_flag --help "$@" || wants_flag -h "$@"; then
        exec python3 "$engine" --help
    fi
    # shellcheck disable=SC2086  # TOOLS is a list of words
    ensure_tools $tools
    if ! wants_flag --no-build "$@"; then build_release; fi
    bench_lock
    for arg in "$@"; do [ "$arg" = --no-build ] || args+=("$arg"); done
    exec python3 "$engine" --root "$ROOT" "${args[@]}"
}
