#!/usr/bin/env bash
# kube-play.sh - the dev overlay run by a real executor: the rendered
# manifests (kubectl kustomize) played by podman kube play, with the image
# the Dockerfile builds in place of the released one, and checked the way
# the kubelet would have run them:
#
#   - the pod runs with the manifest's securityContext (user, no
#     capabilities, no_new_privs, seccomp, read-only root), resources
#     (memory limit in its cgroup; the CPU limit sizes the workers) and env;
#   - its startup, readiness and liveness probes pass, /health, / and
#     /metrics answer; the PostSync smoke test Job, played as a pod, passes;
#   - with the metrics-token component and a Secret (what the sealed-secrets
#     controller would create) /metrics requires the token;
#   - SIGTERM (podman pod stop) drains and exits 0 within the grace period.
#
# Where podman cannot honour a field of the manifest the output says so,
# and the static check of scripts/deploy-check.sh covers it.
#
#   tests/container/kube-play.sh     (as root; under a minute with the
#                                     image cached by tests/container/ci-container.sh)
#
# Exit 0 when every check passed; last line "kube-play: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
# shellcheck source=tests/lib/ci-env.sh
. tests/lib/ci-env.sh
ci_need_root "$0" "$@"
ci_apt podman buildah runc debootstrap catatonit curl python3-yaml
command -v kubectl >/dev/null || { nok "kubectl (1.30 or later) on PATH, to render the overlay"; ci_summary kube-play; exit 1; }

# shellcheck source=deploy-artifacts/service.env
. deploy-artifacts/service.env
OVERLAY=deploy-artifacts/k8s/overlays/dev
SUFFIX=-kp$$			# object names of this run only (other checkouts may play too)
DEPLOY=$SERVICE$SUFFIX
POD=$DEPLOY-pod-0		# podman names a Deployment's pod <name>-pod-<n>
CTR=$POD-$SERVICE		# and its containers <pod>-<container>
IMAGE_TAG=kube-play-$$
TOKEN=kube-play-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
W=$(mktemp -d /tmp/observd-kube-play.XXXXXX)
manifest() { python3 "$REPO/tests/container/kube-manifest.py" "$@"; }

cleanup() {
	local f
	for f in "$W"/*.play.yaml; do
		[[ -f $f ]] && podman kube down "$f" >/dev/null 2>&1 || true
	done
	podman pod rm -f -i "$POD" "$SERVICE-smoke-test$SUFFIX" >/dev/null 2>&1 || true
	podman secret ls --format '{{.Name}}' 2>/dev/null | grep -- "$SUFFIX" | xargs -r podman secret rm >/dev/null 2>&1 || true
	podman volume ls --format '{{.Name}}' 2>/dev/null | grep -- "$SUFFIX" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
	podman rmi "localhost/$SERVICE:$IMAGE_TAG" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

ci_podman_setup "$W"
ci_base_image || { nok "base image ($CI_BASE_IMAGE) made with debootstrap"; ci_summary kube-play; exit 1; }
if ! ci_image_build "localhost/$SERVICE:$IMAGE_TAG" "$W/build.log"; then
	nok "image builds"
	ci_summary kube-play
	exit 1
fi

# render NAME [COMPONENT]: the dev overlay with this run's image and names,
# plus a component and the Secret it needs (made here as the sealed-secrets
# controller would make it from the SealedSecret), into $W/NAME.play.yaml.
render() {
	local name=$1 component=${2:-} dir=$W/$1
	mkdir -p "$dir"
	{
		echo "apiVersion: kustomize.config.k8s.io/v1beta1"
		echo "kind: Kustomization"
		# The overlay's namespace: generated objects must share it, or
		# kustomize does not rewrite the references to their new names.
		echo "namespace: $(sed -n 's/^namespace: *//p' "$REPO/$OVERLAY/kustomization.yaml")"
		echo "nameSuffix: $SUFFIX"
		echo "resources:"
		echo "  - $(realpath --relative-to="$dir" "$REPO/$OVERLAY")"
		if [[ -n $component ]]; then
			echo "components:"
			echo "  - $(realpath --relative-to="$dir" "$REPO/$component")"
			echo "secretGenerator:"
			echo "  - name: $SERVICE-metrics-token"
			echo "    literals:"
			echo "      - token=$TOKEN"
		fi
		echo "images:"
		echo "  - name: $IMAGE"
		echo "    newName: localhost/$SERVICE"
		echo "    newTag: $IMAGE_TAG"
	} >"$dir/kustomization.yaml"
	kubectl kustomize "$dir" >"$W/$name.play.yaml"
}

