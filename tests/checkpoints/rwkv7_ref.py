"""RWKV7ForCausalLM in float64 PyTorch for torch_reference.py, written from
the published equations (flash-linear-attention's fla/layers/rwkv7.py, its
RWKV7FeedForward, and the recurrence of fla/ops/rwkv7/fused_recurrent.py).

Per layer (x the LayerNormed residual, prev the previous token's x):
  x_c = x + (prev - x) * mu_c                          c in r, w, k, v, a, g
  r, k, v = W_r x_r, W_k x_k, W_v x_v
  w = -exp(-1/2) * sigmoid(W_w2 tanh(W_w1 x_w) + b_w)  (log decay)
  layer 0: v_first = v; else v = lerp(v, v_first, sigmoid(W_v2 W_v1 x_v + b_v))
  a = sigmoid(W_a2 W_a1 x_a + b_a);  g = W_g2 sigmoid(W_g1 x_g)
  kk = normalize(k * k_k) per head;  k = k * (1 + (a - 1) * k_a)
  S = S (diag(exp w) + (-kk)(kk a)^T) + v k^T;  o = S r      (S: [dv, dk])
  o = GroupNorm(o, heads, eps = dk * norm_eps) + (sum r k r_k) v;  o *= g
  h += W_o o;  then h += W_value relu(W_key (x + (prev - x) mu_k))^2
Layer 0 LayerNorms the embedding first (pre_norm) when norm_first.

The whole-sequence forward shifts by padding and runs S in fla's [dv, dk]
orientation; the stepped forward keeps the shift rows and the transposed
state [dk, dv] as fla's kernel does, so the self-check compares two
formulations.
"""
import math

import torch
import torch.nn.functional as F


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps) * w
    return y if b is None else y + b


