"""Full softmax attention: every past (k, v) is kept."""
import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     softmax_attend, with_defaults)

CASES = [
    {"init": "random", "d_model": "32", "vocab": "64", "heads": "2"},
    {"init": "random", "d_model": "16", "vocab": "40", "depth": "3",
     "block_tokens": "4", "heads": "4"},
    {"init": "circuit", "d_model": "32", "vocab": "64"},
]


def model_knobs(requested):
    """softmax_preset.h: heads 1."""
    return with_defaults(requested, {"heads": "1"})


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d = int(knobs["d_model"])
    for l in range(layers(knobs)):
        expect_qkv_shapes(weights, l, d, d, d)
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    kv = [([], []) for _ in blocks]
    heads = int(knobs["heads"])
    out = []
    for t in tokens:
        h = weights["embed"][t].copy()
        for block, (ks, vs) in zip(blocks, kv):
            q, k, v = block.project(h)
            ks.append(k)
            vs.append(v)
            h = h + block.output(softmax_attend(q, np.array(ks), np.array(vs),
                                                heads))
        out.append(readout(weights, h))
    return np.array(out)
