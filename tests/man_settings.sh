#!/usr/bin/env bash
# man_settings.sh - the hand-written documentation cannot drift from the
# settings table: for every setting `observd --help` prints,
#   observd.conf(5) must have the tag line "key (--option [TYPE], ENV)",
#     then "Default: <the same default>", and say "restart" for the
#     settings that change only on restart;
#   the example observd.conf must list "# key = <default>";
# and the example, uncommented, must pass `observd -n`; observctl(1) must
# document the options and commands `observctl --help` lists.
# Run by make check from the build directory (where make generated the man
# pages and observd.conf from their .in files with the configured paths).
# Exit status: 0 pass, 1 fail, 77 skip, as automake expects.
# make check runs tests with $(SHELL), which may be dash: re-run under bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

bin=${OBSERVD_BIN:-./observd}
man5=man/observd.conf.5
man8=man/observd.8
conf=observd.conf
for f in "$bin" "$man5" "$man8" "$conf"; do
	[[ -e $f ]] || { echo "observd-skip: man_settings: *: $f not built" >&2; exit 77; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The man source without font changes and escapes, one line per input line.
sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\(en/-/g' -e 's/\\&//g' "$man5" >"$tmp/man5.txt"

fail=0 n=0
err() { echo "FAIL: $*"; fail=$((fail + 1)); }

# --help: "  --option [TYPE]" then "      env ENV, key KEY; help (default: DEF)[; restart to change]"
"$bin" --help >"$tmp/help.txt"
while IFS= read -r optline && IFS= read -r descline; do
	opt=$(sed -E 's/^ *(--[a-z-]+).*/\1/' <<<"$optline")
	env=$(sed -E 's/^ *env ([A-Z_]+), .*/\1/' <<<"$descline")
	key=$(sed -E 's/^.*, key ([a-z_]+);.*/\1/' <<<"$descline")
	def=$(sed -E 's/.*\(default: (.*)\)(; restart to change)?$/\1/' <<<"$descline")
	restart=false
	[[ $descline == *"; restart to change" ]] && restart=true
	n=$((n + 1))

	# The block of this setting: its tag line up to the next .TP/.SS/.SH.
	block=$(awk -v key="$key" '
		$0 ~ "^" key " \\(" { on = 1; print; next }
		on && /^\.(TP|SS|SH)/ { exit }
		on { print }' "$tmp/man5.txt")
	if [[ -z $block ]]; then
		err "observd.conf.5: no entry for '$key'"
		continue
	fi
	tag=$(head -n 1 <<<"$block")
	[[ $tag =~ ^$key\ \($opt(\ [A-Z]+)?,\ $env\)$ ]] ||
		err "observd.conf.5: '$tag' should read '$key ($opt [TYPE], $env)'"
	grep -qF "Default: $def." <<<"$block" ||
		err "observd.conf.5: $key: no 'Default: $def.'"
	if $restart; then
		grep -q restart <<<"$block" || err "observd.conf.5: $key: does not say it needs a restart"
	fi

	[[ $key == config ]] && continue	# the file does not name itself
	line=$(grep -E "^# $key = " "$conf" || true)
	if [[ -z $line ]]; then
		err "observd.conf: no '# $key = ...' line"
	elif [[ $def != none && $line != "# $key = $def" ]]; then
		err "observd.conf: '$line' should read '# $key = $def'"
	fi
done < <(awk '/^      env / { print prev; print } { prev = $0 }' "$tmp/help.txt")

# Every key of the file must be one --help knows (no stale entries).
for key in $(sed -nE 's/^# ([a-z_]+) = .*/\1/p' "$conf"); do
	grep -q ", key $key;" "$tmp/help.txt" || err "observd.conf: unknown key '$key'"
done

# The example's values must be valid: uncomment every setting (but the
# token file, whose default is none) and check it.  The template is not
# installed in the build tree: the environment points at the source one.
sed -nE 's/^# ([a-z_]+ = .*)/\1/p' "$conf" | grep -v '^metrics_token_file ' >"$tmp/all.conf"
if ! OBSERVD_TEMPLATE=${OBSERVD_TEMPLATE_DEFAULT:-$srcdir/data/index.html.in} \
	"$bin" -n -c "$tmp/all.conf" >/dev/null 2>"$tmp/n.err"; then
	err "observd -n rejects the uncommented example: $(cat "$tmp/n.err")"
fi

# observd(8) must at least document the modes --help lists.
# (A file, not a pipe: grep -q would exit at the first match and, with
# pipefail, the killed sed would fail the check at random.)
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$man8" >"$tmp/man8.txt"
for word in --check --help --version --probe SIGHUP SIGTERM NOTIFY_SOCKET LISTEN_FDS; do
	grep -qF -- "$word" "$tmp/man8.txt" || err "observd.8: '$word' not documented"
done

# observctl(1) must document every option and command its --help lists.
ctl=${OBSERVCTL_BIN:-./observctl}
man1=man/observctl.1
if [[ -x $ctl && -e $man1 ]]; then
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$man1" >"$tmp/man1.txt"
	"$ctl" --help >"$tmp/ctlhelp.txt"
	words=$(grep -oE -- '--[a-z-]+' "$tmp/ctlhelp.txt" | sort -u)
	[[ -n $words ]] || err "observctl --help lists no options"
	# the tag lines (the line after each .TP) name the options and commands
	awk 'tag { print; tag = 0 } /^\.TP/ { tag = 1 }' "$tmp/man1.txt" >"$tmp/man1.tags"
	for word in $words; do
		grep -qE -- "(^|[ \"])$word( |\"|$)" "$tmp/man1.tags" || err "observctl.1: no entry for '$word'"
	done
	for word in top status snapshot; do
		grep -qx -- ".B $word" "$tmp/man1.tags" || err "observctl.1: no entry for the command '$word'"
	done
	for var in OBSERVD_METRICS_PORT OBSERVD_CONFIG; do
		grep -qF -- "$var" "$tmp/man1.txt" || err "observctl.1: '$var' not documented"
	done
else
	err "observctl or $man1 not built"
fi

((n >= 20)) || err "parsed only $n settings from --help: has its format changed?"
echo "man_settings: $n settings checked, $fail problems"
((fail == 0))
