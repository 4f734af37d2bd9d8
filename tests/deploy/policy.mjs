// Deployment policy for rendered overlays, Argo CD objects and the delivery
// workflows: the rules a schema cannot express. One line per rule
// ("ok"/"FAIL", or "skip" with the reason when it cannot be checked here),
// then "policy: N ok, M failing"; exit 1 if any rule fails.
//
// usage: node policy.mjs ROOT RENDERDIR
//   ROOT       the tree being checked (repo root or a new service's dir);
//              ROOT/deploy-artifacts/service.env names the service
//   RENDERDIR  holds <env>.yaml (kubectl kustomize of each overlay),
//              argocd.yaml (deploy-artifacts/argocd) and argocd-root.yaml
//              (deploy-artifacts/argocd/bootstrap)
// Environment: POLICY_GIT_DIR, the git work tree whose history the image
// tags must come from (default ROOT; tests/deploy/plant.sh checks copies).
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { execFileSync } from "node:child_process";
import { parse, parseAllDocuments } from "yaml";

const [ROOT, RENDER] = process.argv.slice(2);

// The environment table (docs/ONBOARDING.md). A new environment must be
// added here first, on purpose. Every tag is sha-<full commit> (what
// release.yml pushes) or a digest: nothing mutable, in any environment.
const TABLE = {
  dev:     { replicas: 1, mem: ["64Mi", "128Mi"],  cpu: ["100m", "250m"],  log: "DEBUG", from: null },
  staging: { replicas: 2, mem: ["128Mi", "256Mi"], cpu: ["200m", "500m"],  log: "INFO", from: "dev" },
  prod:    { replicas: 3, mem: ["256Mi", "512Mi"], cpu: ["500m", "1000m"], log: "WARNING", from: "staging" },
};
const IMMUTABLE_TAG = /^sha-[0-9a-f]{40}$/;
const DIGEST = /@sha256:[0-9a-f]{64}$/;
const DRAIN_MARGIN_S = 5; // time for the service to exit after the drain deadline

// deploy-artifacts/service.env: KEY=value lines.
function readEnvFile(f) {
  const out = {};
  if (!existsSync(f)) return out;
  for (const line of readFileSync(f, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  return out;
}
const SPEC = readEnvFile(join(ROOT, "deploy-artifacts", "service.env"));
const SERVICE = SPEC.SERVICE;
const UID = Number(SPEC.APP_UID);

const load = (f) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS()).filter(Boolean);
const envs = Object.fromEntries(readdirSync(RENDER).filter((f) => f.endsWith(".yaml") && !f.startsWith("argocd"))
  .map((f) => [f.replace(/\.yaml$/, ""), load(join(RENDER, f))]));
const argo = existsSync(join(RENDER, "argocd.yaml")) ? load(join(RENDER, "argocd.yaml")) : [];
const argoRoot = existsSync(join(RENDER, "argocd-root.yaml")) ? load(join(RENDER, "argocd-root.yaml")) : [];
const readYaml = (f) => { try { return parse(readFileSync(f, "utf8")); } catch { return null; } };
const workflowsDir = join(ROOT, ".github", "workflows");
const workflows = existsSync(workflowsDir) ? readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f))
  .map((f) => ({ name: f, text: readFileSync(join(workflowsDir, f), "utf8"), doc: readYaml(join(workflowsDir, f)) })) : [];

const results = [];
// rule(NAME, fn(fail, note, skip)): fail(msg) fails it, note(msg) adds a
// line to an ok, skip(why) says it could not be checked here (not a pass).
function rule(name, fn) {
  const errs = [], notes = [];
  let skipped = null;
  try { fn((msg) => errs.push(msg), (msg) => notes.push(msg), (why) => { skipped = why; }); }
  catch (e) { errs.push(`exception: ${e.stack}`); }
  results.push([name, errs, notes, skipped]);
}
const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"]);
// Workloads that serve: probes and graceful stop apply to them, not to Jobs.
const SERVING = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"]);
function podSpecOf(o) {
  if (o.kind === "Pod") return o.spec;
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  return o.spec?.template?.spec;
}
function* workloads() {
  for (const [env, objs] of Object.entries(envs))
    for (const o of objs) if (WORKLOADS.has(o.kind)) yield [env, o, podSpecOf(o) ?? {}];
}
const podLabels = (o) => (o.kind === "Pod" ? o.metadata?.labels : o.spec?.template?.metadata?.labels) ?? {};
const containersOf = (ps) => [...(ps.initContainers ?? []), ...(ps.containers ?? [])];
function durationSeconds(v) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(v).trim());
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, undefined: 1 }[m[2]];
}
// The value a container sees for NAME: env first, then envFrom ConfigMaps
// (kubectl semantics: explicit env wins), or undefined.
function envValue(objs, c, name) {
  const e = (c.env ?? []).find((x) => x.name === name);
  if (e) return e.value;
  for (const ef of c.envFrom ?? []) {
    const cm = objs.find((o) => o.kind === "ConfigMap" && o.metadata?.name === ef.configMapRef?.name);
    if (cm?.data && name in cm.data) return cm.data[name];
  }
  return undefined;
}
const cpuMilli = (q) => (String(q).endsWith("m") ? Number(String(q).slice(0, -1)) : Number(q) * 1000);
const matches = (sel = {}, labels = {}) => Object.entries(sel).every(([k, v]) => labels[k] === v);

