#!/usr/bin/env bash
# run.sh - observd side by side with nginx and the Flask service it replaces,
# on loopback, interleaved over several rounds; writes docs/BENCHMARKS.md.
#
#   tests/bench/run.sh [--smoke] [-r ROUNDS] [-d SECS] [-c "50 500"] [-o DIR]
#                      [--no-install] [--no-doc] [--peers "observd nginx flask"]
#                      [--sandbox-only]
#
#   (no option)   the full run: 5 rounds, 5 s per wrk run (~40 min on 2 CPUs),
#                 then rewrites docs/BENCHMARKS.md and docs/bench.png
#   --smoke       1 round, 1 s runs, no warm-up, c500 only for observd's
#                 /health, 200 idle connections (on the loaded instance), a
#                 small attack, 300 and 600 idle connections and 2 and 4
#                 workers for the scale figures, the system call filter's
#                 on/off pair, a short callgrind pass
#                 (~80 s once built; a fresh build of both variants adds
#                 ~25 s on 2 CPUs);
#                 checks only that every step produced numbers and no errors
#                 (exit 1 otherwise); writes its report under the results
#                 directory, never into docs/
#   -r ROUNDS     rounds (default 5); even rounds run the peers in reverse order
#   -d SECS       length of each measured wrk run (default 5)
#   -c "CONNS"    wrk connection counts (default "50 500")
#   -o DIR        results directory (default: a new /tmp/observd-bench.XXXXXX,
#                 kept: raw wrk output, logs, callgrind files, results.tsv)
#   --no-install  do not apt-get install what is missing
#   --no-doc      do not write docs/BENCHMARKS.md and docs/bench.png
#   --peers LIST  subset of "observd nginx flask" (default all three)
#   --sandbox-only  only the system call filter's on/off pair (observd) and,
#                 if --peers names nginx, nginx's /health keep-alive run at
#                 the first -c count, in each round; no callgrind pass (with
#                 -r 5 -d 5 and nginx: ~3 min).  Its report is the section
#                 "System call filter" alone, with its command, date and
#                 machine; docs/BENCHMARKS.md gets it in place of the section
#                 of that title (or before the Notes), the rest of the file
#                 and docs/bench.png untouched
#   --report DIR  only rewrite the report (and docs/, unless --no-doc) from
#                 the results of an earlier run kept in DIR
#   BENCH_BUILD=DIR  environment: where observd is built (default build/bench
#                 in the repository, which git ignores)
#
# Each round starts each peer (observd: 2 workers, shipped defaults except
# port, listen address and template; nginx: tests/bench/nginx.conf, 2
# workers, reuseport; Flask: tests/bench/flask_app.py under gunicorn, 2 sync
# workers, prometheus_client multiprocess mode), times exec -> first 200 on
# /ready (observd) or /health, warms up 1 s, runs wrk -t1 on /health
# (keep-alive and "Connection: close"), / and /metrics at each connection
# count, measures the CPU time of the peer's whole process tree per request
# (utime + stime from /proc/PID/stat), its RSS and PSS after the load and the
# RSS growth with N idle keep-alive connections (on a fresh start), and
# stops it by PID.
# observd also gets two /health runs with a 10/s scraper of /metrics, between
# two without it.  observd and nginx then each get, on fresh starts: /health
# keep-alive clean, under attack (benchtool.py attack: 1,000 slowloris
# connections, 200 slow readers, 200 malformed requests a second) and clean
# again, with the workers' RSS during the attack; and /health keep-alive
# p99 and RSS per connection with 10,000 and 50,000 idle connections held
# open.  observd's aggregator CPU per scrape is measured with 2, 16 and 64
# workers.  Last in the round (first in even rounds), observd is started
# twice more, with its system call filter on (as shipped) and off
# (--no-sandbox), on first in odd rounds: one /health keep-alive run each at
# the first connection count, a worker's Seccomp field (/proc/PID/status)
# checked to be 2 and 0; the target is on/off <= 1.03 in server CPU per
# request (median of the per-round ratios).  After the rounds, callgrind
# counts the instructions per /health request of one worker, with request
# accounting on and compiled out (-DOBSERVD_NO_ACCOUNTING).
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

rounds=5 secs=5 smoke=0 sandbox_only=0 install=1 write_doc=1 out="" conns_list="50 500" report_only=""
peers_sel="observd nginx flask"
idle_n=5000 cg_n=20000
attack_loris=1000 attack_readers=200 attack_bad=200 attack_ramp=3
scale_idle="10000 50000" scale_workers="2 16 64"
obs_extra=() nginx_conns="" nginx_workers="" nginx_keepalive=""	# per start: observd
			# options; nginx's worker_connections, worker_processes, keepalive_timeout
usage() { sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;$d'; }
cmdline="tests/bench/run.sh${*:+ $*}"
while (($#)); do
	case $1 in
	--smoke) smoke=1 ;;
	--sandbox-only) sandbox_only=1 ;;
	-r) rounds=$2; shift ;;
	-d) secs=$2; shift ;;
	-c) conns_list=$2; shift ;;
	-o) out=$2; shift ;;
	--no-install) install=0 ;;
	--no-doc) write_doc=0 ;;
	--peers) peers_sel=$2; shift ;;
	--report) report_only=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
if ((smoke)); then
	rounds=1 secs=1 idle_n=200 cg_n=1000 write_doc=0
	attack_loris=50 attack_readers=10 attack_bad=20 attack_ramp=1
	scale_idle="300 600" scale_workers="2 4"
