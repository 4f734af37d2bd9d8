#!/usr/bin/env bash
# ci-container.sh - build the real Dockerfile with rootful podman and check
# the image the way Kubernetes will run it: non-root, read-only root file
# system, every capability dropped, no-new-privileges.
#
#   tests/container/ci-container.sh          (as root; about 3 min on a fresh
#                                             2-core machine, 1 min cached)
#
# Based on /work/shared/recipes/ci-container.sh (known-good on these
# machines): podman needs runc (crun 1.8 rejects this kernel's hybrid cgroup
# layout), cgroupfs and rlimits no higher than the machine's hard limits;
# there is no registry access, so the base image is debootstrapped once and
# tagged as the name the Dockerfile uses (kept between runs, like a pulled
# image would be).  Idempotent: it removes its container and temp files on
# exit; the base image and the build cache stay.
#
# Exit 0 when every check passed; last line "container: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."

exec 3>&2	# timings go to the original stderr even when a step's output is redirected
started=$(date +%s)
IMAGE=localhost/observd:ci
NAME=observd-ci
MAX_MB=${MAX_MB:-40}

# Time a step; keeps its exit status (callers test it with if/!, where set -e is off).
t() {
	local s=$SECONDS rc=0
	"$@" || rc=$?
	echo "[time] $((SECONDS - s))s: $*" >&3
	return $rc
}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
nok() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }

if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "ci-container.sh: needs root (rootful podman)" >&2; exit 1; }
	exec sudo -E "$0" "$@"
fi

# 0) tools, only what is missing (apt-get is slow even when there is nothing to do)
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in podman buildah runc debootstrap prometheus curl tmux; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	t apt-get update -q >/dev/null
	t apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

W=$(mktemp -d /tmp/observd-ci-container.XXXXXX)
cleanup() {
	podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
	# Build-stage images of earlier runs; this run's stay as the layer cache.
	podman image prune -f --filter "until=$started" --filter label=io.observd.stage=build >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

# 1) podman configuration for this machine (see the header)
cat >"$W/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$W/containers.conf"

# 2) base image, once: Debian's own bootstrap instead of a registry pull
if ! podman image exists docker.io/library/debian:bookworm-slim; then
	MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
	t debootstrap --variant=minbase bookworm "$W/rootfs" "$MIRROR" >/dev/null
	rm -f "$W/rootfs/etc/apt/sources.list"
	cp /etc/apt/sources.list.d/debian.sources "$W/rootfs/etc/apt/sources.list.d/"
	rm -rf "$W/rootfs/var/cache/apt/archives/"*.deb "$W/rootfs/var/lib/apt/lists/"*
	t sh -c "tar -C '$W/rootfs' -c . | podman import --change 'CMD [\"/bin/bash\"]' - docker.io/library/debian:bookworm-slim >/dev/null"
	rm -rf "$W/rootfs"
fi

# 3) build (the build stage runs make check); --format docker keeps HEALTHCHECK
if ! t podman build --format docker -t "$IMAGE" . >"$W/build.log" 2>&1; then
	# make check's summary and the failing suites' logs are in the build output
	grep -E '^(FAIL|ERROR|XPASS):|^[0-9]+%: Checks|:F:|:E:' "$W/build.log" || true
	tail -n 30 "$W/build.log"
	nok "image builds (make check passes in the build stage)"
	echo "container: $pass passed, $fail failed"
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
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		[[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return 0; }
	done
	return 1
}
APP_PORT=${APP_PORT:-$(free_port)}
METRICS_PORT=${METRICS_PORT:-$(free_port)}
podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
if ! podman run -d --name "$NAME" --read-only --cap-drop=ALL --security-opt no-new-privileges \
	-p "127.0.0.1:$APP_PORT:8080" -p "127.0.0.1:$METRICS_PORT:9464" \
	-e OBSERVD_WORKERS=2 "$IMAGE" >/dev/null 2>>"$W/podman.err"; then
	cat "$W/podman.err"
	nok "podman run --read-only --cap-drop=ALL --security-opt no-new-privileges"
	echo "container: $pass passed, $fail failed"
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

echo "container: $pass passed, $fail failed"
((fail == 0))
