#!/usr/bin/env bash
# hardening.sh - install observd into a temporary DESTDIR and check the
# installed binaries' (observd, and observctl, which reads whatever a URL
# answers) ELF hardening with hardening-check (devscripts):
# PIE, stack protector, FORTIFY_SOURCE, read-only relocations, immediate
# binding (full RELRO), stack clash protection.  Control-flow protection
# (CET) is not checked (--nocfprotection): Debian 12's toolchain does not
# enable it by default.
#
#   tests/security/hardening.sh [BUILDDIR]     (default: the current directory)
#
# Installs devscripts (--no-install-recommends) if hardening-check is
# missing.  Fails if any check fails.  Closing line "hardening: passed" or
# "hardening: FAILED".
set -euo pipefail
build=$(cd "${1:-.}" && pwd)
[[ -f $build/Makefile ]] || { echo "hardening: $build is not a configured build directory" >&2; exit 2; }
if ! command -v hardening-check >/dev/null; then
	echo "hardening: installing devscripts (hardening-check)" >&2
	sudo=; ((EUID == 0)) || sudo=sudo
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends devscripts >/dev/null
fi
if grep -q -- '--disable-hardening\|sanitizers=yes' "$build/config.h" 2>/dev/null; then
	echo "hardening: $build was configured without hardening or with sanitizers" >&2
fi

tmp=$(mktemp -d /tmp/observd-hardening.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$build" install DESTDIR="$tmp" >"$tmp.log" 2>&1 || { cat "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"
for name in observd observctl; do
	bin=$(find "$tmp" -type f -name "$name" -perm -u+x | head -n 1)
	[[ -n $bin ]] || { echo "hardening: no installed $name under $tmp" >&2; exit 1; }
	rc=0
	out=$(hardening-check --nocfprotection "$bin" 2>&1) || rc=$?
	echo "${out//$tmp/\$DESTDIR}"
	# hardening-check exits non-zero on any failed check; double-check the text.
	if ((rc != 0)) || grep ': no' <<<"$out" | grep -qv '(ignored)'; then
		echo "hardening: FAILED"
		exit 1
	fi
done
# Stack clash protection is not among hardening-check's checks: look for
# its probes' effect instead (the flag is in the build's CFLAGS).
if ! grep -q -- '-fstack-clash-protection' "$build/Makefile"; then
	echo "hardening: -fstack-clash-protection missing from the build flags"
	echo "hardening: FAILED"
	exit 1
fi
echo "hardening: passed"
