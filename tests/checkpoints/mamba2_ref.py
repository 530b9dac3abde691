"""Mamba2ForCausalLM in float64 PyTorch, from the published equations.

Imported by torch_reference.py (which loads the checkpoint and runs the
self-checks); shares no code with the C++ engine. The model is Hugging Face
transformers' Mamba2ForCausalLM (Dao & Gu 2024, "Transformers are SSMs"):

  h = backbone.embeddings[tokens]
  per layer:  h += mixer(RMSNorm(h, norm))
  mixer: z, xBC, dt = split(x in_proj^T)        [di], [di + 2GN], [H]
         xBC = SiLU(causal depthwise conv_K(xBC) + conv bias)
         x, B, C = split(xBC)                   [H, P], [G, N], [G, N]
         dt_h = clamp(softplus(dt_h + dt_bias_h), *time_step_limit)
         A_h = -exp(A_log_h)
         S_h,t = exp(dt_h A_h) S_h,t-1 + dt_h x_h B_g^T;  y_h = S_h C_g + D_h x_h
         y = RMSNorm over each of G groups (y * SiLU(z)) * norm.weight
         out_proj
  logits = RMSNorm(h, norm_f) lm_head^T (or the embeddings when tied)

Head h uses group g = h // (H / G). The whole-sequence forward convolves with
F.conv1d and loops the recurrence over time; the stepped forward keeps the
conv window and S; the SSD dual form (a masked, decay-weighted C.B attention,
no recurrence) is offered to the self-check as an alternative scan.
"""
import torch
import torch.nn.functional as F


def _rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def _silu(x):
    return x * torch.sigmoid(x)


def ssd_loop(x, dt, A, B, C):
    """x [T, H, P], dt [T, H], A [H], B, C [T, H, N] -> y [T, H, P] without
    the D skip."""
    T, H, P = x.shape
    S = torch.zeros(H, P, B.shape[-1])
    ys = []
    for t in range(T):
        S = (torch.exp(dt[t] * A)[:, None, None] * S +
             (dt[t][:, None] * x[t])[:, :, None] * B[t][:, None, :])
        ys.append(torch.einsum("hpn,hn->hp", S, C[t]))
    return torch.stack(ys)


def ssd_dual(x, dt, A, B, C):
    """The same map as one masked product: y_t = sum_{s<=t}
    exp(sum_{s<r<=t} dt_r A) dt_s (C_t . B_s) x_s."""
    T = x.shape[0]
    L = torch.cumsum(dt * A, dim=0)  # [T, H]
    diff = L[:, None, :] - L[None, :, :]  # [t, s, H]
    causal = torch.arange(T)[None, :] <= torch.arange(T)[:, None]
    decay = torch.exp(diff.masked_fill(~causal[:, :, None], float("-inf")))
    scores = torch.einsum("thn,shn->tsh", C, B) * decay * dt[None, :, :]
    return torch.einsum("tsh,shp->thp", scores, x)


