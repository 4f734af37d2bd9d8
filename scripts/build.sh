#!/usr/bin/env bash
# build.sh - configure (once) and build observd in the source tree.
#   scripts/build.sh [configure options...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x configure || configure.ac -nt configure || Makefile.am -nt Makefile.in ]]; then
	autoreconf -fi >/dev/null
fi
if [[ ! -f Makefile || $# -gt 0 ]]; then
	./configure -q "$@"
fi
make -s -j"$(nproc)"