# pod_ip: the pod's address on podman's kube network (reachable from here).
pod_ip() {
	local infra
	infra=$(podman pod inspect "$POD" --format '{{.InfraContainerID}}') &&
		podman inspect "$infra" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'
}

# start NAME: play the rendered file (created, not started), run FIXUP if
# set, start the pod, wait until /ready answers; sets IP.
start() {
	# From $W: podman looks for ./<image name>/ to build the image from,
	# and the build tree has an "observd" binary there.
	(cd "$W" && podman kube play --start=false "$W/$1.play.yaml") >"$W/$1.play.log" 2>&1 ||
		{ cat "$W/$1.play.log"; return 1; }
	[[ -z ${FIXUP:-} ]] || $FIXUP "$CTR" || return 1
	podman pod start "$POD" >/dev/null 2>>"$W/podman.err" || return 1
	IP=$(pod_ip) || return 1
	for _ in $(seq 100); do
		curl -sf --max-time 1 "http://$IP:$(manifest value "$DEPLOY" spec.template.spec.containers.0.ports.0.containerPort <"$W/$1.play.yaml")/ready" \
			-o /dev/null && return 0
		sleep 0.2
	done
	podman logs "$CTR" 2>&1 | tail -n 20
	return 1
}

# smoke NAME: the PostSync Job's pod, resolving the Service to the pod.
smoke() {
	manifest hook-pod PostSync "$SERVICE" "$IP" <"$W/$1.play.yaml" >"$W/$1-smoke.play.yaml"
	local pod=$SERVICE-smoke-test$SUFFIX state=""
	(cd "$W" && podman kube play --start=false "$W/$1-smoke.play.yaml") >"$W/$1-smoke.log" 2>&1 ||
		{ cat "$W/$1-smoke.log"; return 1; }
	[[ -z ${FIXUP:-} ]] || $FIXUP "$pod-metrics" || return 1
	podman pod start "$pod" >/dev/null 2>>"$W/podman.err" || return 1
	for _ in $(seq 150); do
		state=$(podman pod inspect "$pod" --format '{{.State}}' 2>/dev/null || true)
		[[ $state == Exited ]] && break
		sleep 0.2
	done
	local rc=0 c
	for c in $(podman ps -a --filter "pod=$pod" --format '{{.Names}}' | grep -v -- -infra); do
		code=$(podman inspect "$c" --format '{{.State.ExitCode}}')
		echo "  smoke container ${c#"$pod"-}: exit $code: $(podman logs "$c" 2>&1 | tail -n 1)"
		[[ $code == 0 ]] || rc=1
	done
	# The main container runs only once every init container passed.
	podman ps -a --filter "pod=$pod" --format '{{.Names}}' | grep -q -- "-metrics$" || rc=1
	podman pod rm -f "$pod" >/dev/null 2>&1 || true
	return $rc
}

# ---------------------------------------------------------------- dev as rendered
render dev || { nok "kubectl kustomize $OVERLAY"; ci_summary kube-play; exit 1; }
manifest env "$DEPLOY" <"$W/dev.play.yaml" >"$W/want.env"
if ! start dev; then
	nok "podman kube play $OVERLAY: the pod starts and /ready answers"
	ci_summary kube-play
	exit 1
fi
ok "podman kube play $OVERLAY: pod $POD ready at $IP"
PORT=$(manifest value "$DEPLOY" spec.template.spec.containers.0.ports.0.containerPort <"$W/dev.play.yaml")
MPORT=$(manifest value "$DEPLOY" spec.template.spec.containers.0.ports.1.containerPort <"$W/dev.play.yaml")
pid=$(podman inspect "$CTR" --format '{{.State.Pid}}')

