// Deployment policy for rendered overlays and Argo CD objects: the rules a
// schema cannot express. One line per rule ("ok"/"FAIL"), then
// "policy: N ok, M failing"; exit 1 if any rule fails.
//
// usage: node policy.mjs ROOT RENDERDIR
//   ROOT       the tree being checked (repo root or a new service's dir)
//   RENDERDIR  holds <env>.yaml (kubectl kustomize of each overlay) and
//              argocd.yaml (every object under deploy-artifacts/argocd)
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

const [ROOT, RENDER] = process.argv.slice(2);

// DESIGN.md §7, the seed's environment table. A new environment must be added
// here first, on purpose.
const TABLE = {
  dev:     { replicas: 1, mem: ["64Mi", "128Mi"],  cpu: ["100m", "250m"],  tag: /^(dev-latest|sha-[0-9a-f]{7,40})$/, log: "DEBUG" },
  staging: { replicas: 2, mem: ["128Mi", "256Mi"], cpu: ["200m", "500m"],  tag: /^sha-[0-9a-f]{7,40}$/, log: "INFO" },
  prod:    { replicas: 3, mem: ["256Mi", "512Mi"], cpu: ["500m", "1000m"], tag: /^sha-[0-9a-f]{7,40}$/, log: "WARNING" },
};
const UID = 10001;
const DRAIN_MARGIN_S = 5; // time for observd to exit after the drain deadline

const load = (f) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS()).filter(Boolean);
const envs = Object.fromEntries(readdirSync(RENDER).filter((f) => f.endsWith(".yaml") && f !== "argocd.yaml")
  .map((f) => [f.replace(/\.yaml$/, ""), load(join(RENDER, f))]));
const argo = existsSync(join(RENDER, "argocd.yaml")) ? load(join(RENDER, "argocd.yaml")) : [];

const results = [];
function rule(name, fn) {
  const errs = [];
  try { fn((msg) => errs.push(msg)); } catch (e) { errs.push(`exception: ${e.stack}`); }
  results.push([name, errs]);
}
const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"]);
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

rule("overlays render and are in the environment table", (fail) => {
  if (!Object.keys(envs).length) fail("no rendered overlays");
  for (const env of Object.keys(envs)) if (!TABLE[env]) fail(`overlay "${env}" is not in the environment table`);
});

rule("every container has liveness, readiness and startup probes", (fail) => {
  for (const [env, o, ps] of workloads())
    for (const c of ps.containers ?? [])
      for (const p of ["livenessProbe", "readinessProbe", "startupProbe"])
        if (!c[p]) fail(`${env}: ${o.kind}/${o.metadata.name} container ${c.name}: no ${p}`);
});

rule("every container has cpu and memory requests and limits", (fail) => {
  for (const [env, o, ps] of workloads())
    for (const c of containersOf(ps))
      for (const k of ["requests", "limits"]) for (const r of ["cpu", "memory"])
        if (!c.resources?.[k]?.[r]) fail(`${env}: ${o.kind}/${o.metadata.name} container ${c.name}: no resources.${k}.${r}`);
});

rule("security context: non-root 10001, read-only root, no escalation, drop ALL, RuntimeDefault seccomp", (fail) => {
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

rule("graceful stop: preStop + OBSERVD_DRAIN_TIMEOUT + margin <= terminationGracePeriodSeconds", (fail) => {
  for (const [env, o, ps] of workloads()) {
    const grace = ps.terminationGracePeriodSeconds ?? 30;
    for (const c of ps.containers ?? []) {
      const id = `${env}: ${o.kind}/${o.metadata.name} container ${c.name}`;
      const pre = c.lifecycle?.preStop;
      if (!pre) { fail(`${id}: no preStop hook (endpoints may still route to a stopping pod)`); continue; }
      const preS = pre.sleep?.seconds ?? 0;
      const drainS = durationSeconds(envValue(envs[env], c, "OBSERVD_DRAIN_TIMEOUT") ?? "10s");
      if (Number.isNaN(drainS)) { fail(`${id}: OBSERVD_DRAIN_TIMEOUT is not a duration`); continue; }
      if (preS + drainS + DRAIN_MARGIN_S > grace)
        fail(`${id}: preStop ${preS}s + drain ${drainS}s + ${DRAIN_MARGIN_S}s > terminationGracePeriodSeconds ${grace}s`);
    }
  }
});

rule("metrics token: file under a secret volume that is not world-readable", (fail) => {
  for (const [env, o, ps] of workloads())
    for (const c of ps.containers ?? []) {
      const id = `${env}: ${o.kind}/${o.metadata.name} container ${c.name}`;
      const file = envValue(envs[env], c, "OBSERVD_METRICS_TOKEN_FILE");
      if (!file) continue; // token auth off: nothing to check
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
      const sealed = envs[env].some((x) => x.kind === "SealedSecret" && (x.spec?.template?.metadata?.name ?? x.metadata.name) === secret);
      if (!sealed) fail(`${id}: no SealedSecret in the overlay produces Secret ${secret}`);
    }
});

rule("image tags: staging and prod pinned to sha-<commit>, none mutable", (fail) => {
  for (const [env, o, ps] of workloads())
    for (const c of containersOf(ps)) {
      const id = `${env}: ${o.kind}/${o.metadata.name} container ${c.name}`;
      if (/@sha256:[0-9a-f]{64}$/.test(c.image)) continue; // a digest is immutable too
      const m = /^[^@]+?(?::([^:/@]+))?$/.exec(c.image);
      const tag = m?.[1];
      if (!tag) { fail(`${id}: image ${c.image} has no tag`); continue; }
      if (TABLE[env] && !TABLE[env].tag.test(tag)) fail(`${id}: tag "${tag}" does not match ${TABLE[env].tag}`);
      if (!c.image.includes("/")) fail(`${id}: image ${c.image} has no registry (kustomize images not applied?)`);
    }
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

rule("NetworkPolicy: metrics port reachable only from the monitoring namespace", (fail) => {
  for (const [env, objs] of Object.entries(envs)) {
    const nps = objs.filter((o) => o.kind === "NetworkPolicy");
    if (!nps.length) fail(`${env}: no NetworkPolicy`);
    for (const np of nps)
      for (const r of np.spec.ingress ?? []) {
        const metrics = (r.ports ?? []).some((p) => p.port === "metrics" || p.port === 9464);
        if (!metrics && r.ports) continue;
        const froms = r.from ?? [];
        const onlyMon = froms.length > 0 && froms.every((f) => !f.ipBlock && !f.podSelector &&
          f.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "monitoring");
        if (!onlyMon) fail(`${env}: NetworkPolicy/${np.metadata.name} opens the metrics port beyond the monitoring namespace`);
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

let ok = 0;
for (const [name, errs] of results) {
  if (errs.length) { console.log(`FAIL ${name}`); for (const e of errs) console.log(`     ${e}`); }
  else { console.log(`ok   ${name}`); ok++; }
}
console.log(`policy: ${ok} ok, ${results.length - ok} failing`);
process.exit(ok === results.length ? 0 : 1);
