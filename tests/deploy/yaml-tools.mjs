// Small YAML helpers for scripts/deploy-check.sh (run from its npm cache so
// that "yaml" resolves).
//   rules SRC.yaml OUTDIR     write each PrometheusRule's spec as a rule file
//                             (prometheusrule.rules.yml, then <name>.prometheusrule.rules.yml)
//   split OUTDIR FILE...      one object per file (trivy reads them better)
//   ignore-justified FILE     every entry of a trivy YAML ignore file has a "statement"
import { readFileSync, writeFileSync } from "node:fs";
import { parse, parseAllDocuments, stringify } from "yaml";

const [cmd, ...args] = process.argv.slice(2);
const docs = (f) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS());

if (cmd === "rules") {
  const [src, out] = args;
  const rules = docs(src).filter((o) => o?.kind === "PrometheusRule");
  if (!rules.length) { console.error(`${src}: no PrometheusRule`); process.exit(1); }
  rules.forEach((r, i) => writeFileSync(`${out}/${i ? r.metadata.name + "." : ""}prometheusrule.rules.yml`, stringify(r.spec)));
} else if (cmd === "split") {
  const [out, ...files] = args;
  for (const f of files)
    docs(f).forEach((o, i) => {
      if (!o) return;
      const base = f.split("/").pop().replace(/\.ya?ml$/, "");
      writeFileSync(`${out}/${base}-${String(i).padStart(2, "0")}-${String(o.kind).toLowerCase()}.yaml`, stringify(o));
    });
} else if (cmd === "ignore-justified") {
  const d = parse(readFileSync(args[0], "utf8")) ?? {};
  const bad = Object.values(d).flat().filter((e) => !e?.statement?.trim());
  bad.forEach((e) => console.error(`no statement (justification) for ${JSON.stringify(e)}`));
  process.exit(bad.length ? 1 : 0);
} else {
  console.error(`usage: yaml-tools.mjs rules|split|ignore-justified ...`);
  process.exit(2);
}