# securityContext, as the kernel sees the process
uid=$(manifest value "$DEPLOY" spec.template.spec.containers.0.securityContext.runAsUser <"$W/dev.play.yaml")
check "runAsUser/runAsGroup $uid: every process" bash -c "
	for p in \$(ps -o pid= --ppid $pid) $pid; do
		grep -Eq '^Uid:[[:space:]]+$uid[[:space:]]' /proc/\$p/status && grep -Eq '^Gid:[[:space:]]+$uid[[:space:]]' /proc/\$p/status || exit 1
	done"
# A non-root process has no effective capabilities anyway: the bounding set
# shows whether ALL were dropped.
check "capabilities drop ALL: CapBnd and CapEff 0" bash -c "
	grep -q '^CapBnd:[[:space:]]*0000000000000000$' /proc/$pid/status &&
	grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/$pid/status"
check "allowPrivilegeEscalation false: no_new_privs" grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status"
check "seccompProfile RuntimeDefault: a seccomp filter" grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status"
check "readOnlyRootFilesystem: / mounted ro" awk '$5 == "/" && $6 ~ /(^|,)ro(,|$)/ { found = 1 } END { exit !found }' "/proc/$pid/mountinfo"

# resources.limits: memory in the container's cgroup; CPU sizes the workers
mem=$(manifest value "$DEPLOY" spec.template.spec.containers.0.resources.limits.memory <"$W/dev.play.yaml")
cpu=$(manifest value "$DEPLOY" spec.template.spec.containers.0.resources.limits.cpu <"$W/dev.play.yaml")
mem_bytes=$(awk -v m="$mem" 'BEGIN { n = m + 0; u = substr(m, length(n "") + 1);
	f["Ki"] = 1024; f["Mi"] = 1048576; f["Gi"] = 1073741824; print n * (u in f ? f[u] : 1) }')
cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 } $1 == "0" && $2 == "" { v2 = $3 } END { if (v2 != "") print v2 }' \
	"/proc/$pid/cgroup" | head -n 1)
limit=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$cg/memory.max" 2>/dev/null || echo none)
check "resources.limits.memory $mem: cgroup limit $limit" test "$limit" = "$mem_bytes"
want_workers=$(awk -v c="$cpu" -v n="$(nproc)" 'BEGIN { m = (c ~ /m$/) ? substr(c, 1, length(c) - 1) / 1000 : c;
	w = int(m); if (w < m) w++; if (w < 1) w = 1; print (w < n ? w : n) }')
line=$(podman logs "$CTR" 2>&1 | grep -m1 '"msg":"workers: ' || true)
echo "  $line"
check "resources.limits.cpu $cpu: $want_workers worker(s) from the cgroup CPU quota" \
	grep -q "\"msg\":\"workers: $want_workers for a cgroup v[12] CPU quota" <<<"$line"

# env: every variable of the ConfigMap and env, as the process got them
tr '\0' '\n' <"/proc/$pid/environ" >"$W/got.env"
missing=$(grep -vxFf "$W/got.env" "$W/want.env" || true)
check "env from the ConfigMap and the manifest ($(wc -l <"$W/want.env") variables)${missing:+; missing: $missing}" test -z "$missing"
check "LOG_LEVEL DEBUG in effect: DEBUG lines in the log" bash -c "podman logs $CTR 2>&1 | grep -q '\"level\":\"DEBUG\"'"

# the probes of the manifest, run the way the kubelet runs them
while read -r kind port path; do
	check "$kind: GET :$port$path 2xx" curl -sf --max-time 2 -o /dev/null "http://$IP:$port$path"
done < <(manifest probes "$DEPLOY" <"$W/dev.play.yaml")
body=$(curl -sf --max-time 2 "http://$IP:$PORT/health" || true)
check "/health: $body" grep -q '"status":"healthy"' <<<"$body"
env_name=$(sed -n 's/^OBSERVD_ENVIRONMENT=//p' "$W/want.env")
check "/ shows environment $env_name" bash -c "curl -sf --max-time 2 http://$IP:$PORT/ | grep -q '$env_name'"
check "/metrics on the metrics port :$MPORT has app_requests_total samples" \
	bash -c "curl -sf --max-time 2 http://$IP:$MPORT/metrics | grep -q '^app_requests_total{'"
