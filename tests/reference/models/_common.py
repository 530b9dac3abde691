"""Numpy pieces every reference model shares: the frame (embedding, final
RMSNorm, tied readout) and the token-shifted QKV block projections.
Written from DESIGN.md and engines/common/*.h's documented math."""
import numpy as np

EPS = 1e-6


def rmsnorm(x, g):
    return x / np.sqrt(np.mean(x * x) + EPS) * g


def readout(weights, h):
    return weights["embed"] @ rmsnorm(h, weights["norm_f"])


def layers(knobs):
    return int(knobs["depth"])


class TokenShiftQkv:
    """Per-layer token-shift memory and the q/k/v/o projections."""

    def __init__(self, weights, layer):
        p = f"layers.{layer}."
        self.w = {k[len(p):]: v for k, v in weights.items() if k.startswith(p)}
        self.prev = np.zeros(self.w["norm"].shape[0])

    def project(self, h):
        w = self.w
        xn = rmsnorm(h, w["norm"])
        mix = lambda s: s[0] * xn + s[1] * self.prev
        q = w["wq"] @ mix(w["shift_q"])
        k = w["wk"] @ mix(w["shift_k"])
        v = w["wv"] @ mix(w["shift_v"])
        self.prev = xn
        return q, k, v

    def output(self, o):
        return self.w["wo"] @ o


def softmax_attend(q, keys, values, heads):
    """keys/values: [n, H*hd]; per-head softmax(q·k/sqrt(hd)) v."""
    hd = q.shape[0] // heads
    out = np.zeros_like(q)
    for h in range(heads):
        sl = slice(h * hd, (h + 1) * hd)
        s = keys[:, sl] @ q[sl] / np.sqrt(hd)
        p = np.exp(s - s.max())
        p /= p.sum()
        out[sl] = p @ values[:, sl]
    return out
