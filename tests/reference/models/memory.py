"""Window attention plus an external key-value store (memory), exact index.

Written from docs/engines.md and the engine's header comment:
  - every block attends over its last W tokens' keys/values;
  - block 0 also reads an external store holding its (k, v) of every token
    older than the window (positions <= p - W at step p): the top_k entries
    by the full query·key product (ties: the older entry), attended together
    with the window under one softmax per head;
  - blocks 1.. (depth filler) see only their windows.
With kv_dtype (docs/kv_compression.md) each window keeps its rows as
sliding_window does (ring slot p mod W, _kv_quant.KvRows), and a row leaving
block 0's window is read back decoded from its slot, just before the slot is
overwritten, and stored again on its own (_kv_quant.store_row: per-row
int8 scales). Retrieval scores and attends over the stored, decoded rows.
Only the index-free exact mode is modelled (hnsw is approximate).
"""
import math

import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     softmax_attend, with_defaults)
from _kv_quant import KvRows, store_row

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
    {"index": "exact", "init": "random", "d_model": "32", "vocab": "64",
     "window": "6", "top_k": "2", "heads": "2", "kv_dtype": "f16",
     "_tolerance": 2e-3, "_quantized": True},
    {"index": "exact", "init": "random", "d_model": "32", "vocab": "64",
     "window": "6", "top_k": "2", "heads": "2", "block_tokens": "4",
     "kv_dtype": "int8", "_tolerance": 2e-3, "_quantized": True},
    {"index": "exact", "init": "random", "d_model": "40", "vocab": "64",
     "window": "5", "top_k": "3", "depth": "2", "block_tokens": "3",
     "kv_dtype": "int4", "_tolerance": 2e-3, "_quantized": True,
     "_tokens": 60},
    {"index": "exact", "init": "circuit", "d_model": "32", "vocab": "96",
     "window": "9", "top_k": "4", "kv_dtype": "int4", "_tolerance": 2e-3,
     "_quantized": True, "_tokens": 80},
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
    modelled); softmax_preset.h: heads 1; knobs.h: kv_dtype f32."""
    knobs = with_defaults(requested, {"window": "64", "top_k": "4",
                                      "index": "hnsw", "heads": "1",
                                      "kv_dtype": "f32"})
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
    dtype, hd = knobs["kv_dtype"], d // heads
    rows = lambda: KvRows(dtype, d, hd, int(knobs["block_tokens"]))
    kv = [(rows(), rows()) for _ in blocks]  # each block's window, by slot
    store_k, store_v = [], []  # block 0's rows older than the window, decoded
    out = []
    for p, t in enumerate(tokens):
        h = weights["embed"][t].copy()
        for l, (block, (ks, vs)) in enumerate(zip(blocks, kv)):
            q, k, v = block.project(h)
            slot = p % window
            if l == 0 and p >= window:  # position p - W leaves the window
                store_k.append(store_row(dtype, ks.read(slot), hd))
                store_v.append(store_row(dtype, vs.read(slot), hd))
            ks.write(slot, k)
            vs.write(slot, v)
            held = range(min(p + 1, window))
            keys, values = ks.read_all(held), vs.read_all(held)
            if l == 0 and store_k:
                ids = top_k(q, np.array(store_k), k_top)
                keys = np.concatenate([keys, [store_k[i] for i in ids]])
                values = np.concatenate([values, [store_v[i] for i in ids]])
            o = softmax_attend(q, keys, values, heads)
            h = h + block.output(o)
        out.append(readout(weights, h))
    return np.array(out)
