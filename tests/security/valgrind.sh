#!/usr/bin/env bash
# valgrind.sh - run observd (master, workers, aggregator) under memcheck
# with a bounded scripted workload: every route, every error status,
# pipelining, HTTP/1.0, bodies (Content-Length and chunked), a slow head
# (408), /metrics in both formats with and without gzip and with a bearer
# token, a reload (SIGHUP, new workers) and SIGTERM.  Fails on any
# invalid access, use of uninitialised memory or definite leak in any
# process; indirect/possible leaks and still-reachable blocks (process-
# lifetime buffers freed by exit) are reported but do not fail.
#
#   tests/security/valgrind.sh [OBSERVD_BIN]     (default $OBSERVD_BIN, ./observd)
#
# Needs valgrind and bash (/dev/tcp).  Takes about 1-2 minutes.  observd
# runs with --no-sandbox: valgrind cannot run a program that installs a
# seccomp filter (it does not implement seccomp(2), and its translations
# need the executable mappings the filter refuses); the filters are
# exercised by every other stage, ASan's included.
# Closing line: "valgrind: passed (N processes, 0 errors)" or "valgrind: FAILED ...".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${1:-${OBSERVD_BIN:-./observd}}
template=${OBSERVD_TEMPLATE_DEFAULT:-$top/data/index.html.in}
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 77; }
[[ -x $bin ]] || { echo "valgrind: no observd binary at $bin" >&2; exit 2; }

