// Planted defects: each policy rule must fail on the defect it exists for.
// For every plant, a copy of the delivery files gets one defect (the ones
// a first Argo CD sync or a protected main would trip over), is rendered
// like scripts/deploy-check.sh renders it, and policy.mjs must report the
// named rule as failing, with the expected reason; an unplanted copy must
// pass. A plant whose text no longer matches the files fails loudly, so
// the list cannot silently stop testing anything.
//
// usage: node plant.mjs REPO   (from the deploy-check cache: policy.mjs
//                               and its node_modules sit next to it)
// One "ok"/"FAIL" line per plant, then "plants: N caught, M missed".
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const REPO = process.argv[2];
const HERE = dirname(fileURLToPath(import.meta.url));
const COPY = ["deploy-artifacts", ".github", "renovate.json", "Dockerfile"];

class Stale extends Error {}
// edit helpers: each asserts that what it changes is there.
const replace = (file, from, to) => (root) => {
  const p = join(root, file), t = readFileSync(p, "utf8");
  if (!t.includes(from)) throw new Stale(`${file} no longer contains ${JSON.stringify(from.slice(0, 60))}`);
  writeFileSync(p, t.replace(from, to));
};
const replaceRe = (file, re, to) => (root) => {
  const p = join(root, file), t = readFileSync(p, "utf8");
  if (!re.test(t)) throw new Stale(`${file} no longer matches ${re}`);
  writeFileSync(p, t.replace(re, to));
};
const remove = (file) => (root) => {
  if (!existsSync(join(root, file))) throw new Stale(`${file} no longer exists`);
  unlinkSync(join(root, file));
};
const add = (file, text) => (root) => writeFileSync(join(root, file), text);
const all = (...edits) => (root) => edits.forEach((e) => e(root));

const OV = (env) => `deploy-artifacts/k8s/overlays/${env}/kustomization.yaml`;
const TAG_RE = /newTag: sha-[0-9a-f]{40}/;
const PLACEHOLDER_SEAL = `apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: observd-metrics-token
spec:
  encryptedData:
    token: AgPLACEHOLDER-seal-with-kubeseal
  template:
    metadata:
      name: observd-metrics-token
    type: Opaque
`;

