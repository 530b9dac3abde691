"""Numpy pieces every reference model shares: the knobs a model runs with,
the frame (embedding, final RMSNorm, tied readout) and the token-shifted QKV
block projections. Written from docs/recall-circuit.md and
engines/common/*.h's documented math."""
import numpy as np

EPS = 1e-6

# The common knobs' defaults, as documented in engines/common/lm_frame.h.
COMMON_DEFAULTS = {"d_model": "128", "vocab": "8192", "depth": "1",
                   "init": "circuit", "seed": "1234", "block_tokens": "16"}


def with_defaults(requested, defaults):
    """The knobs a model runs with: the REQUESTED knobs (a CASES entry, never
    what the engine reports) over the documented defaults. check_reference.py
    also requires the engine to report these values as its effective knobs."""
    knobs = dict(COMMON_DEFAULTS)
    knobs.update(defaults)
    knobs.update({k: str(v) for k, v in requested.items()
                  if not k.startswith("_")})
    return knobs


def expect_shape(weights, name, shape):
    """Fails unless the dumped tensor has the shape the knobs imply."""
    got = tuple(weights[name].shape)
    if got != tuple(shape):
        raise ValueError(f"{name}: shape {got}, the knobs imply {tuple(shape)}")


def rmsnorm(x, g):
    return x / np.sqrt(np.mean(x * x) + EPS) * g


def readout(weights, h):
    return weights["embed"] @ rmsnorm(h, weights["norm_f"])


def layers(knobs):
    return int(knobs["depth"])


def expect_qkv_shapes(weights, layer, qk_dim, v_dim, d):
    """The q/k/v/o projections of block `layer` have the widths the knobs set
    (so heads, qk_dim and d_model are checked, not read back)."""
    p = f"layers.{layer}."
    expect_shape(weights, p + "wq", (qk_dim, d))
    expect_shape(weights, p + "wk", (qk_dim, d))
    expect_shape(weights, p + "wv", (v_dim, d))
    expect_shape(weights, p + "wo", (d, v_dim))


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
