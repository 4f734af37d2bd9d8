#!/usr/bin/env bash
# ci-container.sh - build the real Dockerfile with rootful podman and check
# the image the way Kubernetes will run it: non-root, read-only root file
# system, every capability dropped, no-new-privileges; workers sized by
# the container's CPU limit (podman run --cpus).
#
#   tests/container/ci-container.sh          (as root; about 3 min on a fresh
#                                             2-core machine, 1 min cached)
#
# The podman set-up for these machines (runc, cgroupfs, rlimits, a base
# image made with debootstrap since no registry is reachable) is
# tests/lib/ci-env.sh, shared with tests/container/kube-play.sh.
# Idempotent: it removes its containers, its image tag and temp files on
# exit; the base image and the build cache stay.
#
# Exit 0 when every check passed; last line "container: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."

started=$(date +%s)
# Names of this run only: other checkouts may run the same checks at once.
IMAGE=localhost/observd:ci-$$
NAME=observd-ci-$$
MAX_MB=${MAX_MB:-40}
# shellcheck source=tests/lib/ci-env.sh
. tests/lib/ci-env.sh
ci_need_root "$0" "$@"

# 0) tools, only what is missing (apt-get is slow even when there is nothing to do)
ci_apt podman buildah runc debootstrap prometheus curl tmux

W=$(mktemp -d /tmp/observd-ci-container.XXXXXX)
cleanup() {
	podman rm -f -i -t 0 "$NAME" "$NAME-cpus" >/dev/null 2>&1 || true
	podman rmi "$IMAGE" >/dev/null 2>&1 || true
	# Build-stage images of earlier runs; this run's stay as the layer cache.
	podman image prune -f --filter "until=$started" --filter label=io.observd.stage=build >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

# 1) podman configuration and 2) base image for this machine (ci-env.sh)
ci_podman_setup "$W"
ci_base_image || { nok "base image ($CI_BASE_IMAGE) made with debootstrap"; ci_summary container; exit 1; }

# 3) build (the build stage runs make check); --format docker keeps HEALTHCHECK
if ! ci_image_build "$IMAGE" "$W/build.log"; then
	nok "image builds (make check passes in the build stage)"
	ci_summary container
	exit 1
fi
ok "image builds (make check passes in the build stage)"

# 4) what the image says about itself
inspect() { podman image inspect "$IMAGE" --format "$1"; }
check "USER is 10001:10001" test "$(inspect '{{.Config.User}}')" = "10001:10001"
ports=$(inspect '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}')
check "EXPOSE 8080 9464 ($ports)" test "$ports" = "8080/tcp 9464/tcp "
check "STOPSIGNAL SIGTERM" test "$(inspect '{{.Config.StopSignal}}')" = "SIGTERM"
check "HEALTHCHECK uses observd --probe" grep -q -- '--probe' <<<"$(inspect '{{.Config.Healthcheck.Test}}')"
size=$(inspect '{{.Size}}')
size_mb=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "image size: $size_mb MB ($size bytes)"
check "image smaller than $MAX_MB MB ($size_mb MB)" test "$size" -lt $((MAX_MB * 1048576))
# Nothing to exec into: no shell, no package manager, no compiler.
check "no shell, apt, dpkg or cc in the image" \
	bash -c "! podman run --rm --entrypoint /bin/sh $IMAGE -c true >/dev/null 2>&1 &&
		! podman run --rm --entrypoint /usr/bin/apt-get $IMAGE --version >/dev/null 2>&1 &&
		! podman run --rm --entrypoint /usr/bin/dpkg $IMAGE --version >/dev/null 2>&1 &&
		! podman run --rm --entrypoint /usr/bin/gcc $IMAGE --version >/dev/null 2>&1"
check "observd --version runs" bash -c "podman run --rm $IMAGE --version 2>>$W/podman.err | grep -q '^observd '"

# 5) run it the way the Deployment does, published on free loopback ports
# (fixed ones collide with whatever else runs on a shared machine)
APP_PORT=${APP_PORT:-$(ci_free_port)}
METRICS_PORT=${METRICS_PORT:-$(ci_free_port)}
podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
if ! podman run -d --name "$NAME" --read-only --cap-drop=ALL --security-opt no-new-privileges \
	-p "127.0.0.1:$APP_PORT:8080" -p "127.0.0.1:$METRICS_PORT:9464" \
	-e OBSERVD_WORKERS=2 "$IMAGE" >/dev/null 2>>"$W/podman.err"; then
	cat "$W/podman.err"
	nok "podman run --read-only --cap-drop=ALL --security-opt no-new-privileges"
	ci_summary container
	exit 1
fi
up=false
for _ in $(seq 100); do
	if curl -sf "http://127.0.0.1:$APP_PORT/ready" -o /dev/null; then up=true; break; fi
	sleep 0.1
done
check "ready within 10 s" $up
if ! $up; then podman logs "$NAME" 2>&1 | tail -n 30; fi

pid=$(podman inspect "$NAME" --format '{{.State.Pid}}')
uids=$(ps -o uid= --ppid "$pid" -p "$pid" | sort -u | tr -d ' ' | tr '\n' ' ')
check "every process runs as uid 10001 ($uids)" test "$uids" = "10001 "
check "no capabilities (CapEff 0)" grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status"
check "no_new_privs set" grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status"

body=$(curl -sf "http://127.0.0.1:$APP_PORT/health" || true)
check "/health 200 healthy ($body)" grep -q '"status":"healthy"' <<<"$body"
body=$(curl -sf "http://127.0.0.1:$APP_PORT/ready" || true)
check "/ready 200 ready ($body)" grep -q '"status":"ready"' <<<"$body"
check "/ 200 text/html" bash -c "curl -sf -D - -o /dev/null http://127.0.0.1:$APP_PORT/ | grep -qi '^content-type: text/html'"
for port in "$APP_PORT" "$METRICS_PORT"; do
	if curl -sf "http://127.0.0.1:$port/metrics" -o "$W/m.txt" && promtool check metrics <"$W/m.txt"; then
		ok "/metrics on :$port passes promtool ($(grep -c '^app_' "$W/m.txt") app_ samples)"
	else
		nok "/metrics on :$port passes promtool"
	fi
done
# podman runs health checks from systemd timers, which this machine lacks
# (podman complains about that on stderr: kept in $W/podman.err):
# run it by hand, as the timer would, and read the state it records.
check "HEALTHCHECK passes" podman healthcheck run "$NAME"
health=$(podman inspect "$NAME" --format '{{.State.Health.Status}}' 2>/dev/null ||
	podman inspect "$NAME" --format '{{.State.Healthcheck.Status}}')
check "health status healthy ($health)" test "$health" = healthy
check "logs are JSON lines on stderr" bash -c "podman logs $NAME 2>&1 | head -n 1 | grep -q '^{\"ts\":'"

# observctl inside the container, as an operator would use it: it finds
# the metrics port from the image's configuration, and top draws with
# the image's terminal descriptions (in a tmux pane, for a terminal).
check "podman exec observctl status: serving" \
	bash -c "podman exec $NAME observctl status 2>>$W/podman.err | grep -q '^state:      serving$'"
check "podman exec observctl snapshot --json" \
	bash -c "podman exec $NAME observctl snapshot --json 2>>$W/podman.err | grep -q '\"workers_serving\":2,'"
tmux -S "$W/tmux.sock" -f /dev/null new-session -d -s top -x 100 -y 30 \
	"podman exec -it $NAME observctl top; echo EXIT=\$?; sleep 60"
drew=false
for _ in $(seq 50); do
	tmux -S "$W/tmux.sock" capture-pane -p -t top >"$W/top.txt"
	grep -q '^WORKER' "$W/top.txt" && grep -q '^worker 1 ' "$W/top.txt" && { drew=true; break; }
	sleep 0.2
done
check "podman exec -it observctl top draws the view" $drew
tmux -S "$W/tmux.sock" send-keys -t top q
quit=false
for _ in $(seq 50); do
	tmux -S "$W/tmux.sock" capture-pane -p -t top >"$W/top.txt"
	grep -q '^EXIT=0$' "$W/top.txt" && { quit=true; break; }
	sleep 0.2
done
check "observctl top quits with q, exit 0" $quit
if ! $drew || ! $quit; then cat "$W/top.txt"; fi
tmux -S "$W/tmux.sock" kill-server 2>/dev/null || true

# 6) stop: SIGTERM must drain and exit 0 well before podman's SIGKILL
s=$SECONDS
podman stop -t 20 "$NAME" >/dev/null 2>>"$W/podman.err"
took=$((SECONDS - s))
code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}')
check "SIGTERM: exit status 0 ($code) in ${took}s" test "$code" = 0 -a "$took" -lt 15
check "log says stopped" bash -c "podman logs $NAME 2>&1 | grep -q '\"msg\":\"stopped\"'"