class Mamba2:
    def __init__(self, config, tensors, take_weights):
        c = config
        self.h, self.layers = c["hidden_size"], c["num_hidden_layers"]
        self.vocab = c["vocab_size"]
        self.heads, self.p = c.get("num_heads", 128), c.get("head_dim", 64)
        self.n, self.g = c.get("state_size", 128), c.get("n_groups", 8)
        self.di = int(c.get("expand", 2) * self.h)
        assert self.heads * self.p == self.di
        self.k = c.get("conv_kernel", 4)
        self.eps = c.get("layer_norm_epsilon", 1e-5)
        self.use_bias = c.get("use_bias", False)
        self.conv_bias = c.get("use_conv_bias", True)
        self.tied = c.get("tie_word_embeddings", False)
        self.dt_limit = c.get("time_step_limit", [0.0, float("inf")])
        assert c.get("hidden_act", "silu") == "silu"
        assert c.get("rms_norm", True)
        h, di, H = self.h, self.di, self.heads
        self.conv_dim = di + 2 * self.g * self.n
        proj = di + self.conv_dim + H
        exp = {"backbone.embeddings.weight": [self.vocab, h],
               "backbone.norm_f.weight": [h]}
        if not self.tied:
            exp["lm_head.weight"] = [self.vocab, h]
        for l in range(self.layers):
            p = f"backbone.layers.{l}."
            m = p + "mixer."
            exp.update({p + "norm.weight": [h],
                        m + "in_proj.weight": [proj, h],
                        m + "conv1d.weight": [self.conv_dim, 1, self.k],
                        m + "dt_bias": [H], m + "A_log": [H], m + "D": [H],
                        m + "norm.weight": [di],
                        m + "out_proj.weight": [h, di]})
            if self.use_bias:
                exp[m + "in_proj.bias"] = [proj]
                exp[m + "out_proj.bias"] = [h]
            if self.conv_bias:
                exp[m + "conv1d.bias"] = [self.conv_dim]
        self.w = take_weights(tensors, exp)
        self.scan = ssd_loop
        self.alternative_scans = [ssd_dual]

    def new_state(self):
        return [{"conv": torch.zeros(self.conv_dim, self.k),
                 "S": torch.zeros(self.heads, self.p, self.n)}
                for _ in range(self.layers)]

    def forward(self, tokens, state=None, start=0):
        del start  # position-free
        w = self.w
        x = w["backbone.embeddings.weight"][tokens]
        for l in range(self.layers):
            p = f"backbone.layers.{l}."
            x = x + self.mixer(p + "mixer.",
                               _rms_norm(x, w[p + "norm.weight"], self.eps),
                               None if state is None else state[l])
        x = _rms_norm(x, w["backbone.norm_f.weight"], self.eps)
        head = (w["backbone.embeddings.weight"] if self.tied
                else w["lm_head.weight"])
        return x @ head.T

    def mixer(self, m, u, state):
        w, T = self.w, u.shape[0]
        di, H, P, N, G = self.di, self.heads, self.p, self.n, self.g
        proj = u @ w[m + "in_proj.weight"].T
        if self.use_bias:
            proj = proj + w[m + "in_proj.bias"]
        z, xbc, dt = proj[:, :di], proj[:, di:di + self.conv_dim], \
            proj[:, di + self.conv_dim:]
        conv_w, conv_b = w[m + "conv1d.weight"], w.get(m + "conv1d.bias")
        if state is None:
            xbc = F.conv1d(xbc.T[None], conv_w, conv_b, padding=self.k - 1,
                           groups=self.conv_dim)[0, :, :T].T
        else:
            assert T == 1
            state["conv"] = torch.cat((state["conv"][:, 1:], xbc.T), dim=1)
            xbc = (state["conv"] * conv_w[:, 0, :]).sum(-1)[None]
            if conv_b is not None:
                xbc = xbc + conv_b
        xbc = _silu(xbc)
        x = xbc[:, :di].reshape(T, H, P)
        rep = H // G  # head h reads group h // rep
        B = xbc[:, di:di + G * N].reshape(T, G, N).repeat_interleave(rep, 1)
        C = xbc[:, di + G * N:].reshape(T, G, N).repeat_interleave(rep, 1)
        dt = torch.clamp(F.softplus(dt + w[m + "dt_bias"]),  # [T, H]
                         self.dt_limit[0], self.dt_limit[1])
        A = -torch.exp(w[m + "A_log"])
        if state is None:
            y = self.scan(x, dt, A, B, C)
        else:
            S = (torch.exp(dt[0] * A)[:, None, None] * state["S"] +
                 (dt[0][:, None] * x[0])[:, :, None] * B[0][:, None, :])
            state["S"] = S
            y = torch.einsum("hpn,hn->hp", S, C[0])[None]
        y = y + x * w[m + "D"][None, :, None]
        y = y.reshape(T, di) * _silu(z)
        y = _rms_norm(y.reshape(T, G, di // G), 1.0, self.eps).reshape(T, di)
        y = y * w[m + "norm.weight"]
        out = y @ w[m + "out_proj.weight"].T
        if self.use_bias:
            out = out + w[m + "out_proj.bias"]
        return out
