# ci-env.sh - shared by the stages that run observd the way it is
# delivered (tests/container/*.sh, tests/systemd/*.sh); source it from
# bash after `set -euo pipefail`.  It provides:
#
#   ci_need_root "$0" "$@"      re-run the stage as root (sudo), or fail
#   ci_apt PKG...               apt-get install what is missing
#   ci_time CMD...              run CMD, print its duration on the stage's stderr
#   ok/nok/check, ci_summary    "ok   - ..." / "FAIL - ..." lines and the
#                               closing "NAME: N passed, M failed"
#   ci_free_port                a free TCP port on loopback
#   ci_debootstrap NAME [PKG,...]  a Debian 12 root under $CI_CACHE, made
#                               once with debootstrap (minbase plus PKGs)
#   ci_podman_setup DIR         podman configuration for these machines
#   ci_base_image               the Dockerfile's base image, from ci_debootstrap
#   ci_image_build TAG LOG      podman build of the Dockerfile as TAG
#
# Caching: roots live in $CI_CACHE (default /var/cache/observd-ci), keyed
# by their package list, and the base image in podman's own store; a
# fresh machine builds both (about 2 minutes on 2 cores), later runs reuse
# them.  Concurrent runs on one machine are serialised with flock while
# a root is being made.

CI_CACHE=${CI_CACHE:-/var/cache/observd-ci}
CI_BASE_IMAGE=docker.io/library/debian:bookworm-slim
ci_pass=0 ci_fail=0

exec 3>&2	# timings go to the stage's stderr even when a step's output is redirected

ci_time() {
	local s=$SECONDS rc=0
	"$@" || rc=$?
	echo "[time] $((SECONDS - s))s: $*" >&3
	return $rc
}
ok() { ci_pass=$((ci_pass + 1)); echo "ok   - $*"; }
nok() { ci_fail=$((ci_fail + 1)); echo "FAIL - $*"; }
# check WHAT CMD...: ok or FAIL by CMD's exit status.
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
# ci_summary NAME: the closing line scripts/test.sh adds up; the status.
ci_summary() {
	echo "$1: $ci_pass passed, $ci_fail failed"
	((ci_fail == 0))
}

ci_need_root() {
	[[ $(id -u) -eq 0 ]] && return 0
	command -v sudo >/dev/null || { echo "$(basename "$1"): needs root" >&2; exit 1; }
	exec sudo -E "$@"
}

ci_apt() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	export DEBIAN_FRONTEND=noninteractive
	ci_time apt-get update -q >/dev/null
	ci_time apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Ports: fixed ones collide with whatever else runs on a shared machine.
ci_free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		[[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return 0; }
	done
	return 1
}

# The machine's Debian mirror (the only registry these machines reach).
ci_mirror() {
	local m
	m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	echo "${m:-http://deb.debian.org/debian}"
}

# ci_debootstrap NAME [INCLUDE]: echo the path of a cached bookworm root
# (debootstrap --variant=minbase --include=INCLUDE), making it if needed.
ci_debootstrap() {
	local name=$1 include=${2:-} key dir
	# The keyring: Debian has it; elsewhere (an Ubuntu CI runner) it is a package.
	ci_apt debootstrap debian-archive-keyring || return 1
	key=$(printf '%s' "$include" | sha256sum | cut -c1-12)
	dir=$CI_CACHE/$name-$key
	mkdir -p "$CI_CACHE"
	(
		flock 9
		[[ -f $dir/.complete ]] && exit 0
		rm -rf "$dir.tmp" "$dir"
		echo "ci-env: debootstrap $name (${include:-minbase}) into $dir" >&2
		ci_time debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$dir.tmp" \
			"$(ci_mirror)" >"$CI_CACHE/$name.debootstrap.log" 2>&1 ||
			{ tail -n 20 "$CI_CACHE/$name.debootstrap.log" >&2; exit 1; }
		# apt inside the root uses the machine's mirror; no package cache kept
		rm -f "$dir.tmp/etc/apt/sources.list"
		[[ -f /etc/apt/sources.list.d/debian.sources ]] &&
			cp /etc/apt/sources.list.d/debian.sources "$dir.tmp/etc/apt/sources.list.d/"
		rm -rf "$dir.tmp/var/cache/apt/archives/"*.deb "$dir.tmp/var/lib/apt/lists/"*
		touch "$dir.tmp/.complete"
		mv "$dir.tmp" "$dir"
	) 9>"$CI_CACHE/.lock" || return 1
	echo "$dir"
}

# podman on these machines: runc (crun 1.8 rejects this kernel's hybrid
# cgroup layout), cgroupfs (no systemd as PID 1) and rlimits no higher than
# the machine's hard limits.
ci_podman_setup() {
	cat >"$1/containers.conf" <<-CONF
		[containers]
		default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
	CONF
	export CONTAINERS_CONF=$1/containers.conf
}

# No registry is reachable: the Dockerfile's base image is Debian's own
# bootstrap of the same release, imported under the name the Dockerfile
# uses (kept in podman's store between runs, as a pulled image would be).
ci_base_image() {
	local root
	podman image exists "$CI_BASE_IMAGE" && return 0
	root=$(ci_debootstrap podman-base) || return 1
	ci_time sh -c "tar -C '$root' --exclude=./.complete -c . |
		podman import --change 'CMD [\"/bin/bash\"]' - '$CI_BASE_IMAGE' >/dev/null"
}

# ci_image_build TAG LOG: build the Dockerfile (its build stage runs make
# check; on failure the failing checks are printed); --format docker keeps
# HEALTHCHECK.  Layers are cached, so a
# second stage building the same tree takes seconds.  A base image pinned
# by digest (FROM name:tag@sha256:...) cannot be verified without the
# registry: the local build uses the name:tag ci_base_image made, and says so.
ci_image_build() {
	local df=Dockerfile
	if grep -qE '^FROM[[:space:]]+[^[:space:]]+@sha256:' Dockerfile; then
		df=$(dirname "$2")/Dockerfile.local
		sed -E 's/^(FROM[[:space:]]+[^[:space:]@]+)@sha256:[0-9a-f]{64}/\1/' Dockerfile >"$df"
		echo "note: base image digest not verifiable offline; built FROM $CI_BASE_IMAGE as made here"
	fi
	if ! ci_time podman build --format docker -f "$df" -t "$1" . >"$2" 2>&1; then
		# make check's summary and the failing suites' logs are in the build output
		grep -E '^(FAIL|ERROR|XPASS):|^[0-9]+%: Checks|:F:|:E:' "$2" || true
		tail -n 30 "$2"
		return 1
	fi
}
