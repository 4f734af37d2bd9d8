#!/usr/bin/env bash
# new-service.sh - instantiate the onboarding template for a new service and
# check the result with deploy-check.sh.
#
#   scripts/new-service.sh NAME IMAGE NAMESPACE OUTDIR
#
#   NAME       DNS label: object names, labels, Prometheus job (e.g. billing)
#   IMAGE      registry/repository without tag (e.g. ghcr.io/acme/billing)
#   NAMESPACE  base namespace; environments use NAMESPACE-dev/-staging/-prod
#   OUTDIR     new directory (must not exist, or be empty)
#
# Environment: REPO_URL (git URL Argo CD reads; default derived from a ghcr.io
# IMAGE: https://github.com/<owner>/<name>.git), TAG (staging/prod image tag
# until the first promotion; default sha-0000000), NO_CHECK=1 (skip the
# deploy checks).
set -euo pipefail

usage() { sed -n '2,17s/^# \{0,1\}//p' "$0" >&2; exit 2; }
(($# == 4)) || usage
name=$1 image=$2 namespace=$3 out=$4
repo=$(cd "$(dirname "$0")/.." && pwd)
template=$repo/templates/service

# Kubernetes names: RFC 1123 labels. NAMESPACE-staging must still fit in 63.
dns='^[a-z]([-a-z0-9]*[a-z0-9])?$'
[[ $name =~ $dns && ${#name} -le 40 ]] || { echo "new-service: NAME '$name' must be a DNS label (a-z, 0-9, -) of at most 40 characters" >&2; exit 2; }
[[ $namespace =~ $dns && ${#namespace} -le 55 ]] || { echo "new-service: NAMESPACE '$namespace' must be a DNS label of at most 55 characters" >&2; exit 2; }
# A tag or digest here would be overwritten by the overlays' pinned tags.
[[ $image =~ ^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+$ ]] || { echo "new-service: IMAGE '$image' must be registry/path without tag or digest (e.g. ghcr.io/acme/$name)" >&2; exit 2; }
tag=${TAG:-sha-0000000}
[[ $tag =~ ^sha-[0-9a-f]{7,40}$ ]] || { echo "new-service: TAG must be sha-<hex commit>" >&2; exit 2; }
if [[ -n ${REPO_URL:-} ]]; then
	repo_url=$REPO_URL
elif [[ $image =~ ^ghcr\.io/([^/]+)/([^/]+)$ ]]; then
	repo_url="https://github.com/${BASH_REMATCH[1]}/${BASH_REMATCH[2]}.git"
else
	echo "new-service: set REPO_URL (the git repository Argo CD reads); it cannot be derived from $image" >&2
	exit 2
fi
# billing-api -> BillingApi (alert names are CamelCase by convention).
alert=$(sed -E 's/(^|-)([a-z])/\U\2/g' <<<"$name")

if [[ -e $out && -n $(ls -A "$out") ]]; then
	echo "new-service: $out exists and is not empty" >&2
	exit 2
fi
mkdir -p "$out"
cp -r "$template/." "$out/"
# Substitute in contents (| cannot occur in any value: validated above)...
find "$out" -type f -print0 | xargs -0 sed -i \
	-e "s|__SERVICE__|$name|g" -e "s|__ALERT__|$alert|g" -e "s|__IMAGE__|$image|g" \
	-e "s|__NAMESPACE__|$namespace|g" -e "s|__REPO_URL__|$repo_url|g" -e "s|__PROMOTED_TAG__|$tag|g"
# ...and in file names (the dashboard).
find "$out" -depth -name '*__SERVICE__*' | while IFS= read -r f; do
	mv "$f" "$(dirname "$f")/$(basename "$f" | sed "s|__SERVICE__|$name|g")"
done
if left=$(grep -rl '__[A-Z_]*__' "$out"); then
	echo "new-service: placeholders left in: $left" >&2
	exit 1
fi
echo "new-service: $name written to $out"
[[ $tag == sha-0000000 ]] && echo "new-service: staging and prod point at $tag until the first promotion (promote.yml)"
[[ -n ${NO_CHECK:-} ]] && exit 0
exec "$repo/scripts/deploy-check.sh" "$out"
