#!/usr/bin/env bash
# check.sh - install what is missing, build with warnings as errors, run
# the check suites (unit, integration, fault, hostile-input, Prometheus:
# make check), then make distcheck (the release tarball builds and passes
# its tests too).  The first stage of scripts/test.sh.
#
#   scripts/check.sh            with distcheck
#   QUICK=1 scripts/check.sh    without
set -euo pipefail
cd "$(dirname "$0")/.."
# Timeouts of the check suites are sized for a quiet machine; give a
# busy one (CI shares its two cores with the servers under test) slack.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-2}
scripts/deps.sh test
scripts/build.sh --enable-werror
status=0
make -s -j"$(nproc)" check || status=$?
if ((status)); then
	for f in tests/*.trs; do
		grep -qE '^:test-result: (FAIL|ERROR)' "$f" && { echo "=== ${f%.trs}.log"; tail -n 60 "${f%.trs}.log"; }
	done
	scripts/check-summary.sh tests || true
	exit "$status"
fi
# A skip is not a pass: one that tests/skips.allow does not allow on this
# machine fails the stage.
skips_ok=0
summary=$(scripts/check-summary.sh tests . --allow tests/skips.allow) || skips_ok=1
if [[ -z ${QUICK:-} ]]; then
	if ! make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >distcheck.log 2>&1; then
		grep -E '^(FAIL|ERROR)' distcheck.log || true
		for f in observd-*/_build/sub/tests/*.trs; do
			grep -qE '^:test-result: (FAIL|ERROR)' "$f" && { echo "=== ${f%.trs}.log"; tail -n 60 "${f%.trs}.log"; }
		done
		tail -n 30 distcheck.log
		echo "distcheck: failed (distcheck.log)"
		echo "$summary"
		exit 1
	fi
	echo "distcheck: passed"
fi
echo "$summary"
if ((skips_ok != 0)); then
	echo "check: a test was skipped that tests/skips.allow does not allow on this machine"
	exit 1
fi
