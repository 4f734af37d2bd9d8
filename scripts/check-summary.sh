#!/usr/bin/env bash
# check-summary.sh NAME [BUILDDIR] [--allow FILE] - one closing line over
# the check programs of a build's last "make check":
#
#   NAME: P passed, F failed, K skipped
#
# from their own summaries in tests/*.log ("NN%: Checks: N, Failures: F,
# Errors: E") and the skip lines of tests/crunner.h ("observd-skip:
# PROGRAM: TEST: WHY", TEST "*" for a whole program), each of which is
# listed after it: a skipped test is not counted as passed.  With --allow,
# every skip must match a line of FILE (tests/skips.allow), whose optional
# condition must hold on this machine; the exit status is 1 otherwise.
set -euo pipefail
name=$1 dir=. allow=
shift
while (($#)); do
	case $1 in
	--allow) allow=$2; shift ;;
	*) dir=$1 ;;
	esac
	shift
done
shopt -s nullglob
logs=("$dir"/tests/*.log)
read -r checks failed < <(awk '/^[0-9]+%: Checks: / { gsub(/,/, ""); n += $3; f += $5 + $7 }
	END { printf "%d %d\n", n, f }' /dev/null "${logs[@]}")
skips=$( ((${#logs[@]})) && grep -h '^observd-skip: ' "${logs[@]}" | LC_ALL=C sort -u || true)
nskip=0 ntest_skip=0
if [[ -n $skips ]]; then
	nskip=$(wc -l <<<"$skips")
	ntest_skip=$(grep -vc '^observd-skip: [^:]*: \*:' <<<"$skips" || true)
fi
echo "$name: $((checks - failed - ntest_skip)) passed, $failed failed, $nskip skipped"
[[ -n $skips ]] && sed 's/^observd-skip: /  skipped: /' <<<"$skips"
[[ -z $allow || -z $skips ]] && exit 0

# Each skip against the allow-list: "PROGRAM: TEST [| CONDITION] # why".
bad=0
while IFS= read -r line; do
	rest=${line#observd-skip: }
	prog=${rest%%: *}
	rest=${rest#*: }
	test=${rest%%: *}
	ok=0
	while IFS= read -r rule; do
		rule=${rule%%#*}
		[[ $rule =~ ^[[:space:]]*$ ]] && continue
		cond=
		if [[ $rule == *"|"* ]]; then
			cond=${rule#*|}
			rule=${rule%%|*}
		fi
		read -r rprog rtest <<<"${rule//:/ }"
		[[ $rprog == "$prog" && ($rtest == "$test" || $rtest == "*") ]] || continue
		if [[ -z $cond ]] || bash -c "$cond" >/dev/null 2>&1; then
			ok=1
			break
		fi
	done <"$allow"
	if ((!ok)); then
		echo "  NOT ALLOWED here: $prog: $test (see $allow)"
		bad=1
	fi
done <<<"$skips"
exit "$bad"
