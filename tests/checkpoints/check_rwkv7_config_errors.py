#!/usr/bin/python3
"""Checks that RWKV7ForCausalLM directories the loader cannot serve are
refused with INVALID_ARGUMENT naming the file and what is wrong.

  check_rwkv7_config_errors.py --dump_bin build/bin/checkpoint_dump --workdir DIR

Writes make_checkpoints.py's rwkv7 case, then for each change below (to
config.json, or a tensor left out) runs checkpoint_dump on a copy and requires
a non-zero exit whose message holds the expected text. The unchanged copy
must load (so a refusal is the change's doing). Prints one line per change
and "N passed, N failed"; exits 1 on any failure.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# (what, config changes, expected text after "<dir>/config.json: ")
CONFIG_CHANGES = [
    ("per-layer value_dim differs", {"value_dim": [64, 128]},
     "value_dim must be the same for every layer"),
    ("value_dim list of the wrong length", {"value_dim": [64, 64, 64]},
     "value_dim lists 3 layers; num_hidden_layers is 2"),
    ("value_dim not an integer", {"value_dim": "wide"},
     "'value_dim' must be an integer or a non-empty array of integers"),
    ("unsupported activation", {"hidden_act": "gelu"},
     "hidden_act 'gelu' is not supported; supported: sqrelu"),
    ("hybrid attention layers", {"attn": {"layers": [1], "num_heads": 4}},
     "'attn' (hybrid attention layers) is not supported"),
    ("head_dim not dividing hidden_size", {"head_dim": 24},
     "head_dim 24 does not divide hidden_size 64"),
    ("num_heads not dividing hidden_size",
     {"head_dim": None, "num_heads": 5},
     "num_heads 5 does not divide hidden_size 64"),
    ("hidden_size missing", {"hidden_size": None}, "'hidden_size' is missing"),
    ("LoRA rank not matching the file", {"v_low_rank_dim": 9},
     "model.layers.1.attn.v_lora.lora.0.weight' has shape [8, 64], "
     "expected [9, 64]"),
]


def run_dump(args, directory):
    result = subprocess.run(
        [args.dump_bin, f"--checkpoint={directory}", "--tokens=1,2",
         "--greedy=1", f"--out={args.workdir}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        check=False)
    return result.returncode, result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump_bin", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    good = os.path.join(args.workdir, "rwkv7")
    subprocess.run([sys.executable, os.path.join(HERE, "make_checkpoints.py"),
                    "--out", args.workdir, "--case", "rwkv7"], check=True)
    passed = failed = 0
    code, out = run_dump(args, good)
    ok = code == 0
    print(f"{'ok  ' if ok else 'FAIL'} unchanged checkpoint loads"
          + ("" if ok else f": {out.strip()[-300:]}"))
    passed, failed = passed + ok, failed + (not ok)
    bad = os.path.join(args.workdir, "bad")
    for what, changes, expected in CONFIG_CHANGES:
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(good, bad)
        path = os.path.join(bad, "config.json")
        with open(path) as f:
            config = json.load(f)
        config.update(changes)
        with open(path, "w") as f:
            json.dump(config, f)
        code, out = run_dump(args, bad)
        ok = (code != 0 and "INVALID_ARGUMENT" in out and expected in out and
              bad in out)
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {out.strip()[-200:]}")
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
