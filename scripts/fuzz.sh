#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one
# after another, and prints executions and crashes per target.
#
#   scripts/fuzz.sh [SECONDS]          all targets
#   FUZZ_TARGETS="chunked host" scripts/fuzz.sh 30
#   scripts/fuzz.sh --cmin             minimise fuzz/corpus (plus fuzz/seeds/out, written by
#                                      python3 fuzz/seeds/make_seeds.py) into fuzz/corpus
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Each target grows its own working corpus in fuzz/work/<target>/ (not
# committed), starting from the seeds in fuzz/corpus/<target>/. A crash stops
# that target; its input lands in fuzz/artifacts/<target>/. Minimise it with
# `cargo +nightly fuzz tmin <target> <file>` (in fuzz/), copy it into
# fuzz/regressions/<target>/, and tests/fuzz_corpus.rs replays it for good.
# Run it under `nice -n 19` on a shared machine.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
# The fuzz crate builds in fuzz/target with its own flags.
unset CARGO_TARGET_DIR
TARGETS=${FUZZ_TARGETS:-"request_head response_head chunked config static_path host cookie h2_watch"}

# Files in a directory (0 when it does not exist).
count() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

if [ "${1:-}" = --cmin ]; then
    for t in $TARGETS; do
        mkdir -p "seeds/out/$t" "corpus/$t"
        cp -n "seeds/out/$t"/* "corpus/$t"/ 2>/dev/null || true
        cargo +nightly fuzz cmin "$t" "corpus/$t" -- -rss_limit_mb=2048
        echo "$t: $(count "corpus/$t") files kept"
    done
    exit 0
fi

SECONDS_EACH=${1:-60}
case $SECONDS_EACH in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] | --cmin" >&2; exit 2 ;;
esac

cargo +nightly fuzz build
summary=()
failed=0
for t in $TARGETS; do
    mkdir -p "work/$t" "artifacts/$t"
    log="work/$t.log"
    before=$(count "artifacts/$t")
    echo "== $t: ${SECONDS_EACH}s" >&2
    # New inputs go to the working corpus (first dir); the seeds are read only.
    status=0
    cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    crashes=$(( $(count "artifacts/$t") - before ))
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        echo "!! $t failed (exit $status); the end of $log:" >&2
        tail -30 "$log" >&2
    fi
    summary+=("$(printf '%-14s %6ss %12s execs %3s crashes %6s corpus' \
        "$t" "$SECONDS_EACH" "${execs:-?}" "$crashes" "$(count "work/$t")")")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
