#!/usr/bin/python3
"""Checks that the checkpoint test cases can tell the right model from
plausible wrong ones.

  check_sensitivity.py --workdir DIR

Writes the cases with make_checkpoints.py, then for each case runs
torch_reference.py's model once as published and once per likely engine or
loader mistake (tanh-approximated GELU, a norm eps ignored, RoPE on
interleaved pairs, rotary on every dimension, the other residual form, QKV
read as [q; k; v] blocks, query head h reading KV head h % n_kv, gate and up
swapped, the conv kernel reversed in time, B and C swapped, x and z swapped,
D, conv bias or dt bias dropped, ...). Each mistake must move some row of the
prompt's logits by more than 2x check_checkpoints.py's 1e-4 relative
tolerance, so an engine making it fails that test. Prints one line per
mistake and "N passed, N failed"; exits 1 on any failure.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_reference as ref  # noqa: E402  (after the path is set)
import rwkv7_ref  # noqa: E402

TOLERANCE = 1e-4
REQUIRED = 2 * TOLERANCE


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) *
                                     (x + 0.044715 * x**3)))


def rotate_pairs(x):  # GPT-J / Meta-checkpoint RoPE: (x0, x1), (x2, x3), ...
    return torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)


def attend_modulo(q, k, v, cache, start, window=None):  # head h -> h % n_kv
    rep = q.shape[0] // k.shape[0]
    return ATTEND(q, k.repeat(rep, 1, 1), v.repeat(rep, 1, 1), cache, start,
                  window)


ATTEND = ref.attend


def qkv_as_blocks(c):
    """What a loader reading [q; k; v] blocks in effect uses: file row
    j*H + h*hd + d as head h's part j (q, k, v), dimension d."""
    heads, h = c["num_attention_heads"], c["hidden_size"]
    hd = h // heads
    order = [j * h + head * hd + d for head in range(heads) for j in range(3)
             for d in range(hd)]
    return lambda w: w[order]


def swap_halves(w):
    half = w.shape[0] // 2
    return torch.cat((w[half:], w[:half]))


def l0(c, suffix):  # a tensor name in layer 0
    prefix = {"gpt_neox": "gpt_neox.layers.0.", "llama": "model.layers.0.",
              "mamba": "backbone.layers.0.mixer."}[c["model_type"]]
    return prefix + suffix


def change(name, fn):
    """A transform replacing tensor name by fn(it)."""
    return {name: lambda tensors: fn(tensors[name])}


def mistakes(c):
    """[(description, config changes, {function name: replacement},
         {tensor name: new value from the published tensors})]."""
    if c["model_type"] == "rwkv7":
        return rwkv7_ref.mistakes(c, change)
    t = c["model_type"]
    if t == "gpt_neox":
        qkv = l0(c, "attention.query_key_value.")
        return [
            ("GELU tanh approximation", {}, {"gelu_exact": gelu_tanh}, {}),
            ("LayerNorm eps 1e-5 -> 1e-6", {"layer_norm_eps": 1e-6}, {}, {}),
            ("RoPE on interleaved pairs", {}, {"rotate_half": rotate_pairs},
             {}),
            ("rotary on every dimension", {"rotary_pct": 1.0}, {}, {}),
            ("rotary base 10000 -> 500000", {"rotary_emb_base": 500000}, {},
             {}),
            ("the other residual form", {"use_parallel_residual":
                                         not c["use_parallel_residual"]}, {},
             {}),
            ("QKV read as [q; k; v] blocks", {}, {},
             {**change(qkv + "weight", qkv_as_blocks(c)),
              **change(qkv + "bias", qkv_as_blocks(c))}),
            ("final LayerNorm bias dropped", {}, {},
             change("gpt_neox.final_layer_norm.bias", lambda w: w * 0)),
        ]
    if t == "llama":
        gate, up = l0(c, "mlp.gate_proj.weight"), l0(c, "mlp.up_proj.weight")
        out = [
            ("RMSNorm eps x10", {"rms_norm_eps": 10 * c["rms_norm_eps"]}, {},
             {}),
            ("RoPE on interleaved pairs", {}, {"rotate_half": rotate_pairs},
             {}),
            ("rope_theta 10000 <-> 500000", {"rope_theta": 510000.0 -
                                             c["rope_theta"]}, {}, {}),
            ("gate and up swapped", {}, {},
             {gate: lambda tensors: tensors[up],
              up: lambda tensors: tensors[gate]}),
        ]
        if c["num_key_value_heads"] != c["num_attention_heads"]:
            out.append(("query head h reads KV head h % n_kv", {},
                        {"attend": attend_modulo}, {}))
        return out
    rank = math.ceil(c["hidden_size"] / 16) if c["time_step_rank"] == "auto" \
        else c["time_step_rank"]
    n = c["state_size"]
    out = [
        ("RMSNorm eps x10", {"layer_norm_epsilon":
                             10 * c["layer_norm_epsilon"]}, {}, {}),
        ("conv kernel reversed in time", {}, {},
         change(l0(c, "conv1d.weight"), lambda w: w.flip(-1))),
        ("B and C swapped", {}, {},
         change(l0(c, "x_proj.weight"), lambda w: torch.cat(
             (w[:rank], w[rank + n:], w[rank:rank + n])))),
        ("x and z swapped", {}, {},
         change(l0(c, "in_proj.weight"), swap_halves)),
        ("D dropped", {}, {}, change(l0(c, "D"), lambda w: w * 0)),
        ("conv bias dropped", {}, {},
         change(l0(c, "conv1d.bias"), lambda w: w * 0)),
        ("dt_proj bias dropped", {}, {},
         change(l0(c, "dt_proj.bias"), lambda w: w * 0)),
        ("A_log rows of another channel", {}, {},
         change(l0(c, "A_log"), lambda w: w.flip(0))),
    ]
    if c["use_bias"]:
        out.append(("in_proj bias dropped (use_bias ignored)", {}, {},
                    change(l0(c, "in_proj.bias"), lambda w: w * 0)))
    return out


def logits(config, tensors, tokens, patches, transforms):
    saved = {name: getattr(ref, name) for name in patches}
    try:
        for name, fn in patches.items():
            setattr(ref, name, fn)
        changed = dict(tensors)
        for name, fn in transforms.items():
            changed[name] = fn(tensors)
        return ref.build_model(config, changed).forward(tokens)
    finally:
        for name, fn in saved.items():
            setattr(ref, name, fn)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = os.path.join(args.workdir, "checkpoints")
    subprocess.run([sys.executable, os.path.join(HERE, "make_checkpoints.py"),
                    "--out", out], check=True)
    passed = failed = 0
    for case in ("neox", "neox_seq", "llama_gqa", "llama_tied", "mamba",
                 "mamba_bias", "rwkv7", "rwkv7_tied"):
        config, tensors = ref.load_checkpoint(os.path.join(out, case))
        with open(os.path.join(out, case, "prompt.json")) as f:
            tokens = torch.tensor(json.load(f)["tokens"])
        right = logits(config, tensors, tokens, {}, {})
        for what, changes, patches, transforms in mistakes(config):
            wrong = logits(dict(config, **changes), tensors, tokens, patches,
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
