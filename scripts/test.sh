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
	for f in tests/*.trs; do
		grep -qE '^:test-result: (FAIL|ERROR)' "$f" && { echo "=== ${f%.trs}.log"; tail -n 60 "${f%.trs}.log"; }
	done
	scripts/check-summary.sh tests
	exit "$status"
fi
summary=$(scripts/check-summary.sh tests)
if [[ -z ${QUICK:-} ]]; then
	make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >/dev/null
	echo "distcheck: passed"
fi
echo "$summary"
