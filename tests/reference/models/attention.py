"""Full softmax attention: every past (k, v) is kept, stored in kv_dtype
(_kv_quant.py) at slot = position."""
import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     softmax_attend, with_defaults)
from _kv_quant import KvRows

CASES = [
    {"init": "random", "d_model": "32", "vocab": "64", "heads": "2"},
    {"init": "random", "d_model": "16", "vocab": "40", "depth": "3",
     "block_tokens": "4", "heads": "4"},
    {"init": "circuit", "d_model": "32", "vocab": "64"},
    # Compressed KV: logits within _tolerance of this model's own quantized
    # computation; _quantized: the f32 model must be further off than that.
    {"init": "random", "d_model": "32", "vocab": "64", "heads": "2",
     "kv_dtype": "f16", "_tolerance": 1e-3},
    {"init": "random", "d_model": "32", "vocab": "64", "heads": "4",
     "kv_dtype": "int8", "block_tokens": "5", "_tolerance": 2e-3,
     "_quantized": True},
    {"init": "random", "d_model": "48", "vocab": "64", "depth": "2",
     "kv_dtype": "int4", "_tolerance": 2e-3, "_quantized": True},
    {"init": "circuit", "d_model": "64", "vocab": "96", "kv_dtype": "int8",
     "_tolerance": 2e-3, "_tokens": 70},
    {"init": "circuit", "d_model": "64", "vocab": "96", "kv_dtype": "int4",
     "_tolerance": 2e-3, "_tokens": 70, "_quantized": True},
]


def model_knobs(requested):
    """softmax_preset.h: heads 1; knobs.h: kv_dtype f32."""
    return with_defaults(requested, {"heads": "1", "kv_dtype": "f32"})


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d = int(knobs["d_model"])
    for l in range(layers(knobs)):
        expect_qkv_shapes(weights, l, d, d, d)
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    heads = int(knobs["heads"])
    store = lambda: KvRows(knobs["kv_dtype"], d, d // heads,
                           int(knobs["block_tokens"]))
    kv = [(store(), store()) for _ in blocks]
    out = []
    for p, t in enumerate(tokens):
        h = weights["embed"][t].copy()
        for block, (ks, vs) in zip(blocks, kv):
            q, k, v = block.project(h)
            ks.write(p, k)
            vs.write(p, v)
            held = range(p + 1)
            h = h + block.output(softmax_attend(q, ks.read_all(held),
                                                vs.read_all(held), heads))
        out.append(readout(weights, h))
    return np.array(out)