rule("deploy-artifacts/service.env names the service, its image and user", (fail) => {
  if (!SERVICE || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(SERVICE)) fail(`SERVICE "${SERVICE}" is not a DNS label`);
  if (!/^ghcr\.io\/[a-z0-9-]+\/[a-z0-9._-]+$/.test(SPEC.IMAGE ?? "")) fail(`IMAGE "${SPEC.IMAGE}" is not ghcr.io/<owner>/<name> in lower case`);
  if (!(UID > 0)) fail(`APP_UID "${SPEC.APP_UID}" is not a non-root user id`);
  if (!SPEC.DRAIN_ENV && !(Number(SPEC.DRAIN_SECONDS) >= 0)) fail("neither DRAIN_ENV nor DRAIN_SECONDS is set");
});

rule("overlays render and are in the environment table", (fail) => {
  if (!Object.keys(envs).length) fail("no rendered overlays");
  for (const env of Object.keys(envs)) if (!TABLE[env]) fail(`overlay "${env}" is not in the environment table`);
});

rule("every serving container has liveness, readiness and startup probes", (fail) => {
  for (const [env, o, ps] of workloads())
    if (SERVING.has(o.kind)) for (const c of ps.containers ?? [])
      for (const p of ["livenessProbe", "readinessProbe", "startupProbe"])
        if (!c[p]) fail(`${env}: ${o.kind}/${o.metadata.name} container ${c.name}: no ${p}`);
});

rule("every container has cpu and memory requests and limits", (fail) => {
  for (const [env, o, ps] of workloads())
    for (const c of containersOf(ps))
      for (const k of ["requests", "limits"]) for (const r of ["cpu", "memory"])
        if (!c.resources?.[k]?.[r]) fail(`${env}: ${o.kind}/${o.metadata.name} container ${c.name}: no resources.${k}.${r}`);
});

