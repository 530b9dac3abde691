"""Mamba selective SSM block (Gu & Dao 2023 reference recurrence), per token:
in_proj -> causal depthwise conv -> SiLU -> x_proj (dt, B, C) ->
dt = softplus(dt_proj dt + bias) -> h = exp(dt A) h + dt B u ->
y = C.h + D u -> y * SiLU(z) -> out_proj, residual."""
import numpy as np
from _common import layers, readout, rmsnorm

CASES = [
    {"init": "random", "d_model": "16", "vocab": "48", "state_dim": "4"},
    {"init": "random", "d_model": "16", "vocab": "40", "depth": "2",
     "conv_kernel": "3", "expand": "1", "dt_rank": "3"},
    {"init": "circuit", "d_model": "32", "vocab": "64"},
]


def silu(x):
    return x / (1.0 + np.exp(-x))


def softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def forward(weights, knobs, tokens):
    L = layers(knobs)
    blocks = []
    for l in range(L):
        p = f"layers.{l}."
        w = {k[len(p):]: v for k, v in weights.items() if k.startswith(p)}
        di, K = w["conv_w"].shape
        n = w["A_log"].shape[1]
        blocks.append({"w": w, "hist": np.zeros((K, di)),
                       "h": np.zeros((di, n))})
    out = []
    for t in tokens:
        x = weights["embed"][t].copy()
        for blk in blocks:
            w = blk["w"]
            di, K = w["conv_w"].shape
            r = w["dt_proj"].shape[1]
            n = w["A_log"].shape[1]
            xz = w["in_proj"] @ rmsnorm(x, w["norm"])
            xs, z = xz[:di], xz[di:]
            # History of the last K conv inputs, oldest first.
            blk["hist"] = np.vstack([blk["hist"][1:], xs])
            conv = np.einsum("kc,ck->c", blk["hist"], w["conv_w"]) + w["conv_b"]
            u = silu(conv)
            dbc = w["x_proj"] @ u
            dt = softplus(w["dt_proj"] @ dbc[:r] + w["dt_bias"])
            B, C = dbc[r:r + n], dbc[r + n:]
            A = -np.exp(w["A_log"])
            blk["h"] = np.exp(dt[:, None] * A) * blk["h"] + \
                (dt * u)[:, None] * B[None, :]
            y = blk["h"] @ C + w["D"] * u
            x = x + w["out_proj"] @ (y * silu(z))
        out.append(readout(weights, x))
    return np.array(out)
