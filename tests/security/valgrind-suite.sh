#!/usr/bin/env bash
# valgrind-suite.sh - run the integration suite with every observd process
# under valgrind memcheck: OBSERVD_BIN points at a generated wrapper that
# execs the real binary under valgrind, each process writing its own log.
# Fails on any invalid access, use of uninitialised memory or definite
# leak in any process, or on a failing test.
#
#   tests/security/valgrind-suite.sh [BUILDDIR]   (default: the current directory)
#
# observd runs with --no-sandbox: valgrind does not implement seccomp(2)
# (tests/security/valgrind.sh says more).
# The suite's own timeouts are stretched (CK_TIMEOUT_MULTIPLIER), since
# every server runs 20-50 times slower under valgrind.  Its "signals" case
# (tagged "timing") is left out: it asserts how soon workers are replaced, which valgrind's
# slowness makes meaningless; tests/security/valgrind.sh runs a reload and
# a drain under memcheck instead.
set -euo pipefail
build=$(cd "${1:-.}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
suite=$build/tests/check_integration
[[ -x $build/observd && -x $suite ]] || { echo "valgrind-suite: build observd and $suite first" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind-suite: valgrind is not installed" >&2; exit 2; }

tmp=$(mktemp -d /tmp/observd-vgsuite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/logs"
cat >"$tmp/observd" <<WRAP
#!/bin/sh
exec valgrind --quiet --vgdb=no --tool=memcheck --trace-children=yes --leak-check=full \\
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \\
    --log-file=$tmp/logs/vg.%p.log $build/observd --no-sandbox "\$@"
WRAP
chmod +x "$tmp/observd"

status=0
OBSERVD_BIN=$tmp/observd OBSERVD_TEMPLATE_DEFAULT=$src/data/index.html.in \
	CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-8} CK_EXCLUDE_TAGS=timing \
	"$suite" >"$tmp/suite.out" 2>&1 || status=$?
tail -n 3 "$tmp/suite.out"
# --quiet leaves only errors in a log: any non-empty one is a finding.
bad=0 n=0
for f in "$tmp"/logs/vg.*.log; do
	[[ -e $f ]] || continue
	n=$((n + 1))
	if [[ -s $f ]]; then
		bad=$((bad + 1))
		echo "=== $f"
		head -n 40 "$f"
	fi
done
echo "valgrind-suite: $n processes under memcheck, $bad with findings"
((status == 0 && bad == 0 && n > 0))
