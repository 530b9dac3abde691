"""The gated delta rule, per head, in its textbook matrix form:

    k^ = k / |k|,  q^ = q / |q|
    M  = alpha * M (I - beta k^ k^T) + beta v k^T      M: [dv, dk]
    o  = M q^

(the engine stores M transposed and updates it with the equivalent
u = v - alpha M k^, M <- alpha M + beta u k^T).
"""
import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     with_defaults)

L2_EPS = 1e-6

CASES = [
    {"init": "random", "d_model": "32", "vocab": "64", "heads": "2"},
    {"init": "random", "d_model": "16", "vocab": "40", "alpha": "0.9",
     "beta": "0.5", "depth": "3"},
    {"init": "random", "d_model": "24", "vocab": "48", "qk_dim": "12",
     "heads": "3", "beta": "1.5"},
    {"init": "circuit", "d_model": "32", "vocab": "96"},
    {"init": "circuit", "d_model": "32", "vocab": "96", "alpha": "0.95",
     "beta": "0.7", "qk_dim": "16", "depth": "2"},
]


def l2_normalise(x):
    return x / max(np.linalg.norm(x), L2_EPS)


def delta_defaults(requested):
    """matrix_mixers.h (ReadDeltaRuleKnobs): heads 1, qk_dim d_model,
    alpha 1; the write strength (knob `beta`, `delta_beta` in hybrids) 1."""
    return {"heads": "1", "qk_dim": requested.get("d_model", "128"),
            "alpha": "1"}


class DeltaRuleMixer:
    """Per head: the requested alpha and beta (never the dumped tensors)."""

    def __init__(self, heads, alpha, beta, qk_dim, v_dim):
        self.alpha, self.beta = alpha, beta
        self.memories = [np.zeros((v_dim // heads, qk_dim // heads))
                         for _ in range(heads)]

    def step(self, q, k, v):
        n = len(self.memories)
        out = []
        for h, (qh, kh, vh) in enumerate(zip(np.split(q, n), np.split(k, n),
                                             np.split(v, n))):
            kh, qh = l2_normalise(kh), l2_normalise(qh)
            m = self.memories[h]
            eye = np.eye(len(kh))
            m = self.alpha * m @ (eye - self.beta * np.outer(kh, kh)) \
                + self.beta * np.outer(vh, kh)
            self.memories[h] = m
            out.append(m @ qh)
        return np.concatenate(out)


def model_knobs(requested):
    defaults = delta_defaults(requested)
    defaults["beta"] = "1"
    return with_defaults(requested, defaults)


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d, qk = int(knobs["d_model"]), int(knobs["qk_dim"])
    for l in range(layers(knobs)):
        expect_qkv_shapes(weights, l, qk, d, d)
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    mixers = [DeltaRuleMixer(int(knobs["heads"]), float(knobs["alpha"]),
                             float(knobs["beta"]), qk, d) for _ in blocks]
    out = []
    for t in tokens:
        h = weights["embed"][t].copy()
        for block, mixer in zip(blocks, mixers):
            h = h + block.output(mixer.step(*block.project(h)))
        out.append(readout(weights, h))
    return np.array(out)