fi
[[ $rounds =~ ^[1-9][0-9]*$ && $secs =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -r and -d take positive integers" >&2; exit 2; }
read -ra peers <<<"$peers_sel"
read -ra conns_all <<<"$conns_list"
if ((sandbox_only)) && [[ " ${peers[*]} " != *" observd "* ]]; then
	echo "run.sh: --sandbox-only measures observd: --peers must name it" >&2
	exit 2
fi

# Ports: observd app/metrics, nginx, Flask, observd under callgrind.
P_OBS=18090 P_OBS_M=19464 P_NGINX=18091 P_FLASK=18092 P_CG=18093 P_CG_M=19465
hz=$(getconf CLK_TCK)
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
tool=("$PY" "$here/benchtool.py")
keep_out=1
if [[ -n $report_only ]]; then
	out=$report_only
elif [[ -z $out ]]; then
	out=$(mktemp -d /tmp/observd-bench.XXXXXX) keep_out=0
fi
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 1
build=${BENCH_BUILD:-$repo/build/bench}
t_start=$EPOCHREALTIME
failures=0

log() { printf '%s\n' "$*" >&2; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }

# ----------------------------------------------------------------- installing

install_missing() {
	local pkgs=(wrk nginx-light gunicorn python3-flask python3-prometheus-client
		gnuplot-nox valgrind curl procps iproute2) missing=() optional=() p sudo=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	# nginx-light or any other nginx flavour will do
	command -v nginx >/dev/null && missing=("${missing[@]/nginx-light/}")
	dpkg-query -W -f='${Status}' linux-perf 2>/dev/null | grep -q 'install ok installed' || optional+=(linux-perf)
	read -ra missing <<<"${missing[*]}"
	"$repo/scripts/deps.sh" build || return 1
	((${#missing[@]} + ${#optional[@]})) || return 0
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { log "run.sh: need root or sudo to install: ${missing[*]}"; return 1; }
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "run.sh: installing ${missing[*]} ${optional[*]}"
	"${sudo[@]}" apt-get update -q >/dev/null
	if ((${#missing[@]})); then
		"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || return 1
	fi
	if ((${#optional[@]})); then
		"${sudo[@]}" apt-get install -y -q --no-install-recommends "${optional[@]}" >/dev/null 2>&1 ||
			log "run.sh: optional ${optional[*]} not installed (perf profiles skipped)"
	fi
}

# ------------------------------------------------------------------- building

# The source tree to configure from: the repository itself, or, when it has
# been configured in place (out-of-tree builds refuse that), a copy of its
# tracked and untracked-but-not-ignored files.
source_tree() {
	if [[ ! -f $repo/config.status ]]; then
		[[ -x $repo/configure ]] || (cd "$repo" && autoreconf -fi >/dev/null 2>&1) || return 1
		echo "$repo"
		return 0
	fi
	# tar keeps the files' times: make rebuilds only what changed since the last copy.
	local snap=$build/src
	rm -rf "$snap" && mkdir -p "$snap"
	(cd "$repo" && { git ls-files -co --exclude-standard; ls -d configure aclocal.m4 config.h.in build-aux m4;
		find . -name Makefile.in -not -path './build/*'; } | tar -T - -cf -) | tar -C "$snap" -xf - || return 1
	[[ -x $snap/configure ]] || (cd "$snap" && autoreconf -fi >/dev/null 2>&1) || return 1
	echo "$snap"
}

build_observd() { # NAME [CPPFLAGS]: build $build/NAME/observd, release flags as shipped
	local dir=$build/$1 cpp=${2:-} src
	src=$(source_tree) || { log "run.sh: cannot prepare the source tree"; return 1; }
	mkdir -p "$dir"
	if [[ ! -f $dir/Makefile || $src/configure -nt $dir/config.status || $(cat "$dir/.src" 2>/dev/null) != "$src" ]]; then
		(cd "$dir" && "$src/configure" -q ${cpp:+CPPFLAGS="$cpp"}) >"$out/build-$1.log" 2>&1 ||
			{ tail -20 "$out/build-$1.log" >&2; return 1; }
		echo "$src" >"$dir/.src"
	fi
	make -s -C "$dir" -j"$(nproc)" observd >>"$out/build-$1.log" 2>&1 ||
		{ tail -30 "$out/build-$1.log" >&2; return 1; }
}

# ------------------------------------------------------------------ processes

root=""			# PID of the running peer's top process
tree=()			# its process tree, as last seen
helpers=()		# background clients (scraper, idle connections)

tree_pids() { # PID: the PID and all its descendants
	local p
	echo "$1"
	for p in $(ps -o pid= --ppid "$1"); do tree_pids "$p"; done
}

stop_helpers() {
	local p
	for p in "${helpers[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	helpers=()
}

alive() { # PID: running (a zombie counts as gone)
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[[ -n $st && $st != Z ]]
}

stop_peer() { # SIGTERM to the top process; after WAIT s (default 10) SIGKILL what is left of the tree
	local wait_s=${1:-10} p left
	[[ -n $root ]] || return 0
	kill -TERM "$root" 2>/dev/null
	for ((i = 0; i < wait_s * 20; i++)); do
		left=0
		for p in "${tree[@]}"; do alive "$p" && left=1; done	# children too: callgrind
		((left)) || break					# writes its files at exit
		sleep 0.05
	done
	kill -KILL "$root" 2>/dev/null
	wait "$root" 2>/dev/null
	for p in "${tree[@]}"; do	# a child that outlived its master
		alive "$p" && kill -KILL "$p" 2>/dev/null
	done
	root="" tree=()
}
cleanup() { stop_helpers; stop_peer 5; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# peer_cmd NAME DIR: sets cmd, envs, port, ready_path
peer_cmd() {
	local name=$1 dir=$2
	envs=()
	case $name in
	observd)
		port=$P_OBS ready_path=/ready
		cmd=("$build/on/observd" --workers 2 --port "$P_OBS" --metrics-port "$P_OBS_M"
			--listen 127.0.0.1 --metrics-listen 127.0.0.1 --template "$repo/data/index.html.in"
			"${obs_extra[@]}")
		;;
	nginx)
		port=$P_NGINX ready_path=/health
		local conns=() nofile
		if [[ -n $nginx_conns ]]; then
			nofile=$((nginx_conns + 1024))
			((nofile > $(ulimit -n))) && nofile=$(ulimit -n)
			conns=(-e "s/worker_connections [0-9]*;/worker_connections $nginx_conns;/"
				-e "s/worker_rlimit_nofile [0-9]*;/worker_rlimit_nofile $nofile;/")
		fi
		[[ -n $nginx_workers ]] && conns+=(-e "s/worker_processes [0-9]*;/worker_processes $nginx_workers;/")
		[[ -n $nginx_keepalive ]] && conns+=(-e "s/keepalive_timeout [0-9a-z]*;/keepalive_timeout $nginx_keepalive;/")
		sed -e "s/@PORT@/$P_NGINX/" "${conns[@]}" "$here/nginx.conf" >"$dir/nginx.conf"
		cmd=(nginx -c "$dir/nginx.conf" -p "$dir/" -e stderr)
		;;
	flask)
		port=$P_FLASK ready_path=/health
		envs=(PROMETHEUS_MULTIPROC_DIR="$dir/prom" SERVICE_NAME=observd PYTHONDONTWRITEBYTECODE=1)
		cmd=(gunicorn --chdir "$here" -c "$here/gunicorn.conf.py" -w 2 -k sync
			-b "127.0.0.1:$P_FLASK" flask_app:app)
		;;
	esac
}

start_peer() { # NAME ROUND [TAG]: start it, time exec -> first 200; sets root, tree, port
	local name=$1 round=$2 dir=$out/r$2/$1 t0 t1 tag=${3:-}
	mkdir -p "$dir"
	peer_cmd "$name" "$dir"
	rm -f "$dir/gate" && mkfifo "$dir/gate"
	# The subshell waits at the gate, notes the time and execs the server:
	# $! is then the server's own PID.  benchtool opens the gate once it is
	# ready to poll, so its own start-up is not counted.
	(
		read -r _ <"$dir/gate"
		((${#envs[@]})) && export "${envs[@]}"
		printf '%s\n' "$EPOCHREALTIME" >"$dir/t0"
		exec "${cmd[@]}"
	) >"$dir/log$tag" 2>&1 &
	root=$!
	if ! t1=$(timeout 60 "${tool[@]}" ready --port "$port" --path "$ready_path" \
		--release "$dir/gate" --pid "$root" --timeout 30); then
		fail "$name did not start (round $round); its log:"
		sed 's/^/    /' "$dir/log$tag" >&2
		stop_peer
		return 1
	fi
	t0=$(cat "$dir/t0")
	# (the second start, for the idle test, comes right after a stop: kept apart)
	awk -v r="$round" -v n="$name" -v a="$t0" -v b="$t1" -v k="startup_ms${tag:+_$tag}" \
		'BEGIN { printf "%s\t%s\t%s\t-\t%.2f\n", r, n, k, (b - a) * 1000 }' >>"$out/extra.tsv"
	sleep 0.3			# let every worker finish starting
	mapfile -t tree < <(tree_pids "$root")
}

# ------------------------------------------------------------------- measures

cpu_ticks() { # PID...: "pid ticks kernel-ticks" (utime + stime, stime) per process still alive
	local p
	for p in "$@"; do
		[[ -r /proc/$p/stat ]] || continue
		sed 's/.*) //' "/proc/$p/stat" | awk -v p="$p" '{print p, $12 + $13, $13}'
	done
}

memory() { # RSS and PSS sums (KiB) over the peer's current tree, and its size
	local p rss=0 pss=0 r s
	mapfile -t tree < <(tree_pids "$root")
	for p in "${tree[@]}"; do
		r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		s=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
		rss=$((rss + ${r:-0})) pss=$((pss + ${s:-0}))
	done
	echo "$rss $pss ${#tree[@]}"
}

child_pid() { # COMM: the peer's child process of that name
	local p
	for p in "${tree[@]}"; do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "$1" ]] && { echo "$p"; return 0; }
	done
	return 1
}

# load PEER ROUND TEST PATH MODE CONNS PORT: one measured wrk run.
# results.tsv: round peer test conns req/s p50_ms p99_ms us/req requests errors wrk% wall_s kernel_us/req
load() {
	local name=$1 round=$2 test=$3 path=$4 mode=$5 conns=$6 lport=$7
	local o=$out/r$2/$1/wrk.$3.c$6 hdr=() before after t0 t1 agg=""
	[[ $mode == close ]] && hdr=(-H 'Connection: close')
	[[ $name == observd ]] && agg=$(child_pid observd-metrics)
	before=$(cpu_ticks "${tree[@]}")
	t0=$EPOCHREALTIME
	TIMEFORMAT='%3R %3U %3S'
	{ time wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s --latency "${hdr[@]}" \
		"http://127.0.0.1:$lport$path" >"$o.out" 2>&1; } 2>"$o.time"
	t1=$EPOCHREALTIME
	after=$(cpu_ticks "${tree[@]}")
	local dticks sticks aticks=0
	# join: pid ticks-before kernel-before ticks-after kernel-after
	read -r dticks sticks < <(join <(sort <<<"$before") <(sort <<<"$after") |
		awk '{ s += $4 - $2; k += $5 - $3 } END { print s + 0, k + 0 }')
	[[ -n $agg ]] && aticks=$(join <(sort <<<"$before") <(sort <<<"$after") | awk -v a="$agg" '$1 == a { print $4 - $2 }')
	awk -v r="$round" -v n="$name" -v t="$test" -v c="$conns" -v ticks="$dticks" -v sticks="$sticks" -v hz="$hz" \
	    -v wt="$(cat "$o.time")" -v aticks="${aticks:-0}" -v extra="$out/extra.tsv" '
		function ms(v) {	# wrk latency "1.23ms" / "456.00us" / "1.02s" / "2.00m" -> ms
			if (v ~ /us$/) return v * 0.001
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			if (v ~ /m$/) return v * 60000
			return v + 0
		}
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = ms($2) }
		/^ +99%/ { p99 = ms($2) }
		/ requests in / { done = $1 }
		/Socket errors/ { gsub(/,/, ""); for (i = 3; i < NF; i += 2) err += $(i + 1) }
		/Non-2xx/ { err += $NF }
		END {
			split(wt, w, " "); wcpu = w[1] > 0 ? (w[2] + w[3]) / w[1] * 100 : 0
			us = done > 0 ? ticks / hz * 1e6 / done : 0
			kus = done > 0 ? sticks / hz * 1e6 / done : 0
			printf "%s\t%s\t%s\t%s\t%.0f\t%.3f\t%.3f\t%.2f\t%d\t%d\t%.0f\t%.2f\t%.2f\n",
				r, n, t, c, rps, p50, p99, us, done, err, wcpu, w[1], kus
			if (t ~ /^metrics-port/ && done > 0)	# metrics-port-w16: with 16 workers
				printf "%s\t%s\tagg_cpu_us_per_scrape%s\t%s\t%.2f\n", r, n, substr(t, 13), c,
					aticks / hz * 1e6 / done >> extra
		}' "$o.out" | tee -a "$out/results.tsv" |
		awk -F'\t' -v secs="$secs" '{ printf "  %-8s %-13s c%-4s %8s req/s  p50 %7.3f ms  p99 %8.3f ms  %8.2f us/req  wrk %3s%%%s%s\n",
			$2, $3, $4, $5, $6, $7, $8, $11, ($10 > 0 ? "  ERRORS " $10 : ""),
			($12 > secs + 3 ? "  STALLED: wrk ran " $12 " s" : "") }' >&2
}

# warm_up NAME ROUND FILE [PORT PATH]: 1 s of wrk at the first connection
# count before the measured runs (none in smoke mode); its output in FILE.out
warm_up() {
	((smoke)) || wrk -t1 -c"${conns_all[0]}" -d1s "http://127.0.0.1:${4:-$port}${5:-/health}" >"$out/r$2/$1/$3.out" 2>&1
}

# Which runs each peer gets: TEST PATH MODE PORT
tests_for() {
	case $1 in
	observd) printf '%s\n' "health-ka /health keepalive $P_OBS" "health-close /health close $P_OBS" \
		"root-ka / keepalive $P_OBS" "metrics-app /metrics keepalive $P_OBS" \
		"metrics-port /metrics keepalive $P_OBS_M" ;;
	nginx) printf '%s\n' "health-ka /health keepalive $P_NGINX" "health-close /health close $P_NGINX" \
		"root-ka / keepalive $P_NGINX" ;;
	flask) printf '%s\n' "health-ka /health keepalive $P_FLASK" "health-close /health close $P_FLASK" \
		"root-ka / keepalive $P_FLASK" "metrics-app /metrics keepalive $P_FLASK" ;;
	esac
}

scraped_run() { # ROUND: observd /health keep-alive with a 10/s scraper on the metrics port
	# Right after the plain health-ka run: two runs with the scraper, then
	# one more without (A B B A), so that a drift over the round (the CPUs'
	# other load, the order of runs) weighs on both sides alike.
	local round=$1 sp res
	"${tool[@]}" scrape --port "$P_OBS_M" --path /metrics --rate 10 >"$out/r$round/observd/scraper.out" 2>&1 &
	sp=$!
	helpers+=("$sp")
	sleep 0.2
	load observd "$round" health-ka-scraped /health keepalive "${conns_all[0]}" "$P_OBS"
	load observd "$round" health-ka-scraped-2 /health keepalive "${conns_all[0]}" "$P_OBS"
	kill -TERM "$sp" 2>/dev/null
	wait "$sp" || fail "scraper reported errors: $(cat "$out/r$round/observd/scraper.out")"
	helpers=()
	res=$(awk '/^scrapes/ {print $2}' "$out/r$round/observd/scraper.out")
	printf '%s\tobservd\tscrapes_during_run\t%s\t%s\n' "$round" "${conns_all[0]}" "${res:-0}" >>"$out/extra.tsv"
	load observd "$round" health-ka-unscraped /health keepalive "${conns_all[0]}" "$P_OBS"
}

# idle_open PORT N FILE: benchtool.py idle in the background (helpers),
# as many processes as the descriptor limit needs, until its N connections
# are open; idle_res is the sum of their "opened ..." lines (empty if they
# did not all get there within 150 s), their output in FILE.N.
idle_open() {
	local lport=$1 n=$2 f=$3 procs k each p ok
	procs=$(((n + $(ulimit -n) - 257) / ($(ulimit -n) - 256)))
	idle_pids=()
	for ((k = 0; k < procs; k++)); do
		each=$((n / procs + (k < n % procs ? 1 : 0)))
		"${tool[@]}" idle --port "$lport" --path /health -n "$each" --sources $(((each + 9999) / 10000)) \
			>"$f.$k" 2>&1 &
		idle_pids+=($!)
	done
	helpers+=("${idle_pids[@]}")
	for ((i = 0; i < 3000; i++)); do
		ok=0
		for ((k = 0; k < procs; k++)); do grep -qs '^opened' "$f.$k" && ok=$((ok + 1)); done
		((ok == procs)) && break
		for p in "${idle_pids[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
		sleep 0.05
	done
	cat "$f".* >"$f"
	idle_res=""
	((ok == procs)) && idle_res=$(awk '/^opened/ { a += $2; b += $4; c += $6 } END { print "opened", a, "ok", b, "open", c }' "$f")
}

idle_close() {
	local p
	for p in "${idle_pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	helpers=()
}

idle_test() { # NAME ROUND PORT: RSS growth with idle_n idle keep-alive connections
	local name=$1 round=$2 lport=$3 res m0 m1 ok open
	read -r m0 _ _ < <(memory)
	idle_open "$lport" "$idle_n" "$out/r$round/$name/idle.out"
	res=$idle_res
	read -r m1 _ _ < <(memory)
	idle_close
	read -r _ _ _ ok _ open <<<"${res:-x 0 x 0 x 0}"
	if [[ -z $res || $ok != "$idle_n" ]]; then
		fail "$name: idle connections: ${res:-no result} ($(tail -2 "$out/r$round/$name/idle.out"))"
		return 0
	fi
	awk -v r="$round" -v n="$name" -v a="$m0" -v b="$m1" -v k="$idle_n" -v open="$open" 'BEGIN {
		printf "%s\t%s\tidle_bytes_per_conn\t%d\t%.0f\n", r, n, open, (b - a) * 1024 / k
		printf "%s\t%s\tidle_open\t%d\t%d\n", r, n, k, open }' >>"$out/extra.tsv"
	log "  $name       $idle_n idle connections ($open kept open by the server): RSS $((m0 / 1024)) -> $((m1 / 1024)) MiB"
}

# The RSS (KiB) of the peer's worker processes: their sum and the largest.
workers_rss() {
	local p sum=0 max=0 r
	mapfile -t tree < <(tree_pids "$root")
	for p in "${tree[@]}"; do
		[[ $p == "$root" ]] && continue
		# observd's workers by name (not the aggregator); nginx's are all
		# the master's children
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == observd-metrics ]] && continue
		r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${r:-0}))
		((${r:-0} > max)) && max=${r:-0}
	done
	echo "$sum $max"
}

