#!/usr/bin/env bash
# Kernel and limit settings for a tern box holding hundreds of thousands of connections.
#
#   scripts/tune.sh              dry run (default): print "current -> proposed" for each setting
#   scripts/tune.sh --apply      apply with sysctl -w and write the limits.d file
#   scripts/tune.sh --apply --persist   also write /etc/sysctl.d/90-tern.conf (survives reboot)
#
# Nothing changes without --apply. Values are sized for ~1M sockets on a machine with
# >= 16 GiB of memory; adjust MEM_PAGES if yours is smaller.
set -euo pipefail

MODE=dry-run PERSIST=0
for arg in "$@"; do
    case $arg in
        --dry-run) MODE=dry-run ;;
        --apply) MODE=apply ;;
        --persist) PERSIST=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$PERSIST" = 1 ] && [ "$MODE" != apply ]; then
    echo "--persist only makes sense with --apply; dry run only" >&2
fi
if [ "$MODE" = apply ] && [ "$(id -u)" -ne 0 ]; then
    echo "--apply needs root" >&2; exit 1
fi

SYSCTL_FILE=/etc/sysctl.d/90-tern.conf
LIMITS_FILE=/etc/security/limits.d/90-tern.conf
PERSISTED=()

# sysctl_set KEY VALUE WHY [floor] — prints current -> proposed; applies with --apply.
sysctl_set() {
    local key=$1 want=$2 why=$3 path cur
    path=/proc/sys/${key//./\/}
    if [ -r "$path" ]; then cur=$(tr -s '\t ' ' ' <"$path"); else cur="(not available)"; fi
    # A single number already above the proposal is kept: never lower a limit someone raised.
    # (Only for limits, marked by a 4th argument "floor"; flags like tcp_tw_reuse are set as given.)
    if [ "${4:-}" = floor ] && [[ $cur =~ ^[0-9]+$ && $want =~ ^[0-9]+$ ]] && [ "$cur" -gt "$want" ]; then
        want=$cur
    fi
    local mark=" "; [ "$cur" != "$want" ] && mark="*"
    printf '%s %-34s %-24s -> %-24s # %s\n' "$mark" "$key" "$cur" "$want" "$why"
    PERSISTED+=("# $why" "$key = $want")
    if [ "$MODE" = apply ] && [ "$cur" != "$want" ] && [ -w "$path" ]; then
        sysctl -q -w "$key=$want" || echo "  (could not set $key)" >&2
    fi
}

echo "== sysctl ($MODE; * = would change)"
# Accept queue per listening socket; listen(backlog) is capped by this. Bursts of new
# connections at 10k+/s overflow the default 4096 and show up as SYN retries.
sysctl_set net.core.somaxconn 65535 "cap on listen() backlog (accept queue)" floor
# Half-open (SYN_RECV) connections remembered per listener before SYN cookies kick in.
sysctl_set net.ipv4.tcp_max_syn_backlog 65535 "SYN queue length per listener" floor
# Packets queued per CPU when the NIC delivers faster than the kernel processes them.
sysctl_set net.core.netdev_max_backlog 65536 "per-CPU input queue before packets drop" floor
# Ephemeral ports for outgoing connections (proxy -> origin, load generators): ~64k per
# (source IP, destination) pair instead of ~28k.
sysctl_set net.ipv4.ip_local_port_range "1024 65535" "ephemeral ports for upstream connections"
# Reuse TIME_WAIT sockets for new outgoing connections when safe (timestamps); 1 = all
# destinations (the default 2 does loopback only). Upstream churn otherwise exhausts ports.
sysctl_set net.ipv4.tcp_tw_reuse 1 "reuse TIME_WAIT ports for outgoing connections"
# TCP memory in 4 KiB pages: min / pressure / max over all sockets. 1M idle connections with
# small buffers need a few GiB; pressure at ~3 GiB, hard max ~6 GiB (on >= 16 GiB RAM).
sysctl_set net.ipv4.tcp_mem "786432 1048576 1572864" "TCP memory pages: low, pressure, max"
# Per-socket receive/send buffers: min / default / max bytes. A small default keeps idle
# held connections cheap; autotuning still grows busy ones up to the max.
sysctl_set net.ipv4.tcp_rmem "4096 16384 16777216" "per-socket receive buffer min/default/max"
sysctl_set net.ipv4.tcp_wmem "4096 16384 16777216" "per-socket send buffer min/default/max"
# Caps for buffers set explicitly with SO_RCVBUF/SO_SNDBUF.
sysctl_set net.core.rmem_max 16777216 "max SO_RCVBUF" floor
sysctl_set net.core.wmem_max 16777216 "max SO_SNDBUF" floor
# Orphaned sockets (closed by us, peer not yet done) allowed before they are reset.
sysctl_set net.ipv4.tcp_max_orphans 262144 "orphaned sockets before resets" floor
# TIME_WAIT buckets; beyond this TIME_WAIT sockets are destroyed early with a warning.
sysctl_set net.ipv4.tcp_max_tw_buckets 2000000 "TIME_WAIT sockets kept" floor
# Free FIN_WAIT_2 sockets after 15 s instead of 60 s.
sysctl_set net.ipv4.tcp_fin_timeout 15 "seconds in FIN_WAIT_2"
# Don't shrink cwnd after an idle period: held connections answer a burst at full speed.
sysctl_set net.ipv4.tcp_slow_start_after_idle 0 "keep cwnd across idle periods"
# Open files in the whole system; every connection is one fd (two for a proxied one).
sysctl_set fs.file-max 4194304 "open files system-wide" floor
# Per-process ceiling for RLIMIT_NOFILE; nofile below cannot exceed it.
sysctl_set fs.nr_open 4194304 "max RLIMIT_NOFILE a process may get" floor
# io_uring: allow unprivileged users to create rings (0 = all, 2 = none) where the kernel has it.
[ -e /proc/sys/kernel/io_uring_disabled ] && sysctl_set kernel.io_uring_disabled 0 "io_uring allowed"

# ---------------------------------------------------------------- limits
NOFILE=2097152
echo
echo "== limits ($LIMITS_FILE)"
# nofile: 2 fds per proxied connection; 1M connections need 2M. memlock: io_uring rings and
# registered buffers are charged against RLIMIT_MEMLOCK on older kernels (< 5.12); unlimited
# avoids ENOMEM from io_uring_setup with many/large rings.
LIMITS="# Written by tern scripts/tune.sh
# fds: two per proxied connection
*    soft nofile $NOFILE
*    hard nofile $NOFILE
root soft nofile $NOFILE
root hard nofile $NOFILE
# io_uring rings and registered buffers count against locked memory on kernels < 5.12
*    soft memlock unlimited
*    hard memlock unlimited
root soft memlock unlimited
root hard memlock unlimited"
printf '%s nofile (this shell)                %-24s -> %-24s # fds per process\n' \
    "$([ "$(ulimit -Hn)" != "$NOFILE" ] && echo '*' || echo ' ')" "$(ulimit -Sn)/$(ulimit -Hn)" "$NOFILE/$NOFILE"
printf '%s memlock KiB (this shell)           %-24s -> %-24s # io_uring locked memory\n' \
    "$([ "$(ulimit -Hl)" != unlimited ] && echo '*' || echo ' ')" "$(ulimit -Sl)/$(ulimit -Hl)" "unlimited/unlimited"
echo "  systemd units need LimitNOFILE=$NOFILE and LimitMEMLOCK=infinity instead (limits.d is PAM only)."

if [ "$MODE" = apply ]; then
    printf '%s\n' "$LIMITS" >"$LIMITS_FILE"
    echo "  wrote $LIMITS_FILE (takes effect at the next login session)"
    if [ "$PERSIST" = 1 ]; then
        { echo "# Written by tern scripts/tune.sh"; printf '%s\n' "${PERSISTED[@]}"; } >"$SYSCTL_FILE"
        echo "  wrote $SYSCTL_FILE"
    fi
else
    echo
    echo "dry run: nothing changed. --apply to set these (sysctl -w, $LIMITS_FILE); add --persist for $SYSCTL_FILE."
fi
