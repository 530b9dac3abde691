#!/usr/bin/python3
"""The shipped MQAR-trained checkpoints: listed, loaded and recalling.

  check_trained_mqar.py --server_bin build/bin/trilemma-server \
                        --client_bin build/bin/trilemma \
                        --manifest models/mqar/manifest.json

Manifest (docs/trained-mqar.md): every entry has the fields the sweep reads
with the right types, a unique name, a `dir` holding config.json and
model.safetensors, vocab and train_pairs in range and a recorded validation
accuracy of at least 0.90; every directory beside the manifest is listed.
Serving: starts `trilemma-server --checkpoint=NAME=DIR` for every entry at
once, requires `trilemma engines` to list each with the manifest's family,
its directory and vocab, then for each runs `trilemma recall
--engines=NAME --pairs=P --queries=P --seed=S` (P = its train_pairs) for
seeds 1, 2, ... until at least MIN_QUERIES queries were asked, and requires
the server-scored recall over them to be at least 0.90. The server must
drain and exit 0 on SIGTERM. Prints "N passed, N failed"; exits 1 on any
failure.
"""
import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys

MIN_QUERIES = 64
REQUIRED_RECALL = 0.90
FIELDS = {"name": str, "dir": str, "circuit": str, "family": str,
          "train_pairs": int, "vocab": int, "val_accuracy": float,
          "train_seconds": float, "seed": int}


class Results:
    def __init__(self):
        self.passed, self.failed = 0, 0

    def check(self, ok, what):
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def check_manifest(path, res):
    """Returns the entries whose directories can be served."""
    root = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        models = json.load(f)["models"]
    res.check(len(models) > 0, f"{path} lists models ({len(models)})")
    names = [m.get("name") for m in models]
    res.check(len(set(names)) == len(names), f"names are unique: {names}")
    servable = []
    for m in models:
        label = m.get("name", "?")
        bad = [k for k, kind in FIELDS.items()
               if not isinstance(m.get(k), kind) or isinstance(m.get(k), bool)
               and kind is not bool]
        if not res.check(not bad, f"{label}: fields present and typed "
                         f"(wrong or missing: {bad or 'none'})"):
            continue
        d = os.path.join(root, m["dir"])
        files = [f for f in ("config.json", "model.safetensors")
                 if not os.path.isfile(os.path.join(d, f))]
        if not res.check(not files, f"{label}: {m['dir']}/ holds config.json "
                         f"and model.safetensors (missing: {files or 'none'})"):
            continue
        with open(os.path.join(d, "config.json")) as f:
            vocab = json.load(f).get("vocab_size")
        res.check(vocab == m["vocab"], f"{label}: config vocab_size {vocab} "
                  f"is the manifest's {m['vocab']}")
        res.check(1 <= m["train_pairs"] <= m["vocab"] // 2,
                  f"{label}: train_pairs {m['train_pairs']} in "
                  f"[1, vocab/2]")
        res.check(m["val_accuracy"] >= REQUIRED_RECALL,
                  f"{label}: recorded val_accuracy {m['val_accuracy']} >= "
                  f"{REQUIRED_RECALL}")
        servable.append(dict(m, path=d))
    listed = {m.get("dir") for m in models}
    on_disk = {e for e in os.listdir(root)
               if os.path.isdir(os.path.join(root, e))}
    res.check(on_disk == listed, f"every directory is listed (on disk "
              f"{sorted(on_disk)}, listed {sorted(listed)})")
    return servable


def start_server(args, models):
    cmd = [args.server_bin, "--listen=127.0.0.1:0",
           "--metrics_listen=127.0.0.1:0",
           "--engines=" + ",".join(m["name"] for m in models)]
    cmd += [f"--checkpoint={m['name']}={m['path']}" for m in models]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"grpc=(\S+) metrics=(\S+)", line)
    if not match:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise RuntimeError(f"server did not start: {line!r} {err}")
    return proc, match.group(1)


def client(args, target, *argv):
    return subprocess.run([args.client_bin, f"--target={target}", *argv],
                          capture_output=True, text=True, timeout=300)


def check_recall(args, target, m, res):
    pairs, hits, asked, errors = m["train_pairs"], 0, 0, []
    for seed in range(1, math.ceil(MIN_QUERIES / pairs) + 1):
        out = client(args, target, "recall", f"--engines={m['name']}",
                     f"--pairs={pairs}", f"--queries={pairs}",
                     f"--seed={seed}", "--format=json")
        if out.returncode != 0:
            errors.append(out.stderr.strip()[-200:])
            continue
        for row in json.loads(out.stdout).get("rows", []):
            if row.get("error"):
                errors.append(row["error"])
            hits += int(row.get("hits", 0))
            asked += int(row.get("queries", 0))
    recall = hits / asked if asked else 0.0
    res.check(not errors and asked >= MIN_QUERIES and
              recall >= REQUIRED_RECALL,
              f"{m['name']}: server-scored recall {hits}/{asked} = "
              f"{recall:.3f} at {pairs} pairs >= {REQUIRED_RECALL}"
              f"{' errors: ' + '; '.join(errors) if errors else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server_bin", required=True)
    parser.add_argument("--client_bin", required=True)
    parser.add_argument("--manifest", required=True)
    args = parser.parse_args()
    res = Results()
    models = check_manifest(args.manifest, res)
    if models:
        proc, target = start_server(args, models)
        try:
            listed = client(args, target, "engines", "--format=json")
            res.check(listed.returncode == 0, "trilemma engines exits 0")
            engines = {e["name"]: e
                       for e in json.loads(listed.stdout or "{}").get(
                           "engines", [])}
            for m in models:
                info = engines.get(m["name"], {})
                res.check(info.get("family") == m["family"] and
                          info.get("checkpoint") == m["path"] and
                          info.get("shape", {}).get("vocab") == m["vocab"],
                          f"{m['name']} served as family {m['family']} from "
                          f"{m['dir']}/ with vocab {m['vocab']} (got "
                          f"{info.get('family')}, {info.get('checkpoint')}, "
                          f"{info.get('shape', {}).get('vocab')})")
            for m in models:
                check_recall(args, target, m, res)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = None
        res.check(code == 0, f"server exits 0 on SIGTERM (got {code})")
    print(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
