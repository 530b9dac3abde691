"""Softmax attention over the last W tokens."""
import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     softmax_attend, with_defaults)

CASES = [
    {"init": "random", "d_model": "32", "vocab": "64", "window": "5",
     "heads": "2"},
    {"init": "random", "d_model": "16", "vocab": "40", "window": "7",
     "depth": "2", "block_tokens": "3"},
    {"init": "circuit", "d_model": "32", "vocab": "64", "window": "9"},
]


def model_knobs(requested):
    """sliding_window_engine.cc and softmax_preset.h: window 256, heads 1."""
    return with_defaults(requested, {"window": "256", "heads": "1"})


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d = int(knobs["d_model"])
    for l in range(layers(knobs)):
        expect_qkv_shapes(weights, l, d, d, d)
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    kv = [([], []) for _ in blocks]
    heads, window = int(knobs["heads"]), int(knobs["window"])
    out = []
    for t in tokens:
        h = weights["embed"][t].copy()
        for block, (ks, vs) in zip(blocks, kv):
            q, k, v = block.project(h)
            ks.append(k)
            vs.append(v)
            h = h + block.output(softmax_attend(
                q, np.array(ks[-window:]), np.array(vs[-window:]), heads))
        out.append(readout(weights, h))
    return np.array(out)
