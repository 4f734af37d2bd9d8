#!/usr/bin/env bash
# check-summary.sh NAME [BUILDDIR] - one closing line over the check
# suites of a build's last "make check": their own summaries
# ("NN%: Checks: N, Failures: F, Errors: E") are in tests/*.log.
set -euo pipefail
name=$1 dir=${2:-.}
awk -v name="$name" '/^[0-9]+%: Checks: / { gsub(/,/, ""); n += $3; f += $5 + $7 }
	END { printf "%s: %d passed, %d failed\n", name, n - f, f }' "$dir"/tests/*.log
