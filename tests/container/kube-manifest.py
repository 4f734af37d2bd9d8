#!/usr/bin/env python3
"""kube-manifest.py - what tests/container/kube-play.sh needs to know about
a rendered overlay (multi-document YAML on stdin).

  kube-manifest.py env DEPLOYMENT
      KEY=VALUE lines: the environment the Deployment's first container
      gets from its ConfigMaps (envFrom) and env (env wins), as the kubelet
      would set it.
  kube-manifest.py probes DEPLOYMENT
      "KIND PORT PATH" lines: its startup, readiness and liveness probes
      (httpGet), named ports resolved to numbers.
  kube-manifest.py value DEPLOYMENT JSONPATH
      one value of the Deployment, e.g. spec.template.spec.containers.0.resources.limits.memory
  kube-manifest.py hook-pod HOOK HOSTNAME IP
      the pod template of each Job annotated argocd.argoproj.io/hook: HOOK,
      as a Pod (podman 4.3 plays no Jobs) that resolves HOSTNAME (the
      Service) to IP; printed as YAML.
"""
import sys

import yaml


def docs():
    return [d for d in yaml.safe_load_all(sys.stdin) if d]


def find(objs, kind, name):
    for o in objs:
        if o.get("kind") == kind and o["metadata"]["name"] == name:
            return o
    sys.exit(f"kube-manifest: no {kind}/{name}")


def main_container(objs, name):
    return find(objs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def cmd_env(objs, name):
    c = main_container(objs, name)
    env = {}
    for ef in c.get("envFrom", []):
        ref = ef.get("configMapRef", {}).get("name")
        if ref:
            env.update(find(objs, "ConfigMap", ref).get("data", {}))
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    for k, v in env.items():
        print(f"{k}={v}")


def cmd_probes(objs, name):
    c = main_container(objs, name)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c.get(kind, {}).get("httpGet")
        if get:
            port = get["port"]
            print(kind, ports.get(port, port), get.get("path", "/"))


def cmd_value(objs, name, path):
    v = find(objs, "Deployment", name)
    for part in path.split("."):
        v = v[int(part)] if isinstance(v, list) else v.get(part)
    print(v)


def cmd_hook_pod(objs, hook, hostname, ip):
    out = []
    for o in objs:
        ann = (o.get("metadata", {}).get("annotations") or {})
        if o.get("kind") != "Job" or hook not in ann.get("argocd.argoproj.io/hook", "").split(","):
            continue
        tmpl = o["spec"]["template"]
        spec = dict(tmpl["spec"])
        spec["hostAliases"] = [{"ip": ip, "hostnames": [hostname]}]
        out.append({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": o["metadata"]["name"], "labels": tmpl.get("metadata", {}).get("labels", {})},
                    "spec": spec})
    if not out:
        sys.exit(f"kube-manifest: no Job with hook {hook}")
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    cmds = {"env": cmd_env, "probes": cmd_probes, "value": cmd_value, "hook-pod": cmd_hook_pod}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](docs(), *sys.argv[2:])
