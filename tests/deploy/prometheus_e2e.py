#!/usr/bin/python3
"""End to end: a live trilemma-server scraped by a real Prometheus (Debian's
`prometheus` package) with the shipped deploy/prometheus/prometheus.yml and
alerts.yml; a short recall load from the client; then every dashboard panel
expression and every alert rule evaluated through Prometheus's HTTP API.

Fails on any client command that exits non-zero, any query error, any panel
returning no series, any rule whose health is not "ok" once Prometheus has
evaluated it, or a server that does not exit cleanly on SIGTERM. Waits on
events (Prometheus ready, its scrape holding the server's own final counter
values, every rule evaluated), never for a fixed time. Prints each panel with
the number of series it returned.

  prometheus_e2e.py --server_bin build/bin/trilemma-server \
      --client_bin build/bin/trilemma --workdir /tmp/prom_e2e
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
RATE_INTERVAL = "2m"  # covers the whole short load


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, probe, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if probe():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def http_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def query(prom, expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return http_json(url)
    except urllib.error.HTTPError as e:
        return json.load(e)


def server_counter(metrics_url, family):
    """The sum of a counter family's samples on the server's /metrics page."""
    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name == family:
            total += float(line.rsplit(" ", 1)[1])
    return total


def prometheus_sum(prom, family):
    result = query(prom, f"sum({family})")["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def run_client(client, target, *args):
    cmd = [client, f"--target={target}", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    print(f"$ {' '.join(cmd[1:])} -> exit {result.returncode}")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_bin", required=True)
    parser.add_argument("--client_bin", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)

    grpc_port, metrics_port, prom_port = free_port(), free_port(), free_port()
    target = f"127.0.0.1:{grpc_port}"
    procs = []
    failures = []
    try:
        server_log = open(os.path.join(args.workdir, "server.log"), "w")
        server = subprocess.Popen(
            [args.server_bin, f"--listen={target}",
             f"--metrics_listen=127.0.0.1:{metrics_port}"],
            stdout=server_log, stderr=subprocess.STDOUT)
        procs.append(server)
        wait_for("the server to report SERVING", lambda: run_client(
            args.client_bin, target, "health").stdout.strip() == "SERVING")

        # The shipped config, pointed at this server, scraping every second.
        with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
            config = yaml.safe_load(f)
        config["global"]["scrape_interval"] = "1s"
        config["global"]["evaluation_interval"] = "1s"
        config["scrape_configs"][0]["static_configs"] = [
            {"targets": [f"127.0.0.1:{metrics_port}"]}]
        shutil.copy(os.path.join(DEPLOY, "prometheus", "alerts.yml"),
                    args.workdir)
        config_path = os.path.join(args.workdir, "prometheus.yml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        prom_log = open(os.path.join(args.workdir, "prometheus.log"), "w")
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={config_path}",
             f"--storage.tsdb.path={os.path.join(args.workdir, 'data')}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=prom_log, stderr=subprocess.STDOUT)
        procs.append(prom)
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait_for("prometheus", lambda: urllib.request.urlopen(
            f"{prom_url}/-/ready", timeout=2).status == 200)
        wait_for("a first scrape", lambda: query(
            prom_url, "trilemma_engine_info")["data"]["result"])

        # A short recall load over every engine, a streamed generate, and a
        # request that hits its context limit.
        def client_ok(*client_args, expect=None):
            result = run_client(args.client_bin, target, *client_args)
            if result.returncode != 0:
                failures.append(f"`{' '.join(client_args)}` exited "
                                f"{result.returncode}: {result.stderr}")
            elif expect is not None and expect not in result.stdout:
                failures.append(f"`{' '.join(client_args)}` printed no "
                                f"'{expect}': {result.stdout}")
            return result

        listed = client_ok("engines", "--format=json")
        engines = json.loads(listed.stdout)["engines"]
        client_ok("recall", "--engines=all", "--pairs=8,32", "--queries=8",
                  "--format=json")
        first = engines[0]["name"]
        client_ok("generate", f"--engine={first}", "--prompt=1 2 3",
                  "--max_new_tokens=8", expect="finish LENGTH")
        client_ok("generate", f"--engine={first}", "--prompt=1 2 3 4",
                  "--max_new_tokens=8", "--max_context_tokens=5",
                  expect="finish CONTEXT_LIMIT")
        # The load is over: Prometheus has seen all of it once its scrape
        # holds the server's own final counts.
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        for family in ("trilemma_generated_tokens_total",
                       "trilemma_requests_total"):
            final = server_counter(metrics_url, family)
            if final <= 0:
                failures.append(f"server counted no {family}")
            wait_for(f"Prometheus to scrape {family} = {final}",
                     lambda: prometheus_sum(prom_url, family) == final)

        with open(os.path.join(DEPLOY, "grafana", "dashboards",
                               "trilemma.json")) as f:
            dashboard = json.load(f)
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            for t in panel["targets"]:
                expr = (t["expr"].replace("$engine", ".*")
                        .replace("$__rate_interval", RATE_INTERVAL))
                r = query(prom_url, expr)
                series = len(r.get("data", {}).get("result", []))
                ok = r.get("status") == "success" and series > 0
                print(f"{'ok  ' if ok else 'FAIL'} panel '{panel['title']}' "
                      f"[{t['refId']}]: {series} series"
                      + ("" if ok else f" {r.get('error', 'no data')}"))
                if not ok:
                    failures.append(f"panel {panel['title']} {t['refId']}")

        with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
            rules = yaml.safe_load(f)
        for group in rules["groups"]:
            for rule in group["rules"]:
                r = query(prom_url, rule["expr"])
                ok = r.get("status") == "success"
                print(f"{'ok  ' if ok else 'FAIL'} alert {rule['alert']}: "
                      f"{len(r.get('data', {}).get('result', []))} firing series"
                      + ("" if ok else f" {r.get('error')}"))
                if not ok:
                    failures.append(f"alert {rule['alert']}")
        def loaded_rules():
            groups = http_json(f"{prom_url}/api/v1/rules")["data"]["groups"]
            return [rule for group in groups for rule in group["rules"]]

        # Every rule evaluated at least once since the load ended ("unknown"
        # means not evaluated yet, which proves nothing).
        try:
            wait_for("every rule to be evaluated", lambda: loaded_rules() and
                     all(r.get("health") != "unknown" for r in loaded_rules()))
        except RuntimeError as e:
            failures.append(str(e))
        expected_rules = sum(len(g["rules"]) for g in rules["groups"])
        rules_loaded = loaded_rules()
        if len(rules_loaded) != expected_rules:
            failures.append(f"Prometheus loaded {len(rules_loaded)} rules, "
                            f"alerts.yml has {expected_rules}")
        for rule in rules_loaded:
            ok = rule.get("health") == "ok"
            if not ok:
                failures.append(f"rule {rule['name']} health "
                                f"{rule.get('health')}: {rule.get('lastError')}")
            print(f"{'ok  ' if ok else 'FAIL'} rule {rule['name']} loaded "
                  f"(health {rule.get('health')})")

        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        print(f"{'ok  ' if code == 0 else 'FAIL'} server exited {code} on SIGTERM")
        if code != 0:
            failures.append(f"server exit {code}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    for f in failures:
        print("  failure:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
