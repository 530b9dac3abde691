"""Window attention plus an external key-value store (memory), exact index.

Written from docs/engines.md and the engine's header comment:
  - every block attends over its last W tokens' keys/values;
  - block 0 also reads an external store holding its (k, v) of every token
    older than the window (positions <= p - W at step p): the top_k entries
    by the full query·key product (ties: the older entry), attended together
    with the window under one softmax per head;
  - blocks 1.. (depth filler) see only their windows.
Only the index-free exact mode is modelled (hnsw is approximate).
"""
import math

import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     softmax_attend, with_defaults)

CASES = [
    {"index": "exact", "init": "random", "d_model": "32", "vocab": "64",
     "window": "6", "top_k": "2", "heads": "2"},
    {"index": "exact", "init": "random", "d_model": "16", "vocab": "48",
     "window": "5", "top_k": "3", "depth": "2", "block_tokens": "3",
     "_tokens": 60},
    {"index": "exact", "init": "circuit", "d_model": "32", "vocab": "96",
     "window": "9", "top_k": "4", "_tokens": 80},
    {"index": "exact", "init": "random", "d_model": "24", "vocab": "40",
     "window": "12", "top_k": "1", "seed": "9", "_tokens": 70},
]

# The C++ scan scores in float32; a top-k boundary closer than this is not
# reproducible, so the model refuses it rather than report a mismatch.
AMBIGUOUS_GAP = 1e-5


def top_k(q, keys, k):
    """Ids of the k largest keys·q, best first, ties to the smaller id."""
    # Correctly rounded sums: equal keys (a repeated token) score exactly
    # alike, as they do in the C++ scan, whatever BLAS does per row.
    scores = [math.fsum(row * q) for row in keys]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    if len(order) > k:
        a, b = scores[order[k - 1]], scores[order[k]]
        if a != b and a - b < AMBIGUOUS_GAP * max(1.0, abs(a)):
            raise ValueError(f"top-{k} boundary is ambiguous: {a} vs {b}")
    return order[:k]


def model_knobs(requested):
    """memory_engine.cc: window 64, top_k 4, index hnsw (only exact is
    modelled); softmax_preset.h: heads 1."""
    knobs = with_defaults(requested, {"window": "64", "top_k": "4",
                                      "index": "hnsw", "heads": "1"})
    if knobs["index"] != "exact":
        raise ValueError("only index=exact is modelled")
    return knobs


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d = int(knobs["d_model"])
    for l in range(layers(knobs)):
        expect_qkv_shapes(weights, l, d, d, d)
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    heads, window = int(knobs["heads"]), int(knobs["window"])
    k_top = int(knobs["top_k"])
    ks = [[] for _ in blocks]  # every token's key per block, in order
    vs = [[] for _ in blocks]
    out = []
    for p, t in enumerate(tokens):
        h = weights["embed"][t].copy()
        for l, block in enumerate(blocks):
            q, k, v = block.project(h)
            ks[l].append(k)
            vs[l].append(v)
            lo = max(0, p + 1 - window)
            keys, values = ks[l][lo:], vs[l][lo:]
            if l == 0 and lo > 0:
                store_keys = np.array(ks[0][:lo])  # positions <= p - W
                ids = top_k(q, store_keys, k_top)
                keys = keys + [ks[0][i] for i in ids]
                values = values + [vs[0][i] for i in ids]
            o = softmax_attend(q, np.array(keys), np.array(values), heads)
            h = h + block.output(o)
        out.append(readout(weights, h))
    return np.array(out)
