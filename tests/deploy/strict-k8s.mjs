// Unknown-field check: every object becomes a typed TypeScript literal, and
// tsc's excess-property check rejects fields the schema does not have (a
// typo such as "readinesProbe" passes kubectl kustomize and the JSON-schema
// check but is silently dropped by the API server).
// usage: node strict-k8s.mjs OUT.ts file.yaml [...]
// OUT.ts must sit where node_modules resolves (the deploy-check cache).
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { execFileSync } from "node:child_process";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const CRD = {
  "argoproj.io": "@kubernetes-models/argo-cd",
  "bitnami.com": "@kubernetes-models/sealed-secrets",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};
// Packages whose "exports" map has no types for ESM imports (tsc would see
// `any` and check nothing): import their .d.ts by path instead.
const NO_ESM_TYPES = new Set(["bitnami.com"]);
const [out, ...files] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const byPath = (spec) => {
  const rel = relative(dirname(out), join(here, "node_modules", spec, "index.js"));
  return rel.startsWith(".") ? rel : `./${rel}`;
};
let ts = "", i = 0;
for (const f of files)
  for (const d of parseAllDocuments(readFileSync(f, "utf8"))) {
    const o = d.toJS();
    if (!o) continue;
    const [g, v] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
    let mod = g ? `${CRD[g] ?? "kubernetes-models"}/${g}/${v}` : `kubernetes-models/${v}`;
    if (NO_ESM_TYPES.has(g)) mod = byPath(mod);
    ts += `import type { I${o.kind} as T${i} } from "${mod}";\n// ${f} ${o.kind}/${o.metadata?.name}\n` +
          `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};\n`;
    i++;
  }
writeFileSync(out, ts);
const tsc = join(here, "node_modules", ".bin", "tsc");
try {
  execFileSync(tsc, ["--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext",
    "--moduleResolution", "nodenext", "--types", "", out], { stdio: "inherit" });
  console.log(`strict: ${i} objects without unknown fields`);
} catch {
  console.error(`strict: tsc rejected ${out} (see errors above; line numbers refer to that file)`);
  process.exit(1);
}
