#!/usr/bin/python3
"""check_sensitivity.py for the Gated DeltaNet and Mamba-2 cases: each likely
engine or loader mistake must move some row of the prompt's logits by more
than 2x check_checkpoints.py's 1e-4 relative tolerance, so an engine making it
fails that test.

  check_sensitivity_fla.py --workdir DIR

Mistakes: Gated DeltaNet — norm eps x10, q and k convs swapped, dt_bias
dropped, A_log of another head, a and b projections swapped, beta not
doubled (allow_neg_eigval ignored), value head j reading key head j % H;
Mamba-2 — norm eps x10, B and C swapped, conv kernel reversed, D dropped,
dt_bias dropped, the gated norm over all of d_inner instead of per group,
time_step_limit ignored.
Prints one line per mistake and "N passed, N failed"; exits 1 on any failure.
"""
import argparse
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fla_gated_deltanet_ref as gdn  # noqa: E402
import mamba2_ref as m2  # noqa: E402
import torch_reference as ref  # noqa: E402

REQUIRED = 2e-4


def change(name, fn):
    return {name: lambda tensors: fn(tensors[name])}


def swap(a, b):
    return {a: lambda tensors: tensors[b], b: lambda tensors: tensors[a]}


def gdn_mistakes(c):
    a = "model.layers.0.attn."
    out = [
        ("norm eps x10", {"norm_eps": 10 * c["norm_eps"]}, {}),
        ("q and k convs swapped", {},
         swap(a + "q_conv1d.weight", a + "k_conv1d.weight")),
        ("dt_bias dropped", {}, change(a + "dt_bias", lambda w: w * 0)),
        ("A_log of another head", {}, change(a + "A_log", lambda w: w.flip(0))),
        ("a and b projections swapped", {},
         swap(a + "a_proj.weight", a + "b_proj.weight")),
    ]
    if c.get("allow_neg_eigval"):
        out.append(("allow_neg_eigval ignored", {"allow_neg_eigval": False},
                    {}))
    if (c.get("num_v_heads") or c["num_heads"]) != c["num_heads"]:
        out.append(("value head j reads key head j % H",
                    {"_modulo_heads": True}, {}))
    return out


def m2_mistakes(c):
    m = "backbone.layers.0.mixer."
    di = int(c["expand"] * c["hidden_size"])
    gn = c["n_groups"] * c["state_size"]

    def swap_bc(w):  # in_proj rows: z | x | B | C | dt
        b0 = 2 * di
        return torch.cat((w[:b0], w[b0 + gn:b0 + 2 * gn], w[b0:b0 + gn],
                          w[b0 + 2 * gn:]))
    out = [
        ("norm eps x10", {"layer_norm_epsilon":
                          10 * c["layer_norm_epsilon"]}, {}),
        ("B and C swapped", {}, change(m + "in_proj.weight", swap_bc)),
        ("conv kernel reversed in time", {},
         change(m + "conv1d.weight", lambda w: w.flip(-1))),
        ("D dropped", {}, change(m + "D", lambda w: w * 0)),
        ("dt_bias dropped", {}, change(m + "dt_bias", lambda w: w * 0)),
    ]
    if c["n_groups"] > 1:
        out.append(("gated norm over all of d_inner", {"_one_norm_group": True},
                    {}))
    if c["time_step_limit"][1] != float("inf"):
        out.append(("time_step_limit ignored",
                    {"time_step_limit": [0.0, float("inf")]}, {}))
    return out


def forward(config, tensors, tokens, transforms):
    changed = dict(tensors)
    for name, fn in transforms.items():
        changed[name] = fn(tensors)
    model = ref.build_model(config, changed)
    if config.get("_modulo_heads"):  # key head for value head j: j % H
        heads = model.heads
        orig = torch.Tensor.repeat_interleave

        def modulo(self, rep, dim=None):
            if dim == 1 and self.shape[1] == heads:
                return self.repeat(1, rep, 1)
            return orig(self, rep, dim=dim)
        torch.Tensor.repeat_interleave = modulo
        try:
            return model.forward(tokens)
        finally:
            torch.Tensor.repeat_interleave = orig
    if config.get("_one_norm_group"):
        saved = m2._rms_norm
        di = model.di

        def whole(x, w, eps):  # regroup [T, G, di/G] to [T, di] first
            if x.dim() == 3 and x.shape[1] * x.shape[2] == di:
                return saved(x.reshape(x.shape[0], di), w, eps).reshape(
                    x.shape)
            return saved(x, w, eps)
        m2._rms_norm = whole
        try:
            return model.forward(tokens)
        finally:
            m2._rms_norm = saved
    return model.forward(tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = os.path.join(args.workdir, "checkpoints")
    cases = ("gdn", "gdn_gva", "mamba2", "mamba2_groups")
    subprocess.run([sys.executable, os.path.join(HERE, "make_checkpoints.py"),
                    "--out", out] + [a for c in cases for a in ("--case", c)],
                   check=True)
    passed = failed = 0
    for case in cases:
        config, tensors = ref.load_checkpoint(os.path.join(out, case))
        with open(os.path.join(out, case, "prompt.json")) as f:
            tokens = torch.tensor(json.load(f)["tokens"])
        right = forward(config, tensors, tokens, {})
        arch = config["architectures"][0]
        mistakes = (gdn_mistakes if arch == "GatedDeltaNetForCausalLM"
                    else m2_mistakes)(config)
        for what, changes, transforms in mistakes:
            wrong = forward(dict(config, **changes), tensors, tokens,
                            transforms)
            err = ref.max_row_relative(wrong, right)
            ok = err > REQUIRED
            passed, failed = passed + ok, failed + (not ok)
            print(f"{'ok  ' if ok else 'FAIL'} {case}: {what}: logits move "
                  f"{err:.1e} (need > {REQUIRED:.0e})")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
