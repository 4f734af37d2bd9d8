#!/usr/bin/env bash
# deps.sh - install what building, running and testing observd needs on a
# Debian/Ubuntu machine; installs only what is missing.
#
#   scripts/deps.sh [build|test|all]     (default: all)
#
# build: compiler, autotools, libevent, zlib, ncurses (observctl), check.
# test: plus what the test suites start or call (curl, Prometheus' promtool
# and server, tmux for observctl's terminal test, systemd-analyze for the
# unit's checks).
set -euo pipefail

want=${1:-all}
pkgs=(gcc make autoconf automake libtool pkg-config libevent-dev zlib1g-dev libncurses-dev check curl)
case $want in
build) ;;
test | all) pkgs+=(prometheus tmux systemd) ;;
*) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >/dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
