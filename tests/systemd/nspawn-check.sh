#!/usr/bin/env bash
# nspawn-check.sh - observd under a real systemd: boot Debian 12 in a
# systemd-nspawn container (systemd as PID 1) with observd installed by
# `make install DESTDIR=` and its unit and sockets enabled, and check through
# systemctl and journalctl (tests/systemd/in-container.sh, run inside as a
# oneshot unit): start with sd_notify status, good and bad reload, a
# crashed master restarted, exit status 2 not, stop draining to exit 0,
# socket activation of both ports, JSON lines in the journal, process
# metrics under ProtectProc=invisible, systemd-analyze security <= 2.0.
#
#   tests/systemd/nspawn-check.sh      (as root; about 2 minutes on a fresh
#                                       2-core machine, 30 s with the root cached)
#
# The Debian root is made once with debootstrap and kept under
# /var/cache/observd-ci (tests/lib/ci-env.sh); each run boots a copy of it.
# The container shares the host's network: every port is a free one.
# Exit 0 when every check passed; last line "systemd: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
# shellcheck source=tests/lib/ci-env.sh
. tests/lib/ci-env.sh
ci_need_root "$0" "$@"
ci_apt systemd-container debootstrap
scripts/deps.sh build >/dev/null

W=$(mktemp -d /tmp/observd-nspawn.XXXXXX)
NSPAWN_PID=
cleanup() {
	[[ -n $NSPAWN_PID ]] && kill "$NSPAWN_PID" 2>/dev/null && wait "$NSPAWN_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

# 1) the root: Debian 12 with systemd, the libraries observd links, and the
#    tools the checks use inside
root=$(ci_debootstrap systemd-root systemd,systemd-sysv,dbus,libevent-core-2.1-7,zlib1g,curl,jq,procps) ||
	{ nok "debootstrap of a Debian 12 root with systemd"; ci_summary systemd; exit 1; }
ci_time cp -a --reflink=auto "$root" "$W/root"
R=$W/root

# 2) observd, installed as a package would install it
scripts/build.sh >/dev/null
if ! make -s install DESTDIR="$R" >"$W/install.log" 2>&1; then
	tail -n 20 "$W/install.log"
	nok "make install DESTDIR=<root>"
	ci_summary systemd
	exit 1
fi
ok "make install DESTDIR=<root>"
sbindir=$(make -s -f - print <<<'include Makefile
print: ; @echo $(sbindir)')
sysconfdir=$(make -s -f - print <<<'include Makefile
print: ; @echo $(sysconfdir)')
unitdir=$(make -s -f - print <<<'include Makefile
print: ; @echo $(systemdsystemunitdir)')
[[ -f $R$unitdir/observd.service && -x $R$sbindir/observd ]] ||
	{ nok "unit and binary installed ($unitdir, $sbindir)"; ci_summary systemd; exit 1; }
missing=$(chroot "$R" ldd "$sbindir/observd" | grep 'not found' || true)
check "runtime libraries present in the root${missing:+: $missing}" test -z "$missing"

# 3) configuration on free ports (the host's network is shared), the
#    sockets on two more, the unit and the check enabled
APP_PORT=$(ci_free_port) METRICS_PORT=$(ci_free_port) SOCK_APP_PORT=$(ci_free_port) SOCK_METRICS_PORT=$(ci_free_port)
CONF=$sysconfdir/observd/observd.conf
cat >"$R$CONF" <<EOF
listen = 127.0.0.1
port = $APP_PORT
metrics_listen = 127.0.0.1
metrics_port = $METRICS_PORT
workers = 2
drain_timeout = 3s
service_name = observd
EOF
for s in observd.socket:$SOCK_APP_PORT observd-metrics.socket:$SOCK_METRICS_PORT; do
	mkdir -p "$R/etc/systemd/system/${s%%:*}.d"
	printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "${s##*:}" >"$R/etc/systemd/system/${s%%:*}.d/port.conf"
done
cat >"$R/root/check.env" <<EOF
APP_PORT=$APP_PORT
METRICS_PORT=$METRICS_PORT
SOCK_APP_PORT=$SOCK_APP_PORT
SOCK_METRICS_PORT=$SOCK_METRICS_PORT
CONF=$CONF
SBIN=$sbindir
EOF
install -m 0755 tests/systemd/in-container.sh "$R/root/in-container.sh"
cat >"$R/etc/systemd/system/observd-check.service" <<EOF
[Unit]
Description=observd checks under systemd
After=observd.service multi-user.target
[Service]
Type=oneshot
ExecStart=/root/in-container.sh
TimeoutStartSec=240
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
ln -sf "$unitdir/observd.service" "$R/etc/systemd/system/multi-user.target.wants/observd.service"
ln -sf /etc/systemd/system/observd-check.service "$R/etc/systemd/system/multi-user.target.wants/observd-check.service"
# Nothing else to wait for in a container: no getty, no network manager.
ln -sf /dev/null "$R/etc/systemd/system/console-getty.service"
rm -f "$R/root/results"

# 4) boot; in-container.sh powers off when done (bounded all the same)
s=$SECONDS
timeout 300 systemd-nspawn -q -D "$R" --register=no --keep-unit -b >"$W/boot.log" 2>&1 &
NSPAWN_PID=$!
wait "$NSPAWN_PID" && rc=0 || rc=$?
NSPAWN_PID=
echo "[time] $((SECONDS - s))s: boot, checks, poweroff" >&3
if [[ ! -s $R/root/results ]]; then
	tail -n 40 "$W/boot.log"
	nok "the container booted and ran the checks (systemd-nspawn exit $rc)"
	ci_summary systemd
	exit 1
fi
ok "systemd booted in the container (PID 1) and ran the checks"
while IFS= read -r line; do
	case $line in
	"ok   - "*) ok "${line#ok   - }" ;;
	"FAIL - "*) nok "${line#FAIL - }" ;;
	done) ;;
	esac
done <"$R/root/results"
grep -qx done "$R/root/results" || nok "the checks ran to the end (see the boot log above)"
if ((ci_fail)); then
	echo "--- systemd-analyze security:"; cat "$R/root/security.txt" 2>/dev/null | tail -n 5
	echo "--- journal of observd (last lines):"; tail -n 15 "$R/root/journal.txt" 2>/dev/null
	echo "--- process metrics after start:"; cat "$R/root/process-metrics.txt" 2>/dev/null
fi
ci_summary systemd
