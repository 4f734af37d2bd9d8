// Schema check of rendered manifests with the kubernetes-models family
// (types, enums, required fields, formats).
// usage: node validate-k8s.mjs file.yaml [...]   (multi-document YAML)
// Prints one line per object and "objects: N valid, M invalid"; exit 1 on any
// invalid or unknown object (an unknown kind means no schema checked it).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const CRD_PKGS = {
  "argoproj.io": "@kubernetes-models/argo-cd",
  "bitnami.com": "@kubernetes-models/sealed-secrets",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const pkg = CRD_PKGS[group] ?? "kubernetes-models";
  const mod = await import(group ? `${pkg}/${group}/${version}` : `${pkg}/${version}`).catch(() => null);
  return mod?.[kind];
}

let bad = 0, n = 0;
for (const f of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(f, "utf8"))) {
    if (doc.errors.length) { console.error(`FAIL ${f}: YAML error: ${doc.errors[0].message}`); bad++; continue; }
    const o = doc.toJS();
    if (!o) continue;
    n++;
    const id = `${f}: ${o.apiVersion}/${o.kind} ${o.metadata?.name}`;
    const M = await modelFor(o.apiVersion ?? "", o.kind ?? "");
    if (!M) { console.error(`FAIL ${id}: unknown kind (no schema)`); bad++; continue; }
    try { new M(o).validate(); console.log(`ok   ${id}`); }
    catch (e) { bad++; console.error(`FAIL ${id}: ${e.message}`); }
  }
}
console.log(`objects: ${n - bad} valid, ${bad} invalid`);
process.exit(bad || n === 0 ? 1 : 0);
