#!/usr/bin/env bash
# Installs tern as a systemd service, or uninstalls it.
#
#   scripts/install.sh [--destdir DIR] [--prefix /usr/local] [--no-build] [--binary PATH]
#                      [--uninstall [--purge]] [--dry-run]
#
# Install: builds with `cargo build --release` (unless --no-build or --binary), then lays down
#   PREFIX/bin/tern                        the binary (0755)
#   /etc/systemd/system/tern.service       the unit (from scripts/tern.service, PREFIX filled in)
#   /etc/tern/tern.toml                    example config (config/quickstart.toml), ONLY if absent
#   /var/log/tern                          log directory
# (the unit makes /run/tern, owned by tern, when it starts: the place for pid_file and
# upgrade_socket)
# creates the `tern` system user and group, runs `tern --check` on the installed config (and
# fails if it is invalid), and runs `systemctl daemon-reload`. Running it again is safe: an
# existing config is never overwritten.
#
# Uninstall: removes the binary and the unit; /etc/tern and /var/log/tern stay unless --purge
# (which also removes the tern user).
#
# --destdir DIR lays everything under DIR (for packaging and tests): no user is created, no
# ownership changed, systemctl is not run; what would be done is printed instead.
# --dry-run prints every step without doing any of them.
set -euo pipefail

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR="" PREFIX=/usr/local BUILD=1 BINARY="" MODE=install PURGE=0 DRY=0
while [ $# -gt 0 ]; do
    case $1 in
        --destdir) DESTDIR=${2:?--destdir needs a directory}; shift ;;
        --destdir=*) DESTDIR=${1#*=} ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        --prefix=*) PREFIX=${1#*=} ;;
        --no-build) BUILD=0 ;;
        --binary) BINARY=${2:?--binary needs a path}; BUILD=0; shift ;;
        --binary=*) BINARY=${1#*=}; BUILD=0 ;;
        --uninstall) MODE=uninstall ;;
        --purge) PURGE=1 ;;
        --dry-run) DRY=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$PURGE" = 1 ] && [ "$MODE" != uninstall ]; then
    echo "install.sh: --purge only goes with --uninstall" >&2; exit 2
