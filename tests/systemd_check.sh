#!/usr/bin/env bash
# systemd_check.sh - the generated observd.service and the socket units:
#   systemd-analyze verify    must print nothing at all (a warning fails);
#   systemd-analyze security  overall exposure must stay <= 2.0 ("OK"):
#                             --threshold is in tenths of the printed
#                             0.0-10.0 scale (it compares the internal
#                             0-100 value), so 2.0 is --threshold=20.
# verify needs every Exec*= binary and Documentation= man page to exist:
# the units are checked from a temp copy whose commands point at the built
# observd, with MANPATH at the built man pages.
# Run by make check from the build directory.  Exit: 0 pass, 1 fail, 77 skip.
# make check runs tests with $(SHELL), which may be dash: re-run under bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

THRESHOLD=${THRESHOLD:-20}	# tenths: exposure 2.0
srcdir=${srcdir:-.}
bin=$(cd "$(dirname "${OBSERVD_BIN:-./observd}")" && pwd)/$(basename "${OBSERVD_BIN:-./observd}")

command -v systemd-analyze >/dev/null || { echo "observd-skip: systemd_check: *: systemd-analyze not found (scripts/deps.sh installs systemd)" >&2; exit 77; }
[[ -f observd.service ]] || { echo "observd-skip: systemd_check: *: observd.service not built" >&2; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/man/man5" "$tmp/man/man8"
sed -E "s|^(Exec[A-Za-z]*=[-@:+!]*)[^ ]*/observd|\1$bin|" observd.service >"$tmp/units/observd.service"
cp "$srcdir/deploy-artifacts/systemd/observd.socket" "$srcdir/deploy-artifacts/systemd/observd-metrics.socket" "$tmp/units/"
cp man/observd.8 "$tmp/man/man8/" && cp man/observd.conf.5 "$tmp/man/man5/"

fail=0
units=("$tmp/units/observd.service" "$tmp/units/observd.socket" "$tmp/units/observd-metrics.socket")
if MANPATH=$tmp/man systemd-analyze verify "${units[@]}" >"$tmp/verify.out" 2>&1 && [[ ! -s $tmp/verify.out ]]; then
	echo "ok   - systemd-analyze verify: no output"
else
	echo "FAIL - systemd-analyze verify:"
	sed 's/^/    /' "$tmp/verify.out"
	fail=$((fail + 1))
fi

# The table goes to the log (make check keeps it in tests/systemd_check.log).
if systemd-analyze security --offline=true --threshold="$THRESHOLD" "$tmp/units/observd.service" >"$tmp/security.out" 2>&1; then
	status=0
else
	status=$?
fi
cat "$tmp/security.out"
overall=$(grep -E 'Overall exposure level' "$tmp/security.out" || true)
if ((status == 0)) && [[ -n $overall ]]; then
	echo "ok   - systemd-analyze security: ${overall#*: } (threshold $THRESHOLD/100)"
else
	echo "FAIL - systemd-analyze security (exit $status): ${overall:-no overall level} (threshold $THRESHOLD/100)"
	fail=$((fail + 1))
fi
((fail == 0))
