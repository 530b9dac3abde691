#!/usr/bin/python3
"""Checks the C++ engine on Hugging Face checkpoints against a PyTorch model.

  check_checkpoints.py --dump_bin build/bin/checkpoint_dump --workdir DIR
                       [--case neox ...]

For each case (all of make_checkpoints.py's cases unless --case is given):
  1. make_checkpoints.py writes DIR/checkpoints/<case> (config.json,
     safetensors, prompt.json);
  2. the C++ dumper runs `DUMP --checkpoint=DIR/checkpoints/<case>
     --tokens=<prompt> --greedy=32 --out=DIR/out/<case>/cpp` and writes
     step_logits.npy [T, V] (stepping token by token), prefill_logits.npy
     [T, V] (row t: one Prefill of tokens[0..t] on a fresh session) and
     greedy.npy [32] int32;
  3. torch_reference.py writes DIR/out/<case>/ref/logits.npy, greedy.npy,
     greedy_margin.npy, and perturbed_logits.npy: the logits with one weight
     of layer 0 changed by 0.25.
Passes when every row of the step and prefill logits is within 1e-4 relative
of the reference (max |cpp - ref| / max |ref| per row), the greedy
continuations are equal, and the same comparison against the perturbed
reference fails (so the comparison is able to fail). Preconditions, checked
too: the reference logits are finite and not constant, and every greedy step's
top-2 gap exceeds 2 x the tolerance (otherwise equal greedy output could not
be demanded of a result that is within tolerance).
Prints one line per case and "N passed, N failed"; exits 1 on any failure.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

TOLERANCE = 1e-4
GREEDY_STEPS = 32
HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable or "/usr/bin/python3"

# The weight the negative check perturbs: flat element 0 of a layer-0
# projection every position depends on (GPT-NeoX's interleaved QKV keeps head
# 0's value rows at [2 * head_size, 3 * head_size); see make_checkpoints.py).
PERTURBED = {
    "GPTNeoXForCausalLM":
        lambda c: ("gpt_neox.layers.0.attention.query_key_value.weight",
                   2 * c["hidden_size"] // c["num_attention_heads"] *
                   c["hidden_size"]),
    "LlamaForCausalLM": lambda c: ("model.layers.0.self_attn.v_proj.weight", 0),
    "MistralForCausalLM":
        lambda c: ("model.layers.0.self_attn.v_proj.weight", 0),
    "MambaForCausalLM": lambda c: ("backbone.layers.0.mixer.in_proj.weight", 0),
    "RWKV7ForCausalLM": lambda c: ("model.layers.0.attn.v_proj.weight", 0),
    "GatedDeltaNetForCausalLM":
        lambda c: ("model.layers.0.attn.v_proj.weight", 0),
    "Mamba2ForCausalLM":
        lambda c: ("backbone.layers.0.mixer.in_proj.weight", 0),
}


def row_relative_error(got, ref):
    """max |got - ref| / max |ref| for each row."""
    err = np.abs(got - ref).max(axis=1)
    return err / np.maximum(np.abs(ref).max(axis=1), 1e-30)


def run(cmd, log):
    result = subprocess.run(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, check=False)
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n" + result.stdout)
    if result.returncode != 0:
        raise RuntimeError(f"exit {result.returncode}: {' '.join(cmd)}\n"
                           f"{result.stdout[-3000:]}")


def load(path, shape=None, dtype=None):
    if not os.path.exists(path):
        raise RuntimeError(f"missing output {path}")
    arr = np.load(path)
    if shape is not None and arr.shape != shape:
        raise RuntimeError(f"{path}: shape {arr.shape}, expected {shape}")
    if dtype is not None and arr.dtype != dtype:
        raise RuntimeError(f"{path}: dtype {arr.dtype}, expected {dtype}")
    return arr


def check_case(args, case):
    """Returns (ok, message)."""
    base = os.path.join(args.workdir, "out", case)
    ckpt = os.path.join(args.workdir, "checkpoints", case)
    cpp_out, ref_out = os.path.join(base, "cpp"), os.path.join(base, "ref")
    shutil.rmtree(base, ignore_errors=True)  # no stale outputs from a past run
    os.makedirs(cpp_out)  # the dumper writes into an existing directory
    run([PYTHON, os.path.join(HERE, "make_checkpoints.py"), "--out",
         os.path.dirname(ckpt), "--case", case], os.path.join(base, "make.log"))
    with open(os.path.join(ckpt, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(ckpt, "prompt.json")) as f:
        tokens = json.load(f)["tokens"]
    token_arg = ",".join(str(t) for t in tokens)
    name, index = PERTURBED[config["architectures"][0]](config)

    run([args.dump_bin, f"--checkpoint={ckpt}", f"--tokens={token_arg}",
         f"--greedy={GREEDY_STEPS}", f"--out={cpp_out}"],
        os.path.join(base, "cpp.log"))
    run([PYTHON, os.path.join(HERE, "torch_reference.py"), "--checkpoint", ckpt,
         "--tokens", token_arg, "--greedy", str(GREEDY_STEPS), "--out", ref_out,
         "--perturb", f"{name}:{index}:0.25"], os.path.join(base, "ref.log"))

    shape = (len(tokens), config["vocab_size"])
    ref = load(os.path.join(ref_out, "logits.npy"), shape)
    perturbed = load(os.path.join(ref_out, "perturbed_logits.npy"), shape)
    ref_greedy = load(os.path.join(ref_out, "greedy.npy"), (GREEDY_STEPS,))
    margins = load(os.path.join(ref_out, "greedy_margin.npy"), (GREEDY_STEPS,))
    step = load(os.path.join(cpp_out, "step_logits.npy"), shape)
    prefill = load(os.path.join(cpp_out, "prefill_logits.npy"), shape)
    cpp_greedy = load(os.path.join(cpp_out, "greedy.npy"), (GREEDY_STEPS,),
                      np.dtype(np.int32))

    problems = []
    if not np.isfinite(ref).all() or np.ptp(ref, axis=1).min() <= 0:
        problems.append("reference logits not finite or a row is constant")
    if margins.min() <= 2 * TOLERANCE:
        problems.append(f"ill-conditioned case: greedy top-2 gap "
                        f"{margins.min():.1e} <= 2 x tolerance")
    worst = {}
    for what, got in (("step", step), ("prefill", prefill)):
        if not np.isfinite(got).all():
            problems.append(f"{what} logits not finite")
            continue
        rel = row_relative_error(got.astype(np.float64), ref)
        worst[what] = rel.max()
        if rel.max() > TOLERANCE:
            problems.append(f"{what} rows {np.flatnonzero(rel > TOLERANCE)[:8]}"
                            f" off, worst {rel.max():.2e} at row "
                            f"{int(np.argmax(rel))}")
    mismatch = np.flatnonzero(cpp_greedy != ref_greedy)
    if mismatch.size:
        problems.append(f"greedy differs from step {mismatch[0]}: cpp "
                        f"{cpp_greedy.tolist()} ref {ref_greedy.tolist()}")
    negative = row_relative_error(step.astype(np.float64), perturbed).max()
    if not negative > TOLERANCE:
        problems.append(f"negative check: the engine also matches a reference "
                        f"with {name}[{index}] changed ({negative:.1e})")
    summary = ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
    summary += (f", greedy {GREEDY_STEPS - mismatch.size}/{GREEDY_STEPS} "
                f"equal, perturbed reference {negative:.1e}")
    return not problems, summary + "".join(f"\n    {p}" for p in problems)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump_bin", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--case", action="append",
                        help="check only this case (repeatable)")
    args = parser.parse_args()
    known = subprocess.run([PYTHON, os.path.join(HERE, "make_checkpoints.py"),
                            "--list"], stdout=subprocess.PIPE, text=True,
                           check=True).stdout.split()
    cases = args.case or known
    unknown = [c for c in cases if c not in known]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {known}")
    passed = failed = 0
    for case in cases:
        start = time.time()
        try:
            ok, message = check_case(args, case)
        except (RuntimeError, OSError, ValueError, KeyError) as e:
            ok, message = False, f"error: {e}"
        print(f"{'ok  ' if ok else 'FAIL'} {case}: {message} "
              f"({time.time() - start:.1f} s)", flush=True)
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