fi
case $PREFIX in
    /*) PREFIX=${PREFIX%/} ;;
    *) echo "install.sh: --prefix must be an absolute path: $PREFIX" >&2; exit 2 ;;
esac
# It is written into the unit file, unquoted: no spaces or shell/sed specials.
if ! [[ $PREFIX =~ ^[A-Za-z0-9._/+-]*$ ]]; then
    echo "install.sh: --prefix may only contain letters, digits and ._/+-: $PREFIX" >&2; exit 2
fi
[ -n "$PREFIX" ] || PREFIX=/usr   # "--prefix /" means /bin, which is /usr/bin on merged-/usr
if [ -n "$DESTDIR" ]; then
    DESTDIR=$(realpath -m -- "$DESTDIR")
    [ "$DESTDIR" != / ] || DESTDIR=""
fi
REAL=0   # a real install: into / itself, with a user, ownership and systemctl
[ -n "$DESTDIR" ] || REAL=1

BIN=$DESTDIR$PREFIX/bin/tern
UNIT=$DESTDIR/etc/systemd/system/tern.service
CONF_DIR=$DESTDIR/etc/tern
CONF=$CONF_DIR/tern.toml
LOG_DIR=$DESTDIR/var/log/tern
SVC_USER=tern

say() { echo "install.sh: $*"; }
# run CMD...: print it, then run it unless --dry-run.
run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    [ "$DRY" = 1 ] || "$@"
}
have() { command -v "$1" >/dev/null 2>&1; }

do_install() {
    local src
    if [ "$BUILD" = 1 ]; then
        say "building tern (release)"
        have cargo || { echo "install.sh: cargo not found; install Rust or pass --binary PATH" >&2; exit 1; }
        run cargo build --release --manifest-path "$REPO/Cargo.toml" -p tern
        src=${CARGO_TARGET_DIR:-$REPO/target}/release/tern
    else
        src=${BINARY:-${CARGO_TARGET_DIR:-$REPO/target}/release/tern}
    fi
    if [ "$DRY" = 0 ] && [ ! -x "$src" ]; then
        echo "install.sh: no tern binary at $src (build it, or pass --binary PATH)" >&2; exit 1
    fi

    say "binary -> $BIN"
    run install -D -m 0755 "$src" "$BIN"

    say "systemd unit -> $UNIT (binary $PREFIX/bin/tern)"
    run install -d -m 0755 "$(dirname "$UNIT")"
    printf "+ sed 's|/usr/local/bin/tern|%s/bin/tern|g' %q > %q\n" "$PREFIX" "$REPO/scripts/tern.service" "$UNIT"
    if [ "$DRY" = 0 ]; then
        local tmp="$UNIT.tmp.$$"
        sed "s|/usr/local/bin/tern|$PREFIX/bin/tern|g" "$REPO/scripts/tern.service" >"$tmp"
        chmod 0644 "$tmp"
        mv -f "$tmp" "$UNIT"
    fi

    run install -d -m 0755 "$CONF_DIR"
    if [ -e "$CONF" ]; then
        say "config $CONF exists; kept as it is"
    else
        say "example config -> $CONF (from config/quickstart.toml)"
        run install -m 0640 "$REPO/config/quickstart.toml" "$CONF"
    fi

    say "log directory -> $LOG_DIR"
    run install -d -m 0750 "$LOG_DIR"

    if [ "$REAL" = 1 ]; then
        if id -u "$SVC_USER" >/dev/null 2>&1; then
            say "user $SVC_USER exists"
        elif have useradd; then
            say "creating system user and group $SVC_USER"
            if getent group "$SVC_USER" >/dev/null 2>&1; then
                run useradd --system --gid "$SVC_USER" --no-create-home --home-dir /nonexistent \
                    --shell /usr/sbin/nologin --comment "tern reverse proxy" "$SVC_USER"
            else
                run useradd --system --user-group --no-create-home --home-dir /nonexistent \
                    --shell /usr/sbin/nologin --comment "tern reverse proxy" "$SVC_USER"
            fi
        else
            say "useradd not found: create a system user and group '$SVC_USER' yourself"
        fi
        # The service reads its config as tern and writes its logs as tern.
        run chown "root:$SVC_USER" "$CONF"
        run chown "$SVC_USER:$SVC_USER" "$LOG_DIR"
        # The unit makes /run/tern when it starts; made now too, so that the check below (and
        # `tern --reload`) accept a config naming it before the service ever ran.
        if id -u "$SVC_USER" >/dev/null 2>&1; then
            run install -d -m 0755 -o "$SVC_USER" -g "$SVC_USER" /run/tern
        fi
    else
        say "would create system user and group $SVC_USER (skipped: --destdir)"
        say "would chown root:$SVC_USER $CONF and $SVC_USER:$SVC_USER $LOG_DIR (skipped: --destdir)"
    fi

    say "checking the installed config"
    if ! run "$BIN" --check --config "$CONF"; then
        echo "install.sh: $CONF is not valid (see tern's message above); fix it and run again" >&2
        exit 1
    fi

    if [ "$REAL" = 1 ]; then
        if have systemctl; then
            run systemctl daemon-reload ||
                say "systemctl daemon-reload failed (no systemd running?); run it yourself"
        else
            say "systemctl not found: skipped daemon-reload"
        fi
        say "done. Start with: systemctl enable --now tern   (reload: systemctl reload tern)"
    else
        say "would run systemctl daemon-reload (skipped: --destdir)"
        say "done: installed under $DESTDIR"
    fi
}

do_uninstall() {
    if [ "$REAL" = 1 ] && have systemctl; then
        say "stopping and disabling tern.service"
        run systemctl disable --now tern.service ||
            say "systemctl disable --now tern.service failed (not installed, or no systemd); continuing"
    fi
    say "removing binary $BIN and unit $UNIT"
    run rm -f "$BIN" "$UNIT"
    if [ "$PURGE" = 1 ]; then
        say "purging config $CONF_DIR and logs $LOG_DIR"
        run rm -rf "$CONF_DIR" "$LOG_DIR"
        if [ "$REAL" = 1 ]; then
            if ! id -u "$SVC_USER" >/dev/null 2>&1; then
                say "no user $SVC_USER to remove"
            elif have userdel; then
                run userdel "$SVC_USER"
            else
                say "userdel not found: remove the user $SVC_USER yourself"
            fi
            if getent group "$SVC_USER" >/dev/null 2>&1 && have groupdel; then
                run groupdel "$SVC_USER"
            fi
        else
            say "would remove user and group $SVC_USER (skipped: --destdir)"
        fi
    else
        say "kept $CONF_DIR and $LOG_DIR (--purge removes them)"
    fi
    if [ "$REAL" = 1 ]; then
        if have systemctl; then
            run systemctl daemon-reload || say "systemctl daemon-reload failed; run it yourself"
        else
            say "systemctl not found: skipped daemon-reload"
        fi
    fi
    say "uninstalled"
}

if [ "$MODE" = install ]; then do_install; else do_uninstall; fi