const PLANTS = [
  { name: "dev pins a mutable tag (dev-latest, IfNotPresent)", edit: replaceRe(OV("dev"), TAG_RE, "newTag: dev-latest"),
    rule: "image tags: every image pinned", msg: 'tag "dev-latest" is mutable' },
  { name: "staging pins a commit from before the Dockerfile existed",
    edit: replaceRe(OV("staging"), TAG_RE, "newTag: sha-e84ee5c5fe09805cb1bfb8a4a95dcb72908286b8"),
    rule: "image tags name commits", msg: "has no Dockerfile" },
  { name: "prod pins a commit of no repository here",
    edit: replaceRe(OV("prod"), TAG_RE, "newTag: sha-0123456789abcdef0123456789abcdef01234567"),
    rule: "image tags name commits", msg: "is not a commit of this repository" },
  { name: "prod pins a released commit staging never ran",
    edit: replaceRe(OV("prod"), TAG_RE, "newTag: sha-07bf4bacc594840df39aef7bc5e0043084f523de"),
    rule: "image tags name commits", msg: "never ran in staging" },
  { name: "a placeholder SealedSecret mounted as required",
    edit: all(add("deploy-artifacts/k8s/overlays/dev/sealed-metrics-token.yaml", PLACEHOLDER_SEAL),
      replace(OV("dev"), "resources:\n  - ../../base\n",
        "resources:\n  - ../../base\n  - sealed-metrics-token.yaml\ncomponents:\n  - ../../components/metrics-token\n")),
    rule: "metrics token:", msg: "is a placeholder: the pod would never start" },
  { name: "the AppProject allows Namespace by kind",
    edit: replaceRe("deploy-artifacts/argocd/project.yaml", /(  clusterResourceWhitelist:\n)(?:    - group: ""\n      kind: Namespace\n      name: \S+\n)+/,
      '$1    - group: ""\n      kind: Namespace\n'),
    rule: "Argo CD: project restrictions", msg: "allows cluster-scoped core/Namespace by kind" },
  { name: "no project role may sync prod",
    edit: replaceRe("deploy-artifacts/argocd/project.yaml", /\n  roles:\n[\s\S]*$/, "\n"),
    rule: "a project role says who may sync prod", msg: "no role of project" },
  { name: "the prod sync role is granted to everyone",
    edit: replace("deploy-artifacts/argocd/project.yaml", "        - observd-prod-deployers", '        - "*"'),
    rule: "a project role says who may sync prod", msg: "granted to everyone" },
  { name: "no app-of-apps root", edit: remove("deploy-artifacts/argocd/bootstrap/root.yaml"),
    rule: "an app-of-apps root", msg: "no root Application" },
  { name: "an Application does not report its deployments",
    edit: replace("deploy-artifacts/argocd/app-staging.yaml", '    notifications.argoproj.io/subscribe.on-deployed.github: ""\n', ""),
    rule: "every Application reports", msg: "Application/observd-staging" },
  { name: "no PostSync smoke test", edit: replace("deploy-artifacts/k8s/base/kustomization.yaml", "  - smoke-test.yaml\n", ""),
    rule: "a PostSync smoke test", msg: "no Job with argocd.argoproj.io/hook: PostSync" },
  { name: "the smoke test does not look for app_requests_total",
    edit: replace("deploy-artifacts/k8s/base/smoke-test.yaml", '"--probe-expect", "app_requests_total{"', '"--probe-expect", "# TYPE"'),
    rule: "a PostSync smoke test", msg: "has app_requests_total" },
  { name: "the metrics port open to every pod of the namespace",
    edit: replace("deploy-artifacts/k8s/base/networkpolicy.yaml",
      "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/component: smoke-test\n", "        - podSelector: {}\n"),
    rule: "NetworkPolicy:", msg: "opens the metrics port beyond" },
  { name: "release.yml runs on every push, not after CI",
    edit: replace(".github/workflows/release.yml", "on:\n  workflow_run:", "on:\n  push:\n    branches: [main]\n  workflow_run:"),
    rule: "release.yml publishes only commits", msg: 'runs on "push"' },
  { name: "release.yml publishes after a failed CI run",
    edit: replace(".github/workflows/release.yml", "github.event.workflow_run.conclusion == 'success' &&", ""),
    rule: "release.yml publishes only commits", msg: "does not require the ci.yml run to have succeeded" },
  { name: "release.yml publishes by hand from any branch",
    edit: replace(".github/workflows/release.yml", "(github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main')",
      "github.event_name == 'workflow_dispatch'"),
    rule: "release.yml publishes only commits", msg: "workflow_dispatch is not limited to main" },
  { name: "the dev bump pushes straight to main",
    edit: replace(".github/workflows/release.yml", 'git push --force-with-lease origin "$branch"', "git push origin HEAD:main"),
    rule: "workflows change main only through pull requests", msg: "pushes to main" },
  { name: "a promotion pull request opened with GITHUB_TOKEN",
    edit: replace(".github/workflows/promote.yml", "          GH_TOKEN: ${{ steps.app.outputs.token }}", "          GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}"),
    rule: "workflows change main only through pull requests", msg: "opens a pull request with GITHUB_TOKEN" },
  { name: "promote.yml names the service itself",
    edit: replace(".github/workflows/promote.yml", 'docker buildx imagetools inspect "${IMAGE}:${TAG}"',
      'docker buildx imagetools inspect "ghcr.io/observd/observd:${TAG}"'),
    rule: "delivery workflows take the service name", msg: 'names "observd" itself' },
  { name: "promote.yml does not wait for the smoke test",
    edit: replace(".github/workflows/promote.yml", 'gh api "repos/${GITHUB_REPOSITORY}/commits/${c}/status"', 'gh api "repos/${GITHUB_REPOSITORY}/commits/${c}"'),
    rule: "promote.yml waits", msg: "does not read the commit status" },
  { name: "no scheduled Trivy scan of the deployed tags",
    edit: replace(".github/workflows/trivy.yml", '  schedule:\n    - cron: "17 5 * * *"\n', ""),
    rule: "Trivy scans the deployed tags", msg: "no schedule" },
  { name: "Renovate does not update the base image",
    edit: replace("renovate.json", '["github-actions", "dockerfile", "npm"]', '["github-actions", "npm"]'),
    rule: "Renovate keeps", msg: "manager dockerfile not enabled" },
];

