"""The gated delta rule, per head, in its textbook matrix form:

    k^ = k / |k|,  q^ = q / |q|
    M  = alpha * M (I - beta k^ k^T) + beta v k^T      M: [dv, dk]
    o  = M q^

(the engine stores M transposed and updates it with the equivalent
u = v - alpha M k^, M <- alpha M + beta u k^T).
"""
import numpy as np
from _common import TokenShiftQkv, layers, readout

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


class DeltaRuleMixer:
    def __init__(self, weights, layer, qk_dim, v_dim):
        self.alpha = weights[f"layers.{layer}.alpha"]
        self.beta = weights[f"layers.{layer}.beta"]
        n = len(self.alpha)
        self.memories = [np.zeros((v_dim // n, qk_dim // n)) for _ in range(n)]

    def step(self, q, k, v):
        n = len(self.memories)
        out = []
        for h, (qh, kh, vh) in enumerate(zip(np.split(q, n), np.split(k, n),
                                             np.split(v, n))):
            kh, qh = l2_normalise(kh), l2_normalise(qh)
            m = self.memories[h]
            eye = np.eye(len(kh))
            m = self.alpha[h] * m @ (eye - self.beta[h] * np.outer(kh, kh)) \
                + self.beta[h] * np.outer(vh, kh)
            self.memories[h] = m
            out.append(m @ qh)
        return np.concatenate(out)


def forward(weights, knobs, tokens):
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    mixers = [DeltaRuleMixer(weights, l, b.w["wq"].shape[0],
                             b.w["wv"].shape[0]) for l, b in enumerate(blocks)]
    out = []
    for t in tokens:
        h = weights["embed"][t].copy()
        for block, mixer in zip(blocks, mixers):
            h = h + block.output(mixer.step(*block.project(h)))
        out.append(readout(weights, h))
    return np.array(out)
