#!/usr/bin/env bash
# Starts a demo application server (tern-loadtest origin) on 127.0.0.1:9000
# and tern in front of it on 127.0.0.1:8080 with config/quickstart.toml.
# Ctrl-C stops both (exit 0). Everything listens on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}/release"

cargo build --release --quiet -p tern -p tern-loadtest

log=$(mktemp)
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f "$log"
}
trap stop EXIT
# Ctrl-C is the normal way out: stop both (the EXIT trap) and report success.
trap 'exit 0' INT TERM

"$target/tern-loadtest" origin --listen 127.0.0.1:9000 >/dev/null &
pids+=($!)
origin=$!
"$target/tern" --config config/quickstart.toml 2> >(tee "$log" >&2) &
pids+=($!)
tern=$!

# tern prints "tern VERSION started: ..." once it is really up; if it exits
# first (a port taken, a bad config), it has said why on stderr.
for _ in $(seq 100); do
    if grep -q ' started: ' "$log" || ! kill -0 "$tern" 2>/dev/null; then break; fi
    sleep 0.1
done
if ! grep -q ' started: ' "$log"; then
    echo "quickstart: tern did not start (its reason is above)" >&2
    exit 1
fi
if ! kill -0 "$origin" 2>/dev/null; then
    echo "quickstart: the demo app did not start (is 127.0.0.1:9000 taken?)" >&2
    exit 1
fi

cat <<'TRY'

tern is proxying 127.0.0.1:8080 -> 127.0.0.1:9000. Try:
  curl -i http://127.0.0.1:8080/                         # a 100-byte answer from the app
  curl -i http://127.0.0.1:8080/chunked/10000            # a chunked response, relayed
  curl -i -H 'Transfer-Encoding: chunked' --data-binary @README.md http://127.0.0.1:8080/upload
  curl -i http://127.0.0.1:8080/poll/news &              # a long-poll, held...
  curl -i -d 'hello' http://127.0.0.1:9000/publish/news  # ...released by a publish
Ctrl-C stops both.
TRY
wait "$tern"
