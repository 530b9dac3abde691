"""Linear attention in its kernel (attention-like) form, per head:

    o_t = sum_{s<=t} gamma^(t-s) K(q_t, k_s) v_s
          (normalised: divided by sum_{s<=t} gamma^(t-s) K(q_t, k_s) + eps)

with K(q, k) = q.k (identity), phi(q).phi(k) with phi = elu + 1 (elu1), or
q.k + (q.k)^2 / 2, plus 1 when normalised (taylor2). The engine keeps the
equivalent recurrent matrix S = sum gamma^(t-s) phi(k_s) v_s^T; this model
never builds features for taylor2, so it also checks the feature layout.
"""
import numpy as np
from _common import (TokenShiftQkv, expect_qkv_shapes, layers, readout,
                     with_defaults)

NORMALISER_EPS = 1e-6

CASES = [
    {"init": "random", "d_model": "32", "vocab": "64", "heads": "2"},
    {"init": "random", "d_model": "16", "vocab": "40", "feature": "elu1",
     "depth": "2", "gamma": "0.9"},
    {"init": "random", "d_model": "16", "vocab": "40", "feature": "elu1",
     "normalize": "0", "heads": "2", "qk_dim": "8"},
    {"init": "random", "d_model": "24", "vocab": "48", "feature": "taylor2",
     "qk_dim": "8", "heads": "2", "depth": "2"},
    {"init": "random", "d_model": "16", "vocab": "40", "feature": "taylor2",
     "qk_dim": "6", "normalize": "1", "gamma": "0.95"},
    {"init": "circuit", "d_model": "32", "vocab": "96"},
    {"init": "circuit", "d_model": "32", "vocab": "96", "feature": "taylor2",
     "qk_dim": "8", "depth": "2", "gamma": "0.98"},
    {"init": "circuit", "d_model": "32", "vocab": "96", "feature": "elu1"},
]


def elu1(x):
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def kernel(feature, normalize, q, k):
    """K(q, k) for one head."""
    if feature == "identity":
        return q @ k
    if feature == "elu1":
        return elu1(q) @ elu1(k)
    s = q @ k
    return (1.0 if normalize else 0.0) + s + s * s / 2.0


class LinearAttentionHead:
    """The history of one head and its kernel-form read."""

    def __init__(self, feature, normalize, gamma):
        self.feature, self.normalize, self.gamma = feature, normalize, gamma
        self.keys, self.values = [], []

    def step(self, q, k, v):
        self.keys.append(k)
        self.values.append(v)
        n = len(self.keys)
        weights = np.array([self.gamma ** (n - 1 - s) *
                            kernel(self.feature, self.normalize, q, ks)
                            for s, ks in enumerate(self.keys)])
        o = weights @ np.array(self.values)
        if self.normalize:
            o = o / (weights.sum() + NORMALISER_EPS)
        return o


def linear_defaults(requested, default_feature):
    """matrix_mixers.h (ReadLinearAttentionKnobs): normalize 1 for elu1 else
    0, heads 1, qk_dim 32 for taylor2 else d_model, gamma 1."""
    feature = requested.get("feature", default_feature)
    d = requested.get("d_model", "128")
    return {"feature": feature,
            "normalize": "1" if feature == "elu1" else "0",
            "heads": "1",
            "qk_dim": "32" if feature == "taylor2" else d,
            "gamma": "1"}


class LinearAttentionMixer:
    """Splits q/k/v into heads, each decaying by the requested gamma."""

    def __init__(self, knobs):
        feature = knobs["feature"]
        normalize = knobs["normalize"] == "1"
        gamma = float(knobs["gamma"])
        self.heads = [LinearAttentionHead(feature, normalize, gamma)
                      for _ in range(int(knobs["heads"]))]

    def step(self, q, k, v):
        n = len(self.heads)
        qs, ks, vs = np.split(q, n), np.split(k, n), np.split(v, n)
        return np.concatenate([h.step(*x) for h, x in
                               zip(self.heads, zip(qs, ks, vs))])


def model_knobs(requested):
    return with_defaults(requested, linear_defaults(requested, "identity"))


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    d, qk = int(knobs["d_model"]), int(knobs["qk_dim"])
    for l in range(layers(knobs)):
        expect_qkv_shapes(weights, l, qk, d, d)
    blocks = [TokenShiftQkv(weights, l) for l in range(layers(knobs))]
    mixers = [LinearAttentionMixer(knobs) for _ in range(layers(knobs))]
    out = []
    for t in tokens:
        h = weights["embed"][t].copy()
        for block, mixer in zip(blocks, mixers):
            h = h + block.output(mixer.step(*block.project(h)))
        out.append(readout(weights, h))
    return np.array(out)
