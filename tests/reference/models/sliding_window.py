"""Softmax attention over the last W tokens, kept in a ring: position p at
slot p mod W, stored in kv_dtype (_kv_quant.py; int8 scales are per block of
slots, so the slot matters)."""
import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     softmax_attend, with_defaults)
from _kv_quant import KvRows

CASES = [
    {"init": "random", "d_model": "32", "vocab": "64", "window": "5",
     "heads": "2"},
    {"init": "random", "d_model": "16", "vocab": "40", "window": "7",
     "depth": "2", "block_tokens": "3"},
    {"init": "circuit", "d_model": "32", "vocab": "64", "window": "9"},
    {"init": "random", "d_model": "32", "vocab": "64", "window": "9",
     "heads": "2", "block_tokens": "4", "kv_dtype": "int8",
     "_tolerance": 2e-3, "_quantized": True},
    {"init": "random", "d_model": "40", "vocab": "64", "window": "6",
     "kv_dtype": "int4", "_tolerance": 2e-3, "_quantized": True},
]


def model_knobs(requested):
    """sliding_window_engine.cc and softmax_preset.h: window 256, heads 1;
    knobs.h: kv_dtype f32."""
    return with_defaults(requested, {"window": "256", "heads": "1",
                                     "kv_dtype": "f32"})


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d = int(knobs["d_model"])
    for l in range(layers(knobs)):
        expect_qkv_shapes(weights, l, d, d, d)
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    heads, window = int(knobs["heads"]), int(knobs["window"])
    store = lambda: KvRows(knobs["kv_dtype"], d, d // heads,
                           int(knobs["block_tokens"]))
    kv = [(store(), store()) for _ in blocks]
    out = []
    for p, t in enumerate(tokens):
        h = weights["embed"][t].copy()
        for block, (ks, vs) in zip(blocks, kv):
            q, k, v = block.project(h)
            ks.write(p % window, k)
            vs.write(p % window, v)
            held = range(min(p + 1, window))
            h = h + block.output(softmax_attend(
                q, ks.read_all(held), vs.read_all(held), heads))
        out.append(readout(weights, h))
    return np.array(out)
