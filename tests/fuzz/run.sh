#!/usr/bin/env bash
# run.sh - build every libFuzzer harness in tests/fuzz/ (fuzz_*.c) with
# ASan + UBSan and run each for SECONDS (default 60) on a temporary copy
# of its seed corpus (tests/fuzz/corpus/<name>/; the repository is never
# modified).  Fails if any harness finds a crash, a leak, a timeout or an
# out-of-memory, and prints where the reproducer is:
#
#   tests/fuzz/run.sh [SECONDS]
#   ./fuzz_<name> <reproducer>          re-runs one input
#
# Environment: CC (default clang, else clang-14), FUZZ_OUT (where builds,
# corpora and reproducers go; default a new /tmp/observd-fuzz.XXXXXX, kept
# when something failed), FUZZ_ONLY=name (run one harness), FUZZ_JOBS
# (parallel harnesses, default 1).
# Closing line: "fuzz: N passed, M failed".
set -euo pipefail

secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

# --------------------------------------------------------------- toolchain
pick_cc() {
	for c in ${CC:-} clang clang-14; do
		command -v "$c" >/dev/null 2>&1 || continue
		# -fsanitize=fuzzer needs the runtime (libclang-rt-*-dev).
		if echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' |
			"$c" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
			echo "$c"
			return 0
		fi
	done
	return 1
}
if ! cc=$(pick_cc); then
	echo "fuzz: installing clang-14 and libclang-rt-14-dev" >&2
	sudo=; ((EUID == 0)) || sudo=sudo
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		clang-14 libclang-rt-14-dev >/dev/null
	cc=$(pick_cc) || { echo "fuzz: no clang with -fsanitize=fuzzer" >&2; exit 2; }
fi
pkgs="libevent_core zlib"
libs=$(pkg-config --libs $pkgs)	# word-split on purpose
incs=$(pkg-config --cflags $pkgs)

out=${FUZZ_OUT:-$(mktemp -d /tmp/observd-fuzz.XXXXXX)}
mkdir -p "$out/obj"
# The harnesses and sources include the autoconf config.h: a minimal one.
cat >"$out/obj/config.h" <<'EOF'
#define _GNU_SOURCE 1
#define PACKAGE "observd"
#define PACKAGE_NAME "observd"
#define PACKAGE_VERSION "0.0.0-fuzz"
#define PACKAGE_STRING "observd 0.0.0-fuzz"
#define OBSERVD_BUILD_OPTIONS "fuzz"
EOF
# And the sources make generates, wherever this runs.
mkdir -p "$out/obj/observd"
sh "$top/scripts/gen-source.sh" syscall-names "$cc" -E >"$out/obj/observd/syscall_names.h"
sh "$top/scripts/gen-source.sh" default-page "$top/data/index.html.in" >"$out/obj/default_page.c"
flags=(-g -O1 -std=c11 -fno-omit-frame-pointer -fsanitize=address,undefined
	-fno-sanitize-recover=all -I"$out/obj" -I"$top/include" $incs
	-DOBSERVD_SYSCONFDIR='"/nonexistent"')

# ------------------------------------------------------------------- build
echo "fuzz: building with $cc into $out"
objs=()
for src in "$top"/src/*.c "$out/obj/default_page.c"; do
	[[ $src == "$top/src/default_page.c" ]] && continue	# an in-tree build's copy
	o="$out/obj/$(basename "${src%.c}").o"
	"$cc" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$o"
	objs+=("$o")
done
rm -f "$out/obj/libobservd-fuzz.a"
ar cr "$out/obj/libobservd-fuzz.a" "${objs[@]}"

harnesses=()
for h in "$here"/fuzz_*.c; do
	name=$(basename "${h%.c}")
	name=${name#fuzz_}
	[[ -n ${FUZZ_ONLY:-} && $FUZZ_ONLY != "$name" ]] && continue
	"$cc" "${flags[@]}" -fsanitize=fuzzer "$h" "$out/obj/libobservd-fuzz.a" \
		$libs -lpthread -o "$out/fuzz_$name"
	harnesses+=("$name")
done

# --------------------------------------------------------------------- run
run_one() {
	local name=$1 dir="$out/$1" rc=0
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	[[ -d $here/corpus/$name ]] && cp -R "$here/corpus/$name/." "$dir/corpus/"
	# A crash, leak, timeout (10 s per input) or OOM exits non-zero.
	(cd "$dir" && timeout -k 10 $((secs + 120)) "$out/fuzz_$name" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" >"$dir/log" 2>&1) || rc=$?
	local execs cov
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$dir/log")
	cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -n 1)
	if ((rc == 0)); then
		echo "fuzz_$name: passed (${execs:-?} runs in ${secs}s, ${cov:-cov: ?}," \
			"corpus $(ls "$dir/corpus" | wc -l) inputs)"
		return 0
	fi
	echo "fuzz_$name: FAILED (exit $rc)"
	grep -E '^==[0-9]+==ERROR|runtime error|deadly signal|Test unit written' "$dir/log" | head -n 5 | sed 's/^/  /'
	for a in "$dir"/artifacts/*; do
		[[ -e $a ]] && echo "  reproducer: $a  (re-run: $out/fuzz_$name $a)"
	done
	echo "  log: $dir/log"
	return 1
}

passed=0 failed=0
jobs=${FUZZ_JOBS:-1}
if ((jobs > 1)); then
	declare -A pids
	for name in "${harnesses[@]}"; do
		run_one "$name" >"$out/$name.result" 2>&1 &
		pids[$name]=$!
	done
	for name in "${harnesses[@]}"; do
		if wait "${pids[$name]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
		cat "$out/$name.result"
	done
else
	for name in "${harnesses[@]}"; do
		if run_one "$name"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	done
fi
if ((failed == 0)) && [[ -z ${FUZZ_OUT:-} ]]; then
	rm -rf "$out"
fi
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
