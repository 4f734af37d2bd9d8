#!/bin/sh
# gen-source.sh - the generated C sources, for make and for builds
# outside it (the fuzzers):
#
#   gen-source.sh syscall-names CPP...  the SANDBOX_SYSCALL(nr, "name")
#                                       lines of <sys/syscall.h>, as
#                                       preprocessed by CPP
#   gen-source.sh default-page FILE     FILE (the page template) as a C
#                                       array, http_default_page[]
#
# The result goes to standard output.
set -eu
what=$1
shift
case $what in
syscall-names)
	echo '#include <sys/syscall.h>' | "$@" -dM - |
		LC_ALL=C sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9][0-9]*\)$/SANDBOX_SYSCALL(\2, "\1")/p' |
		LC_ALL=C sort
	;;
default-page)
	echo '/* Generated from data/index.html.in by scripts/gen-source.sh: do not edit. */'
	echo '#include "config.h"'
	echo '#include "observd/http_response.h"'
	echo 'const unsigned char http_default_page[] = {'
	od -An -v -tx1 "$1" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
	echo '};'
	echo 'const size_t http_default_page_len = sizeof(http_default_page);'
	;;
*)
	echo "usage: $0 syscall-names CPP... | default-page FILE" >&2
	exit 2
	;;
esac
