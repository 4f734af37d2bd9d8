#!/bin/bash
# in-container.sh - run by tests/systemd/nspawn-check.sh inside a booted
# Debian 12 container (systemd is PID 1), as the oneshot unit
# observd-check.service. It drives the installed observd.service with
# systemctl, reads journalctl, writes "ok   - ..." / "FAIL - ..." lines to
# /root/results and powers the container off.
#
# Ports and paths come from /root/check.env (written by nspawn-check.sh):
# APP_PORT, METRICS_PORT (observd.conf), SOCK_APP_PORT, SOCK_METRICS_PORT
# (the socket units), CONF (observd.conf), SBIN (the binary's directory).
set -uo pipefail
# shellcheck source=/dev/null
. /root/check.env
out=/root/results
: >"$out"
ok() { echo "ok   - $*" >>"$out"; }
nok() { echo "FAIL - $*" >>"$out"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
prop() { systemctl show -P "$1" "${2:-observd.service}"; }
# wait_for SECONDS CMD...: poll CMD every 0.1 s; its status.
wait_for() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	"$@"
}
get() { curl -sf --max-time 2 "$@"; }
metric() { get "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" '$1 == m { print $2; exit }'; }
is_active() { [[ $(prop ActiveState "${1:-observd.service}") == "${2:-active}" ]]; }
status_has() { prop StatusText | grep -q -- "$1"; }

# 1) started at boot: active only after READY=1, with observd's STATUS=
check "observd.service active at boot" wait_for 20 is_active
check "Type=notify: Status: \"$(prop StatusText)\" from sd_notify" status_has "serving with 2 workers"
check "/health answers on :$APP_PORT" wait_for 5 get -o /dev/null "http://127.0.0.1:$APP_PORT/health"

