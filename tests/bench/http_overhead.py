#!/usr/bin/env python3
"""What the OpenAI-compatible HTTP endpoint costs per token against gRPC
(docs/http.md, "What HTTP costs per token"): one trilemma-server with both
ports, the same engine, prompt (16 random tokens) and max_tokens (256),
streamed; `trilemma load --api=grpc` and `--api=openai` alternate ROUNDS
times at concurrency 1 (8 requests) and 8 (32 requests). Prints the median
over rounds of each run's ITL and TPOT p50, both ways, and the difference.

  tests/bench/http_overhead.py build/bin/trilemma-server build/bin/trilemma ENGINE ROUNDS
"""
import json, os, re, statistics, subprocess, sys
server, client, engine, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
proc = subprocess.Popen([server, "--listen=127.0.0.1:0", "--metrics_listen=",
                         "--http_listen=127.0.0.1:0", f"--engines={engine}"],
                        stdout=subprocess.PIPE, text=True, env=env)
line = proc.stdout.readline()
grpc = re.search(r"grpc=(\S+)", line).group(1)
http = re.search(r"http=(\S+)", line).group(1)
common = ["load", "--workload=random", "--prompt_tokens=16", "--output_tokens=256",
          "--seed=7", "--slo=none", "--format=json"]
res = {}
try:
    for conc in (1, 8):
        reqs = 8 if conc == 1 else 32
        for r in range(rounds):
            for api in ("grpc", "openai"):
                args = ([f"--target={grpc}", f"--engines={engine}"] if api == "grpc"
                        else [f"--target=http://{http}", "--api=openai", f"--model={engine}"])
                out = subprocess.run([client, *args, *common, f"--concurrency={conc}",
                                      f"--requests={reqs}"], capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    sys.exit(out.stderr)
                t = json.loads(out.stdout)["total"]
                res.setdefault((conc, api), []).append(
                    (t["itl"]["p50Seconds"] * 1e6, t["tpot"]["p50Seconds"] * 1e6))
    for conc in (1, 8):
        g, h = res[(conc, "grpc")], res[(conc, "openai")]
        gi, gt = statistics.median(x[0] for x in g), statistics.median(x[1] for x in g)
        hi, ht = statistics.median(x[0] for x in h), statistics.median(x[1] for x in h)
        print(f"concurrency {conc}: ITL p50 grpc {gi:.1f} us, http {hi:.1f} us (+{hi-gi:.1f}); "
              f"TPOT p50 grpc {gt:.1f} us, http {ht:.1f} us (+{ht-gt:.1f}); "
              f"runs tpot grpc {[round(x[1],1) for x in g]} http {[round(x[1],1) for x in h]}")
finally:
    proc.terminate(); proc.wait()