class Rwkv7:
    def __init__(self, config, tensors, take_weights):
        c = config
        self.h, self.layers = c["hidden_size"], c["num_hidden_layers"]
        self.vocab = c["vocab_size"]
        if c.get("head_dim") is not None:
            self.dk = c["head_dim"]
            self.heads = self.h // self.dk
        else:
            self.heads = c["num_heads"]
            self.dk = self.h // self.heads
        vd = c.get("value_dim")
        if isinstance(vd, list):
            assert len(set(vd)) == 1
            vd = vd[0]
        self.vd = vd or self.h
        self.dv = self.vd // self.heads
        ratio = c.get("hidden_ratio") or 4
        self.ff = c.get("intermediate_size") or 32 * (
            (int(self.h * ratio) + 31) // 32)
        self.ranks = {"w": c.get("decay_low_rank_dim", 64),
                      "a": c.get("a_low_rank_dim", 64),
                      "v": c.get("v_low_rank_dim", 16),
                      "g": c.get("gate_low_rank_dim", 128)}
        self.eps = c.get("norm_eps", 1e-5)
        self.norm_bias = c.get("norm_bias", True)
        self.norm_first = c.get("norm_first", True)
        self.fuse_norm = c.get("fuse_norm", True)
        self.tied = c.get("tie_word_embeddings", False)
        assert c.get("hidden_act", "sqrelu") == "sqrelu"
        assert c.get("attn") is None
        h, vd = self.h, self.vd
        exp = {"model.embeddings.weight": [self.vocab, h]}

        def norm(prefix):
            exp[prefix + ".weight"] = [h]
            if self.norm_bias:
                exp[prefix + ".bias"] = [h]

        def lora(prefix, rank, out, bias=True):
            exp[prefix + ".lora.0.weight"] = [rank, h]
            exp[prefix + ".lora.2.weight"] = [out, rank]
            if bias:
                exp[prefix + ".lora.2.bias"] = [out]

        for l in range(self.layers):
            p = f"model.layers.{l}."
            a = p + "attn."
            if l == 0 and self.norm_first:
                norm(p + "pre_norm")
            norm(p + "attn_norm")
            for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
                exp[a + x] = [1, 1, h]
            exp.update({a + "k_k": [h], a + "k_a": [h],
                        a + "r_k": [self.heads, self.dk],
                        a + "r_proj.weight": [h, h],
                        a + "k_proj.weight": [h, h],
                        a + "v_proj.weight": [vd, h],
                        a + "o_proj.weight": [h, vd],
                        a + "g_norm.weight": [vd], a + "g_norm.bias": [vd]})
            lora(a + "w_lora", self.ranks["w"], h)
            if l > 0:
                lora(a + "v_lora", self.ranks["v"], vd)
            lora(a + "a_lora", self.ranks["a"], h)
            lora(a + "g_lora", self.ranks["g"], vd, bias=False)
            norm(p + "ffn_norm")
            exp.update({p + "ffn.x_k": [h], p + "ffn.key.weight": [self.ff, h],
                        p + "ffn.value.weight": [h, self.ff]})
        norm("model.norm")
        if not self.tied:
            exp["lm_head.weight"] = [self.vocab, h]
        self.w = take_weights(tensors, exp)

    def ln(self, prefix, x):
        w = self.w
        return layer_norm(x, w[prefix + ".weight"], w.get(prefix + ".bias"),
                          self.eps)

    def lora(self, prefix, x, act):
        w = self.w
        y = act(x @ w[prefix + ".lora.0.weight"].T)
        y = y @ w[prefix + ".lora.2.weight"].T
        bias = w.get(prefix + ".lora.2.bias")
        return y if bias is None else y + bias

    def new_state(self):
        return [{"attn_prev": torch.zeros(self.h),
                 "ffn_prev": torch.zeros(self.h),
                 "h": torch.zeros(self.heads, self.dk, self.dv)}
                for _ in range(self.layers)]

    def forward(self, tokens, state=None, start=0):
        del start  # position-free
        w = self.w
        x = w["model.embeddings.weight"][tokens]
        if self.norm_first:
            x = self.ln("model.layers.0.pre_norm", x)
        v_first = None
        for l in range(self.layers):
            p = f"model.layers.{l}."
            st = None if state is None else state[l]
            mixed, v_first = self.time_mix(p + "attn.", l,
                                           self.ln(p + "attn_norm", x),
                                           v_first, st)
            x = x + mixed
            x = x + self.channel_mix(p + "ffn.", self.ln(p + "ffn_norm", x),
                                     st)
        x = self.ln("model.norm", x)
        head = w["model.embeddings.weight" if self.tied else "lm_head.weight"]
        return x @ head.T

    @staticmethod
    def shifted(x, st, key):
        """The previous row of every row: zero (or the state's) first."""
        if st is None:
            return torch.cat((torch.zeros_like(x[:1]), x[:-1]))
        prev = torch.cat((st[key][None], x[:-1]))
        st[key] = x[-1].clone()
        return prev

    def time_mix(self, a, layer, x, v_first, st):
        w, T, H, dk, dv = self.w, x.shape[0], self.heads, self.dk, self.dv
        delta = self.shifted(x, st, "attn_prev") - x
        xr, xw, xk, xv, xa, xg = (x + delta * w[a + m][0, 0] for m in
                                  ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"))
        r = xr @ w[a + "r_proj.weight"].T
        logw = -math.exp(-0.5) * torch.sigmoid(
            self.lora(a + "w_lora", xw, torch.tanh))
        k = xk @ w[a + "k_proj.weight"].T
        v = xv @ w[a + "v_proj.weight"].T
        if layer == 0:
            v_first = v
        else:
            mix = torch.sigmoid(self.lora(a + "v_lora", xv, lambda t: t))
            v = torch.lerp(v, v_first, mix)
        ia = torch.sigmoid(self.lora(a + "a_lora", xa, lambda t: t))
        g = self.lora(a + "g_lora", xg, torch.sigmoid)
        kk = (k * w[a + "k_k"]).view(T, H, dk)
        if self.fuse_norm:  # fla's l2_norm: x / sqrt(|x|^2 + 1e-6)
            kk = kk / torch.sqrt((kk * kk).sum(-1, keepdim=True) + 1e-6)
        else:
            kk = F.normalize(kk, dim=-1, p=2.0)
        k = k * (1 + (ia - 1) * w[a + "k_a"])
        rh, kh, vh = r.view(T, H, dk), k.view(T, H, dk), v.view(T, H, dv)
        ah, decay = ia.view(T, H, dk), torch.exp(logw).view(T, H, dk)
        outs = []
        if st is None:  # S [H, dv, dk]: S <- S (diag(w) + a b^T) + v k^T
            S = torch.zeros(H, dv, dk)
            for t in range(T):
                trans = (torch.diag_embed(decay[t]) +
                         (-kk[t])[:, :, None] * (kk[t] * ah[t])[:, None, :])
                S = S @ trans + vh[t][:, :, None] * kh[t][:, None, :]
                outs.append((S @ rh[t][:, :, None])[:, :, 0])
        else:  # fla kernel's h [H, dk, dv]
            hs = st["h"]
            for t in range(T):
                removed = ((-kk[t])[:, :, None] * hs).sum(1)  # [H, dv]
                hs = (decay[t][:, :, None] * hs +
                      (kk[t] * ah[t])[:, :, None] * removed[:, None, :] +
                      kh[t][:, :, None] * vh[t][:, None, :])
                outs.append((hs * rh[t][:, :, None]).sum(1))
            st["h"] = hs
        o = torch.stack(outs)  # [T, H, dv]
        mean = o.mean(-1, keepdim=True)
        var = ((o - mean)**2).mean(-1, keepdim=True)
        o = (o - mean) / torch.sqrt(var + dk * self.eps)
        o = o.reshape(T, H * dv) * w[a + "g_norm.weight"] + w[a + "g_norm.bias"]
        bonus = (rh * kh * w[a + "r_k"]).sum(-1, keepdim=True) * vh
        o = (o + bonus.reshape(T, H * dv)) * g
        return o @ w[a + "o_proj.weight"].T, v_first

    def channel_mix(self, p, x, st):
        w = self.w
        xk = x + (self.shifted(x, st, "ffn_prev") - x) * w[p + "x_k"]
        hidden = torch.relu(xk @ w[p + "key.weight"].T)**2
        return hidden @ w[p + "value.weight"].T


def mistakes(c, change):
    """check_sensitivity.py's likely engine or loader mistakes for RWKV-7,
    as (description, config changes, {}, tensor transforms): each must move
    the logits of the rwkv7 cases."""
    a0, a1 = "model.layers.0.attn.", "model.layers.1.attn."
    out = [
        ("value_first never mixed in (v LoRA ignored)", {}, {},
         change(a1 + "v_lora.lora.2.bias", lambda w: w * 0 - 1e9)),
        ("current-token bonus r_k dropped", {}, {},
         change(a0 + "r_k", lambda w: w * 0)),
        ("k not rescaled by the learning rate (k_a ignored)", {}, {},
         change(a0 + "k_a", lambda w: w * 0)),
        ("token shift mixed the wrong way (x + (x - prev) mu)", {}, {},
         change(a0 + "x_k", lambda w: -w)),
        ("GroupNorm bias dropped", {}, {},
         change(a0 + "g_norm.bias", lambda w: w * 0)),
        ("channel-mix token shift ignored", {}, {},
         change("model.layers.0.ffn.x_k", lambda w: w * 0)),
        ("w LoRA bias (w0) dropped", {}, {},
         change(a0 + "w_lora.lora.2.bias", lambda w: w * 0)),
        ("a LoRA bias dropped", {}, {},
         change(a0 + "a_lora.lora.2.bias", lambda w: w * 0)),
    ]
    if c.get("norm_bias", True):
        out.append(("LayerNorm biases dropped", {}, {},
                    change("model.layers.0.attn_norm.bias", lambda w: w * 0)))
    return out
