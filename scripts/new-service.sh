#!/usr/bin/env bash
# new-service.sh - instantiate the service template (templates/service) for
# any HTTP service and check the result with deploy-check.sh.
#
#   scripts/new-service.sh SPEC OUTDIR
#
# SPEC is a KEY=value file describing the service (examples:
# templates/service/examples/*.env):
#   NAME            DNS label: object names, labels, Prometheus job (billing)
#   IMAGE           ghcr.io/<owner>/<name>, without tag (release.yml pushes there)
#   NAMESPACE       base namespace; environments use NAMESPACE-dev/-staging/-prod
#   REPO_URL        git URL Argo CD reads (default: from a ghcr.io IMAGE)
#   TAG             sha-<full commit> the overlays pin until the first
#                   promotion: a commit release.yml published
#   PORT            the app's port; METRICS_PORT its /metrics port, empty when
#                   /metrics is on PORT; METRICS_PATH (default /metrics)
#   LIVENESS_PATH, READINESS_PATH   probe paths (2xx when alive / ready)
#   APP_UID         user the image runs as (not 0)
#   DRAIN_SECONDS   time the service needs after SIGTERM for in-flight requests
#   PROBE_IMAGE     image the post-sync smoke test runs (default: observd's,
#                   the tag observd's prod runs; it has the --probe client)
# The service must export app_requests_total, app_errors_total and
# app_request_duration_seconds (the dashboard, alerts and smoke test use them).
#
# OUTDIR is a new directory (must not exist, or be empty). NO_CHECK=1 skips
# the deploy checks.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
(($# == 2)) || usage
spec=$1 out=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
template=$repo/templates/service
die() { echo "new-service: $*" >&2; exit 2; }
[[ -f $spec ]] || die "no such file: $spec"

# The spec: KEY=value lines, comments, nothing executed.
declare -A v=([METRICS_PATH]=/metrics [METRICS_PORT]="")
while IFS= read -r line || [[ -n $line ]]; do
	line=${line%%#*}
	line=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' <<<"$line")
	[[ -z $line ]] && continue
	[[ $line =~ ^([A-Z_]+)=(.*)$ ]] || die "$spec: not KEY=value: $line"
	v[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done <"$spec"
for k in NAME IMAGE NAMESPACE TAG PORT LIVENESS_PATH READINESS_PATH APP_UID DRAIN_SECONDS; do
	[[ -n ${v[$k]:-} ]] || die "$spec: $k is not set"
done

# Kubernetes names: RFC 1123 labels. NAMESPACE-staging must still fit in 63.
dns='^[a-z]([-a-z0-9]*[a-z0-9])?$'
[[ ${v[NAME]} =~ $dns && ${#v[NAME]} -le 40 ]] || die "NAME '${v[NAME]}' must be a DNS label (a-z, 0-9, -) of at most 40 characters"
[[ ${v[NAMESPACE]} =~ $dns && ${#v[NAMESPACE]} -le 55 ]] || die "NAMESPACE '${v[NAMESPACE]}' must be a DNS label of at most 55 characters"
# release.yml pushes to GHCR under the repository's owner, in lower case.
[[ ${v[IMAGE]} =~ ^ghcr\.io/([a-z0-9-]+)/([a-z0-9._-]+)$ ]] || die "IMAGE '${v[IMAGE]}' must be ghcr.io/<owner>/<name>, lower case, without tag"
[[ -n ${v[REPO_URL]:-} ]] || v[REPO_URL]="https://github.com/${BASH_REMATCH[1]}/${BASH_REMATCH[2]}.git"
[[ ${v[TAG]} =~ ^sha-[0-9a-f]{40}$ ]] || die "TAG must be sha-<full commit> (what release.yml pushes), got '${v[TAG]}'"
port_ok() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535)); }
port_ok "${v[PORT]}" || die "PORT '${v[PORT]}' is not a port"
[[ -z ${v[METRICS_PORT]} ]] || { port_ok "${v[METRICS_PORT]}" && [[ ${v[METRICS_PORT]} != "${v[PORT]}" ]]; } ||
	die "METRICS_PORT '${v[METRICS_PORT]}' must be empty (/metrics on PORT) or another port"
for k in METRICS_PATH LIVENESS_PATH READINESS_PATH; do
	[[ ${v[$k]} =~ ^/[A-Za-z0-9._~/-]*$ ]] || die "$k '${v[$k]}' must be a path"
done
[[ ${v[APP_UID]} =~ ^[1-9][0-9]*$ ]] || die "APP_UID must be a non-root user id"
[[ ${v[DRAIN_SECONDS]} =~ ^[0-9]+$ ]] || die "DRAIN_SECONDS must be whole seconds"
if [[ -z ${v[PROBE_IMAGE]:-} ]]; then
	# observd's image as a probe tool: the tag observd's prod runs.
	# shellcheck source=deploy-artifacts/service.env
	probe_repo=$(. "$repo/deploy-artifacts/service.env" && echo "$IMAGE")
	probe_tag=$(sed -n 's/^ *newTag: *//p' "$repo/deploy-artifacts/k8s/overlays/prod/kustomization.yaml")
	v[PROBE_IMAGE]=$probe_repo:$probe_tag
fi
[[ ${v[PROBE_IMAGE]} =~ ^[a-z0-9.-]+/[a-z0-9._/-]+(:sha-[0-9a-f]{40}|@sha256:[0-9a-f]{64})$ ]] ||
	die "PROBE_IMAGE '${v[PROBE_IMAGE]}' must be pinned to sha-<commit> or a digest"
if [[ -n ${v[METRICS_PORT]} ]]; then
	shape=separate-metrics metrics_port=${v[METRICS_PORT]} metrics_port_name=metrics
else
	shape=shared-metrics metrics_port=${v[PORT]} metrics_port_name=http
fi
# billing-api -> BillingApi (alert names are CamelCase by convention).
alert=$(sed -E 's/(^|-)([a-z])/\U\2/g' <<<"${v[NAME]}")

if [[ -e $out && -n $(ls -A "$out") ]]; then
	die "$out exists and is not empty"
fi
mkdir -p "$out"
cp -r "$template/deploy-artifacts" "$template/tests" "$out/"
# Keep the blocks for this shape ("#@ separate-metrics" ... "#@ end"), drop
# the others, then substitute (| cannot occur in any value: validated above).
find "$out" -type f -print0 | while IFS= read -r -d '' f; do
	awk -v keep="$shape" '
		/^#@ end$/ { skip = 0; next }
		/^#@ / { skip = ($2 != keep); next }
		!skip' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	sed -i -e "s|__SERVICE__|${v[NAME]}|g" -e "s|__ALERT__|$alert|g" -e "s|__IMAGE__|${v[IMAGE]}|g" \
		-e "s|__NAMESPACE__|${v[NAMESPACE]}|g" -e "s|__REPO_URL__|${v[REPO_URL]}|g" -e "s|__TAG__|${v[TAG]}|g" \
		-e "s|__PORT__|${v[PORT]}|g" -e "s|__METRICS_PORT__|$metrics_port|g" \
		-e "s|__METRICS_PORT_NAME__|$metrics_port_name|g" -e "s|__METRICS_PATH__|${v[METRICS_PATH]}|g" \
		-e "s|__LIVENESS_PATH__|${v[LIVENESS_PATH]}|g" -e "s|__READINESS_PATH__|${v[READINESS_PATH]}|g" \
		-e "s|__UID__|${v[APP_UID]}|g" -e "s|__DRAIN_SECONDS__|${v[DRAIN_SECONDS]}|g" \
		-e "s|__GRACE__|$((5 + v[DRAIN_SECONDS] + 5))|g" -e "s|__PROBE_IMAGE__|${v[PROBE_IMAGE]}|g" "$f"
done
# ...and in file names (the dashboard).
find "$out" -depth -name '*__SERVICE__*' | while IFS= read -r f; do
	mv "$f" "$(dirname "$f")/$(basename "$f" | sed "s|__SERVICE__|${v[NAME]}|g")"
done
if left=$(grep -rlE '__[A-Z_]+__|^#@ ' "$out"); then
	echo "new-service: placeholders left in: $left" >&2
	exit 1
fi
echo "new-service: ${v[NAME]} written to $out ($shape)"
[[ -n ${NO_CHECK:-} ]] && exit 0
exec "$repo/scripts/deploy-check.sh" "$out"
