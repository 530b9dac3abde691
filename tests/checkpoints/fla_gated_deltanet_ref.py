"""GatedDeltaNetForCausalLM in float64 PyTorch, from the published equations.

Imported by torch_reference.py (which loads the checkpoint and runs the
self-checks); shares no code with the C++ engine. The model is
flash-linear-attention's (fla/models/gated_deltanet, fla/layers/
gated_deltanet.py), in its recurrent form:

  h = model.embeddings[tokens]
  per layer:  h += attn(RMSNorm(h, attn_norm));  h += mlp(RMSNorm(h, mlp_norm))
  attn:  q, k, v = SiLU(causal depthwise conv_K(x W_q^T)), likewise k, v
         q, k = q / sqrt(|q|^2 + 1e-6), likewise k           (per key head)
         g = -exp(A_log) * softplus(x W_a^T + dt_bias);  beta = sigmoid(x W_b^T)
         S_t = exp(g_t) S_{t-1};  S_t += beta_t (v_t - S_t k_t) k_t^T
         o_t = S_t q_t / sqrt(head_k_dim)                     [value head]
         o = RMSNorm(o) * o_norm * SiLU(x W_g^T) per value head, then o_proj
  mlp:   down(SiLU(gate(x)) * up(x))
  logits = RMSNorm(h, model.norm) lm_head^T (or the embeddings when tied)

Value head j reads key head j // (num_v_heads / num_heads). The whole-sequence
forward convolves with F.conv1d and loops the recurrence over time; the
stepped forward keeps conv windows and S (the self-check compares the two).
A second, loop-free formulation of the recurrence (unrolled products of
(I - beta k k^T) factors) is offered to the self-check as an alternative scan.
"""
import math

import torch
import torch.nn.functional as F


def _rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def _silu(x):
    return x * torch.sigmoid(x)


def _l2(x):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-6)


def gated_delta_loop(q, k, v, g, beta):
    """q, k [T, H, dk] (per value head already), v [T, H, dv], g, beta [T, H]
    -> o [T, H, dv] with S [H, dv, dk] updated then read at every step."""
    T, H, dk = k.shape
    S = torch.zeros(H, v.shape[-1], dk)
    out = []
    for t in range(T):
        S = S * torch.exp(g[t])[:, None, None]
        u = beta[t][:, None] * (v[t] - torch.einsum("hvk,hk->hv", S, k[t]))
        S = S + u[:, :, None] * k[t][:, None, :]
        out.append(torch.einsum("hvk,hk->hv", S, q[t]))
    return torch.stack(out)


def gated_delta_unrolled(q, k, v, g, beta):
    """The same recurrence without a time loop over state updates: with
    A_t = exp(g_t)(I - beta_t k_t k_t^T) (acting on the right of S) and
    B_t = beta_t v_t k_t^T, S_t = sum_{s<=t} B_s A_{s+1} ... A_t. Built from
    cumulative products of the A's (one matrix chain per step)."""
    T, H, dk = k.shape
    eye = torch.eye(dk).expand(H, dk, dk)
    A = torch.exp(g)[:, :, None, None] * (
        eye - beta[:, :, None, None] * k[:, :, :, None] * k[:, :, None, :])
    out = []
    for t in range(T):
        S = torch.zeros(H, v.shape[-1], dk)
        chain = eye.clone()  # A_{s+1} ... A_t, built from s = t downwards
        for s in range(t, -1, -1):
            b = beta[s][:, None, None] * v[s][:, :, None] * k[s][:, None, :]
            S = S + b @ chain
            chain = A[s] @ chain
        out.append(torch.einsum("hvk,hk->hv", S, q[t]))
    return torch.stack(out)