# attack_test NAME ROUND: on a fresh start, /health keep-alive clean, under
# attack, and clean again; the workers' RSS at the end of the attacked run.
attack_test() {
	local name=$1 round=$2 c0=${conns_all[0]} ap wsum wmax res a0 a1 t0 t1
	start_peer "$name" "$round" attack || return 0
	warm_up "$name" "$round" warm-attack
	load "$name" "$round" attack-clean /health keepalive "$c0" "$port"
	"${tool[@]}" attack --port "$port" --slowloris "$attack_loris" --slow-readers "$attack_readers" \
		--malformed "$attack_bad" >"$out/r$round/$name/attack.out" 2>&1 &
	ap=$!
	helpers+=("$ap")
	sleep "$attack_ramp"		# every attacking connection open, the first cut
	a0=$(cpu_ticks "$ap" | awk '{print $2}') t0=$EPOCHREALTIME
	load "$name" "$round" attack-on /health keepalive "$c0" "$port"
	a1=$(cpu_ticks "$ap" | awk '{print $2}') t1=$EPOCHREALTIME
	read -r wsum wmax < <(workers_rss)
	awk -v r="$round" -v p="$name" -v a="${a0:-0}" -v b="${a1:-0}" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
		'BEGIN { printf "%s\t%s\tattack_client_cpu_pct\t-\t%.1f\n", r, p, (b - a) / hz / (t1 - t0) * 100 }' \
		>>"$out/extra.tsv"
	kill -TERM "$ap" 2>/dev/null
	wait "$ap" || fail "$name: attack client: $(tail -2 "$out/r$round/$name/attack.out")"
	helpers=()
	res=$(grep '^slowloris' "$out/r$round/$name/attack.out")
	printf '%s\t%s\tattack_workers_rss_kib\t%s\t%s\n' "$round" "$name" "$wmax" "$wsum" >>"$out/extra.tsv"
	log "  $name       under attack ($res): workers' RSS $((wsum / 1024)) MiB (largest $((wmax / 1024)) MiB)"
	sleep 1
	load "$name" "$round" attack-clean-2 /health keepalive "$c0" "$port"
	stop_peer
}

# idle_scale_test NAME ROUND N: on a fresh start, /health keep-alive, then
# the same with N idle keep-alive connections held open, and the RSS they
# added per connection.  Two workers, or as many more as the descriptor
# limit of one process needs for N (with a quarter to spare for the uneven
# spread of SO_REUSEPORT).
idle_scale_test() {
	local name=$1 round=$2 n=$3 c0=${conns_all[0]} res m0 m1 ok open w conns
	w=$(((n * 5 / 4 + $(ulimit -n) - 1025) / ($(ulimit -n) - 1024)))
	((w < 2)) && w=2
	conns=$((n + 1024))
	((conns > $(ulimit -n) - 64)) && conns=$(($(ulimit -n) - 64))
	# Opening 50,000 connections can take longer than the 60 s keep-alive
	# timeout both servers use: 10 min for this test.
	case $name in
	observd) obs_extra=(--workers "$w" --max-connections "$conns" --keepalive-timeout 10m) ;;
	nginx) nginx_conns=$conns nginx_workers=$w nginx_keepalive=600s ;;
	esac
	start_peer "$name" "$round" "idle$n"
	ok=$?
	obs_extra=() nginx_conns="" nginx_workers="" nginx_keepalive=""
	printf '%s\t%s\tidle_scale_workers\t%s\t%s\n' "$round" "$name" "$n" "$w" >>"$out/extra.tsv"
	((ok == 0)) || return 0
	warm_up "$name" "$round" "warm-idle$n"
	load "$name" "$round" "idle$n-none" /health keepalive "$c0" "$port"
	read -r m0 _ _ < <(memory)
	idle_open "$port" "$n" "$out/r$round/$name/idle$n.out"
	res=$idle_res
	read -r m1 _ _ < <(memory)
	read -r _ _ _ ok _ open <<<"${res:-x 0 x 0 x 0}"
	if [[ -n $res && $ok == "$n" ]]; then
		load "$name" "$round" "idle$n-held" /health keepalive "$c0" "$port"
		awk -v r="$round" -v p="$name" -v a="$m0" -v b="$m1" -v k="$n" -v open="$open" 'BEGIN {
			printf "%s\t%s\tidle_scale_bytes_per_conn\t%d\t%.0f\n", r, p, k, (b - a) * 1024 / k
			printf "%s\t%s\tidle_scale_open\t%d\t%d\n", r, p, k, open }' >>"$out/extra.tsv"
		log "  $name       $n idle connections ($open kept open): RSS $((m0 / 1024)) -> $((m1 / 1024)) MiB"
	else
		fail "$name: $n idle connections: ${res:-no result} ($(tail -2 "$out/r$round/$name/idle$n.out"))"
	fi
	idle_close
	stop_peer
}

# agg_scale_test ROUND W: /metrics on the metrics port with W workers.
agg_scale_test() {
	local round=$1 w=$2 c0=${conns_all[0]}
	obs_extra=(--workers "$w")
	start_peer observd "$round" "w$w"
	obs_extra=()
	[[ -n $root ]] || return 0
	warm_up observd "$round" "warm-w$w" "$P_OBS_M" /metrics
	load observd "$round" "metrics-port-w$w" /metrics keepalive "$c0" "$P_OBS_M"
	stop_peer
}

# fresh_run NAME ROUND TEST: on a fresh start, one /health keep-alive run at
# the first connection count, recorded as TEST; the peer is left running.
fresh_run() {
	local name=$1 round=$2 test=$3
	log "# round $round: $name ($test)"
	start_peer "$name" "$round" "$test" || return 1
	warm_up "$name" "$round" "warm-$test"
	load "$name" "$round" "$test" /health keepalive "${conns_all[0]}" "$port"
}

# sandbox_test ROUND: observd with its system call filter on (as shipped)
# and off (--no-sandbox), each on a fresh start, one /health keep-alive run
# each; on first in odd rounds, off first in even ones.  A worker's Seccomp
# field (/proc/PID/status: 2 under a filter, 0 without) must say which.
sandbox_test() {
	local round=$1 v want mode order=(on off)
	((round % 2 == 0)) && order=(off on)
	for v in "${order[@]}"; do
		want=2
		[[ $v == off ]] && obs_extra=(--no-sandbox) want=0
		fresh_run observd "$round" "sandbox-$v"
		obs_extra=()
		[[ -n $root ]] || continue
		mode=$(awk '/^Seccomp:/ { print $2 }' "/proc/$(child_pid observd-worker)/status" 2>/dev/null)
		printf '%s\tobservd\tseccomp\tsandbox-%s\t%s\n' "$round" "$v" "${mode:-?}" >>"$out/extra.tsv"
		[[ $mode == "$want" ]] || fail "observd, filter $v: a worker's Seccomp field is ${mode:-unreadable}, not $want"
		stop_peer
	done
}

run_peer() { # NAME ROUND
	local name=$1 round=$2 c test path mode lport first=1 rss pss np
	log "# round $round: $name"
	start_peer "$name" "$round" || return 0
	warm_up "$name" "$round" warm
	for c in "${conns_all[@]}"; do
		while read -r test path mode lport; do
			if ((smoke)) && ((!first)) && [[ $test != health-ka || $name != observd ]]; then continue; fi
			# the aggregator takes 64 connections (AGG_MAX_CONNS), more get a 503
			if [[ $test == metrics-port ]] && ((c > 64)); then continue; fi
			load "$name" "$round" "$test" "$path" "$mode" "$c" "$lport"
			[[ $name == observd && $test == health-ka && $first == 1 ]] && scraped_run "$round"
		done < <(tests_for "$name")
		first=0
	done
	read -r rss pss np < <(memory)
	printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$rss" "$pss" "$np" >>"$out/memory.tsv"
	log "  $name       after load: $np processes, RSS $((rss / 1024)) MiB, PSS $((pss / 1024)) MiB"
	if [[ $name == observd ]]; then	# the aggregator's own account of its scrapes
		curl -s "http://127.0.0.1:$P_OBS_M/metrics" >"$out/r$round/observd/final-metrics.txt"
		awk -v r="$round" '
			/^observd_metrics_scrapes_total / { n = $2 }
			/^observd_metrics_scrape_duration_seconds_total / { s = $2 }
			END { if (n > 0) printf "%s\tobservd\tscrape_render_us\t%d\t%.2f\n", r, n, s / n * 1e6 }' \
			"$out/r$round/observd/final-metrics.txt" >>"$out/extra.tsv"
	fi
	# Idle connections on a fresh start, so that memory touched by the load
	# runs (and kept by the allocator) does not hide what they cost.
	if ! ((smoke)); then
		stop_peer
		start_peer "$name" "$round" idle || return 0
	fi
	idle_test "$name" "$round" "$port"
	stop_peer
	[[ $name == flask ]] && return 0	# gunicorn's sync workers: neither applies
	attack_test "$name" "$round"
	for n in $scale_idle; do idle_scale_test "$name" "$round" "$n"; done
	if [[ $name == observd ]]; then
		for w in $scale_workers; do agg_scale_test "$round" "$w"; done
	fi
}

