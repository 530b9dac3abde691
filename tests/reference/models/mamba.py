"""Mamba selective SSM block (Gu & Dao 2023 reference recurrence), per token:
in_proj -> causal depthwise conv -> SiLU -> x_proj (dt, B, C) ->
dt = softplus(dt_proj dt + bias) -> h = exp(dt A) h + dt B u ->
y = C.h + D u -> y * SiLU(z) -> out_proj, residual."""
import numpy as np
from _common import expect_shape, layers, readout, rmsnorm, with_defaults

CASES = [
    {"init": "random", "d_model": "16", "vocab": "48", "state_dim": "4"},
    {"init": "random", "d_model": "16", "vocab": "40", "depth": "2",
     "conv_kernel": "3", "expand": "1", "dt_rank": "3"},
    {"init": "circuit", "d_model": "32", "vocab": "64"},
    {"init": "circuit", "d_model": "32", "vocab": "64", "state_dim": "8",
     "delta": "0.5", "forget": "0.05", "conv_kernel": "3", "depth": "2"},
]


def silu(x):
    return x / (1.0 + np.exp(-x))


def softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def model_knobs(requested):
    """mamba_preset.cc: expand 2, state_dim 16, conv_kernel 4,
    dt_rank ceil(d_model / 16); circuit delta 1, forget 1e-4."""
    d = int(requested.get("d_model", "128"))
    return with_defaults(requested, {
        "expand": "2", "state_dim": "16", "conv_kernel": "4",
        "dt_rank": str((d + 15) // 16), "delta": "1", "forget": "0.0001"})


def block_weights(weights, knobs, layer):
    """Block `layer`'s tensors, shapes checked against the knobs. With the
    circuit init, the discretisation comes from the knobs, not the dump:
    dt_proj = 0 and dt_bias = softplus^-1(delta) (a constant step delta),
    A = -forget, D = 0."""
    d = int(knobs["d_model"])
    di = d * int(knobs["expand"])
    n, K, r = (int(knobs["state_dim"]), int(knobs["conv_kernel"]),
               int(knobs["dt_rank"]))
    p = f"layers.{layer}."
    w = {k[len(p):]: v for k, v in weights.items() if k.startswith(p)}
    for name, shape in [("norm", (d,)), ("in_proj", (2 * di, d)),
                        ("conv_w", (di, K)), ("conv_b", (di,)),
                        ("x_proj", (r + 2 * n, di)), ("dt_proj", (di, r)),
                        ("dt_bias", (di,)), ("A_log", (di, n)), ("D", (di,)),
                        ("out_proj", (d, di))]:
        expect_shape(weights, p + name, shape)
    if knobs["init"] == "circuit":
        delta, forget = float(knobs["delta"]), float(knobs["forget"])
        w["dt_proj"] = np.zeros((di, r))
        w["dt_bias"] = np.full(di, np.log(np.expm1(delta)))
        w["A_log"] = np.full((di, n), np.log(forget))
        w["D"] = np.zeros(di)
    return w, di, K, r, n


def forward(weights, requested, tokens):
    knobs = model_knobs(requested)
    blocks = []
    for l in range(layers(knobs)):
        w, di, K, r, n = block_weights(weights, knobs, l)
        blocks.append({"w": w, "di": di, "K": K, "r": r, "n": n,
                       "hist": np.zeros((K, di)), "h": np.zeros((di, n))})
    out = []
    for t in tokens:
        x = weights["embed"][t].copy()
        for blk in blocks:
            w, di, r, n = blk["w"], blk["di"], blk["r"], blk["n"]
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
