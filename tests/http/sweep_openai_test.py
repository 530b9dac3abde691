#!/usr/bin/env python3
"""`trilemma sweep` against OpenAI-compatible servers (docs/http.md).

Starts trilemma-server (gRPC + --http_listen, ports 0) and checks:
  1. one report holding our engines over gRPC and the same engines over HTTP
     (--openai_targets): every cell of the MQAR grid has the same queries,
     hits and context tokens both ways (greedy decoding sees the same
     tokens), and the HTTP rows are named MODEL@HOST:PORT;
  2. `sweep --api=openai --model=...` alone writes the same rows;
  3. a text workload (phonebook) on a tokenizer-less gRPC engine records
     why in each row instead of failing the run, and bad flags are refused
     naming the flag;
  4. with a checkpoint directory that has a tokenizer (tests/checkpoints'
     llama_text), passkey and phonebook cells are measured from text: every
     query answered, context tokens growing with the filler / entries.

  tests/http/sweep_openai_test.py build/bin/trilemma-server build/bin/trilemma [CHECKPOINT_DIR]
"""
import csv
import os
import re
import subprocess
import sys
import tempfile

ENGINES = "attention,mamba"
GRID = ["--pairs=4,32", "--contexts=0,48", "--queries=6", "--seed=7",
        "--parallel=2"]


def start_server(server, checkpoint=None):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    extra = [f"--checkpoint=llama={checkpoint}"] if checkpoint else []
    engines = ENGINES + (",llama" if checkpoint else "")
    proc = subprocess.Popen(
        [server, "--listen=127.0.0.1:0", "--metrics_listen=",
         "--http_listen=127.0.0.1:0", f"--engines={engines}", *extra],
        stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    grpc = re.search(r"grpc=(\S+)", line)
    http = re.search(r"http=(\S+)", line)
    if not grpc or not http:
        proc.kill()
        sys.exit(f"no ready line: {line!r}")
    return proc, grpc.group(1), http.group(1)


def sweep(client, args, expect_ok=True):
    out_dir = tempfile.mkdtemp(prefix="sweep_openai_")
    run = subprocess.run([client, *args[:1], "sweep", *args[1:],
                          f"--out={out_dir}"],
                         capture_output=True, text=True, timeout=600)
    if expect_ok and run.returncode != 0:
        sys.exit(f"sweep {args} failed ({run.returncode}): {run.stderr}")
    rows = []
    path = os.path.join(out_dir, "sweep.csv")
    if os.path.exists(path):
        with open(path) as f:
            rows = list(csv.DictReader(f))
    return run, rows


def cells(rows, engine):
    return {(r["pairs"], r["filler"], r["repeat"]): r
            for r in rows if r["engine"] == engine}


def main():
    server, client = sys.argv[1], sys.argv[2]
    checkpoint = sys.argv[3] if len(sys.argv) > 3 else None
    proc, grpc, http = start_server(server, checkpoint)
    failures = []
    try:
        # 1. gRPC engines and the same engines over HTTP in one report.
        targets = ",".join(f"http://{http}={e}" for e in ENGINES.split(","))
        run, rows = sweep(client, [f"--target={grpc}", f"--engines={ENGINES}",
                                   f"--openai_targets={targets}", *GRID])
        names = sorted({r["engine"] for r in rows})
        want = sorted(ENGINES.split(",") +
                      [f"{e}@{http}" for e in ENGINES.split(",")])
        if names != want:
            failures.append(f"report engines {names}, want {want}")
        compared = 0
        for engine in ENGINES.split(","):
            g, h = cells(rows, engine), cells(rows, f"{engine}@{http}")
            if sorted(g) != sorted(h) or len(g) != 4:
                failures.append(f"{engine}: cells {sorted(g)} vs {sorted(h)}")
                continue
            for key in sorted(g):
                for field in ("queries", "hits", "context_tokens", "error"):
                    if g[key][field] != h[key][field]:
                        failures.append(
                            f"{engine} {key} {field}: grpc={g[key][field]!r} "
                            f"http={h[key][field]!r}")
                compared += 1
            if not any(int(r["hits"]) > 0 for r in g.values()):
                failures.append(f"{engine}: no hit at all over gRPC")
        if "report:" not in run.stdout:
            failures.append(f"no report path printed: {run.stdout!r}")
        via_both = rows

        # 2. --api=openai alone: the HTTP rows again.
        run, rows = sweep(client, [f"--target=http://{http}", "--api=openai",
                                   f"--model={ENGINES}", *GRID])
        for engine in ENGINES.split(","):
            alone = cells(rows, f"{engine}@{http}")
            before = cells(via_both, f"{engine}@{http}")
            for key in sorted(before):
                if key not in alone or alone[key]["hits"] != before[key]["hits"]:
                    failures.append(f"--api=openai {engine} {key} differs")

        # 3. Text workload on a gRPC engine: rows say why; bad flags refused.
        run, rows = sweep(client, [f"--target={grpc}", "--engines=attention",
                                   "--sweep_workload=phonebook",
                                   f"--openai_targets=http://{http}=mamba",
                                   "--pairs=4", "--queries=2"],
                          expect_ok=False)
        grpc_rows = [r for r in rows if r["engine"] == "attention"]
        if not grpc_rows or not all("tokenizer" in r["error"]
                                    for r in grpc_rows):
            failures.append(f"text rows on gRPC engine: {grpc_rows}")
        http_rows = [r for r in rows if r["engine"] == f"mamba@{http}"]
        # mamba has no tokenizer: the server refuses the text prompt (400).
        if not http_rows or not all("prompt" in r["error"] for r in http_rows):
            failures.append(f"text rows on tokenizer-less model: {http_rows}")
        for bad, flag in (
                (["--api=openai", f"--target=http://{http}"], "--model"),
                ([f"--target={grpc}", "--openai_targets=nourl"],
                 "--openai_targets"),
                ([f"--target={grpc}", "--sweep_workload=essay"],
                 "--sweep_workload")):
            run, _ = sweep(client, bad, expect_ok=False)
            if run.returncode == 0 or flag not in run.stderr:
                failures.append(f"{bad}: rc {run.returncode}, {run.stderr!r}")

        # 4. Text workloads on a model with a tokenizer.
        if checkpoint:
            for workload, grid, axis in (
                    ("passkey", ["--contexts=40,160"], "filler"),
                    ("phonebook", ["--pairs=2,16"], "pairs")):
                run, rows = sweep(client, [f"--target=http://{http}",
                                           "--api=openai", "--model=llama",
                                           f"--sweep_workload={workload}",
                                           "--queries=3", *grid])
                if len(rows) != 2 or any(r["error"] or r["queries"] != "3"
                                         for r in rows):
                    failures.append(f"{workload} rows: {rows}")
                    continue
                rows.sort(key=lambda r: int(r[axis]))
                if not (int(rows[0]["context_tokens"]) <
                        int(rows[1]["context_tokens"])):
                    failures.append(f"{workload}: context does not grow with "
                                    f"{axis}: {rows}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"sweep --api=openai: {compared} cells identical over gRPC and HTTP")


if __name__ == "__main__":
    main()