# ------------------------------------------------------------------ callgrind

# cg_run VARIANT N: run observd (1 worker) under callgrind, send N keep-alive
# /health requests on one connection, stop it; sets cg_ir to the worker's Ir.
cg_run() {
	local variant=$1 n=$2 dir=$out/callgrind/$1.$2 w ir
	cg_ir=""
	# --no-sandbox: valgrind does not implement seccomp(2), and a child that
	# cannot install its filter exits.  The filter runs in the kernel: it
	# is not in the user-space instructions counted here either way.
	mkdir -p "$dir" && chmod 1777 "$dir"	# the worker writes its file as "nobody",
	chmod go+x "$out" "$out/callgrind"	# so it must reach the directory too
	valgrind --tool=callgrind --vgdb=no --trace-children=yes --callgrind-out-file="$dir/callgrind.out.%p" \
		"$build/$variant/observd" --workers 1 --port "$P_CG" --metrics-port "$P_CG_M" \
		--listen 127.0.0.1 --metrics-listen 127.0.0.1 --template "$repo/data/index.html.in" \
		--no-sandbox >"$dir/log" 2>&1 &
	root=$!
	for ((i = 0; i < 600; i++)); do
		curl -sf -o /dev/null "http://127.0.0.1:$P_CG/ready" && break
		kill -0 "$root" 2>/dev/null || break
		sleep 0.1
	done
	mapfile -t tree < <(tree_pids "$root")
	w=$(child_pid observd-worker) || { fail "callgrind $variant: no worker"; stop_peer; return 1; }
	echo "$w" >"$dir/worker.pid"
	timeout 300 "${tool[@]}" reqs --port "$P_CG" --path /health -n "$n" >"$dir/client.out" 2>&1 ||
		fail "callgrind $variant: client: $(cat "$dir/client.out")"
	stop_peer 60
	ir=$(awk '/^summary:/ {print $2}' "$dir/callgrind.out.$w" 2>/dev/null)
	[[ -n $ir ]] || { fail "callgrind $variant: no output for worker $w"; return 1; }
	cg_ir=$ir
}

callgrind_pass() { # instructions per /health request, accounting on and off
	local v ir0 ir1
	for v in on off; do
		log "# callgrind: observd ($v), 1 worker, 1 vs $((cg_n + 1)) keep-alive /health requests"
		cg_run "$v" 1 || continue
		ir0=$cg_ir
		cg_run "$v" $((cg_n + 1)) || continue
		ir1=$cg_ir
		awk -v v="$v" -v a="$ir0" -v b="$ir1" -v n="$cg_n" \
			'BEGIN { printf "cg\tobservd-%s\tir_per_request\t%d\t%.1f\n", v, n, (b - a) / n }' | tee -a "$out/extra.tsv" >&2
	done
	# Where the instructions go: self cost per function in the worker, accounting on.
	local d=$out/callgrind/on.$((cg_n + 1)) f
	f=$d/callgrind.out.$(cat "$d/worker.pid" 2>/dev/null)
	[[ -f $f ]] && callgrind_annotate --inclusive=yes "$f" 2>/dev/null >"$out/callgrind/annotate.on.txt"
}

# -------------------------------------------------------------------- summary

median_of() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.6g\n", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }

# fig PEER TEST CONNS COLUMN: median over rounds of a results.tsv column
fig() { awk -F'\t' -v p="$1" -v t="$2" -v c="$3" -v k="$4" '$2 == p && $3 == t && $4 == c { print $k }' "$out/results.tsv" | median_of; }
# xfig PEER KEY [ARG]: median over rounds of an extra.tsv value
xfig() { awk -F'\t' -v p="$1" -v k="$2" -v a="${3:-}" '$2 == p && $3 == k && (a == "" || $4 == a) { print $5 }' "$out/extra.tsv" | median_of; }
mfig() { awk -F'\t' -v p="$1" -v k="$2" '$2 == p { print $k / 1024 }' "$out/memory.tsv" | median_of; }
# rfig A B TEST CONNS COLUMN [TEST_B]: median over rounds of the per-round ratio A/B
rfig() {
	awk -F'\t' -v a="$1" -v b="$2" -v t="$3" -v c="$4" -v k="$5" -v tb="${6:-$3}" '
		$3 == t && $4 == c && $2 == a { x[$1] = $k }
		$3 == tb && $4 == c && $2 == b { y[$1] = $k }
		END { for (r in x) if ((r in y) && y[r] > 0) print x[r] / y[r] }' "$out/results.tsv" | median_of
}
# scraper: per-round ratio of the two runs with the scraper to the two
# around them without (health-ka before, health-ka-unscraped after)
scrape_ratio() {
	awk -F'\t' -v c="${conns_all[0]}" '$2 != "observd" || $4 != c { next }
		$3 == "health-ka" || $3 == "health-ka-unscraped" { x[$1] += $5; nx[$1]++ }
		$3 == "health-ka-scraped" || $3 == "health-ka-scraped-2" { y[$1] += $5; ny[$1]++ }
		END { for (r in y) if (nx[r] == 2 && ny[r] == 2 && x[r] > 0) print y[r] / x[r] }' "$out/results.tsv" | median_of
}
# attack_ratio PEER COLUMN: median over rounds of the attacked run's figure
# over the mean of the clean runs just before and after it.
attack_ratio() {
	awk -F'\t' -v p="$1" -v k="$2" -v c="${conns_all[0]}" '$2 != p || $4 != c { next }
		$3 == "attack-on" { on[$1] = $k }
		$3 == "attack-clean" || $3 == "attack-clean-2" { cl[$1] += $k; n[$1]++ }
		END { for (r in on) if (n[r] > 0 && cl[r] > 0) print on[r] / (cl[r] / n[r]) }' "$out/results.tsv" | median_of
}
# clean_fig PEER COLUMN: median over rounds of the mean of the two clean runs
clean_fig() {
	awk -F'\t' -v p="$1" -v k="$2" -v c="${conns_all[0]}" '$2 == p && $4 == c &&
		($3 == "attack-clean" || $3 == "attack-clean-2") { cl[$1] += $k; n[$1]++ }
		END { for (r in cl) print cl[r] / n[r] }' "$out/results.tsv" | median_of
}
# pair_ratios PEER TEST_A TEST_B COLUMN: "round A/B" for each round with both
pair_ratios() {
	awk -F'\t' -v p="$1" -v a="$2" -v b="$3" -v k="$4" -v c="${conns_all[0]}" '$2 != p || $4 != c { next }
		$3 == a { x[$1] = $k } $3 == b { y[$1] = $k }
		END { for (r in x) if ((r in y) && y[r] > 0) print r, x[r] / y[r] }' "$out/results.tsv" | sort -n
}
# pair_ratio PEER TEST_A TEST_B COLUMN: median over rounds of A / B
pair_ratio() { pair_ratios "$@" | awk '{ print $2 }' | median_of; }
# attack_reopened PEER: median over rounds of the connections the attack
# client had to open again (the server closed them)
attack_reopened() {
	local f
	for f in "$out"/r*/"$1"/attack.out; do
		[[ -f $f ]] && awk '/^slowloris/ { print $NF }' "$f"
	done | median_of
}
# div A B: A / B, or nothing if either is missing
div() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b != 0) print a / b }'; }
# agg_growth: aggregator µs per scrape added by each worker, from the
# fewest to the most workers measured
agg_growth() {
	local w0=${scale_workers%% *} w1=${scale_workers##* } c0=${conns_all[0]}
	div "$(awk -v a="$(xfig observd "agg_cpu_us_per_scrape-w$w1" "$c0")" -v b="$(xfig observd "agg_cpu_us_per_scrape-w$w0" "$c0")" \
		'BEGIN { if (a != "" && b != "") print a - b }')" $((w1 - w0))
}

mratio() { # memory ratio per round: A B column
	awk -F'\t' -v a="$1" -v b="$2" -v k="$3" '$2 == a { x[$1] = $k } $2 == b { y[$1] = $k }
		END { for (r in x) if ((r in y) && y[r] > 0) print x[r] / y[r] }' "$out/memory.tsv" | median_of
}

f1() { [[ -n $1 ]] && printf "%.${2:-1}f" "$1" || printf 'n/a'; }
kf() { [[ -n $1 ]] && awk -v v="$1" 'BEGIN { if (v >= 10000) printf "%.1fk", v / 1000; else printf "%.0f", v }' || printf 'n/a'; }
# verdict VALUE OP LIMIT: met / missed / n/a
verdict() { [[ -n $1 ]] || { echo "n/a"; return; }; awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
	ok = (op == ">=") ? v >= l : v <= l; print ok ? "met" : "**missed**" }'; }

result_head() { # the head of a table of result_row rows
	echo "| peer | run | conns | req/s | p50 ms | p99 ms | server CPU µs/req | of which kernel | wrk CPU % | errors |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
}
# result_row PEER LABEL TEST CONNS: medians over rounds of a results.tsv run
# (errors: summed)
result_row() {
	local p=$1 t=$3 c=$4
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$2" "$c" \
		"$(kf "$(fig "$p" "$t" "$c" 5)")" "$(f1 "$(fig "$p" "$t" "$c" 6)" 3)" \
		"$(f1 "$(fig "$p" "$t" "$c" 7)" 2)" "$(f1 "$(fig "$p" "$t" "$c" 8)" 1)" \
		"$(f1 "$(fig "$p" "$t" "$c" 13)" 1)" \
		"$(f1 "$(fig "$p" "$t" "$c" 11)" 0)" \
		"$(awk -F'\t' -v p="$p" -v t="$t" -v c="$c" '$2 == p && $3 == t && $4 == c { s += $10 } END { print s + 0 }' "$out/results.tsv")"
}

results_tables() { # the Markdown tables of the report
	local p c t label
	echo "### Throughput, latency and server CPU per request (medians over $rounds rounds)"
	echo
	result_head
	for p in "${peers[@]}"; do
		for c in "${conns_all[@]}"; do
			for t in health-ka health-ka-scraped health-close root-ka metrics-app metrics-port; do
				[[ -n $(fig "$p" "$t" "$c" 5) ]] || continue
				case $t in
				health-ka) label="/health keep-alive" ;; health-ka-scraped) label="/health keep-alive + 10/s scraper" ;;
				health-close) label="/health close" ;; root-ka) label="/ keep-alive" ;;
				metrics-app) label="/metrics (app port) keep-alive" ;; metrics-port) label="/metrics (:9464) keep-alive" ;;
				esac
				result_row "$p" "$label" "$t" "$c"
			done
		done
	done
	local stalls
	stalls=$(awk -F'\t' -v s="$secs" '$12 > s + 3 { printf "%s%s %s c%s in round %s (%.1f s)", n++ ? "; " : "", $2, $3, $4, $1, $12 }' "$out/results.tsv")
	echo
	echo "Errors: wrk's socket errors (mostly timeouts, 5 s) and non-2xx answers, summed over the rounds."
	[[ -n $stalls ]] && echo "Runs where wrk needed more than ${secs} + 3 s (a stall, most likely the machine's other load; it counts in the medians): $stalls."
	echo
	echo "### Memory and start-up (medians over $rounds rounds)"
	echo
	echo "| peer | processes | RSS after load MiB | PSS after load MiB | bytes per idle keep-alive connection ($idle_n) | kept open by the server | exec → first 200 ms |"
	echo "|---|---|---|---|---|---|---|"
	for p in "${peers[@]}"; do
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$(f1 "$(awk -F'\t' -v p="$p" '$2 == p {print $5}' "$out/memory.tsv" | median_of)" 0)" \
			"$(f1 "$(mfig "$p" 3)")" "$(f1 "$(mfig "$p" 4)")" \
			"$(f1 "$(xfig "$p" idle_bytes_per_conn)" 0)" "$(f1 "$(xfig "$p" idle_open "$idle_n")" 0)" \
			"$(f1 "$(xfig "$p" startup_ms)" 1)"
	done
	echo
	echo "Ready probe: observd \`/ready\`, nginx and Flask \`/health\`."
	local c0=${conns_all[0]} n w
	echo
	echo "### Goodput under attack (medians over $rounds rounds; /health keep-alive, c$c0)"
	echo
	echo "Attack: $attack_loris slowloris connections (a byte a second each), $attack_readers slow readers (pipelined \`GET /\`, a byte read a second), $attack_bad malformed requests a second; connections the server closes are opened again."
	echo
	echo "| peer | clean req/s | under attack req/s | ratio | clean p99 ms | under attack p99 ms | ratio | server CPU µs/req clean / under attack | workers' RSS under attack MiB (largest) | attack client CPU % |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for p in observd nginx; do
		[[ -n $(fig "$p" attack-on "$c0" 5) ]] || continue
		printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s (%s) | %s |\n' "$p" \
			"$(kf "$(clean_fig "$p" 5)")" "$(kf "$(fig "$p" attack-on "$c0" 5)")" "$(f1 "$(attack_ratio "$p" 5)" 2)" \
			"$(f1 "$(clean_fig "$p" 7)" 2)" "$(f1 "$(fig "$p" attack-on "$c0" 7)" 2)" "$(f1 "$(attack_ratio "$p" 7)" 2)" \
			"$(f1 "$(clean_fig "$p" 8)" 1)" "$(f1 "$(fig "$p" attack-on "$c0" 8)" 1)" \
			"$(f1 "$(awk -v v="$(xfig "$p" attack_workers_rss_kib)" 'BEGIN { if (v != "") print v / 1024 }')" 1)" \
			"$(f1 "$(awk -F'\t' -v p="$p" '$2 == p && $3 == "attack_workers_rss_kib" { print $4 / 1024 }' "$out/extra.tsv" | median_of)" 1)" \
			"$(f1 "$(xfig "$p" attack_client_cpu_pct)" 0)"
	done
	echo
	echo "Ratios are medians of the per-round ratios of the attacked run to the mean of the clean runs just before and after it, on the same instance."
	echo
	echo "### Scale: aggregator CPU per scrape by worker count (/metrics :9464, c$c0)"
	echo
	echo "| workers | aggregator CPU µs per scrape | scrapes/s | p99 ms |"
	echo "|---|---|---|---|"
	for w in $scale_workers; do
		printf '| %s | %s | %s | %s |\n' "$w" "$(f1 "$(xfig observd "agg_cpu_us_per_scrape-w$w" "$c0")" 1)" \
			"$(kf "$(fig observd "metrics-port-w$w" "$c0" 5)")" "$(f1 "$(fig observd "metrics-port-w$w" "$c0" 7)" 2)"
	done
	echo
	echo "Each further worker adds $(f1 "$(agg_growth)" 2) µs per scrape (from ${scale_workers%% *} to ${scale_workers##* } workers)."
	echo
	echo "### Scale: idle keep-alive connections held open (/health keep-alive, c$c0)"
	echo
	echo "| peer | idle connections | workers | kept open by the server | RSS per idle connection, bytes | p99 without ms | p99 with ms | ratio | req/s without | req/s with |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for p in observd nginx; do
		for n in $scale_idle; do
			[[ -n $(xfig "$p" idle_scale_bytes_per_conn "$n") ]] || continue
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$n" "$(xfig "$p" idle_scale_workers "$n")" \
				"$(f1 "$(xfig "$p" idle_scale_open "$n")" 0)" "$(f1 "$(xfig "$p" idle_scale_bytes_per_conn "$n")" 0)" \
				"$(f1 "$(fig "$p" "idle$n-none" "$c0" 7)" 2)" "$(f1 "$(fig "$p" "idle$n-held" "$c0" 7)" 2)" \
				"$(f1 "$(pair_ratio "$p" "idle$n-held" "idle$n-none" 7)" 2)" \
				"$(kf "$(fig "$p" "idle$n-none" "$c0" 5)")" "$(kf "$(fig "$p" "idle$n-held" "$c0" 5)")"
		done
	done
	echo
	echo "nginx runs these with \`worker_connections\` raised to the count + 1024 (it allocates that many connection structures at start, so its fixed part grows, not its per-connection figure); observd with \`--max-connections\` at the count.  Both keep idle connections 10 min here (opening 50,000 can take longer than their 60 s keep-alive timeout), and run more than two workers where one process's descriptor limit (${nofile:-$(ulimit -n)} in this run) cannot hold the count with a quarter to spare, and the client spreads the connections over as many processes."
}

