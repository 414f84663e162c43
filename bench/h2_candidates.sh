#!/usr/bin/env bash
# The HTTP/2 implementations tern could use, measured side by side (issue 15): hyperium h2 over
# monoio's poll-io layer (what tern runs) and monoio-http's monoio-native port, each in the same
# minimal h2c server (bench/h2_candidates/). h2load throughput and CPU per request, RSS per idle
# connection and per held stream; rounds alternate the candidates. See bench/README.md.
# Everything runs on 127.0.0.1 only.
#   bench/h2_candidates.sh                    3 rounds, 10 x 100 streams for 5 s, 1,000 idle, 9,500 held
#   bench/h2_candidates.sh --rounds 1 --duration 2 --idle 200 --held-conns 10
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

if wants_flag --help "$@" || wants_flag -h "$@"; then
    exec python3 "$ROOT/bench/lib/h2cand.py" --help
fi
ensure_tools h2load:nghttp2-client
python3 -c 'import h2' 2>/dev/null || python3 -m pip install --quiet h2
# Its own workspace and target directory (git-ignored), never tern's.
project="$ROOT/bench/h2_candidates"
cargo build --release --manifest-path "$project/Cargo.toml" --target-dir "$project/target" >&2
bench_lock

# The Python side owns the servers and h2load (each in its own process group, stopped by
# group id on exit or signal); the trap only makes sure the Python side itself goes too.
python3 "$ROOT/bench/lib/h2cand.py" --root "$ROOT" "$@" &
py=$!
trap 'kill "$py" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
wait "$py"
