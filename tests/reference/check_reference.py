#!/usr/bin/python3
"""Checks a C++ engine's logits against an independent numpy model.

For each knob case in tests/reference/models/<family>.py (its CASES list),
runs `reference_dump` to get the engine's weights, a token sequence and the
logits after every token, runs the module's `forward(weights, requested,
tokens)` on the same weights with the REQUESTED knobs (the case itself, not
what the engine reports), and requires every row of logits to match within
1e-4 relative (max |cpp - ref| / max |ref| per row). It also requires the
engine's effective knobs (knobs.json) to equal what the model runs with:
every requested value, and every documented default the model assumes.

A model module defines:
  CASES: list of dicts of knobs (strings), each dumped and checked (keys
         starting with "_" are for this script, e.g. "_tokens");
  model_knobs(requested: dict[str, str]) -> dict[str, str]: the knobs the
         model runs with (requested over the documented defaults);
  forward(weights: dict[str, np.ndarray], requested: dict[str, str],
          tokens: np.ndarray[int32]) -> np.ndarray [T, V]  (float64 is fine)
Modules implement the math from the design (docs/engines.md,
docs/recall-circuit.md, the engine's header comment), never by calling into
the C++ code, and derive every parameter a knob sets (window, heads, gamma,
alpha, beta, shapes ...) from the requested knobs; only the weight matrices
are read from the dump.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

TOLERANCE = 1e-4


def load_model(family):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models",
                        family + ".py")
    spec = importlib.util.spec_from_file_location(family, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(module)
    return module


def load_dump(directory):
    weights = {}
    wdir = os.path.join(directory, "weights")
    for name in os.listdir(wdir):
        weights[name[:-len(".npy")]] = np.load(os.path.join(wdir, name)).astype(
            np.float64)
    tokens = np.load(os.path.join(directory, "tokens.npy"))
    logits = np.load(os.path.join(directory, "logits.npy")).astype(np.float64)
    with open(os.path.join(directory, "knobs.json")) as f:
        knobs = json.load(f)
    return weights, tokens, logits, knobs


def same_value(a, b):
    """Knob values agree as numbers when both are numbers, else as text."""
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    return x == y or abs(x - y) <= 1e-9 * max(abs(x), abs(y))


def knob_mismatches(requested, assumed, reported):
    """What the engine reports differently from the requested knobs (each
    must be reported) and from the defaults the model assumes."""
    problems = []
    for name, value in sorted(requested.items()):
        if name not in reported:
            problems.append(f"requested {name}={value} is not reported")
        elif not same_value(value, reported[name]):
            problems.append(f"requested {name}={value}, engine reports "
                            f"{reported[name]}")
    for name, value in sorted(assumed.items()):
        if name in requested or name not in reported:
            continue
        if not same_value(value, reported[name]):
            problems.append(f"model assumes the default {name}={value}, "
                            f"engine reports {reported[name]}")
    return problems


def check_case(args, model, index, case):
    out = os.path.join(args.workdir, f"{args.family}_{index}")
    tokens = str(case.get("_tokens", args.tokens))
    knob_arg = ",".join(f"{k}={v}" for k, v in sorted(case.items())
                        if not k.startswith("_"))
    cmd = [args.dump_bin, f"--family={args.family}", f"--knobs={knob_arg}",
           f"--tokens={tokens}", f"--out={out}"]
    subprocess.run(cmd, check=True)
    weights, tokens, cpp_logits, reported = load_dump(out)
    requested = {k: str(v) for k, v in case.items() if not k.startswith("_")}
    problems = knob_mismatches(requested, model.model_knobs(requested),
                               reported)
    for problem in problems:
        print(f"FAIL {args.family} case {index} [{knob_arg}]: {problem}")
    try:
        ref_logits = np.asarray(
            model.forward(weights, dict(requested), tokens), dtype=np.float64)
    except ValueError as e:  # a shape the knobs do not imply, an ambiguity
        print(f"FAIL {args.family} case {index} [{knob_arg}]: {e}")
        return False
    if ref_logits.shape != cpp_logits.shape:
        print(f"FAIL {args.family} case {index} {knob_arg}: shape "
              f"{ref_logits.shape} != {cpp_logits.shape}")
        return False
    err = np.abs(cpp_logits - ref_logits).max(axis=1)
    scale = np.maximum(np.abs(ref_logits).max(axis=1), 1e-30)
    rel = err / scale
    worst = int(np.argmax(rel))
    ok = bool(rel.max() <= TOLERANCE) and not problems
    print(f"{'ok  ' if ok else 'FAIL'} {args.family} case {index} "
          f"[{knob_arg}] tokens={len(tokens)} max rel err={rel.max():.3e} "
          f"(row {worst})")
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dump_bin", required=True)
    parser.add_argument("--family", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--tokens", type=int, default=40)
    args = parser.parse_args()
    model = load_model(args.family)
    results = [check_case(args, model, i, case)
               for i, case in enumerate(model.CASES)]
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
