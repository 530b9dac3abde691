"""Hybrids of softmax attention and matrix memories.

based: one block = softmax attention over the last W (q[:d], k[:d], v[:d])
       beside linear attention on (q[d:], k[d:], v[d:]); the block's output
       projection reads the concatenation [o_window | o_linear].
jamba: L layers; A = round(rho * L) (at least 1 when rho > 0) are full
       softmax attention, at the layers l where floor((l+1) A / L) >
       floor(l A / L); the rest are the gated delta rule or linear attention.
"""
import math

import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, readout,
                     softmax_attend, with_defaults)
from delta_net import DeltaRuleMixer, delta_defaults
from linear_attention import LinearAttentionMixer, linear_defaults

CASES = [
    {"shape": "based", "init": "random", "d_model": "32", "vocab": "64",
     "window": "5", "heads": "2", "qk_dim": "6"},
    {"shape": "based", "init": "random", "d_model": "16", "vocab": "40",
     "window": "7", "depth": "2", "block_tokens": "3", "feature": "elu1",
     "gamma": "0.9"},
    {"shape": "based", "init": "circuit", "d_model": "32", "vocab": "96",
     "window": "9", "qk_dim": "8"},
    {"shape": "based", "init": "circuit", "d_model": "32", "vocab": "96",
     "window": "6", "qk_dim": "8", "depth": "2", "normalize": "1"},
    {"shape": "jamba", "init": "random", "d_model": "32", "vocab": "64",
     "attention_fraction": "0.5", "heads": "2", "block_tokens": "4"},
    {"shape": "jamba", "init": "random", "d_model": "16", "vocab": "40",
     "layers": "3", "attention_fraction": "0.34", "recurrent": "linear",
     "feature": "taylor2", "qk_dim": "6"},
    {"shape": "jamba", "init": "random", "d_model": "16", "vocab": "40",
     "layers": "2", "attention_fraction": "0", "alpha": "0.9",
     "delta_beta": "0.6"},
    {"shape": "jamba", "init": "circuit", "d_model": "32", "vocab": "96"},
    {"shape": "jamba", "init": "circuit", "d_model": "32", "vocab": "96",
     "attention_fraction": "0", "recurrent": "linear", "layers": "2"},
]


class WindowAttention:
    """Softmax attention over the last `window` (k, v) pairs."""

    def __init__(self, heads, window):
        self.heads, self.window = heads, window
        self.keys, self.values = [], []

    def step(self, q, k, v):
        self.keys.append(k)
        self.values.append(v)
        keys = np.array(self.keys[-self.window:])
        values = np.array(self.values[-self.window:])
        return softmax_attend(q, keys, values, self.heads)


class BasedMixer:
    def __init__(self, knobs, d):
        self.d = d
        self.window = WindowAttention(int(knobs["heads"]), int(knobs["window"]))
        self.linear = LinearAttentionMixer(knobs)

    def step(self, q, k, v):
        d = self.d
        return np.concatenate([self.window.step(q[:d], k[:d], v[:d]),
                               self.linear.step(q[d:], k[d:], v[d:])])


def jamba_layers(knobs):
    """True for each attention layer."""
    n = int(knobs["layers"])
    rho = float(knobs["attention_fraction"])
    a = int(math.floor(rho * n + 0.5))
    if rho > 0:
        a = max(a, 1)
    return [(l + 1) * a // n > l * a // n for l in range(n)]


def model_knobs(requested):
    """hybrid_engine.cc: shape based (window 64, heads 1, linear attention
    with feature taylor2) or jamba (layers 4, attention_fraction 0.25,
    recurrent delta with its write strength `delta_beta` 1, or linear with
    feature identity); the recurrent knobs' defaults are matrix_mixers.h's."""
    shape = requested.get("shape", "based")
    defaults = {"shape": shape, "heads": "1"}
    if shape == "based":
        defaults["window"] = "64"
        defaults.update(linear_defaults(requested, "taylor2"))
    else:
        defaults.update({"layers": "4", "attention_fraction": "0.25",
                         "recurrent": "delta"})
        if requested.get("recurrent", "delta") == "linear":
            defaults.update(linear_defaults(requested, "identity"))
        else:
            defaults.update(delta_defaults(requested))
            defaults["delta_beta"] = "1"
    return with_defaults(requested, defaults)


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d = int(knobs["d_model"])
    heads = int(knobs["heads"])
    if knobs["shape"] == "based":
        n = int(knobs["depth"])
        qk = d + int(knobs["qk_dim"])  # [softmax | linear] rows
        for l in range(n):
            expect_qkv_shapes(weights, l, qk, 2 * d, d)
        mixers = [BasedMixer(knobs, d) for _ in range(n)]
    else:
        kinds = jamba_layers(knobs)
        n = len(kinds)
        mixers = []
        for l, is_attention in enumerate(kinds):
            if is_attention:
                expect_qkv_shapes(weights, l, d, d, d)
                mixers.append(WindowAttention(heads, len(tokens)))
                continue
            expect_qkv_shapes(weights, l, int(knobs["qk_dim"]), d, d)
            if knobs["recurrent"] == "linear":
                mixers.append(LinearAttentionMixer(knobs))
            else:
                mixers.append(DeltaRuleMixer(
                    heads, float(knobs["alpha"]), float(knobs["delta_beta"]),
                    int(knobs["qk_dim"]), d))
    blocks = [TokenShiftQkv(weights, l) for l in range(n)]
    out = []
    for t in tokens:
        h = weights["embed"][t].copy()
        for block, mixer in zip(blocks, mixers):
            h = h + block.output(mixer.step(*block.project(h)))
        out.append(readout(weights, h))
    return np.array(out)