# 2) sandboxed as the unit says, and it still sees its own processes
gen0=$(metric observd_config_generation)
check "ProtectProc=invisible: process metrics of master, workers and aggregator" wait_for 15 bash -c "
	m=\$(curl -sf http://127.0.0.1:$METRICS_PORT/metrics)
	for role in master worker aggregator; do
		grep -q \"^observd_process_cpu_seconds_total{role=\\\"\$role\\\"\" <<<\"\$m\" &&
		grep -q \"^observd_process_open_fds{role=\\\"\$role\\\"\" <<<\"\$m\" || exit 1
	done"
# What was there, for the report if that failed.
get "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^observd_process_' >/root/process-metrics.txt || true
check "DynamicUser: every process runs as the unit's transient user, not root" bash -c "
	pid=\$(systemctl show -P MainPID observd); [[ \$pid -gt 0 ]] || exit 1
	users=\$(ps -o user= --ppid \$pid -p \$pid | sort -u)
	[[ -n \$users && \$users != *root* ]]"
systemd-analyze security observd.service >/root/security.txt 2>&1
exposure=$(sed -n 's/.*Overall exposure level for observd.service: \([0-9.]*\).*/\1/p' /root/security.txt)
check "systemd-analyze security of the running unit: ${exposure:-?} <= 2.0" \
	systemd-analyze security --threshold=20 observd.service

# 3) reload: a good file applies (generation +1), a bad one keeps serving
sed -i 's/^service_name = .*/service_name = reloaded/' "$CONF"
systemctl reload observd.service
check "good reload: Status: \"configuration 1\"" wait_for 10 status_has "configuration $((gen0 + 1))"
check "good reload: observd_config_generation $gen0 -> $((gen0 + 1))" \
	bash -c "[[ \$(curl -sf http://127.0.0.1:$METRICS_PORT/metrics | awk '\$1 == \"observd_config_generation\" { print \$2 }') == $((gen0 + 1)) ]]"
check "good reload: /health shows the new service name" \
	bash -c "curl -sf http://127.0.0.1:$APP_PORT/health | grep -q '\"service\":\"reloaded\"'"
cp "$CONF" /root/good.conf
echo "workers = many" >>"$CONF"
systemctl reload observd.service
check "bad reload: Status: \"$(wait_for 10 status_has 'reload failed'; prop StatusText)\"" status_has "reload failed (.*workers"
check "bad reload: still active and serving" bash -c "systemctl is-active -q observd && curl -sf -o /dev/null http://127.0.0.1:$APP_PORT/health"
check "bad reload: generation unchanged" \
	bash -c "[[ \$(curl -sf http://127.0.0.1:$METRICS_PORT/metrics | awk '\$1 == \"observd_config_generation\" { print \$2 }') == $((gen0 + 1)) ]]"
cp /root/good.conf "$CONF"

# 4) a crashed master is restarted (Restart=on-failure)
pid=$(prop MainPID)
restarts=$(prop NRestarts)
kill -SEGV "$pid"
check "crash (SIGSEGV to the master): restarted" wait_for 15 bash -c "
	[[ \$(systemctl show -P NRestarts observd) -gt $restarts && \$(systemctl show -P MainPID observd) != $pid ]] &&
	systemctl is-active -q observd"
check "crash: serving again" wait_for 10 get -o /dev/null "http://127.0.0.1:$APP_PORT/health"

# 5) stop drains and exits 0
systemctl stop observd.service
check "stop: exit status 0, result success ($(prop ExecMainStatus), $(prop Result))" \
	bash -c "[[ \$(systemctl show -P ExecMainStatus observd) == 0 && \$(systemctl show -P Result observd) == success ]]"
check "stop: the journal shows the drain and the end" bash -c "
	j=\$(journalctl -u observd -o cat --no-pager -n 50)
	grep -q '\"msg\":\"stopping: draining' <<<\"\$j\" && grep -q '\"msg\":\"stopped\"' <<<\"\$j\""

# 6) exit status 2 (a fatal setup error) is not restarted
mkdir -p /run/systemd/system/observd.service.d
printf '[Service]\nExecStartPre=\nEnvironment=OBSERVD_WORKERS=many\n' \
	>/run/systemd/system/observd.service.d/exit2.conf
systemctl daemon-reload
systemctl start observd.service 2>/dev/null	# a start by hand counts restarts from 0
sleep 3	# RestartSec=1s: a restart would have happened by now
check "exit status 2: not restarted (status $(prop ExecMainStatus), NRestarts $(prop NRestarts), $(prop ActiveState))" \
	bash -c "[[ \$(systemctl show -P ExecMainStatus observd) == 2 && \$(systemctl show -P NRestarts observd) == 0 ]] &&
		! systemctl is-active -q observd"
check "exit status 2: the journal says why" bash -c "journalctl -u observd -o cat --no-pager -n 20 | grep -q 'configuration error: workers'"
rm /run/systemd/system/observd.service.d/exit2.conf
systemctl daemon-reload
systemctl reset-failed observd.service

# 7) socket activation: systemd binds both ports, the first client starts observd
systemctl start observd.socket observd-metrics.socket
check "socket activation: observd not running before the first client" bash -c "! systemctl is-active -q observd"
check "socket activation: GET :$SOCK_APP_PORT/health starts observd and is answered" \
	wait_for 10 get -o /dev/null "http://127.0.0.1:$SOCK_APP_PORT/health"
check "socket activation: observd.service active" wait_for 10 is_active
check "socket activation: /metrics on :$SOCK_METRICS_PORT (observd-metrics.socket)" \
	wait_for 5 bash -c "curl -sf http://127.0.0.1:$SOCK_METRICS_PORT/metrics | grep -q '^app_requests_total{'"
check "socket activation: the configured ports are not bound" \
	bash -c "! curl -s --max-time 1 -o /dev/null http://127.0.0.1:$APP_PORT/health"
check "socket activation: the journal names the sockets systemd passed" bash -c "
	journalctl -u observd -o cat --no-pager -n 50 | grep -q '(socket activation'"
systemctl stop observd.socket observd-metrics.socket observd.service

# 8) the journal holds observd's log as JSON lines: everything its processes
# wrote, but for the one-line verdict of ExecStartPre's "observd -n"
journalctl _SYSTEMD_UNIT=observd.service -o cat --no-pager |
	grep -v '^observd: configuration .* is valid$' >/root/journal.txt
lines=$(grep -c . /root/journal.txt)
check "journal: $lines lines from observd, each one JSON object with ts, level, msg" bash -c "
	[[ $lines -gt 10 ]] && jq -e -c 'type == \"object\" and has(\"ts\") and has(\"level\") and has(\"msg\")' /root/journal.txt >/dev/null"

echo done >>"$out"
systemctl poweroff --no-block
