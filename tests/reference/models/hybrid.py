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
from _common import TokenShiftQkv, readout, softmax_attend
from delta_net import DeltaRuleMixer
from linear_attention import LinearAttentionMixer

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
    def __init__(self, weights, layer, knobs, d):
        self.d = d
        self.window = WindowAttention(int(knobs["heads"]), int(knobs["window"]))
        self.linear = LinearAttentionMixer(weights, layer, knobs)

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


def forward(weights, knobs, tokens):
    d = int(knobs["d_model"])
    if knobs["shape"] == "based":
        n = int(knobs["depth"])
        mixers = [BasedMixer(weights, l, knobs, d) for l in range(n)]
    else:
        kinds = jamba_layers(knobs)
        n = len(kinds)
        mixers = []
        for l, is_attention in enumerate(kinds):
            if is_attention:
                mixers.append(WindowAttention(int(knobs["heads"]), len(tokens)))
            elif knobs["recurrent"] == "linear":
                mixers.append(LinearAttentionMixer(weights, l, knobs))
            else:
                mixers.append(DeltaRuleMixer(
                    weights, l, weights[f"layers.{l}.wq"].shape[0], d))
    blocks = [TokenShiftQkv(weights, l) for l in range(n)]
    out = []
    for t in tokens:
        h = weights["embed"][t].copy()
        for block, mixer in zip(blocks, mixers):
            h = h + block.output(mixer.step(*block.project(h)))
        out.append(readout(weights, h))
    return np.array(out)