rule(`security context: non-root ${UID}, read-only root, no escalation, drop ALL, RuntimeDefault seccomp`, (fail) => {
  for (const [env, o, ps] of workloads()) {
    const id = `${env}: ${o.kind}/${o.metadata.name}`;
    const psc = ps.securityContext ?? {};
    for (const c of containersOf(ps)) {
      const sc = c.securityContext ?? {};
      const eff = (k) => sc[k] ?? psc[k];
      const cid = `${id} container ${c.name}`;
      if (eff("runAsNonRoot") !== true) fail(`${cid}: runAsNonRoot is not true`);
      if (eff("runAsUser") !== UID) fail(`${cid}: runAsUser is ${eff("runAsUser")}, want ${UID}`);
      if (eff("runAsGroup") !== UID) fail(`${cid}: runAsGroup is ${eff("runAsGroup")}, want ${UID}`);
      if (sc.readOnlyRootFilesystem !== true) fail(`${cid}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) fail(`${cid}: allowPrivilegeEscalation is not false`);
      if (sc.privileged) fail(`${cid}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(`${cid}: capabilities.drop lacks ALL`);
      if ((sc.capabilities?.add ?? []).length) fail(`${cid}: adds capabilities ${sc.capabilities.add}`);
      if (eff("seccompProfile")?.type !== "RuntimeDefault") fail(`${cid}: seccompProfile is not RuntimeDefault`);
    }
  }
});

rule("pods: enableServiceLinks false, no service account token", (fail) => {
  for (const [env, o, ps] of workloads()) {
    const id = `${env}: ${o.kind}/${o.metadata.name}`;
    // observd reads OBSERVD_* variables; service links would inject
    // OBSERVD_PORT=tcp://... for a Service named observd.
    if (ps.enableServiceLinks !== false) fail(`${id}: enableServiceLinks is not false`);
    const sa = envs[env].find((x) => x.kind === "ServiceAccount" && x.metadata.name === (ps.serviceAccountName ?? "default"));
    if (ps.automountServiceAccountToken !== false && sa?.automountServiceAccountToken !== false)
      fail(`${id}: the service account token is mounted`);
    if (!sa) fail(`${id}: service account ${ps.serviceAccountName ?? "default"} is not part of the overlay`);
  }
});

rule(`graceful stop: preStop + ${SPEC.DRAIN_ENV ?? "drain"} + margin <= terminationGracePeriodSeconds`, (fail) => {
  for (const [env, o, ps] of workloads()) {
    if (!SERVING.has(o.kind)) continue;
    const grace = ps.terminationGracePeriodSeconds ?? 30;
    for (const c of ps.containers ?? []) {
      const id = `${env}: ${o.kind}/${o.metadata.name} container ${c.name}`;
      const pre = c.lifecycle?.preStop;
      if (!pre) { fail(`${id}: no preStop hook (endpoints may still route to a stopping pod)`); continue; }
      const preS = pre.sleep?.seconds ?? 0;
      const drain = SPEC.DRAIN_ENV ? envValue(envs[env], c, SPEC.DRAIN_ENV) : SPEC.DRAIN_SECONDS;
      const drainS = durationSeconds(drain ?? "");
      if (Number.isNaN(drainS)) { fail(`${id}: ${SPEC.DRAIN_ENV ?? "DRAIN_SECONDS"} "${drain}" is not a duration`); continue; }
      if (preS + drainS + DRAIN_MARGIN_S > grace)
        fail(`${id}: preStop ${preS}s + drain ${drainS}s + ${DRAIN_MARGIN_S}s > terminationGracePeriodSeconds ${grace}s`);
    }
  }
});

// kubeseal's output: base64 of an RSA-encrypted session key and the data,
// several hundred characters. Anything else (a placeholder, a typo) cannot
// be decrypted: the Secret never appears and a pod that mounts it stays in
// ContainerCreating.
const looksSealed = (v) => typeof v === "string" && v.length >= 200 && /^Ag[A-Za-z0-9+/]+=*$/.test(v);
const sealedSecrets = (objs) => objs.filter((x) => x.kind === "SealedSecret");
const sealedName = (x) => x.spec?.template?.metadata?.name ?? x.metadata.name;

rule("metrics token: off, or a sealed (not placeholder) Secret on a volume that is not world-readable", (fail, note) => {
  for (const [env, objs] of Object.entries(envs))
    for (const ss of sealedSecrets(objs))
      for (const [k, v] of Object.entries(ss.spec?.encryptedData ?? {}))
        if (!looksSealed(v)) fail(`${env}: SealedSecret/${ss.metadata.name} key ${k} is not kubeseal output (a placeholder?): the controller cannot decrypt it`);
  const off = new Set(Object.keys(envs));
  for (const [env, o, ps] of workloads())
    for (const c of ps.containers ?? []) {
      const id = `${env}: ${o.kind}/${o.metadata.name} container ${c.name}`;
      // The service's own token variable, or observd's --probe-token-file.
      const args = c.args ?? [];
      const file = (SPEC.TOKEN_ENV && envValue(envs[env], c, SPEC.TOKEN_ENV)) ||
        (args.includes("--probe-token-file") ? args[args.indexOf("--probe-token-file") + 1] : undefined);
      if (!file) continue; // token auth off for this container
      if (SERVING.has(o.kind)) off.delete(env);
      const vm = (c.volumeMounts ?? []).find((m) => file.startsWith(m.mountPath.replace(/\/?$/, "/")));
      const vol = vm && (ps.volumes ?? []).find((v) => v.name === vm.name);
      if (!vol?.secret) { fail(`${id}: ${file} is not on a mounted Secret volume`); continue; }
      const key = file.slice(vm.mountPath.replace(/\/?$/, "/").length);
      const item = (vol.secret.items ?? []).find((i) => i.path === key);
      if (vol.secret.items && !item) fail(`${id}: secret volume ${vol.name} has no item at ${key}`);
      const mode = item?.mode ?? vol.secret.defaultMode ?? 0o644;
      if (mode & 0o007) fail(`${id}: token file mode ${mode.toString(8)} is world-accessible (observd refuses it)`);
      if (mode & 0o040 && !ps.securityContext?.fsGroup) fail(`${id}: group-readable token needs pod fsGroup`);
      const secret = vol.secret.secretName;
      const ss = sealedSecrets(envs[env]).find((x) => sealedName(x) === secret);
      if (!ss) fail(`${id}: no SealedSecret in the overlay produces Secret ${secret}`);
      else if (!vol.secret.optional && Object.values(ss.spec?.encryptedData ?? {}).some((v) => !looksSealed(v)))
        fail(`${id}: mounts Secret ${secret} as required, but its SealedSecret is a placeholder: the pod would never start`);
    }
  for (const env of [...off].sort()) note(`${env}: metrics token off (seal one: docs/SEALED_SECRETS.md); /metrics is open to the monitoring namespace only`);
});

// The image each environment pins: repository and tag (or digest).
function pinnedImages(env) {
  const out = [];
  for (const [e, o, ps] of workloads()) if (e === env)
    for (const c of containersOf(ps)) out.push({ id: `${e}: ${o.kind}/${o.metadata.name} container ${c.name}`, c });
  return out;
}
const tagOf = (image) => /^[^@]+?(?::([^:/@]+))?$/.exec(image)?.[1];
const repoOf = (image) => image.replace(/@sha256:[0-9a-f]{64}$/, "").replace(/:[^:/]+$/, "");

rule("image tags: every image pinned to sha-<full commit> or a digest, none mutable, from service.env's IMAGE", (fail) => {
  for (const env of Object.keys(envs))
    for (const { id, c } of pinnedImages(env)) {
      if (!c.image.includes("/")) { fail(`${id}: image ${c.image} has no registry (kustomize images not applied?)`); continue; }
      if (!DIGEST.test(c.image)) {
        const tag = tagOf(c.image);
        if (!tag) fail(`${id}: image ${c.image} has no tag (that is :latest)`);
        else if (!IMMUTABLE_TAG.test(tag)) fail(`${id}: tag "${tag}" is mutable or never pushed (release.yml pushes sha-<full commit> only)`);
      }
      if (c.imagePullPolicy === "IfNotPresent" && !DIGEST.test(c.image) && !IMMUTABLE_TAG.test(tagOf(c.image) ?? ""))
        fail(`${id}: imagePullPolicy IfNotPresent on a mutable tag: nodes keep running whatever they pulled first`);
    }
  // The service's own image is the one release.yml pushes.
  for (const [env, o, ps] of workloads())
    if (SERVING.has(o.kind)) for (const c of ps.containers ?? [])
      if (SPEC.IMAGE && repoOf(c.image) !== SPEC.IMAGE) fail(`${env}: ${o.kind}/${o.metadata.name}: image ${repoOf(c.image)} is not service.env's IMAGE ${SPEC.IMAGE}`);
});

// git: the commits behind the tags. POLICY_GIT_DIR lets the plant tests
// check a copy against this repository's history.
const GIT_DIR = process.env.POLICY_GIT_DIR || ROOT;
function git(...args) {
  return execFileSync("git", ["-C", GIT_DIR, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
}
function gitOk(...args) { try { git(...args); return true; } catch { return false; } }
function gitTopIsRoot() {
  try {
    const top = git("rev-parse", "--show-toplevel").trim();
    return statSync(top).ino === statSync(GIT_DIR).ino;
  } catch { return false; }
}
// Tags an overlay pinned at any commit of the history (its kustomization's newTag lines).
function tagsEverPinned(env) {
  const path = `deploy-artifacts/k8s/overlays/${env}/kustomization.yaml`;
  const tags = new Set();
  let log = "";
  try { log = git("log", "--format=", "-p", "--", path); } catch { return tags; }
  for (const m of log.matchAll(/^[+ ]\s*newTag:\s*(\S+)/gm)) tags.add(m[1]);
  for (const m of (existsSync(join(ROOT, path)) ? readFileSync(join(ROOT, path), "utf8") : "").matchAll(/^\s*newTag:\s*(\S+)/gm)) tags.add(m[1]);
  return tags;
}

rule("image tags name commits of this repository that have a Dockerfile; staging ran in dev first, prod in staging", (fail, note, skip) => {
  if (!gitTopIsRoot()) return skip(`${GIT_DIR} is not the top of a git work tree (a new service's directory): commits not checked`);
  if (git("rev-parse", "--is-shallow-repository").trim() === "true")
    return fail("shallow clone: the commits behind the tags cannot be checked (fetch the full history, e.g. fetch-depth: 0)");
  for (const env of Object.keys(envs)) {
    const seen = new Set();
    for (const { id, c } of pinnedImages(env)) {
      if (SPEC.IMAGE && repoOf(c.image) !== SPEC.IMAGE) continue; // a tool image (e.g. another project's)
      const tag = tagOf(c.image);
      if (!tag || !IMMUTABLE_TAG.test(tag) || seen.has(tag)) continue;
      seen.add(tag);
      const sha = tag.slice(4);
      if (!gitOk("cat-file", "-e", `${sha}^{commit}`)) { fail(`${id}: ${tag} is not a commit of this repository: that image was never built here`); continue; }
      if (!gitOk("merge-base", "--is-ancestor", sha, "HEAD")) fail(`${id}: ${tag} is not in this branch's history (an unmerged or rewritten commit)`);
      if (!gitOk("cat-file", "-e", `${sha}:Dockerfile`)) fail(`${id}: commit ${sha.slice(0, 12)} has no Dockerfile: its image cannot have been built`);
      const from = TABLE[env]?.from;
      if (from && envs[from] && !tagsEverPinned(from).has(tag))
        fail(`${id}: ${tag} never ran in ${from}: promote what ${from} ran and passed its smoke test (promote.yml)`);
    }
  }
  note("CI success of each commit is enforced where it happens: release.yml publishes only after ci.yml passed on it");
});

rule("replicas, resources, HPA and LOG_LEVEL match the environment table", (fail) => {
  for (const [env, o, ps] of workloads()) {
    const t = TABLE[env];
    if (!t || o.kind !== "Deployment") continue;
    const id = `${env}: Deployment/${o.metadata.name}`;
    if (o.spec.replicas !== t.replicas) fail(`${id}: replicas ${o.spec.replicas}, table says ${t.replicas}`);
    const hpa = envs[env].find((x) => x.kind === "HorizontalPodAutoscaler" && x.spec.scaleTargetRef?.name === o.metadata.name);
    if (hpa && hpa.spec.minReplicas !== t.replicas) fail(`${id}: HPA minReplicas ${hpa.spec.minReplicas}, want ${t.replicas}`);
    if (hpa && hpa.spec.maxReplicas < t.replicas) fail(`${id}: HPA maxReplicas below the replica count`);
    const c = ps.containers[0];
    const r = c.resources ?? {};
    if (r.requests?.memory !== t.mem[0] || r.limits?.memory !== t.mem[1])
      fail(`${id}: memory ${r.requests?.memory}/${r.limits?.memory}, table says ${t.mem.join("/")}`);
    if (cpuMilli(r.requests?.cpu) !== cpuMilli(t.cpu[0]) || cpuMilli(r.limits?.cpu) !== cpuMilli(t.cpu[1]))
      fail(`${id}: cpu ${r.requests?.cpu}/${r.limits?.cpu}, table says ${t.cpu.join("/")}`);
    const log = envValue(envs[env], c, "LOG_LEVEL");
    if (log !== t.log) fail(`${id}: LOG_LEVEL ${log}, table says ${t.log}`);
  }
});

rule("ServiceMonitor ports exist in the Services they select, and in the pods", (fail) => {
  for (const [env, objs] of Object.entries(envs))
    for (const sm of objs.filter((o) => o.kind === "ServiceMonitor")) {
      const svcs = objs.filter((o) => o.kind === "Service" && matches(sm.spec.selector?.matchLabels, o.metadata.labels));
      if (!svcs.length) { fail(`${env}: ServiceMonitor/${sm.metadata.name} selects no Service`); continue; }
      for (const ep of sm.spec.endpoints ?? [])
        for (const svc of svcs) {
          const port = (svc.spec.ports ?? []).find((p) => p.name === ep.port);
          if (!port) { fail(`${env}: ServiceMonitor/${sm.metadata.name} port "${ep.port}" is not a named port of Service/${svc.metadata.name}`); continue; }
          const pods = objs.filter((o) => WORKLOADS.has(o.kind) && matches(svc.spec.selector, podLabels(o)));
          if (!pods.length) fail(`${env}: Service/${svc.metadata.name} selects no workload`);
          for (const w of pods) {
            const named = (podSpecOf(w).containers ?? []).flatMap((c) => c.ports ?? []);
            const ok = typeof port.targetPort === "string" ? named.some((p) => p.name === port.targetPort)
              : named.some((p) => p.containerPort === (port.targetPort ?? port.port));
            if (!ok) fail(`${env}: Service/${svc.metadata.name} targetPort ${port.targetPort} is not a port of ${w.kind}/${w.metadata.name}`);
          }
          const cred = ep.authorization?.credentials ?? ep.bearerTokenSecret;
          if (cred && !objs.some((x) => x.kind === "SealedSecret" && (x.spec?.template?.metadata?.name ?? x.metadata.name) === cred.name))
            fail(`${env}: ServiceMonitor/${sm.metadata.name} uses Secret ${cred.name}, which no SealedSecret in the overlay creates`);
        }
    }
});

// Labels of the pods of the PostSync smoke test Jobs of an environment.
const hookJobs = (objs) => objs.filter((o) => o.kind === "Job" &&
  /(^|,)\s*PostSync\s*(,|$)/.test(o.metadata?.annotations?.["argocd.argoproj.io/hook"] ?? ""));

rule("NetworkPolicy: a separate metrics port reachable only from the monitoring namespace and the smoke test", (fail, note) => {
  for (const [env, objs] of Object.entries(envs)) {
    const nps = objs.filter((o) => o.kind === "NetworkPolicy");
    if (!nps.length) fail(`${env}: no NetworkPolicy`);
    const smokeLabels = hookJobs(objs).map((j) => j.spec?.template?.metadata?.labels ?? {});
    const hasMetricsPort = objs.some((o) => SERVING.has(o.kind) &&
      (podSpecOf(o).containers ?? []).some((c) => (c.ports ?? []).some((p) => p.name === "metrics")));
    if (!hasMetricsPort) { note(`${env}: /metrics is on the app port: keep it out of the ingress (a NetworkPolicy cannot separate paths)`); continue; }
    for (const np of nps)
      for (const r of np.spec.ingress ?? []) {
        const metrics = (r.ports ?? []).some((p) => p.port === "metrics");
        if (!metrics && r.ports) continue;
        const froms = r.from ?? [];
        const allowed = (f) => !f.ipBlock && (
          (!f.podSelector && f.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "monitoring" &&
            Object.keys(f.namespaceSelector).length === 1 && Object.keys(f.namespaceSelector.matchLabels).length === 1) ||
          (!f.namespaceSelector && Object.keys(f.podSelector?.matchLabels ?? {}).length > 0 && !f.podSelector.matchExpressions &&
            smokeLabels.some((l) => matches(f.podSelector.matchLabels, l)) &&
            !objs.some((o) => SERVING.has(o.kind) && matches(f.podSelector.matchLabels, podLabels(o)))));
        if (!(froms.length > 0 && froms.every(allowed)))
          fail(`${env}: NetworkPolicy/${np.metadata.name} opens the metrics port beyond the monitoring namespace and the smoke test`);
      }
  }
});

rule("a PostSync smoke test checks liveness, readiness and app_requests_total on /metrics", (fail) => {
  for (const [env, objs] of Object.entries(envs)) {
    const jobs = hookJobs(objs);
    if (!jobs.length) { fail(`${env}: no Job with argocd.argoproj.io/hook: PostSync`); continue; }
    const dep = objs.find((o) => o.kind === "Deployment");
    const main = dep && podSpecOf(dep).containers?.[0];
    const sm = objs.find((o) => o.kind === "ServiceMonitor");
    const want = {
      liveness: main?.livenessProbe?.httpGet?.path,
      readiness: main?.readinessProbe?.httpGet?.path,
      metrics: sm?.spec?.endpoints?.[0]?.path ?? "/metrics",
    };
    // Each check: observd --probe URL [--probe-expect TEXT] (the tool image).
    const probes = jobs.flatMap((j) => containersOf(podSpecOf(j))).map((c) => {
      const a = [...(c.command ?? []), ...(c.args ?? [])];
      const url = a[a.indexOf("--probe") + 1] ?? "";
      return { path: url.replace(/^http:\/\/[^/]+/, ""), expect: a.includes("--probe-expect") ? a[a.indexOf("--probe-expect") + 1] : "" };
    });
    for (const what of ["liveness", "readiness"])
      if (!want[what] || !probes.some((p) => p.path === want[what])) fail(`${env}: the smoke test does not check the ${what} path ${want[what]}`);
    if (!probes.some((p) => p.path === want.metrics && /^app_requests_total/.test(p.expect)))
      fail(`${env}: the smoke test does not check that ${want.metrics} has app_requests_total`);
    for (const j of jobs) {
      if (!(j.spec?.backoffLimit >= 0 && j.spec?.activeDeadlineSeconds > 0)) fail(`${env}: Job/${j.metadata.name}: set backoffLimit and activeDeadlineSeconds (a hook that never ends blocks every sync)`);
      if (!/BeforeHookCreation|HookSucceeded/.test(j.metadata.annotations?.["argocd.argoproj.io/hook-delete-policy"] ?? ""))
        fail(`${env}: Job/${j.metadata.name}: no hook-delete-policy: the next sync cannot create it again`);
    }
  }
});

// Every file git knows (tracked or not ignored), or every file under ROOT
// for a directory that is not a git work tree.
function repoFiles() {
  try {
    const top = execFileSync("git", ["-C", ROOT, "rev-parse", "--show-toplevel"], { encoding: "utf8" }).trim();
    if (statSync(top).ino === statSync(ROOT).ino)
      return execFileSync("git", ["-C", ROOT, "ls-files", "-z", "-co", "--exclude-standard"], { encoding: "utf8", maxBuffer: 1 << 26 })
        .split("\0").filter(Boolean).map((f) => join(ROOT, f));
  } catch { /* not a git work tree */ }
  const out = [];
  const walk = (d) => { for (const e of readdirSync(d, { withFileTypes: true })) {
    if ([".git", "node_modules", "build"].includes(e.name)) continue;
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p); else if (e.isFile()) out.push(p);
  } };
  walk(ROOT);
  return out;
}

rule("no plaintext Secret anywhere in the tree (SealedSecret only)", (fail) => {
  const re = /^\s*(?:-\s+)?kind:\s*["']?Secret["']?\s*(?:#.*)?$|"kind"\s*:\s*"Secret"/m;
  for (const f of repoFiles()) {
    if (!existsSync(f) || statSync(f).size > 4 << 20) continue;
    const buf = readFileSync(f);
    if (buf.includes(0)) continue; // binary
    if (re.test(buf.toString("utf8"))) fail(`${relative(ROOT, f)}: contains kind: Secret`);
  }
  for (const [env, objs] of Object.entries(envs))
    if (objs.some((o) => o.kind === "Secret")) fail(`${env}: the rendered overlay contains a Secret`);
});

rule("Argo CD: project restrictions, Application paths exist and render, sync policy per env", (fail) => {
  const projects = argo.filter((o) => o.kind === "AppProject");
  const apps = argo.filter((o) => o.kind === "Application");
  if (!apps.length) fail("no Argo CD Application");
  for (const p of projects) {
    const s = p.spec ?? {};
    if (!s.sourceRepos?.length || s.sourceRepos.includes("*")) fail(`AppProject/${p.metadata.name}: sourceRepos unrestricted`);
    if (!s.destinations?.length || s.destinations.some((d) => d.namespace === "*" || d.server === "*"))
      fail(`AppProject/${p.metadata.name}: destinations unrestricted`);
    if (!s.clusterResourceWhitelist || s.clusterResourceWhitelist.some((r) => r.kind === "*"))
      fail(`AppProject/${p.metadata.name}: clusterResourceWhitelist missing or "*"`);
    // By kind alone, a project may create, relabel or prune any object of
    // that kind in the cluster (every Namespace): name each one.
    for (const r of s.clusterResourceWhitelist ?? []) {
      if (!r.name || /[*?[]/.test(r.name)) fail(`AppProject/${p.metadata.name}: allows cluster-scoped ${r.group || "core"}/${r.kind} ${r.name ? `by pattern "${r.name}"` : "by kind"}: name each object`);
      else if (r.kind === "Namespace" && !(s.destinations ?? []).some((d) => d.namespace === r.name))
        fail(`AppProject/${p.metadata.name}: allows Namespace ${r.name}, which is none of its destinations`);
    }
    if (!s.namespaceResourceWhitelist || s.namespaceResourceWhitelist.some((r) => r.kind === "*"))
      fail(`AppProject/${p.metadata.name}: namespaceResourceWhitelist missing or "*"`);
  }
  const seenEnvs = new Set();
  for (const a of apps) {
    const id = `Application/${a.metadata.name}`;
    const src = a.spec.source ?? {};
    const proj = projects.find((p) => p.metadata.name === a.spec.project);
    if (!proj) { fail(`${id}: project ${a.spec.project} is not defined here`); continue; }
    if (!proj.spec.sourceRepos.includes(src.repoURL)) fail(`${id}: repoURL ${src.repoURL} is not in the project's sourceRepos`);
    const dst = a.spec.destination ?? {};
    if (!proj.spec.destinations.some((d) => (d.server ?? d.name) === (dst.server ?? dst.name) && d.namespace === dst.namespace))
      fail(`${id}: destination ${dst.server ?? dst.name} ${dst.namespace} is not allowed by the project`);
    const dir = join(ROOT, src.path ?? "");
    if (!src.path || !existsSync(join(dir, "kustomization.yaml"))) { fail(`${id}: path ${src.path} has no kustomization.yaml`); continue; }
    let objs;
    try { objs = parseAllDocuments(execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })).map((d) => d.toJS()).filter(Boolean); }
    catch (e) { fail(`${id}: ${src.path} does not render: ${e.stderr ?? e.message}`); continue; }
    const env = src.path.replace(/\/+$/, "").split("/").pop();
    seenEnvs.add(env);
    for (const o of objs) {
      const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
      const namespaced = o.kind !== "Namespace";
      const list = namespaced ? proj.spec.namespaceResourceWhitelist : proj.spec.clusterResourceWhitelist;
      if (!list.some((r) => r.group === group && r.kind === o.kind))
        fail(`${id}: renders ${group || "core"}/${o.kind}, which the project does not allow (sync would fail)`);
      if (namespaced && o.metadata.namespace !== dst.namespace)
        fail(`${id}: ${o.kind}/${o.metadata.name} is in namespace ${o.metadata.namespace}, destination is ${dst.namespace}`);
    }
    const auto = a.spec.syncPolicy?.automated;
    if (env === "prod") {
      if (auto?.prune) fail(`${id}: prod must not prune automatically`);
    } else if (!(auto?.prune && auto?.selfHeal)) fail(`${id}: ${env} should sync automatically with prune and selfHeal`);
  }
  for (const env of Object.keys(envs)) if (!seenEnvs.has(env)) fail(`overlay ${env} has no Argo CD Application`);
});

// Argo CD RBAC policy lines: "p, SUBJECT, RESOURCE, ACTION, OBJECT, EFFECT".
const policyLines = (role) => (role.policies ?? []).map((l) => l.split(",").map((x) => x.trim()));
const globMatch = (pat, s) => new RegExp(`^${pat.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`).test(s);

rule("Argo CD: a project role says who may sync prod, and no role lets everyone", (fail) => {
  const apps = argo.filter((o) => o.kind === "Application");
  const prodApps = apps.filter((a) => (a.spec.source?.path ?? "").replace(/\/+$/, "").endsWith("/prod"));
  if (!prodApps.length) fail("no Application deploys a prod overlay");
  for (const a of prodApps) {
    const proj = argo.find((o) => o.kind === "AppProject" && o.metadata.name === a.spec.project);
    const obj = `${a.spec.project}/${a.metadata.name}`;
    const grants = (proj?.spec?.roles ?? []).filter((r) => policyLines(r).some(([p, , res, act, o, eff]) =>
      p === "p" && res === "applications" && (act === "sync" || act === "*") && globMatch(o, obj) && eff === "allow"));
    if (!grants.length) fail(`${obj}: no role of project ${a.spec.project} grants sync on it`);
    for (const r of grants) {
      if (!(r.groups ?? []).length) fail(`${obj}: role ${r.name} grants sync but names no group`);
      if ((r.groups ?? []).some((g) => g === "*" || g === "")) fail(`${obj}: role ${r.name} is granted to everyone`);
    }
  }
});

rule("Argo CD: an app-of-apps root keeps the project and Applications in sync, with a project of its own", (fail) => {
  const roots = argoRoot.filter((o) => o.kind === "Application");
  if (!roots.length) { fail("no root Application in deploy-artifacts/argocd/bootstrap (the Applications would be applied by hand)"); return; }
  for (const r of roots) {
    const path = (r.spec.source?.path ?? "").replace(/\/+$/, "");
    if (path !== "deploy-artifacts/argocd") fail(`Application/${r.metadata.name}: path ${path}, want deploy-artifacts/argocd`);
    if (!(r.spec.syncPolicy?.automated?.selfHeal)) fail(`Application/${r.metadata.name}: not automated with selfHeal`);
    const proj = argoRoot.find((o) => o.kind === "AppProject" && o.metadata.name === r.spec.project);
    if (!proj) { fail(`Application/${r.metadata.name}: its project ${r.spec.project} is not in the bootstrap file`); continue; }
    const kinds = (proj.spec.namespaceResourceWhitelist ?? []).map((k) => `${k.group}/${k.kind}`).sort().join(" ");
    if (kinds !== "argoproj.io/AppProject argoproj.io/Application") fail(`AppProject/${proj.metadata.name}: may create ${kinds || "anything"}, want only Applications and AppProjects`);
    if ((proj.spec.clusterResourceWhitelist ?? [1]).length) fail(`AppProject/${proj.metadata.name}: allows cluster-scoped objects`);
    if ((proj.spec.destinations ?? []).some((d) => d.namespace !== r.spec.destination?.namespace)) fail(`AppProject/${proj.metadata.name}: destinations beyond ${r.spec.destination?.namespace}`);
    if ((proj.spec.sourceRepos ?? []).some((u) => u !== r.spec.source?.repoURL)) fail(`AppProject/${proj.metadata.name}: sources beyond ${r.spec.source?.repoURL}`);
  }
});

rule("Argo CD: every Application reports a successful sync (smoke test included) as a commit status", (fail) => {
  for (const a of argo.filter((o) => o.kind === "Application"))
    if (!Object.keys(a.metadata.annotations ?? {}).some((k) => /^notifications\.argoproj\.io\/subscribe\.on-deployed\.github$/.test(k)))
      fail(`Application/${a.metadata.name}: no notifications.argoproj.io/subscribe.on-deployed.github annotation (promote.yml waits for that status)`);
});

// ------------------------------------------------------------- workflows
const wf = (name) => workflows.find((w) => w.name === name);
const jobsOf = (w) => Object.entries(w?.doc?.jobs ?? {});
const stepsOf = (w) => jobsOf(w).flatMap(([, j]) => j.steps ?? []);
const triggers = (w) => (typeof w?.doc?.on === "string" ? { [w.doc.on]: null } : Array.isArray(w?.doc?.on)
  ? Object.fromEntries(w.doc.on.map((k) => [k, null])) : (w?.doc?.on ?? {}));

rule("release.yml publishes only commits on main that passed ci.yml", (fail, note, skip) => {
  const rel = wf("release.yml"), ci = wf("ci.yml");
  if (!rel || !ci) return skip("no release.yml or ci.yml in .github/workflows");
  const on = triggers(rel);
  for (const t of Object.keys(on)) if (!["workflow_run", "workflow_dispatch"].includes(t)) fail(`release.yml runs on "${t}", not only after ci.yml`);
  const wr = on.workflow_run;
  if (!wr) fail("release.yml has no workflow_run trigger on ci.yml");
  else {
    if (!(wr.workflows ?? []).includes(ci.doc?.name)) fail(`release.yml's workflow_run does not name ci.yml's workflow "${ci.doc?.name}"`);
    if (JSON.stringify(wr.branches ?? []) !== JSON.stringify(["main"])) fail("release.yml's workflow_run is not limited to main");
    if (!/workflow_run\.conclusion\s*==\s*'success'/.test(rel.text)) fail("release.yml does not require the ci.yml run to have succeeded");
  }
  if ("workflow_dispatch" in on) {
    if (!/github\.ref\s*(==|!=)\s*'refs\/heads\/main'/.test(rel.text)) fail("release.yml's workflow_dispatch is not limited to main");
    if (!jobsOf(rel).some(([, j]) => /^\.\/\.github\/workflows\/ci\.ya?ml$/.test(j.uses ?? "")))
      fail("release.yml's workflow_dispatch does not run ci.yml on the commit before publishing it");
  }
  if (!("workflow_call" in triggers(ci)) && "workflow_dispatch" in on) fail("ci.yml cannot be called by release.yml (no workflow_call)");
});

rule("workflows change main only through pull requests opened with a token that starts CI", (fail) => {
  for (const w of workflows) {
    // git push REMOTE REFSPEC...: each refspec's destination must be a
    // branch of its own (a variable or a deploy/, promote/ ref), never main.
    for (const m of w.text.matchAll(/^[^#\n]*\bgit push\b([^\n;&|]*)/gm)) {
      const words = m[1].trim().split(/\s+/).filter((x) => x && !x.startsWith("-"));
      const refspecs = words.slice(1);
      const bad = !refspecs.length || refspecs.some((r) => {
        const dst = r.replace(/^["']|["']$/g, "").replace(/^\+/, "").split(":").pop();
        return /^(refs\/heads\/)?(main|master|HEAD)$/.test(dst);
      });
      if (bad) fail(`${w.name}: "${m[0].trim()}" pushes to main (a protected branch rejects it) or to whatever is checked out`);
    }
    for (const [jn, j] of jobsOf(w))
      for (const st of j.steps ?? []) {
        if (!/\bgh pr (create|merge)\b/.test(st.run ?? "")) continue;
        const tok = String(st.env?.GH_TOKEN ?? st.env?.GITHUB_TOKEN ?? "");
        if (!tok || /secrets\.GITHUB_TOKEN|github\.token/.test(tok))
          fail(`${w.name}: job ${jn}: opens a pull request with GITHUB_TOKEN: no CI runs on it, required checks never report`);
      }
  }
});

rule("delivery workflows take the service name and image from deploy-artifacts/service.env", (fail, note, skip) => {
  const delivery = workflows.filter((w) => w.name !== "ci.yml");
  if (!delivery.length) return skip("no delivery workflows");
  for (const w of delivery) {
    if (!w.text.includes("deploy-artifacts/service.env")) fail(`${w.name}: does not read deploy-artifacts/service.env`);
    for (const [i, line] of w.text.split("\n").entries())
      if (SERVICE && !/^\s*#/.test(line) && new RegExp(`(^|[^A-Za-z0-9_$-])${SERVICE}([^A-Za-z0-9_-]|$)`).test(line.replace(/#.*$/, "")))
        fail(`${w.name}:${i + 1}: names "${SERVICE}" itself: ${line.trim()}`);
  }
});

rule("promote.yml waits for the previous environment's smoke test and uses released tags only", (fail, note, skip) => {
  const pr = wf("promote.yml");
  if (!pr) return skip("no promote.yml");
  if (!/commits\/[^\n]*\/status/.test(pr.text)) fail("promote.yml does not read the commit status Argo CD sets after a synced, smoke-tested deployment");
  if (!/deploy\/\$\{?SERVICE\}?-/.test(pr.text)) fail("promote.yml does not look for the deploy/<service>-<env> status");
  if (!/\^sha-\[0-9a-f\]\{40\}\$/.test(pr.text)) fail("promote.yml accepts tags other than sha-<full commit>");
});

rule("Trivy scans the deployed tags of every overlay on a schedule and on pull requests", (fail, note, skip) => {
  if (!workflows.length) return skip("no .github/workflows here (a new service's directory: copy release.yml, promote.yml and trivy.yml)");
  const tw = workflows.filter((w) => /aquasecurity\/trivy-action/.test(w.text) && /kubectl kustomize|kustomize build/.test(w.text));
  if (!tw.length) { fail("no workflow renders the overlays and scans their images with Trivy"); return; }
  const names = tw.map((w) => w.name).join(", ");
  if (!tw.some((w) => triggers(w).schedule)) fail(`${names}: no schedule (new CVEs in deployed images go unnoticed)`);
  if (!tw.some((w) => "pull_request" in triggers(w))) fail(`${names}: none runs on pull requests (a promotion could pin a vulnerable image)`);
  const ci = wf("ci.yml");
  if (ci && !/aquasecurity\/trivy-action/.test(ci.text)) fail("ci.yml does not scan the image it builds for a pull request");
});

rule("Renovate keeps the actions, the base image (by digest) and the npm tools up to date", (fail, note, skip) => {
  const f = join(ROOT, "renovate.json");
  if (!workflows.length && !existsSync(join(ROOT, "Dockerfile")))
    return skip("no workflows and no Dockerfile here (a new service's directory: copy renovate.json)");
  if (!existsSync(f)) { fail("no renovate.json"); return; }
  let cfg;
  try { cfg = JSON.parse(readFileSync(f, "utf8")); } catch (e) { fail(`renovate.json: ${e.message}`); return; }
  const managers = cfg.enabledManagers ?? [];
  for (const m of ["github-actions", "dockerfile", "npm"]) if (!managers.includes(m)) fail(`renovate.json: manager ${m} not enabled`);
  const ext = cfg.extends ?? [];
  if (!ext.includes("docker:pinDigests") && !(cfg.packageRules ?? []).some((r) => r.pinDigests && (r.matchManagers ?? []).includes("dockerfile")))
    fail("renovate.json: the Dockerfile's base image is not pinned by digest");
  if (!ext.includes("helpers:pinGitHubActionDigests")) fail("renovate.json: actions not kept pinned to commit SHAs");
});

let ok = 0, skipped = 0;
for (const [name, errs, notes, skip] of results) {
  if (errs.length) { console.log(`FAIL ${name}`); for (const e of errs) console.log(`     ${e}`); }
  else if (skip) { console.log(`skip ${name}`); console.log(`     ${skip}`); skipped++; }
  else { console.log(`ok   ${name}`); for (const n of notes) console.log(`     ${n}`); ok++; }
}
console.log(`policy: ${ok} ok, ${results.length - ok - skipped} failing, ${skipped} not checkable here`);
process.exit(ok + skipped === results.length ? 0 : 1);