tmp=$(mktemp -d /tmp/observd-valgrind.XXXXXX)
pgid=
cleanup() {
	[[ -n $pgid ]] && kill -KILL -- "-$pgid" 2>/dev/null || true
	[[ ${KEEP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
token=vg-token-0123456789abcdefghijklm
printf '%s\n' "$token" >"$tmp/token"
chmod 600 "$tmp/token"
printf 'service_name = vg\nlog_level = INFO\n' >"$tmp/observd.conf"


# Its own process group (setsid), killed on exit whatever happens.  The
# ports were free a moment ago; if one was taken meanwhile, try others.
start_observd() {
	port=$(free_port)
	mport=$(free_port)
	: >"$tmp/err"
	setsid valgrind --tool=memcheck --trace-children=yes --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite,indirect \
		--error-exitcode=99 --track-origins=yes --num-callers=30 \
		--log-file="$tmp/vg.%p.log" \
		"$bin" --config "$tmp/observd.conf" --port "$port" --listen 127.0.0.1 \
		--metrics-port "$mport" --metrics-listen 127.0.0.1 --workers 2 \
		--template "$template" --metrics-token-file "$tmp/token" --header-timeout 2s \
		--drain-timeout 5s --max-body-size 4k --access-log --no-sandbox \
		>"$tmp/out" 2>"$tmp/err" &
	vgpid=$!
	pgid=$vgpid
}
t0=$SECONDS

# One exchange: printf-format raw request(s) to a port, print what came back.
raw() {
	local p=$1 fmt=$2
	exec 3<>"/dev/tcp/127.0.0.1/$p" || return 1
	# shellcheck disable=SC2059
	printf "$fmt" >&3 || true
	timeout 20 cat <&3 || true
	exec 3<&- 3>&-
}
status_of() { head -c 12 | tail -c 3; }
expect() {	# expect STATUS PORT FORMAT
	local got
	got=$(raw "$2" "$3" | tr -d '\0' | status_of || true)
	if [[ $got != "$1" ]]; then
		echo "valgrind: workload: '$3' got '$got', want $1" >&2
		failures=$((failures + 1))
	fi
	requests=$((requests + 1))
}

failures=0 requests=0
start_observd
for try in $(seq 1 240); do		# up to 120 s to start under valgrind
	if [[ $(raw "$port" 'GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 2>/dev/null |
		status_of) == 200 ]]; then break; fi
	if ! kill -0 "$vgpid" 2>/dev/null; then
		if grep -q 'Address already in use' "$tmp/err" && ((try < 20)); then
			rm -f "$tmp"/vg.*.log
			start_observd
			continue
		fi
		cat "$tmp/err" >&2
		echo "valgrind: FAILED (observd exited)"
		exit 1
	fi
	sleep 0.5
done
echo "valgrind: observd ready after $((SECONDS - t0)) s"

workload() {
	local H='Host: x\r\nConnection: close\r\n'
	local A="Authorization: Bearer $token"'\r\n'
	expect 200 "$port" "GET / HTTP/1.1\r\n$H\r\n"
	expect 200 "$port" "HEAD / HTTP/1.1\r\n$H\r\n"
	expect 200 "$port" "GET /health HTTP/1.1\r\n$H\r\n"
	expect 200 "$port" "GET /ready?x=1 HTTP/1.1\r\n$H\r\n"
	expect 404 "$port" "GET /nope/../x%%41 HTTP/1.1\r\n$H\r\n"
	expect 405 "$port" "DELETE /health HTTP/1.1\r\n$H\r\n"
	expect 404 "$port" "FOO /x HTTP/1.1\r\n$H\r\n"
	expect 200 "$port" "GET http://x/health HTTP/1.1\r\n$H\r\n"
	expect 200 "$port" "GET /health HTTP/1.0\r\n\r\n"
	expect 404 "$port" "POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello"
	expect 404 "$port" "POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n"
	expect 400 "$port" "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
	expect 400 "$port" "GET /%%00 HTTP/1.1\r\n$H\r\n"
	expect 400 "$port" "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"
	expect 404 "$port" "POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n"	# then 400
	expect 413 "$port" "POST /x HTTP/1.1\r\n${H}Content-Length: 999999\r\n\r\n"
	expect 414 "$port" "GET /$(head -c 5000 /dev/zero | tr '\0' a) HTTP/1.1\r\n$H\r\n"
	expect 431 "$port" "GET / HTTP/1.1\r\n${H}X: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n"
	expect 417 "$port" "GET / HTTP/1.1\r\n${H}Expect: x\r\n\r\n"
	expect 501 "$port" "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n"
	expect 505 "$port" "GET / HTTP/2.0\r\n$H\r\n"
	expect 408 "$port" "GET / HTTP/1.1\r\nHost: x\r\n"		# slow head: 408 after 2 s
	expect 401 "$port" "GET /metrics HTTP/1.1\r\n$H\r\n"
	expect 401 "$mport" "GET /metrics HTTP/1.1\r\n${H}Authorization: Bearer nope\r\n\r\n"
	expect 200 "$port" "GET /metrics HTTP/1.1\r\n$H$A\r\n"
	expect 200 "$mport" "GET /metrics HTTP/1.1\r\n$H$A\r\n"
	expect 200 "$mport" "GET /metrics HTTP/1.1\r\n$H${A}Accept-Encoding: gzip\r\n\r\n"
	expect 200 "$port" "GET /metrics HTTP/1.1\r\n$H${A}Accept: application/openmetrics-text; version=1.0.0\r\nAccept-Encoding: gzip;q=1, *;q=0\r\n\r\n"
	expect 200 "$mport" "HEAD /metrics HTTP/1.1\r\n$H${A}Accept-Encoding: gzip\r\n\r\n"
	# Pipelining: 50 requests in one write, the last one closes.
	local pipe=''
	for i in $(seq 1 49); do pipe+="GET /health?$i HTTP/1.1\r\nHost: x\r\n\r\n"; done
	pipe+="GET /health HTTP/1.1\r\n$H\r\n"
	local n
	n=$(raw "$port" "$pipe" | grep -ao 'HTTP/1.1 200' | wc -l)
	[[ $n == 50 ]] || { echo "valgrind: pipelining: $n of 50 answers" >&2; failures=$((failures + 1)); }
	requests=$((requests + 50))
}

workload
# Reload: new workers replace the old ones.
kill -HUP "$vgpid"
for _ in $(seq 1 120); do
	grep -q 'reload' "$tmp/err" && grep -q 'ready\|serving' "$tmp/err" && break
	sleep 0.5
done
sleep 3
workload
kill -TERM "$vgpid"
rc=0
for _ in $(seq 1 120); do kill -0 "$vgpid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$vgpid" 2>/dev/null; then
	echo "valgrind: observd did not exit within 60 s of SIGTERM" >&2
	failures=$((failures + 1))
else
	wait "$vgpid" || rc=$?
fi
sleep 2		# children's valgrind instances finish their reports
pgid=

nproc=0 bad=0
for f in "$tmp"/vg.*.log; do
	nproc=$((nproc + 1))
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -n 1)
	if [[ -z $errs ]]; then
		echo "valgrind: $(basename "$f"): no summary (killed?)" >&2
		sed 's/^/  /' "$f" | tail -n 20 >&2
		bad=$((bad + 1))
	elif ((errs > 0)); then
		echo "valgrind: $(basename "$f"): $errs errors" >&2
		grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|[0-9,]+ bytes in)|^==[0-9]+==    (at|by) ' "$f" | head -n 60 >&2
		bad=$((bad + errs))
	fi
done
echo "valgrind: $requests requests ($failures unexpected answers), master exit $rc," \
	"$nproc processes checked in $((SECONDS - t0)) s"
if ((bad > 0 || failures > 0 || nproc < 4 || rc != 0)); then
	KEEP=1
	echo "valgrind: FAILED ($bad errors, $failures workload failures; logs in $tmp)"
	exit 1
fi
echo "valgrind: passed ($nproc processes, 0 errors)"
