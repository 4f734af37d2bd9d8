#!/usr/bin/env bash
# test.sh - install what is missing, build with warnings as errors, and run
# every test: the check suites and integration tests (make check), then
# make distcheck (the release tarball builds and passes its tests too).
#
#   scripts/test.sh            everything
#   QUICK=1 scripts/test.sh    skip distcheck
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/build.sh --enable-werror
status=0
make -s -j"$(nproc)" check || status=$?
if ((status)); then
	for f in tests/*.log; do
		[[ -f $f ]] && grep -qE '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null && { echo "=== $f"; tail -n 60 "$f"; }
	done
	exit "$status"
fi
# One closing line over every check suite (their own summaries are in
# tests/*.log): "Checks: N, Failures: F, Errors: E".
summary=$(awk '/^[0-9]+%: Checks: / { gsub(/,/, ""); n += $3; f += $5 + $7 }
	END { printf "tests: %d passed, %d failed\n", n - f, f }' tests/*.log)
if [[ -z ${QUICK:-} ]]; then
	make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >/dev/null
	echo "distcheck: passed"
fi
echo "$summary"