# 7) workers = 0 under a CPU limit: one per CPU of the quota, rounded up
# (and no more than the CPUs there are), and the log says so.
ncpu=$(nproc)
for cpus in 0.5 1.5; do
	want=$(awk -v c="$cpus" -v n="$ncpu" 'BEGIN { w = int(c); if (w < c) w++; print (w < n ? w : n) }')
	podman rm -f -t 0 "$NAME-cpus" >/dev/null 2>&1 || true
	if ! podman run -d --name "$NAME-cpus" --cpus "$cpus" --read-only --cap-drop=ALL \
		--security-opt no-new-privileges -e OBSERVD_METRICS_PORT=0 "$IMAGE" >/dev/null 2>>"$W/podman.err"; then
		nok "podman run --cpus $cpus"
		continue
	fi
	line=""
	for _ in $(seq 50); do
		line=$(podman logs "$NAME-cpus" 2>&1 | grep -m1 '"msg":"workers: ' || true)
		[[ -n $line ]] && podman logs "$NAME-cpus" 2>&1 | grep -q '"msg":"ready: ' && break
		sleep 0.1
	done
	echo "  --cpus $cpus: $line"
	check "--cpus $cpus: $want worker(s), chosen from the cgroup CPU quota" \
		bash -c "grep -q '\"msg\":\"workers: $want for a cgroup v[12] CPU quota of $cpus' <<<'$line' &&
			podman logs $NAME-cpus 2>&1 | grep -q '\"msg\":\"ready: $want workers serving'"
	podman rm -f -t 0 "$NAME-cpus" >/dev/null 2>&1 || true
done

ci_summary container