class GatedDeltaNet:
    def __init__(self, config, tensors, take_weights):
        c = config
        if c.get("attn") is not None or c.get("attnres_block_size"):
            raise ValueError("hybrid attention / attnres layers not modelled")
        self.h, self.layers = c["hidden_size"], c["num_hidden_layers"]
        self.vocab = c["vocab_size"]
        self.heads = c.get("num_heads", 6)
        self.v_heads = c.get("num_v_heads") or self.heads
        self.dk = c.get("head_dim", 256)
        self.dv = int(self.dk * c.get("expand_v", 2.0))
        self.conv = c.get("conv_size", 4) if c.get("use_short_conv",
                                                   True) else 0
        self.gate = c.get("use_gate", True)
        self.neg = c.get("allow_neg_eigval", False)
        self.eps = c.get("norm_eps", 1e-6)
        self.tied = c.get("tie_word_embeddings", False)
        ff = c.get("intermediate_size")
        if ff is None:
            ff = int(self.h * c.get("hidden_ratio", 4) * 2 / 3)
            ff = 256 * ((ff + 255) // 256)
        self.ff = ff
        assert c.get("hidden_act", "swish") == "swish"
        h, kd, vd, hv = self.h, self.heads * self.dk, self.v_heads * self.dv, \
            self.v_heads
        exp = {"model.embeddings.weight": [self.vocab, h],
               "model.norm.weight": [h]}
        if not self.tied:
            exp["lm_head.weight"] = [self.vocab, h]
        for l in range(self.layers):
            p = f"model.layers.{l}."
            a = p + "attn."
            exp.update({p + "attn_norm.weight": [h], p + "mlp_norm.weight": [h],
                        a + "q_proj.weight": [kd, h],
                        a + "k_proj.weight": [kd, h],
                        a + "v_proj.weight": [vd, h],
                        a + "a_proj.weight": [hv, h],
                        a + "b_proj.weight": [hv, h],
                        a + "A_log": [hv], a + "dt_bias": [hv],
                        a + "o_norm.weight": [self.dv],
                        a + "o_proj.weight": [h, vd],
                        p + "mlp.gate_proj.weight": [ff, h],
                        p + "mlp.up_proj.weight": [ff, h],
                        p + "mlp.down_proj.weight": [h, ff]})
            if self.gate:
                exp[a + "g_proj.weight"] = [vd, h]
            if self.conv:
                for n, width in (("q", kd), ("k", kd), ("v", vd)):
                    exp[a + f"{n}_conv1d.weight"] = [width, 1, self.conv]
        self.w = take_weights(tensors, exp)
        self.scan = gated_delta_loop
        self.alternative_scans = [gated_delta_unrolled]

    def new_state(self):
        kd, vd = self.heads * self.dk, self.v_heads * self.dv
        return [{"conv": {"q": torch.zeros(kd, self.conv),
                          "k": torch.zeros(kd, self.conv),
                          "v": torch.zeros(vd, self.conv)},
                 "S": torch.zeros(self.v_heads, self.dv, self.dk)}
                for _ in range(self.layers)]

    def forward(self, tokens, state=None, start=0):
        del start  # position-free
        w = self.w
        x = w["model.embeddings.weight"][tokens]
        for l in range(self.layers):
            p = f"model.layers.{l}."
            x = x + self.attn(p + "attn.",
                              _rms_norm(x, w[p + "attn_norm.weight"], self.eps),
                              None if state is None else state[l])
            y = _rms_norm(x, w[p + "mlp_norm.weight"], self.eps)
            y = (_silu(y @ w[p + "mlp.gate_proj.weight"].T) *
                 (y @ w[p + "mlp.up_proj.weight"].T))
            x = x + y @ w[p + "mlp.down_proj.weight"].T
        x = _rms_norm(x, w["model.norm.weight"], self.eps)
        head = w["model.embeddings.weight"] if self.tied else w["lm_head.weight"]
        return x @ head.T

    def short_conv(self, a, name, x, state):
        if not self.conv:
            return _silu(x)
        weight = self.w[a + f"{name}_conv1d.weight"]  # [C, 1, K]
        if state is None:
            T = x.shape[0]
            y = F.conv1d(x.T[None], weight, padding=self.conv - 1,
                         groups=x.shape[1])[0, :, :T].T
        else:
            assert x.shape[0] == 1
            win = torch.cat((state["conv"][name][:, 1:], x.T), dim=1)
            state["conv"][name] = win
            y = (win * weight[:, 0, :]).sum(-1)[None]
        return _silu(y)

    def attn(self, a, x, state):
        w, T = self.w, x.shape[0]
        H, HV, dk, dv = self.heads, self.v_heads, self.dk, self.dv
        q = self.short_conv(a, "q", x @ w[a + "q_proj.weight"].T, state)
        k = self.short_conv(a, "k", x @ w[a + "k_proj.weight"].T, state)
        v = self.short_conv(a, "v", x @ w[a + "v_proj.weight"].T, state)
        q = _l2(q.reshape(T, H, dk)) / math.sqrt(dk)
        k = _l2(k.reshape(T, H, dk))
        v = v.reshape(T, HV, dv)
        rep = HV // H  # value head j reads key head j // rep
        q, k = q.repeat_interleave(rep, dim=1), k.repeat_interleave(rep, dim=1)
        g = -torch.exp(w[a + "A_log"]) * F.softplus(
            x @ w[a + "a_proj.weight"].T + w[a + "dt_bias"])  # [T, HV]
        beta = torch.sigmoid(x @ w[a + "b_proj.weight"].T)
        if self.neg:
            beta = 2 * beta
        if state is None:
            o = self.scan(q, k, v, g, beta)
        else:
            S = state["S"] * torch.exp(g[0])[:, None, None]
            u = beta[0][:, None] * (v[0] - torch.einsum("hvk,hk->hv", S, k[0]))
            S = S + u[:, :, None] * k[0][:, None, :]
            state["S"] = S
            o = torch.einsum("hvk,hk->hv", S, q[0])[None]
        o = _rms_norm(o, w[a + "o_norm.weight"], self.eps)  # per value head
        if self.gate:
            o = o * _silu((x @ w[a + "g_proj.weight"].T).reshape(T, HV, dv))
        return o.reshape(T, HV * dv) @ w[a + "o_proj.weight"].T
