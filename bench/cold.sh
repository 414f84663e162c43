#!/usr/bin/env bash
# What a download from a cold disk does to a worker's other clients, tern next to nginx: small
# keep-alive GETs alone, then while files just dropped from the page cache are downloaded.
# Needs root (it drops the page cache). See bench/README.md. Everything runs on 127.0.0.1 only.
#   bench/cold.sh                         4 files of 256 MiB, 16 clients, 1 worker, tuned, 2 rounds (~1 min)
#   bench/cold.sh --files 2 --file-mib 64 --rounds 1 --mode defaults
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin" PYTHONDONTWRITEBYTECODE=1
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

run_engine cold.py "nginx:nginx wrk:wrk curl:curl" "$@"
