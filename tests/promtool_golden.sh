#!/bin/sh
# promtool_golden.sh - validate the golden expositions (which check_render
# proves byte-identical to what the renderer writes) with Prometheus' own
# parsers:
#   text 0.0.4:   promtool check metrics (parser + linter), on stdin;
#   OpenMetrics:  promtool check metrics only knows the text format
#                 (prometheus/prometheus#8932), so the file goes through
#                 Prometheus' OpenMetrics parser via the backfiller
#                 (promtool tsdb create-blocks-from openmetrics), which
#                 needs a timestamp on every sample: we add one; and, where
#                 installed, through prometheus_client's stricter parser.
# Exit status: 0 pass, 1 fail, 77 skip (no promtool), as automake expects.
set -u

srcdir=${srcdir:-.}
golden="$srcdir/tests/golden"
text="$golden/metrics.txt"
om="$golden/metrics.om.txt"

if ! command -v promtool >/dev/null 2>&1; then
	echo "observd-skip: promtool_golden: *: promtool not found (apt-get install prometheus)" >&2
	exit 77
fi
for f in "$text" "$om"; do
	if [ ! -s "$f" ]; then
		echo "FAIL: $f is missing or empty"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/promtool_golden.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
rc=0

# promtool prints lint problems and exits non-zero on them.
if out=$(promtool check metrics <"$text" 2>&1); then
	echo "ok: promtool check metrics $text"
else
	echo "FAIL: promtool check metrics $text:"
	echo "$out"
	rc=1
fi

sed -e '/^#/!s/$/ 1700000100/' "$om" >"$tmp/stamped.om"
if out=$(promtool tsdb create-blocks-from openmetrics "$tmp/stamped.om" "$tmp/blocks" 2>&1); then
	echo "ok: Prometheus OpenMetrics parser (promtool tsdb create-blocks-from openmetrics) $om"
else
	echo "FAIL: Prometheus OpenMetrics parser on $om:"
	echo "$out"
	rc=1
fi
if [ "$(tail -n 1 "$om")" != "# EOF" ]; then
	echo "FAIL: $om does not end with '# EOF'"
	rc=1
fi

# Debian's python3-prometheus-client, if present: checks more of the
# OpenMetrics rules (e.g. name clashes of _created/_total samples).
for py in /usr/bin/python3 python3; do
	if command -v "$py" >/dev/null 2>&1 &&
	    "$py" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
		if out=$("$py" - "$om" 2>&1 <<'EOF'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
with open(sys.argv[1], encoding="utf-8") as f:
    families = list(text_string_to_metric_families(f.read()))
print(len(families), "families")
EOF
		); then
			echo "ok: prometheus_client OpenMetrics parser $om ($out)"
		else
			echo "FAIL: prometheus_client OpenMetrics parser on $om:"
			echo "$out"
			rc=1
		fi
		break
	fi
done
exit $rc
