#!/usr/bin/env python3
"""`trilemma load --api=openai` against our own HTTP endpoint gives the same
recall as `--api=grpc` on the same workload and seed (docs/http.md).

Starts trilemma-server (gRPC + --http_listen, ports 0), runs the same MQAR and
needle-in-a-haystack loads both ways and compares, per engine, the probes,
hits and recall-by-context buckets. Also checks the openai run measured
latencies (TTFT, E2E) and that every request succeeded.

  tests/http/load_api_parity_test.py build/bin/trilemma-server build/bin/trilemma
"""
import json
import os
import re
import subprocess
import sys

ENGINES = "attention,sliding_window,mamba,delta_net"


def start_server(server):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    proc = subprocess.Popen(
        [server, "--listen=127.0.0.1:0", "--metrics_listen=",
         "--http_listen=127.0.0.1:0", f"--engines={ENGINES}"],
        stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    grpc = re.search(r"grpc=(\S+)", line)
    http = re.search(r"http=(\S+)", line)
    if not grpc or not http:
        proc.kill()
        sys.exit(f"no ready line: {line!r}")
    return proc, grpc.group(1), http.group(1)


def load(client, api_args, workload_args):
    out = subprocess.run(
        [client, *api_args, "load", "--format=json", "--seed=7",
         "--concurrency=4", "--slo=none", *workload_args],
        capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"load {api_args} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def by_engine(report):
    return {e["engine"]: e for e in report["engines"]}


def main():
    server, client = sys.argv[1], sys.argv[2]
    proc, grpc, http = start_server(server)
    failures = []
    try:
        workloads = [
            ["--workload=mqar", "--pairs=16,64", "--queries=8",
             "--requests=16"],
            ["--workload=niah", "--haystack=600", "--depth=0,0.5,1",
             "--requests=16"],
        ]
        for workload in workloads:
            via_grpc = load(client, [f"--target={grpc}"],
                            workload + [f"--engines={ENGINES}"])
            via_http = load(client, [f"--target=http://{http}"],
                            workload + ["--api=openai", f"--model={ENGINES}"])
            g, h = by_engine(via_grpc), by_engine(via_http)
            if sorted(g) != sorted(h):
                failures.append(f"{workload}: engines {sorted(g)} vs {sorted(h)}")
                continue
            for name in sorted(g):
                ge, he = g[name], h[name]
                for key in ("sent", "succeeded", "probes", "hits"):
                    if int(ge[key]) != int(he[key]):
                        failures.append(
                            f"{workload[0]} {name}: {key} grpc={ge[key]} "
                            f"openai={he[key]}")
                gb = [(int(b["minContextTokens"]), int(b["probes"]), int(b["hits"]))
                      for b in ge["recallByContext"]]
                hb = [(int(b["minContextTokens"]), int(b["probes"]), int(b["hits"]))
                      for b in he["recallByContext"]]
                if gb != hb:
                    failures.append(
                        f"{workload[0]} {name}: recall by context {gb} vs {hb}")
                if int(he["failed"]) != 0 or int(he["probes"]) == 0:
                    failures.append(f"{workload[0]} {name}: openai failed="
                                    f"{he['failed']} probes={he['probes']}")
                print(f"{workload[0]:16} {name:16} probes {he['probes']:>4} "
                      f"recall grpc {ge['recall']:.3f} openai {he['recall']:.3f}")
            ttft = via_http["total"]["ttft"]
            if int(ttft["count"]) == 0 or float(ttft["p50Seconds"]) <= 0:
                failures.append(f"{workload[0]}: openai TTFT not measured: {ttft}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("recall identical over gRPC and the OpenAI-compatible endpoint")


if __name__ == "__main__":
    main()