# row FIGURE VALUE "OP LIMIT" [DECIMALS]: a "| figure | ratio/value | target | verdict |" row
row() { printf '| %s | %s | %s | %s |\n' "$1" "$(f1 "$2" "${4:-2}")" "$3" "$(verdict "$2" "${3%% *}" "${3##* }")"; }
sandbox_row() { # the system call filter's cost
	row "server CPU per /health keep-alive request, system call filter on / off (c${conns_all[0]})" \
		"$(pair_ratio observd sandbox-on sandbox-off 8)" "<= 1.03" 3
}

ratio_rows() { # "| figure | ratio/value | target | verdict |" rows
	local c0=${conns_all[0]} cN=${conns_all[-1]} v
	if [[ " ${peers[*]} " == *" nginx "* ]]; then
		row "/health keep-alive req/s, observd/nginx (c$c0)" "$(rfig observd nginx health-ka "$c0" 5)" ">= 1.10"
		[[ $cN != "$c0" ]] && row "/health keep-alive req/s, observd/nginx (c$cN)" "$(rfig observd nginx health-ka "$cN" 5)" ">= 1.10"
		row "server CPU per /health keep-alive request, observd/nginx (c$c0)" "$(rfig observd nginx health-ka "$c0" 8)" "<= 0.80"
		row "server CPU per /health close request, observd/nginx (c$c0)" "$(rfig observd nginx health-close "$c0" 8)" "<= 1.00"
		row "/health close req/s, observd/nginx (c$c0)" "$(rfig observd nginx health-close "$c0" 5)" ">= 1.00"
		for c in "${conns_all[@]}"; do
			row "/health keep-alive p99, observd/nginx (c$c)" "$(rfig observd nginx health-ka "$c" 7)" "<= 1.0"
		done
	fi
	if [[ " ${peers[*]} " == *" flask "* ]]; then
		row "/health keep-alive req/s, observd/Flask (c$c0)" "$(rfig observd flask health-ka "$c0" 5)" ">= 15" 1
		row "/metrics req/s (app port), observd/Flask (c$c0)" "$(rfig observd flask metrics-app "$c0" 5)" ">= 20" 1
		row "/metrics req/s (:9464), observd/Flask /metrics (c$c0)" "$(rfig observd flask metrics-port "$c0" 5 metrics-app)" ">= 20" 1
	fi
	row "aggregator CPU per scrape, µs (/proc, /metrics :9464 run, c$c0)" "$(xfig observd agg_cpu_us_per_scrape "$c0")" "<= 100" 1
	row "render time per scrape, µs (observd_metrics_scrape_duration_seconds_total / observd_metrics_scrapes_total)" "$(xfig observd scrape_render_us)" "<= 100" 1
	v=$(awk -F'\t' '$1 == "cg" && $3 == "ir_per_request" { ir[$2] = $5 }
		END { if (ir["observd-off"] > 0) print (ir["observd-on"] / ir["observd-off"] - 1) * 100 }' "$out/extra.tsv")
	row "accounting cost, % more instructions per /health request (callgrind)" "$v" "<= 3" 1
	row "/health keep-alive req/s with a 10/s scraper / without (c$c0)" "$(scrape_ratio)" ">= 0.98"
	row "RSS of master + 2 workers + aggregator after load, MiB" "$(mfig observd 3)" "<= 8" 1
	v=$(xfig observd idle_bytes_per_conn)
	[[ -n $v ]] && v=$(awk -v v="$v" 'BEGIN { print v / 1024 }')
	row "RSS per idle keep-alive connection, KiB" "$v" "<= 2" 2
	row "exec → first 200 on /ready, ms" "$(xfig observd startup_ms)" "<= 50" 1
	if [[ " ${peers[*]} " == *" observd "* ]]; then
		local ao po an pn wl=${scale_workers##* } n
		ao=$(attack_ratio observd 5) po=$(attack_ratio observd 7)
		row "/health keep-alive req/s under attack / clean, observd (c$c0)" "$ao" ">= 0.90"
		row "/health keep-alive p99 under attack / clean, observd (c$c0)" "$po" "<= 2.0"
		if [[ " ${peers[*]} " == *" nginx "* ]]; then
			an=$(attack_ratio nginx 5) pn=$(attack_ratio nginx 7)
			row "req/s under attack / clean: observd's ratio / nginx's (c$c0)" "$(div "$ao" "$an")" ">= 1.00"
			row "p99 under attack / clean: observd's ratio / nginx's (c$c0)" "$(div "$po" "$pn")" "<= 1.00"
		fi
		row "aggregator CPU per scrape with $wl workers, µs (c$c0)" "$(xfig observd "agg_cpu_us_per_scrape-w$wl" "$c0")" "<= 100" 1
		sandbox_row
		for n in $scale_idle; do
			v=$(xfig observd idle_scale_bytes_per_conn "$n")
			[[ -n $v ]] && v=$(awk -v v="$v" 'BEGIN { print v / 1024 }')
			row "RSS per idle keep-alive connection with $n held open, KiB" "$v" "<= 1" 2
			row "/health keep-alive p99 with $n idle connections / without (c$c0)" \
				"$(pair_ratio observd "idle$n-held" "idle$n-none" 7)" "<= 1.5"
		done
	fi
}

# Median over rounds of a per-run figure of PEER TEST CONNS: user-space
# CPU µs per request (server CPU minus its kernel part).
ufig() { awk -F'\t' -v p="$1" -v t="$2" -v c="$3" '$2 == p && $3 == t && $4 == c { print $8 - $13 }' "$out/results.tsv" | median_of; }
# wrk's CPU µs per request in PEER's /health keep-alive run at CONNS: its
# share of a CPU over req/s (medians).
wrk_us() { awk -v c="$(fig "$1" health-ka "$2" 11)" -v r="$(fig "$1" health-ka "$2" 5)" 'BEGIN { if (r > 0) print c / 100 * 1e6 / r }'; }

limits_section() { # ROWS (of ratio_rows): a paragraph for each missed target
	local missed c0=${conns_all[0]} other="" line ka_done=0 att_done=0 attn_done=0
	missed=$(grep -F '**missed**' <<<"$1")
	if [[ -z $missed ]]; then
		echo "Every target was met in this run."
		return
	fi
	while IFS= read -r line; do
		case $line in
		"| server CPU per /health keep-alive request, system call filter"*)	# (before the next, which matches it too)
			cat <<EOT
- **System call filter (≤ 1.03× the CPU per request without it).** With the filter
  observd's processes spent $(f1 "$(ufig observd sandbox-on "$c0")" 2) µs per request in user space and $(f1 "$(fig observd sandbox-on "$c0" 13)" 2) µs in the kernel;
  without it $(f1 "$(ufig observd sandbox-off "$c0")" 2) µs and $(f1 "$(fig observd sandbox-off "$c0" 13)" 2) µs.  The kernel runs the filter at the entry of each
  system call (per keep-alive request a \`read\` and a \`write\`, and a share of an
  \`epoll_wait\`), so what it costs is kernel time; a difference in user space is the
  run-to-run noise of a shared machine (the per-round ratios are above).
EOT
			;;
		"| server CPU per /health keep-alive request"*)
			local ou ok nu nk ir
			ou=$(ufig observd health-ka "$c0") ok=$(fig observd health-ka "$c0" 13)
			nu=$(ufig nginx health-ka "$c0") nk=$(fig nginx health-ka "$c0" 13)
			ir=$(awk -F'\t' '$1 == "cg" && $2 == "observd-on" && $3 == "ir_per_request" { printf "%.0f", $5 }' "$out/extra.tsv")
			cat <<EOT
- **Server CPU per keep-alive request (≤ 0.80× nginx).** Per request observd's
  workers spend $(f1 "$ou" 2) µs in user space and $(f1 "$ok" 1) µs in the kernel; nginx's,
  $(f1 "$nu" 2) µs and $(f1 "$nk" 1) µs (the "of which kernel" column).  Both make the same
  system calls per request — one \`read\`, one \`write\`, and an \`epoll_wait\` shared by
  several requests (\`strace -c\` on a worker) — so the kernel does the same work for both:
  TCP over loopback (with this machine's netfilter conntrack and BBR on every packet),
  epoll, waking wrk.  With no user-space time at all observd would be at
  $(awk -v k="$ok" -v u="$nu" -v n="$nk" 'BEGIN { if (u + n > 0) printf "%.2f", k / (u + n); else print "n/a" }')× nginx: the target asks for less kernel work per request than nginx's,
  that is fewer system calls per request — several requests per \`read\` (only
  pipelining clients send them) or batching across connections (io_uring) — which this
  single-request keep-alive load does not allow.  In user space observd runs about
  ${ir:-n/a} instructions per request (the callgrind table above), and its user-space
  time per request is $(awk -v o="$ou" -v n="$nu" 'BEGIN { if (n > 0) printf "%.2f", o / n; else print "n/a" }')× nginx's.
EOT
			;;
		"| /health keep-alive req/s, observd/nginx"*)
			((ka_done)) && continue		# one paragraph for both connection counts
			ka_done=1
			local wo wn so sn
			wo=$(wrk_us observd "$c0") wn=$(wrk_us nginx "$c0")
			so=$(fig observd health-ka "$c0" 8) sn=$(fig nginx health-ka "$c0" 8)
			cat <<EOT
- **/health keep-alive req/s (≥ 1.10× nginx).** wrk shares the two CPUs with the
  servers and is near saturation (its CPU column: $(f1 "$(fig observd health-ka "$c0" 11)" 0) % of a core at $c0 connections),
  so each request costs the machine wrk's CPU as well as the server's: $(f1 "$wo" 1) + $(f1 "$so" 1) µs
  with observd, $(f1 "$wn" 1) + $(f1 "$sn" 1) µs with nginx.  The client's half, which both pay,
  dilutes observd's lead in server CPU; a larger lead in req/s needs a lower server
  CPU per request, which the next paragraph explains.
EOT
			;;
		"| server CPU per /health close request"*)
			cat <<EOT
- **Server CPU per close request (≤ 1.00× nginx).** A connection per request: observd's
  workers spend $(f1 "$(ufig observd health-close "$c0")" 1) µs in user space and $(f1 "$(fig observd health-close "$c0" 13)" 1) µs in the kernel per request,
  nginx's $(f1 "$(ufig nginx health-close "$c0")" 1) µs and $(f1 "$(fig nginx health-close "$c0" 13)" 1) µs.  The kernel's part — the TCP handshake and teardown,
  accept, the socket's set-up and release — is nearly all of it, and both make six system
  calls per connection (\`strace -c\`: observd \`accept4\`, \`epoll_ctl\` add, \`read\`, \`write\`,
  \`epoll_ctl\` delete, \`close\`; nginx the same without the delete, which \`close\` does,
  and one more \`epoll_wait\` per connection), so the ratio sits at parity and the
  run-to-run noise decides which side of 1.00 it lands on.
EOT
			;;
		"| /metrics req/s (:9464)"*)
			cat <<EOT
- **/metrics on :9464 (≥ 20× Flask's /metrics).** The metrics port is served by one
  aggregator process on purpose (one scrape target, one writer of the scrape counters);
  Flask's /metrics runs in its two workers.  Per scrape the aggregator uses
  $(f1 "$(xfig observd agg_cpu_us_per_scrape "$c0")" 1) µs of CPU (of which rendering $(f1 "$(xfig observd scrape_render_us)" 1) µs) against
  $(f1 "$(fig flask metrics-app "$c0" 8)" 0) µs for Flask's whole tree; it runs on one CPU while Flask's two workers use both.
EOT
			;;
		"| /health keep-alive req/s with a 10/s scraper"*)
			cat <<EOT
- **Throughput with a 10/s scraper (≥ 0.98× without).** The aggregator's own cost,
  10 × $(f1 "$(xfig observd agg_cpu_us_per_scrape "$c0")" 0) µs a second, is well under 1 % of a CPU.  The scraper is a Python
  process: on two CPUs already saturated by wrk and the workers, its wake-ups are
  taken from the measured load, and single runs differ by more than the target's 2 %.
EOT
			;;
		"| /health keep-alive req/s under attack / clean, observd"* | "| /health keep-alive p99 under attack / clean, observd"*)
			((att_done)) && continue	# one paragraph for both
			att_done=1
			cat <<EOT
- **Goodput under attack (req/s ≥ 0.90× clean, p99 ≤ 2× clean).** Clean, observd answered
  $(kf "$(clean_fig observd 5)") req/s at $(f1 "$(clean_fig observd 7)" 2) ms p99; under attack $(kf "$(fig observd attack-on "$c0" 5)") req/s at $(f1 "$(fig observd attack-on "$c0" 7)" 2) ms
  ($(f1 "$(attack_ratio observd 5)" 2)× and $(f1 "$(attack_ratio observd 7)" 2)×).  Its workers' CPU per /health request went from $(f1 "$(clean_fig observd 8)" 1) µs clean
  to $(f1 "$(fig observd attack-on "$c0" 8)" 1) µs under attack: the difference is what the attack's own connections cost them
  (accepts, heads, 408s, resets, malformed requests), spread over wrk's requests.  The attack
  client used $(f1 "$(xfig observd attack_client_cpu_pct)" 0) % of a CPU and wrk $(f1 "$(fig observd attack-on "$c0" 11)" 0) % ($(f1 "$(clean_fig observd 11)" 0) % clean): on two CPUs shared by wrk, the
  attacker and the server, the CPU the attack takes is missing from the measured load, and
  requests wait for a CPU as well as for the server.
EOT
			;;
		"| req/s under attack / clean: observd's ratio / nginx's"* | "| p99 under attack / clean: observd's ratio / nginx's"*)
			((attn_done)) && continue
			attn_done=1
			cat <<EOT
- **Under attack, against nginx.** nginx kept $(f1 "$(attack_ratio nginx 5)" 2)× of its req/s and $(f1 "$(attack_ratio nginx 7)" 2)× its p99 under the
  same attack (observd $(f1 "$(attack_ratio observd 5)" 2)× and $(f1 "$(attack_ratio observd 7)" 2)×); its workers spent $(f1 "$(fig nginx attack-on "$c0" 8)" 1) µs of CPU per
  request under attack, $(f1 "$(clean_fig nginx 8)" 1) µs clean.  nginx holds the slowloris connections for its
  60 s \`client_header_timeout\` and the slow readers for its 60 s \`send_timeout\`, so the attack
  client reopened $(f1 "$(attack_reopened nginx)" 0) connections against it in a round and $(f1 "$(attack_reopened observd)" 0) against observd,
  whose 10 s timeouts cut them (each cut is a new connection, head and answer to handle).
EOT
			;;
		"| aggregator CPU per scrape with"*)
			cat <<EOT
- **Aggregator CPU per scrape at ${scale_workers##* } workers (≤ 100 µs).** $(f1 "$(xfig observd "agg_cpu_us_per_scrape-w${scale_workers##* }" "$c0")" 1) µs per scrape; each
  worker adds $(f1 "$(agg_growth)" 2) µs: the renderer sums every slot's request counters and histograms
  (methods × routes × statuses, and the buckets) on each scrape.
EOT
			;;
		"| RSS per idle keep-alive connection with"*)
			local rn
			rn=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "with") { print $(i + 1); exit } }')
			cat <<EOT
- **RSS per idle connection with $rn held open (≤ 1 KiB).** observd's workers grew by
  $(f1 "$(xfig observd idle_scale_bytes_per_conn "$rn")" 0) bytes per connection (nginx $(f1 "$(xfig nginx idle_scale_bytes_per_conn "$rn")" 0)): the connection's state and libevent's event,
  plus the allocator's rounding; no buffer is kept for an idle connection.
EOT
			;;
		"| /health keep-alive p99 with"*)
			local pn
			pn=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "with") { print $(i + 1); exit } }')
			cat <<EOT
- **p99 with $pn idle connections (≤ 1.5× without).** $(f1 "$(fig observd "idle$pn-held" "$c0" 7)" 2) ms with them, $(f1 "$(fig observd "idle$pn-none" "$c0" 7)" 2) ms
  without (nginx $(f1 "$(fig nginx "idle$pn-held" "$c0" 7)" 2) and $(f1 "$(fig nginx "idle$pn-none" "$c0" 7)" 2) ms); observd's workers spent $(f1 "$(fig observd "idle$pn-held" "$c0" 8)" 1) µs of
  CPU per request with them, $(f1 "$(fig observd "idle$pn-none" "$c0" 8)" 1) µs without, and served $(kf "$(fig observd "idle$pn-held" "$c0" 5)") and $(kf "$(fig observd "idle$pn-none" "$c0" 5)") req/s.
  epoll reports only the connections that are ready; the sweep timer visits all of them every
  tick (at most every 250 ms).  Single p99 figures on this shared machine also move with
  its load (the load average is under Machine).
EOT
			;;
		*)
			other+="${other:+; }$(echo "$line" | awk -F'|' '{gsub(/^ +| +$/, "", $2); print $2}')"
			;;
		esac
	done <<<"$missed"
	[[ -z $other ]] || echo "- Also missed in this run, without an analysis here: $other."
}

# sandbox_section [alone]: the report's section on the system call filter;
# "alone": the whole report of a --sandbox-only run, with its own command,
# date, machine and target row (docs/BENCHMARKS.md gets it in place of the
# section of the same title).
sandbox_section() {
	local c0=${conns_all[0]} on off nk
	echo "## System call filter: server CPU per request, on and off"
	echo
	if [[ ${1:-} == alone ]]; then
		cat <<EOF
Measured by \`$cmd_doc\` on $run_date ($rounds rounds, ${secs} s per wrk run),
apart from the rest of this file: that command rewrites this section only, a full
run the whole file.

$(machine)

| figure | value | target | |
|---|---|---|---|
$(sandbox_row)

EOF
	fi
	cat <<EOF
Each round starts observd twice more, on fresh starts, as in the other runs (2 workers,
shipped defaults but for the port, the listen addresses and the template): with its
seccomp filter on, as shipped, and with \`--no-sandbox\`; on first in odd rounds, off first
in even ones.  Each gets one \`wrk -t1 -c$c0 -d${secs}s\` run on \`/health\` keep-alive after a
1 s warm-up; server CPU per request is utime + stime of the whole tree over the requests
wrk completed.  A worker's \`Seccomp:\` line in \`/proc/PID/status\` is checked (2 with the
filter, 0 without).  nginx's \`/health\` keep-alive run at c$c0 in the same rounds, for scale.

$(result_head)
$(result_row observd "/health keep-alive, filter on (as shipped)" sandbox-on "$c0")
$(result_row observd "/health keep-alive, filter off (\`--no-sandbox\`)" sandbox-off "$c0")
$([[ -n $(fig nginx health-ka "$c0" 8) ]] && result_row nginx "/health keep-alive" health-ka "$c0")

EOF
	on=$(fig observd sandbox-on "$c0" 8) off=$(fig observd sandbox-off "$c0" 8) nk=$(fig nginx health-ka "$c0" 8)
	echo "Filter on / off, medians of the per-round ratios: server CPU per request $(f1 "$(pair_ratio observd sandbox-on sandbox-off 8)" 3)" \
		"(per round: $(pair_ratios observd sandbox-on sandbox-off 8 | awk '{ printf "%s%.3f", (NR > 1 ? ", " : ""), $2 }')), req/s" \
		"$(f1 "$(pair_ratio observd sandbox-on sandbox-off 5)" 3).  The medians of CPU per request differ by" \
		"$(awk -v a="$on" -v b="$off" -v n="$nk" 'BEGIN { if (a == "" || b == "") print "n/a"; else {
			printf "%.2f µs", a - b; if (n > 0) printf " (%.1f %% of the CPU per request of nginx)", (a - b) / n * 100 } }')."
	if [[ ${1:-} == alone && $(sandbox_row) == *'**missed**'* ]]; then
		echo
		limits_section "$(sandbox_row)"
	fi
}

machine() {
	echo "- $(nproc) CPUs: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
	echo "- kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "- load average at the start: $load_start, at the end: ${load_end:-n/a} (other jobs share the machine)"
	echo "- $("$build/on/observd" -V 2>&1 | head -3 | tr '\n' ' ')(built by the harness: configure defaults, hardening on, CFLAGS \"-g -O2\")"
	echo "- $(nginx -v 2>&1), gunicorn $(gunicorn --version 2>&1 | awk '{print $NF}' | tr -d '()'), Flask $("$PY" -c 'import importlib.metadata as m; print(m.version("flask"))' 2>/dev/null), prometheus_client $("$PY" -c 'import importlib.metadata as m; print(m.version("prometheus_client"))' 2>/dev/null), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(valgrind --version)"
}

write_report() { # FILE
	local f=$1 png=$2 rows cmd_doc
	# The results directory is the run's own (a temporary one by default):
	# the document names neither it nor where it was.
	cmd_doc=$(sed -E 's/ (-o|--report) [^ ]+//g' <<<"$cmdline")
	if ((sandbox_only)); then
		sandbox_section alone >"$f"
		return
	fi
	rows=$(ratio_rows)
	{
		cat <<EOF
# observd benchmarks

Generated by \`tests/bench/run.sh\` from its run of ${run_date:-$(date -u "+%F %H:%M UTC")} — re-running it rewrites this file
and \`docs/bench.png\`.  Raw output (wrk runs, logs, callgrind files, results.tsv): the run's
results directory (\`-o DIR\`), not kept in git.

Command: \`$cmd_doc\` ($rounds rounds, ${secs} s per wrk run, wrk -t1 at ${conns_all[*]} connections;
full run $(awk -v a="$t_start" -v b="${t_end:-$EPOCHREALTIME}" 'BEGIN { printf "%.0f", (b - a) / 60 }') min).

## Machine

$(machine)

## Method

- Three peers, each with 2 workers, on their own loopback port, started one at a time;
  every round starts each peer afresh, even rounds in reverse order.  Figures are medians
  over the rounds; **ratios are medians of the per-round ratios** (the peers of one round
  ran minutes apart on the same machine, so their ratio is steadier than either number).
  - **observd**: shipped defaults except \`--port\`, \`--listen 127.0.0.1\`,
    \`--metrics-listen 127.0.0.1\` and \`--template\`; \`--workers 2\`; metrics on (port 9464
    and \`/metrics\` on the app port).  Master + 2 workers + aggregator.
  - **nginx**: \`tests/bench/nginx.conf\` (2 workers, \`listen … reuseport\`, no logging,
    \`/health\` and \`/\` answered from memory with observd's security headers).
  - **Flask**: \`tests/bench/flask_app.py\` under gunicorn, 2 sync workers,
    prometheus_client multiprocess mode (\`/metrics\` merges both workers' files).
- Load: \`wrk -t1 -c{${conns_all[*]}} -d${secs}s --latency --timeout 5s\` after a 1 s warm-up
  (\`/metrics\` on port 9464: only at ≤ 64 connections, see the notes); wrk runs on
  the same $(nproc) CPUs as the servers (its CPU % is in the table: near 100 % means the
  client was the limit, which is the case for every "close" run).
- **Server CPU per request**: utime + stime of every process of the peer's tree
  (\`/proc/PID/stat\`) before and after the run, divided by the requests wrk completed.
  Kernel time is included (stime alone is the "of which kernel" column); this is the
  steadiest figure on a shared machine.
- Memory: VmRSS and Pss summed over the tree after all load runs.  Idle connections,
  on a freshly started peer: \`benchtool.py idle\` opens $idle_n connections, sends one keep-alive \`GET /health\` on each,
  keeps them open; (tree RSS with them − before) / $idle_n.  gunicorn's sync workers
  close every connection after the answer, so Flask holds none of them.
- Start-up: a subshell waits at a FIFO, notes the time and \`exec\`s the server;
  \`benchtool.py ready\` opens the gate and polls every 0.5 ms until the first 200.
- Scraper: \`benchtool.py scrape\` pulls \`/metrics\` from port 9464 10 times a second on one
  keep-alive connection during two /health runs; their req/s is compared with the runs
  just before and just after them, without it (A B B A, one ratio per round).
- Aggregator CPU per scrape: the aggregator process's CPU time during the \`/metrics\`
  (:9464) wrk run divided by its requests; and observd's own
  \`observd_metrics_scrape_duration_seconds_total / observd_metrics_scrapes_total\`
  (rendering and compression time only).
- Goodput under attack (observd and nginx, each on a fresh start): \`wrk\` on \`/health\`
  keep-alive at c${conns_all[0]}, clean, then while \`benchtool.py attack\` runs ($attack_loris slowloris
  connections sending a byte a second each, $attack_readers slow readers pipelining \`GET /\` with
  4 KiB socket buffers and reading a byte a second, $attack_bad malformed requests a second
  on fresh connections; every connection the server closes is opened again) after a
  ${attack_ramp} s ramp, then clean again.  The attacker shares the CPUs too (its CPU % is in the
  table).  Workers' RSS: the sum over the worker processes at the end of the attacked run.
- Scale: observd with ${scale_workers// /, } workers (fresh start each), \`wrk\` on \`/metrics\` of the metrics
  port at c${conns_all[0]}, the aggregator's CPU per scrape; and, for observd and nginx, \`/health\` keep-alive
  on a fresh start, then ${scale_idle// / and } idle keep-alive connections opened (from several
  127.0.0.x source addresses) and held, their RSS per connection, and \`/health\` again.
- Instructions per request: \`valgrind --tool=callgrind --trace-children=yes\`, observd with
  1 worker; the worker's total Ir after $((cg_n + 1)) keep-alive \`/health\` requests on one
  connection minus its Ir after 1 request (the idle baseline: start-up, probes, one
  connection), divided by $cg_n; with \`--no-sandbox\` (valgrind does not implement
  seccomp).  "off" is built with \`CPPFLAGS=-DOBSERVD_NO_ACCOUNTING\`
  (\`shm_record_request()\` becomes a no-op; the clock reads stay).  User-space
  instructions only: the kernel's share of a request is not in this figure.

## Targets

| figure | value | target | |
|---|---|---|---|
$rows

## Results

$(results_tables)

### Instructions per /health keep-alive request (callgrind, one worker)

| build | Ir per request |
|---|---|
$(awk -F'\t' '$1 == "cg" && $3 == "ir_per_request" { printf "| %s | %.0f |\n", ($2 == "observd-on" ? "accounting on (as shipped)" : "accounting compiled out"), $5 }' "$out/extra.tsv")

Where they go, accounting on: inclusive Ir of the worker's functions below the event
loop over the whole run, divided by the $cg_n requests (start-up is < 2 % of the run):

\`\`\`
$(if [[ -s $out/callgrind/annotate.on.txt ]]; then
	awk -v n="$cg_n" '/^-+$/ { d++; next } d >= 3 && NF && $1 ~ /^[0-9,]+$/ {
		v = $1; gsub(/,/, "", v); fn = $0; sub(/.*\)  /, "", fn); sub(/ \[.*/, "", fn)
		sub(/^.*\//, "", fn); if (fn ~ /event_base_loop/) on = 1
		if (on && v / n >= 40 && !seen[fn]++ && shown++ < 16) printf "%7.0f  %s\n", v / n, fn }' "$out/callgrind/annotate.on.txt"
else echo "(no callgrind_annotate output)"; fi)
\`\`\`

![req/s and p99 per peer](bench.png)

$([[ " ${peers[*]} " == *" observd "* ]] && sandbox_section)

## Notes

- On a shared 2-CPU machine wrk competes with the servers for the CPUs: req/s and p99
  swing by ±20 % (more when other jobs run: see the load average above); server CPU per
  request and the per-round ratios are the figures to trust, and callgrind's counts do
  not depend on the load at all.
- \`/metrics\` on port 9464 runs only at ≤ 64 connections: the aggregator accepts 64
  (\`AGG_MAX_CONNS\`), more get a fast 503 by design.
- gunicorn's sync workers close every connection after one answer, so Flask's
  "keep-alive" rows are a reconnect per request, and it holds no idle connection.
- observd's "bytes per idle connection" counts user-space memory (the process tree's RSS);
  the kernel's socket buffers are not in it, for any peer.

## What limits the targets that are missed

$(limits_section "$rows")
EOF
	} >"$f"
}

# splice_section SECTION DOC: in DOC, SECTION (a "## " title and its text)
# in place of the section of the same title, or else before the Notes, or
# else at the end
splice_section() {
	awk -v sf="$1" '
		BEGIN { while ((getline l <sf) > 0) sec = sec l "\n"; title = substr(sec, 1, index(sec, "\n") - 1) }
		function put() { if (!done) printf "%s\n", sec; done = 1 }
		$0 == title { put(); skip = 1; next }
		skip && /^## / { skip = 0 }
		skip { next }
		/^## Notes$/ { put() }
		{ print }
		END { if (!done) printf "\n%s", sec }' "$2" >"$2.new" && mv "$2.new" "$2"
}

plot() { # PNG: throughput and p99 per peer and run, medians over rounds
	local png=$1 dat=$out/plot.dat p c t x y
	: >"$dat"
	for c in "${conns_all[@]}"; do
		for t in health-ka health-close root-ka metrics-app; do
			case $t in
			health-ka) printf '"/health ka c%s"' "$c" ;; health-close) printf '"/health close c%s"' "$c" ;;
			root-ka) printf '"/ ka c%s"' "$c" ;; metrics-app) printf '"/metrics c%s"' "$c" ;;
			esac >>"$dat"
			for p in observd nginx flask; do
				x=$(fig "$p" "$t" "$c" 5) y=$(fig "$p" "$t" "$c" 7)
				printf ' %s %s' "${x:-NaN}" "${y:-NaN}" >>"$dat"
			done
			echo >>"$dat"
		done
	done
	gnuplot <<EOF 2>"$out/gnuplot.log"
set terminal pngcairo size 1100,760 font ",10"
set output "$png"
set multiplot layout 2,1 title "observd vs nginx vs Flask: medians of $rounds rounds, wrk -t1, 2 workers each, $(nproc) CPUs"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set xtics scale 0 font ",9"
set key top right
set logscale y
set ylabel "requests/s (log)"
set yrange [100:*]
plot "$dat" using 2:xtic(1) title "observd" lc rgb "#1f77b4", "" using 4 title "nginx" lc rgb "#2ca02c", "" using 6 title "Flask" lc rgb "#d62728"
set ylabel "p99 latency ms (log)"
set yrange [0.1:*]
plot "$dat" using 3:xtic(1) title "observd" lc rgb "#1f77b4", "" using 5 title "nginx" lc rgb "#2ca02c", "" using 7 title "Flask" lc rgb "#d62728"
unset multiplot
EOF
}

# numbers PEER TEST: a failure unless PEER's run TEST at the first
# connection count has numbers in every round
numbers() {
	local n
	n=$(awk -F'\t' -v p="$1" -v t="$2" -v c="${conns_all[0]}" '$2 == p && $3 == t && $4 == c && $5 > 0 && $9 > 0 && $8 > 0 && $7 > 0 { print }' "$out/results.tsv" | wc -l)
	((n == rounds)) || fail "$1 $2 c${conns_all[0]}: no numbers"
}

smoke_check() { # every expected row exists with numbers and no errors
	local p t c n
	awk -F'\t' '$10 > 0 { print "wrk errors: " $0 }' "$out/results.tsv" | while read -r l; do log "FAIL: $l"; echo x; done | grep -q x && failures=$((failures + 1))
	if [[ " ${peers[*]} " == *" observd "* ]]; then
		for t in sandbox-on sandbox-off; do numbers observd "$t"; done
		grep -F "system call filter on / off" "$report" | grep -qv 'n/a' ||
			fail "observd: no filter on / off ratio in the report"
	fi
	if ((sandbox_only)); then
		[[ " ${peers[*]} " == *" nginx "* ]] && numbers nginx health-ka
		return 0
	fi
	for p in "${peers[@]}"; do
		while read -r t _; do numbers "$p" "$t"; done < <(tests_for "$p")
		[[ -n $(xfig "$p" startup_ms) ]] || fail "$p: no start-up time"
		[[ -n $(mfig "$p" 3) ]] || fail "$p: no memory figures"
		[[ -n $(xfig "$p" idle_bytes_per_conn) ]] || fail "$p: no idle-connection figure"
	done
	for p in observd nginx; do
		[[ " ${peers[*]} " == *" $p "* ]] || continue
		for t in attack-clean attack-on attack-clean-2; do
			[[ -n $(fig "$p" "$t" "${conns_all[0]}" 5) ]] || fail "$p $t: no numbers"
		done
		[[ -n $(xfig "$p" attack_workers_rss_kib) ]] || fail "$p: no workers' RSS under attack"
		for n in $scale_idle; do
			[[ -n $(xfig "$p" idle_scale_bytes_per_conn "$n") && -n $(fig "$p" "idle$n-held" "${conns_all[0]}" 7) ]] ||
				fail "$p: no figures with $n idle connections"
		done
	done
	if [[ " ${peers[*]} " == *" observd "* ]]; then
		for w in $scale_workers; do
			[[ -n $(xfig observd "agg_cpu_us_per_scrape-w$w" "${conns_all[0]}") ]] ||
				fail "observd: no aggregator CPU per scrape with $w workers"
		done
		[[ -n $(xfig observd scrape_render_us) ]] || fail "observd: no scrape render time"
		[[ -n $(xfig observd agg_cpu_us_per_scrape "${conns_all[0]}") ]] || fail "observd: no aggregator CPU per scrape"
		[[ -n $(scrape_ratio) ]] || fail "observd: no scraper run"
		for v in on off; do
			[[ -n $(awk -F'\t' -v v="observd-$v" '$1 == "cg" && $2 == v { print $5 }' "$out/extra.tsv") ]] ||
				fail "callgrind $v: no instructions per request"
		done
	fi
}

# ----------------------------------------------------------------------- main

measure() { # everything but the report
	((install)) && { install_missing || { log "run.sh: could not install the dependencies"; exit 1; }; }
	for c in wrk nginx gunicorn valgrind curl; do
		command -v "$c" >/dev/null || { log "run.sh: $c is missing (run without --no-install)"; exit 1; }
	done
	for p in $P_OBS $P_OBS_M $P_NGINX $P_FLASK $P_CG $P_CG_M; do
		if ss -Hltn "sport = :$p" | grep -q .; then log "run.sh: port $p is already in use"; exit 1; fi
	done
	# 500 wrk connections, up to 50,000 idle ones: each end needs the
	# descriptors (root may raise the hard limit).
	local need n
	need=$((2 * idle_n + 1024))
	for n in $scale_idle; do ((n + 4096 > need)) && need=$((n + 4096)); done
	[[ $(ulimit -Hn) != unlimited ]] && (( $(ulimit -Hn) < need )) && ulimit -Hn "$need" 2>/dev/null
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	(( $(ulimit -n) >= need )) ||
		log "run.sh: ulimit -n is $(ulimit -n), not $need: the idle connections are spread over several client processes and server workers"
	nofile=$(ulimit -n)
	load_start=$(cut -d' ' -f1-3 /proc/loadavg)
	run_date=$(date -u "+%F %H:%M UTC")

	log "# building observd (accounting on / off) under $build"
	build_observd on || exit 1
	if [[ " ${peers[*]} " == *" observd "* ]] && ((!sandbox_only)); then
		build_observd off -DOBSERVD_NO_ACCOUNTING || exit 1
	fi
	: >"$out/results.tsv"; : >"$out/extra.tsv"; : >"$out/memory.tsv"
	log "# results in $out; $rounds round(s), ${secs} s per run, wrk -t1 -c{${conns_all[*]}}"
	# What a round runs, in this order (even rounds: reversed): each peer,
	# then observd's filter on/off pair; --sandbox-only: nginx's /health
	# keep-alive run and the pair.
	local units=() p
	for p in "${peers[@]}"; do
		((sandbox_only)) && [[ $p != nginx ]] && continue
		units+=("$p")
	done
	[[ " ${peers[*]} " == *" observd "* ]] && units+=(sandbox)
	for ((r = 1; r <= rounds; r++)); do
		order=("${units[@]}")
		if ((r % 2 == 0)); then
			order=(); for ((i = ${#units[@]} - 1; i >= 0; i--)); do order+=("${units[i]}"); done
		fi
		for name in "${order[@]}"; do
			if [[ $name == sandbox ]]; then
				sandbox_test "$r"
			elif ((sandbox_only)); then
				fresh_run "$name" "$r" health-ka
				stop_peer
			else
				run_peer "$name" "$r"
			fi
		done
	done
	[[ " ${peers[*]} " == *" observd "* ]] && ((!sandbox_only)) && callgrind_pass
	load_end=$(cut -d' ' -f1-3 /proc/loadavg)
	declare -p rounds secs smoke sandbox_only idle_n cg_n conns_list peers_sel cmdline load_start load_end t_start run_date \
		attack_loris attack_readers attack_bad attack_ramp scale_idle scale_workers nofile >"$out/settings"
	echo "t_end=$EPOCHREALTIME" >>"$out/settings"
}

if [[ -n $report_only ]]; then	# the settings of that run, then straight to the report
	# shellcheck disable=SC1091
	. "$out/settings" || exit 1
	read -ra peers <<<"$peers_sel"; read -ra conns_all <<<"$conns_list"
else
	measure
fi

report=$out/BENCHMARKS.md png=$out/bench.png
((sandbox_only)) || plot "$png" || log "run.sh: gnuplot failed: $(cat "$out/gnuplot.log")"
write_report "$report" "$png"
if ((write_doc)) && ((sandbox_only)); then
	splice_section "$report" "$repo/docs/BENCHMARKS.md" || exit 1
	log "# wrote its section of docs/BENCHMARKS.md"
elif ((write_doc)); then
	cp "$report" "$repo/docs/BENCHMARKS.md"
	[[ -f $png ]] && cp "$png" "$repo/docs/bench.png"
	log "# wrote docs/BENCHMARKS.md and docs/bench.png"
fi
((smoke)) && smoke_check
log "# $(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s; report: $report"
if ((sandbox_only)); then
	cat "$report" >&2
else
	sed -n '/^## Targets/,/^## Results/p' "$report" | sed '$d' >&2
fi
if ((failures)); then
	log "run.sh: $failures check(s) failed; everything is in $out"
	exit 1
fi
if ((smoke)) && ((!keep_out)); then
	rm -rf "$out"
	log "# smoke passed (results directory removed; use -o DIR to keep it)"
fi
exit 0
