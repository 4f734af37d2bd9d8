#!/usr/bin/env bash
# test.sh - install what is missing, build, and run every test of observd:
#
#   check       build with -Werror; make check (unit, integration, fault,
#               hostile-input, privilege and Prometheus suites); distcheck
#   hardening   hardening-check of the installed binary
#   valgrind    memcheck of every process over a scripted workload, and
#               of every server the integration suite starts
#   sanitizers  every suite again against an ASan+UBSan build
#   fuzz        each libFuzzer harness for 60 s
#   bench       the side-by-side benchmark's smoke mode (no timing asserted)
#   deploy      Kubernetes/Argo CD/workflow/rules checks, the policy's planted
#               defects, the service template (scripts/deploy-check.sh)
#   container   podman build and run of the Dockerfile, workers under --cpus
#   kube        the dev overlay run by podman kube play (tests/container/kube-play.sh)
#   systemd     observd.service under a real systemd in systemd-nspawn
#               (tests/systemd/nspawn-check.sh)
#   (container, kube and systemd run as root)
#
#   scripts/test.sh              everything (about 25 minutes on 2 cores)
#   QUICK=1 scripts/test.sh      the check stage only, without distcheck
#
# Every stage runs even if an earlier one failed; each prints a closing
# "NAME: N passed, M failed[, K skipped]" line (the skipped tests listed
# under it, and allowed only as tests/skips.allow says), and the last line
# totals them.
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# Check suites' timeouts are sized for a quiet machine; give a busy one
# (the servers under test share the cores with the clients) slack.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-2}

log=$(mktemp -d /tmp/observd-test.XXXXXX)
trap 'rm -rf "$log"' EXIT
passed=0 failed=0 skipped=0 broken=()

stage() { # NAME COMMAND...: run it, echo its output, add up its closing line
	local name=$1 start=$SECONDS rc line
	shift
	echo "== $name: $*"
	"$@" 2>&1 | tee "$log/$name.out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[A-Za-z-]+: [0-9]+ passed, [0-9]+ failed' "$log/$name.out" | tail -n 1)
	if [[ -n $line ]]; then
		passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
		failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
		if [[ $line =~ ([0-9]+)\ skipped ]]; then
			skipped=$((skipped + BASH_REMATCH[1]))
		fi
	fi
	if ((rc != 0)); then
		broken+=("$name")
		[[ -z $line ]] && failed=$((failed + 1))
	elif [[ -z $line ]]; then
		passed=$((passed + 1))		# a check with a single verdict
	fi
	echo "== $name: exit $rc after $((SECONDS - start)) s"
}

stage check scripts/check.sh
if [[ -z ${QUICK:-} ]]; then
	stage hardening tests/security/hardening.sh .
	stage valgrind tests/security/valgrind.sh ./observd
	stage valgrind-suite tests/security/valgrind-suite.sh .
	stage sanitizers tests/security/sanitizers.sh
	stage fuzz tests/fuzz/run.sh 60
	stage bench tests/bench/run.sh --smoke
	stage deploy scripts/deploy-check.sh
	stage container tests/container/ci-container.sh
	stage kube tests/container/kube-play.sh
	stage systemd tests/systemd/nspawn-check.sh
fi

((${#broken[@]})) && echo "== failed stages: ${broken[*]}"
echo "all: $passed passed, $failed failed, $skipped skipped"
((${#broken[@]} == 0))
