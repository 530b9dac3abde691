#!/usr/bin/python3
"""Static checks of deploy/: the dashboard, alert rules, provisioning and
Kubernetes manifests stay in step with the server.

- trilemma.json equals deploy/grafana/make_dashboard.py's output;
- it uses a $datasource variable and an $engine variable (multi, include
  all) and no ${DS_...} import placeholders; every panel has a unit;
- every trilemma_* metric named in a panel expression or an alert rule is a
  family the server defines (histogram _bucket/_sum/_count suffixes allowed);
- every family the server defines appears in the dashboard, unless listed in
  OMITTED with a reason;
- every YAML file parses; k8s objects have apiVersion/kind/metadata.name;
  `promtool check config` / `check rules` accept the Prometheus files.

  check_deploy.py --families_bin build/bin/metric_families
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
# Families deliberately not on the dashboard, with why.
OMITTED = {}

failures = []


def check(ok, message):
    print(("ok   " if ok else "FAIL ") + message)
    if not ok:
        failures.append(message)


def metric_names(expr):
    names = set()
    for name in re.findall(r"\btrilemma_[a-z_]+", expr):
        names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--families_bin", required=True)
    args = parser.parse_args()
    families = set(subprocess.run([args.families_bin], check=True,
                                  capture_output=True, text=True).stdout.split())
    check(len(families) >= 20, f"server defines {len(families)} families")

    path = os.path.join(DEPLOY, "grafana", "dashboards", "trilemma.json")
    with open(path) as f:
        text = f.read()
    generated = subprocess.run(
        ["/usr/bin/python3", os.path.join(DEPLOY, "grafana", "make_dashboard.py")],
        check=True, capture_output=True, text=True).stdout
    check(text == generated, "trilemma.json equals make_dashboard.py output")
    dash = json.loads(text)
    check("${DS_" not in text, "no ${DS_...} import placeholders")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    check(variables.get("datasource", {}).get("type") == "datasource",
          "datasource variable")
    engine = variables.get("engine", {})
    check(engine.get("multi") and engine.get("includeAll"),
          "engine variable is multi with include-all")

    used = set()
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    for panel in panels:
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        check(bool(unit), f"panel '{panel['title']}' has unit {unit}")
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            unknown = names - families
            check(not unknown and names,
                  f"panel '{panel['title']}' uses {sorted(names)}"
                  + (f" UNKNOWN {sorted(unknown)}" if unknown else ""))
            used |= names

    with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
        rules = yaml.safe_load(f)
    for group in rules["groups"]:
        for rule in group["rules"]:
            names = metric_names(rule["expr"])
            unknown = names - families
            check(not unknown and names,
                  f"alert {rule['alert']} uses {sorted(names)}"
                  + (f" UNKNOWN {sorted(unknown)}" if unknown else ""))

    for family in sorted(families):
        check(family in used or family in OMITTED,
              f"family {family} is on the dashboard"
              + (f" (omitted: {OMITTED[family]})" if family in OMITTED else ""))

    for path in sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"),
                                 recursive=True)):
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        check(len(docs) > 0, f"{os.path.relpath(path, ROOT)} parses")
        if "/k8s/" in path:
            for doc in docs:
                check(all(k in doc for k in ("apiVersion", "kind", "metadata"))
                      and doc["metadata"].get("name"),
                      f"{os.path.relpath(path, ROOT)}: {doc.get('kind')} "
                      "has apiVersion, kind, metadata.name")

    for cmd in (["promtool", "check", "config",
                 os.path.join(DEPLOY, "prometheus", "prometheus.yml")],
                ["promtool", "check", "rules",
                 os.path.join(DEPLOY, "prometheus", "alerts.yml")]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        check(result.returncode == 0, " ".join(cmd[:3]) + " " +
              os.path.basename(cmd[3]) + (" " + result.stderr.strip()
                                          if result.returncode else ""))

    print(f"{len(failures) == 0 and 'all' or len(failures)} "
          f"{'checks passed' if not failures else 'checks failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
