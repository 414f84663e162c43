#!/bin/sh
# Zero-downtime binary upgrade of a running tern.
#
# Needs, in the config, `[server] upgrade_socket` (and `pid_file`, to find
# the old process). The new binary takes the listening sockets over from the
# running one through the upgrade socket; the old one stops accepting,
# drains (up to shutdown_grace) and exits 0. No connection is refused and
# nothing queued is dropped.
#
#   scripts/upgrade.sh /usr/local/bin/tern.new /etc/tern/tern.toml
#
# Config changes alone need no upgrade: `tern --reload --config FILE` (or
# `systemctl reload tern`, which sends SIGHUP after a check).
set -eu

NEW_BIN=${1:?usage: upgrade.sh NEW_BINARY CONFIG}
CONFIG=${2:?usage: upgrade.sh NEW_BINARY CONFIG}

# 1. The new binary must accept the config.
"$NEW_BIN" --check --config "$CONFIG"

PID_FILE=$(sed -n 's/^pid_file *= *"\(.*\)"/\1/p' "$CONFIG" | head -n 1)
OLD_PID=""
if [ -n "$PID_FILE" ] && [ -r "$PID_FILE" ]; then
    OLD_PID=$(cat "$PID_FILE")
fi

# 2. Start it in takeover mode; it prints "started" once it serves, and the
#    old process starts draining at that moment.
nohup "$NEW_BIN" --upgrade --config "$CONFIG" >>/var/log/tern.log 2>&1 &
NEW_PID=$!

# 3. Wait for the old process to finish draining (bounded).
if [ -n "$OLD_PID" ]; then
    i=0
    while kill -0 "$OLD_PID" 2>/dev/null && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$OLD_PID" 2>/dev/null; then
        echo "old tern $OLD_PID is still draining" >&2
    else
        echo "old tern $OLD_PID exited"
    fi
fi

if kill -0 "$NEW_PID" 2>/dev/null; then
    echo "new tern $NEW_PID serving"
else
    echo "new tern failed to start; the old one keeps serving (see /var/log/tern.log)" >&2
    exit 1
fi
