// Every metric a dashboard or rule file queries must exist: a renamed metric
// otherwise shows up as an empty panel or an alert that can never fire.
// usage: node metric-refs.mjs METRICS.md FILE...
//   *.json  Grafana dashboard: every "expr" and templating query; only names
//           from METRICS.md (histograms also as _bucket/_sum/_count).
//   *.yml   Prometheus rule file: the same, plus `up` (made by Prometheus)
//           and the series the file itself records.
import { readFileSync } from "node:fs";
import { parse } from "yaml";

const [metricsMd, ...files] = process.argv.slice(2);
const known = new Set();
for (const m of readFileSync(metricsMd, "utf8").matchAll(/^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*([a-z]+)/gm)) {
  known.add(m[1]);
  if (m[2] === "histogram" || m[2] === "summary") for (const s of ["_bucket", "_sum", "_count"]) known.add(m[1] + s);
}
if (!known.size) { console.error(`metric-refs: no metric table in ${metricsMd}`); process.exit(1); }

const KEYWORDS = new Set(["and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
  "group_left", "group_right", "inf", "nan", "Inf", "NaN", "atan2"]);
// Metric names referenced by one PromQL expression (Grafana variables allowed).
export function metricsIn(expr) {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")                                          // $var, ${var}
    .replace(/\{[^}]*\}/g, " ")                                                   // label matchers
    .replace(/\[[^\]]*\]/g, " ")                                                  // ranges, subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\blabel_values\s*\(([^,)]*)(,[^)]*)?\)/g, " $1 ")                   // Grafana: metric, label
    .replace(/\b(label_replace|label_join)\s*\(/g, "$1(");
  // label_replace(v, "dst", "repl", "src", "re"): strings are gone already.
  const out = [];
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = m[0], rest = e.slice(m.index + name.length);
    if (KEYWORDS.has(name) || /^\s*\(/.test(rest)) continue;        // keyword or function
    if (/[0-9.]$/.test(e.slice(0, m.index))) continue;             // exponent/unit of a number (1e3, 5m)
    out.push(name);
  }
  return out;
}

let bad = 0, refs = 0;
for (const f of files) {
  const exprs = [];
  let extra = new Set();
  if (f.endsWith(".json")) {
    const d = JSON.parse(readFileSync(f, "utf8")); // invalid JSON throws: a failure
    const walk = (v, k) => {
      if (Array.isArray(v)) v.forEach((x) => walk(x));
      else if (v && typeof v === "object") for (const [kk, vv] of Object.entries(v)) walk(vv, kk);
      else if (typeof v === "string" && k === "expr") exprs.push(v);
    };
    walk(d.panels ?? []);
    // Template variables of type "query" hold PromQL too (label_values(...)).
    for (const t of d.templating?.list ?? [])
      if (t.type === "query") exprs.push(typeof t.query === "string" ? t.query : t.query?.query ?? "");
  } else {
    const doc = parse(readFileSync(f, "utf8"));
    extra = new Set(["up"]);
    for (const g of doc.groups ?? []) for (const r of g.rules ?? []) { if (r.record) extra.add(r.record); exprs.push(r.expr); }
  }
  if (!exprs.length) { console.error(`FAIL ${f}: no queries found`); bad++; }
  for (const x of exprs)
    for (const n of metricsIn(x)) {
      refs++;
      if (!known.has(n) && !extra.has(n)) { bad++; console.error(`FAIL ${f}: unknown metric "${n}" in: ${x.trim().replace(/\s+/g, " ")}`); }
    }
}
console.log(`metric-refs: ${refs} references in ${files.length} file(s), ${bad} unknown`);
process.exit(bad ? 1 : 0);
