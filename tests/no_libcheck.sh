#!/bin/sh
# no_libcheck.sh - in TESTS only when configure found no libcheck: the
# check suites could not be built, and "make check" must not look green.
echo "libcheck (Debian package check) is missing: the check suites were not built; scripts/deps.sh installs it" >&2
exit 99