// Render like scripts/deploy-check.sh: one file per overlay, the Argo CD
// objects and the bootstrap root.
function render(root, out) {
  const kz = (dir, file) => writeFileSync(join(out, file), execFileSync("kubectl", ["kustomize", dir],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 }));
  const ov = join(root, "deploy-artifacts/k8s/overlays");
  for (const env of readdirSync(ov)) if (existsSync(join(ov, env, "kustomization.yaml"))) kz(join(ov, env), `${env}.yaml`);
  kz(join(root, "deploy-artifacts/argocd"), "argocd.yaml");
  const boot = join(root, "deploy-artifacts/argocd/bootstrap");
  if (existsSync(boot))
    writeFileSync(join(out, "argocd-root.yaml"), readdirSync(boot).filter((f) => f.endsWith(".yaml"))
      .map((f) => readFileSync(join(boot, f), "utf8")).join("\n---\n"));
}

// policy.mjs on a copy with edit applied: { rule name: [messages] } of the failing rules.
function failures(edit) {
  const root = mkdtempSync(join(tmpdir(), "observd-plant-"));
  try {
    for (const f of COPY) if (existsSync(join(REPO, f))) cpSync(join(REPO, f), join(root, f), { recursive: true });
    edit?.(root);
    const out = join(root, ".render");
    mkdirSync(out);
    render(root, out);
    let text;
    try {
      text = execFileSync("node", [join(HERE, "policy.mjs"), root, out], { encoding: "utf8",
        env: { ...process.env, POLICY_GIT_DIR: REPO }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
    } catch (e) { text = e.stdout ?? ""; }
    const failed = {};
    let cur = null;
    for (const line of text.split("\n")) {
      if (line.startsWith("FAIL ")) { cur = line.slice(5); failed[cur] = []; }
      else if (line.startsWith("     ") && cur) failed[cur].push(line.trim());
      else cur = null;
    }
    return failed;
  } finally { rmSync(root, { recursive: true, force: true }); }
}

let caught = 0, missed = 0;
const base = failures(null);
if (Object.keys(base).length) {
  console.log(`FAIL the unplanted copy passes the policy: ${Object.keys(base).join("; ")}`);
  missed++;
} else { console.log("ok   the unplanted copy passes the policy"); caught++; }
for (const p of PLANTS) {
  let failed;
  try { failed = failures(p.edit); }
  catch (e) {
    console.log(`FAIL planted: ${p.name}: ${e instanceof Stale ? `the plant no longer applies: ${e.message}` : e.message}`);
    missed++;
    continue;
  }
  const hit = Object.entries(failed).find(([rule, msgs]) => rule.includes(p.rule) && msgs.some((m) => m.includes(p.msg)));
  if (hit) { console.log(`ok   planted: ${p.name} -> caught by "${hit[0]}"`); caught++; }
  else {
    console.log(`FAIL planted: ${p.name}: rule "${p.rule}" did not fail with "${p.msg}"`);
    for (const [rule, msgs] of Object.entries(failed)) console.log(`     failing instead: ${rule}: ${msgs[0] ?? ""}`);
    missed++;
  }
}
console.log(`plants: ${caught} caught, ${missed} missed`);
process.exit(missed ? 1 : 0);
