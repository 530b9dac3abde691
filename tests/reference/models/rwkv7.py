"""RWKV-7 (flash-linear-attention's RWKV7 layer), per token, from the
equations in engines/rwkv7/rwkv7_mixers.h and rwkv7_stack.h:
h = LN(E[t], pre_norm); per layer: token-shift mixes, r/k/v projections,
decay exp(-e^-1/2 sigmoid(w LoRA)), value_first lerp (layers > 0),
a = sigmoid(a LoRA), g = g LoRA, kk = k*k_k / |k*k_k| per head,
k *= 1 + (a - 1) k_a, S <- S (diag(decay) - kk (a kk)^T) + v k^T, o = S r,
GroupNorm per head + (r.k.r_k) v, times g, o_proj; then the squared-ReLU
channel mix with its own token shift; LayerNorm and the tied codebook
readout. With the circuit init the decay and learning-rate biases come from
the knobs (decay, beta), not the dump."""
import math

import numpy as np
from _common import expect_shape, layers, with_defaults

CASES = [
    {"init": "random", "d_model": "16", "vocab": "48", "head_dim": "8",
     "ff": "24", "lora_rank": "4"},
    {"init": "random", "d_model": "16", "vocab": "40", "depth": "3",
     "head_dim": "4", "lora_rank": "3", "seed": "9"},
    {"init": "circuit", "d_model": "32", "vocab": "64"},
    {"init": "circuit", "d_model": "32", "vocab": "64", "depth": "2",
     "head_dim": "16", "decay": "0.9", "beta": "0.5", "out_gain": "4"},
]
LN_EPS = 1e-5


def model_knobs(requested):
    """rwkv7_preset.cc: head_dim d_model (one head), ff 4 d_model,
    lora_rank 32, decay 1, beta 1, out_gain 8."""
    d = int(requested.get("d_model", "128"))
    return with_defaults(requested, {
        "head_dim": str(d), "ff": str(4 * d), "lora_rank": "32", "decay": "1",
        "beta": "1", "out_gain": "8"})


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit(p):
    if p <= 0:
        return -30.0
    if p >= 1:
        return 30.0
    return max(-30.0, min(30.0, math.log(p / (1 - p))))


def layer_norm(x, w, b):
    mu = x.mean()
    return (x - mu) / np.sqrt(((x - mu)**2).mean() + LN_EPS) * w + b


def forward(weights, requested, tokens):
    k_ = model_knobs(requested)
    d, vocab, depth = int(k_["d_model"]), int(k_["vocab"]), layers(k_)
    dk, ff, rank = int(k_["head_dim"]), int(k_["ff"]), int(k_["lora_rank"])
    heads = d // dk
    circuit = k_["init"] == "circuit"
    w = weights
    for name, shape in [("embed", (vocab, d)), ("model.norm.weight", (d,))]:
        expect_shape(w, name, shape)
    L = [{} for _ in range(depth)]
    for l in range(depth):
        p = f"model.layers.{l}."
        blk = {n[len(p):]: v for n, v in w.items() if n.startswith(p)}
        for n, shape in [("attn.r_proj.weight", (d, d)),
                         ("attn.w_lora.lora.0.weight", (rank, d)),
                         ("attn.g_lora.lora.2.weight", (d, rank)),
                         ("attn.r_k", (heads, dk)),
                         ("ffn.key.weight", (ff, d))]:
            expect_shape(w, p + n, shape)
        if circuit:  # the knob-set biases
            blk["attn.w_lora.lora.2.bias"] = np.full(
                d, logit(-math.log(float(k_["decay"])) / math.exp(-0.5)))
            blk["attn.a_lora.lora.2.bias"] = np.full(d,
                                                     logit(float(k_["beta"])))
        blk["S"] = np.zeros((heads, dk, dk))  # [H, dv, dk]
        blk["prev_a"] = np.zeros(d)
        blk["prev_f"] = np.zeros(d)
        L[l] = blk

    def ln(blk, name, x):
        return layer_norm(x, blk[name + ".weight"], blk[name + ".bias"])

    def lora(blk, name, x, act):
        y = blk[name + ".lora.2.weight"] @ act(blk[name + ".lora.0.weight"] @ x)
        bias = blk.get(name + ".lora.2.bias")
        return y if bias is None else y + bias

    out = []
    for t in tokens:
        h = ln(L[0], "pre_norm", w["embed"][t])
        v_first = None
        for l, blk in enumerate(L):
            x = ln(blk, "attn_norm", h)
            prev, blk["prev_a"] = blk["prev_a"], x
            mix = {c: x + (prev - x) * blk["attn.x_" + c].reshape(-1)
                   for c in "rwkvag"}
            r = blk["attn.r_proj.weight"] @ mix["r"]
            k = blk["attn.k_proj.weight"] @ mix["k"]
            v = blk["attn.v_proj.weight"] @ mix["v"]
            decay = np.exp(-math.exp(-0.5) *
                           sigmoid(lora(blk, "attn.w_lora", mix["w"], np.tanh)))
            if l == 0:
                v_first = v
            else:
                m = sigmoid(lora(blk, "attn.v_lora", mix["v"], lambda z: z))
                v = v + (v_first - v) * m
            a = sigmoid(lora(blk, "attn.a_lora", mix["a"], lambda z: z))
            g = lora(blk, "attn.g_lora", mix["g"], sigmoid)
            kk = (k * blk["attn.k_k"]).reshape(heads, dk)
            kk = kk / np.sqrt((kk * kk).sum(-1, keepdims=True) + 1e-6)
            k = k * (1 + (a - 1) * blk["attn.k_a"])
            o = np.zeros((heads, dk))
            for hh in range(heads):
                sl = slice(hh * dk, (hh + 1) * dk)
                trans = np.diag(decay[sl]) - np.outer(kk[hh], kk[hh] * a[sl])
                blk["S"][hh] = blk["S"][hh] @ trans + np.outer(v[sl], k[sl])
                o[hh] = blk["S"][hh] @ r[sl]
            mu = o.mean(-1, keepdims=True)
            var = ((o - mu)**2).mean(-1, keepdims=True)
            o = ((o - mu) / np.sqrt(var + dk * LN_EPS)).reshape(-1)
            o = o * blk["attn.g_norm.weight"] + blk["attn.g_norm.bias"]
            bonus = (r * k * blk["attn.r_k"].reshape(-1)).reshape(heads, dk)
            o = o + (bonus.sum(-1)[:, None] * v.reshape(heads, dk)).reshape(-1)
            h = h + blk["attn.o_proj.weight"] @ (o * g)
            x = ln(blk, "ffn_norm", h)
            prev, blk["prev_f"] = blk["prev_f"], x
            xk = x + (prev - x) * blk["ffn.x_k"]
            hidden = np.maximum(blk["ffn.key.weight"] @ xk, 0)**2
            h = h + blk["ffn.value.weight"] @ hidden
        out.append(w["embed"] @ layer_norm(h, w["model.norm.weight"],
                                           w["model.norm.bias"]))
    return np.array(out)
