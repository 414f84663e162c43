#!/usr/bin/env bash
# Starts a demo application server (tern-loadtest origin) on 127.0.0.1:9000
# and tern in front of it on 127.0.0.1:8080 with config/quickstart.toml.
# Ctrl-C stops both. Everything listens on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p tern -p tern-loadtest

target/release/tern-loadtest origin --listen 127.0.0.1:9000 >/dev/null &
origin=$!
target/release/tern --config config/quickstart.toml &
tern=$!
trap 'kill "$tern" "$origin" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

sleep 1
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
