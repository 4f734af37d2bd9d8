#!/usr/bin/env bash
# sanitizers.sh - build observd with AddressSanitizer and
# UndefinedBehaviorSanitizer (./configure --enable-sanitizers) in a
# temporary directory and run every test suite against that build.  Any
# sanitizer report fails: the check programs abort on the first one, and
# the integration helpers fail a test whose server logged one.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mktemp -d /tmp/observd-asan.XXXXXX)
trap 'rm -rf "$build"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Sanitized code runs several times slower: give every check test more
# time (libcheck multiplies each test case's timeout by this).
export CK_TIMEOUT_MULTIPLIER=4
# A copy of the source files: the tree itself may hold an in-tree build,
# and automake refuses a second, out-of-tree one next to it.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | tar -c --null -T - -f -) |
	tar -x -C "$build"
cd "$build"
autoreconf -fi >/dev/null 2>&1
./configure -q --enable-sanitizers --enable-werror
make -s -j"$(nproc)" >/dev/null
status=0
make -s -j"$(nproc)" check >check.out 2>&1 || status=$?
if ((status)); then
	grep -E 'error|Error' check.out | head -n 20
	for f in tests/*.trs; do
		[[ -f $f ]] || continue
		grep -qE '^:test-result: (FAIL|ERROR)' "$f" && { echo "=== ${f%.trs}.log"; tail -n 60 "${f%.trs}.log"; }
	done
fi
if compgen -G 'tests/*.log' >/dev/null; then
	scripts/check-summary.sh sanitizers . --allow tests/skips.allow || {
		echo "sanitizers: a test was skipped that tests/skips.allow does not allow on this machine"
		status=1
	}
else
	echo "sanitizers: 0 passed, 1 failed (the build failed)"
fi
exit "$status"