check "metrics token off: /metrics answers without one" curl -sf --max-time 2 -o /dev/null "http://$IP:$MPORT/metrics"
check "the PostSync smoke test (its Job's pod) passes" smoke dev

# SIGTERM: drain and exit 0 before the grace period ends
grace=$(manifest value "$DEPLOY" spec.template.spec.terminationGracePeriodSeconds <"$W/dev.play.yaml")
s=$SECONDS
podman pod stop -t "$grace" "$POD" >/dev/null 2>>"$W/podman.err" || true
took=$((SECONDS - s))
code=$(podman inspect "$CTR" --format '{{.State.ExitCode}}')
check "stop: exit 0 ($code) in ${took}s, within terminationGracePeriodSeconds $grace" test "$code" = 0 -a "$took" -lt "$grace"
check "stop: the log says stopped" bash -c "podman logs $CTR 2>&1 | grep -q '\"msg\":\"stopped\"'"
podman kube down "$W/dev.play.yaml" >/dev/null 2>&1 || true

# ------------------------------------------------ dev with a sealed metrics token
# podman 4.3 writes a Secret volume's data still base64-encoded and ignores
# defaultMode and fsGroup: put the file as the kubelet would (decoded,
# 0440, group = fsGroup) before the pod starts.
token_fixup() { # CONTAINER
	local mount vol
	mount=$(dirname "$(sed -n "s/^$TOKEN_ENV=//p" "$W/token.env")")
	vol=$(podman inspect "$1" --format "{{range .Mounts}}{{if eq .Destination \"$mount\"}}{{.Source}}{{end}}{{end}}")
	[[ -d $vol ]] || { echo "no volume mounted at $mount"; return 1; }
	printf '%s' "$TOKEN" >"$vol/token"
	chown "0:$uid" "$vol/token" && chmod 0440 "$vol/token"
}
render token deploy-artifacts/k8s/components/metrics-token
manifest env "$DEPLOY" <"$W/token.play.yaml" >"$W/token.env"
if FIXUP=token_fixup start token; then
	ok "with the metrics-token component and its Secret: the pod starts"
	check "token enforced: /metrics without it 401" \
		test "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$IP:$MPORT/metrics")" = 401
	check "token enforced: /metrics with it 200 and app_requests_total" bash -c \
		"curl -sf --max-time 2 -H 'Authorization: Bearer $TOKEN' http://$IP:$MPORT/metrics | grep -q '^app_requests_total{'"
	check "token enforced: a wrong one 401" \
		test "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x$TOKEN" "http://$IP:$MPORT/metrics")" = 401
	FIXUP=token_fixup
	check "the PostSync smoke test with the token passes" smoke token
	FIXUP=
else
	nok "with the metrics-token component and its Secret: the pod starts"
fi
podman kube down "$W/token.play.yaml" >/dev/null 2>&1 || true

# What this executor does not honour (podman $(podman --version | awk '{print $3}')); the static
# checks of scripts/deploy-check.sh (tests/deploy/policy.mjs) cover these.
cat <<EOF
podman kube play does not honour, so the checks above did it or deploy-check covers it:
  readinessProbe, startupProbe    not run by podman: run above from the manifest
  livenessProbe                   turned into a curl HEALTHCHECK (no curl in the image, named port -> :0): run above
  lifecycle.preStop (sleep)       not run: policy "graceful stop"
  terminationGracePeriodSeconds   used only as the stop timeout given above
  secret defaultMode, fsGroup     ignored, data written base64-encoded: the volume was completed as the kubelet would
  emptyDir medium/sizeLimit       a plain named volume
  replicas, HPA, PDB, Service, NetworkPolicy, ServiceMonitor, PrometheusRule, Job hooks
                                  not played: policy rules (environment table, NetworkPolicy, ServiceMonitor ports,
                                  smoke test), promtool, schemas; the Job's pod was played above
  enableServiceLinks, automountServiceAccountToken, topologySpreadConstraints
                                  no Kubernetes API here: policy "pods"
EOF
ci_summary kube-play
