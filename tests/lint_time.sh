#!/bin/sh
# lint_time.sh - no time arithmetic in 32 bits.  A product such as
# 3600u * 1000000000u is computed in unsigned int and wraps silently
# (to 0.8 s); neither the compiler nor -Wconversion warns.  So a product
# with a large time scale (10^6, 10^9, 3600, 86400) is written with the
# 64-bit constants of include/observd/clock.h (CLOCK_NS_PER_S, ...), and
# this check fails on a bare literal in a multiplication anywhere else.
srcdir=${srcdir:-.}
cd "$srcdir" || exit 99
scale='(1000000|1000000000|3600|86400)[uUlL]*'
hits=$(grep -nE "\*[[:space:]]*$scale\b|\b$scale[[:space:]]*\*[[:space:]]*[^/C[:space:]]" \
	src/*.c include/observd/*.h cmd/*/*.c tests/*.c tests/*.h tests/fuzz/*.c 2>/dev/null |
	grep -v '^include/observd/clock\.h:')
if [ -n "$hits" ]; then
	echo "time arithmetic with a bare scale literal (use CLOCK_* of observd/clock.h):"
	echo "$hits"
	echo "lint_time: FAIL"
	exit 1
fi
echo "lint_time: no bare time-scale products"
exit 0
