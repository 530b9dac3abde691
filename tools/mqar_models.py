"""Trainable PyTorch models in the exact Hugging Face layouts the server loads.

Each class holds its parameters under the checkpoint's tensor names
(`model.params`, name -> tensor, in file order), writes the matching
config.json dict (`model.config`) and computes, batched over sequences, the
same function as the engine that loads it (engines/<family>/*_checkpoint.cc)
and as the float64 reference tests/checkpoints/torch_reference.py:

  model = MODELS["attention"](vocab=512, seed=1)
  logits = model.forward(tokens)          # tokens [B, T] -> logits [B, T, V]
  h = model.hidden(tokens)                # final-normed states [B, T, d];
  logits = h[mask] @ model.params[model.readout].T   # the head where needed

Vectorised where the computation allows it exactly: attention and Mamba-2's
SSD dual form are whole-sequence masked products; the gated delta rule and
RWKV-7's generalised delta rule go a chunk of tokens at a time; Mamba's
selective scan is a loop over time with a hand-written backward
(LinearScan), vectorised over the batch, channels and state. train_mqar.py
checks every written checkpoint against torch_reference.py before it keeps
it.
"""
import math

import torch
import torch.nn.functional as F


# Every model ties its head to the embeddings: an answer is then a copy of a
# context token's embedding, one map for all values rather than one learnt
# head row per value (which trains far slower on a few minutes of CPU).
# The final norm's gain starts small so the initial logits are not spiky.
EMBED_STD = 1.0
HEAD_GAIN = 0.1
MAMBA_EMBED_STD = 0.1  # Mamba only: see Mamba.__init__


def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps) * w
    return y if b is None else y + b


def silu(x):
    return x * torch.sigmoid(x)


def causal_conv(x, weight, bias):
    """Depthwise causal conv over time: x [B, T, C], weight [C, 1, K]."""
    T, K = x.shape[1], weight.shape[-1]
    y = F.conv1d(x.transpose(1, 2), weight, bias, padding=K - 1,
                 groups=x.shape[2])
    return y[:, :, :T].transpose(1, 2)


class Model:
    """Parameters by checkpoint name plus a config; subclasses add forward."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.params = {}
        self.config = {}
        self.readout = "lm_head.weight"  # the head's tensor (tied: embeddings)

    def add(self, name, shape, std=None, fill=None, values=None):
        if values is not None:
            t = values.to(torch.float32).reshape(shape).clone()
        elif fill is not None:
            t = torch.full(shape, float(fill))
        else:
            t = torch.randn(shape, generator=self.gen) * std
        self.params[name] = t.requires_grad_(True)

    def linear(self, name, out_dim, in_dim, gain=1.0):
        self.add(name, [out_dim, in_dim], std=gain / math.sqrt(in_dim))

    def forward(self, tokens):
        """Logits [B, T, V] of tokens [B, T]."""
        return self.hidden(tokens) @ self.params[self.readout].T

    def parameters(self):
        return list(self.params.values())

    def no_decay(self, name):
        """Norm gains, biases and SSM constants are not weight-decayed."""
        return (self.params[name].dim() < 2 or "norm" in name or
                name.endswith(("A_log", "D", "dt_bias", "embeddings.weight",
                               "embed_tokens.weight")))


# ------------------------------------------------------------- Llama/Mistral

def rope(x, theta):
    """Rotate-half rotary over the whole head: x [B, H, T, hd]."""
    T, hd = x.shape[2], x.shape[3]
    inv_freq = 1.0 / theta**(torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None]
    emb = torch.cat((angles, angles), -1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    half = hd // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), -1)
    return x * cos + rotated * sin


class Llama(Model):
    """LlamaForCausalLM; with `window`, MistralForCausalLM (a query at
    position t sees positions t - window + 1 .. t, docs/trained-mqar.md)."""

    def __init__(self, vocab, seed, hidden=64, layers=2, heads=2, inter=128,
                 window=None):
        super().__init__(seed)
        self.h, self.layers, self.heads = hidden, layers, heads
        self.hd, self.window, self.eps, self.theta = hidden // heads, window, \
            1e-5, 10000.0
        self.config = {
            "architectures": ["MistralForCausalLM" if window else
                              "LlamaForCausalLM"],
            "attention_bias": False, "hidden_act": "silu",
            "hidden_size": hidden, "head_dim": self.hd,
            "intermediate_size": inter, "max_position_embeddings": 4096,
            "mlp_bias": False, "model_type": "mistral" if window else "llama",
            "num_attention_heads": heads, "num_hidden_layers": layers,
            "num_key_value_heads": heads, "rms_norm_eps": self.eps,
            "rope_scaling": None, "rope_theta": self.theta,
            "tie_word_embeddings": True, "torch_dtype": "float32",
            "vocab_size": vocab}
        self.readout = "model.embed_tokens.weight"
        if window:
            self.config["sliding_window"] = window
        self.add("model.embed_tokens.weight", [vocab, hidden], std=EMBED_STD)
        for l in range(layers):
            p = f"model.layers.{l}."
            self.add(p + "input_layernorm.weight", [hidden], fill=1.0)
            for n in ("q", "k", "v", "o"):
                self.linear(p + f"self_attn.{n}_proj.weight", hidden, hidden)
            self.add(p + "post_attention_layernorm.weight", [hidden], fill=1.0)
            self.linear(p + "mlp.gate_proj.weight", inter, hidden)
            self.linear(p + "mlp.up_proj.weight", inter, hidden)
            self.linear(p + "mlp.down_proj.weight", hidden, inter)
        self.add("model.norm.weight", [hidden], fill=HEAD_GAIN)

    def hidden(self, tokens):
        w, (B, T) = self.params, tokens.shape
        x = w["model.embed_tokens.weight"][tokens]
        pos = torch.arange(T)
        allowed = pos[None, :] <= pos[:, None]
        if self.window:
            allowed &= pos[None, :] > pos[:, None] - self.window
        for l in range(self.layers):
            p = f"model.layers.{l}."
            a = rms_norm(x, w[p + "input_layernorm.weight"], self.eps)

            def heads(n):
                y = a @ w[p + f"self_attn.{n}_proj.weight"].T
                return y.view(B, T, self.heads, self.hd).transpose(1, 2)

            q, k, v = rope(heads("q"), self.theta), rope(heads("k"),
                                                         self.theta), heads("v")
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.hd)
            scores = scores.masked_fill(~allowed, float("-inf"))
            o = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T,
                                                                       -1)
            x = x + o @ w[p + "self_attn.o_proj.weight"].T
            m = rms_norm(x, w[p + "post_attention_layernorm.weight"], self.eps)
            gated = silu(m @ w[p + "mlp.gate_proj.weight"].T) * (
                m @ w[p + "mlp.up_proj.weight"].T)
            x = x + gated @ w[p + "mlp.down_proj.weight"].T
        return rms_norm(x, w["model.norm.weight"], self.eps)


# ------------------------------------------------------------------- Mamba

def dt_bias_init(gen, n, lo=1e-3, hi=0.1):
    """Inverse softplus of dt log-uniform in [lo, hi] (Mamba's init)."""
    dt = torch.exp(torch.rand(n, generator=gen) * (math.log(hi) - math.log(lo))
                   + math.log(lo))
    return dt + torch.log(-torch.expm1(-dt))


class Mamba(Model):
    """MambaForCausalLM (tied head, no in/out bias, conv bias)."""

    def __init__(self, vocab, seed, hidden=64, layers=2, state=16, expand=2,
                 conv=4, dt_rank=4):
        super().__init__(seed)
        self.h, self.layers, self.n, self.k = hidden, layers, state, conv
        self.i, self.r, self.eps = expand * hidden, dt_rank, 1e-5
        self.config = {
            "architectures": ["MambaForCausalLM"], "conv_kernel": conv,
            "expand": expand, "hidden_act": "silu", "hidden_size": hidden,
            "intermediate_size": self.i, "layer_norm_epsilon": self.eps,
            "model_type": "mamba", "num_hidden_layers": layers,
            "state_size": state, "tie_word_embeddings": True,
            "time_step_rank": dt_rank, "torch_dtype": "float32",
            "use_bias": False, "use_conv_bias": True, "vocab_size": vocab}
        self.readout = "backbone.embeddings.weight"
        i = self.i
        # Mamba's mixer has no output norm (Mamba-2's has), so its scan
        # output, scaled by dt ~ 0.01, is small; embeddings as large as the
        # others' drown it in the residual stream and training stalls at
        # ~0.5 (docs/trained-mqar.md). The reference Mamba starts them small.
        self.add("backbone.embeddings.weight", [vocab, hidden],
                 std=MAMBA_EMBED_STD)
        for l in range(layers):
            p = f"backbone.layers.{l}."
            m = p + "mixer."
            self.add(p + "norm.weight", [hidden], fill=1.0)
            self.linear(m + "in_proj.weight", 2 * i, hidden)
            self.add(m + "conv1d.weight", [i, 1, conv], std=1 / math.sqrt(conv))
            self.add(m + "conv1d.bias", [i], fill=0.0)
            self.linear(m + "x_proj.weight", dt_rank + 2 * state, i)
            self.linear(m + "dt_proj.weight", i, dt_rank)
            self.add(m + "dt_proj.bias", [i], values=dt_bias_init(self.gen, i))
            self.add(m + "A_log", [i, state], values=torch.log(
                torch.arange(1, state + 1, dtype=torch.float32)).repeat(i, 1))
            self.add(m + "D", [i], fill=1.0)
            self.linear(m + "out_proj.weight", hidden, i)
        self.add("backbone.norm_f.weight", [hidden], fill=HEAD_GAIN)

    def hidden(self, tokens):
        w = self.params
        x = w["backbone.embeddings.weight"][tokens]
        for l in range(self.layers):
            p = f"backbone.layers.{l}."
            x = x + self.mixer(p + "mixer.",
                               rms_norm(x, w[p + "norm.weight"], self.eps))
        return rms_norm(x, w["backbone.norm_f.weight"], self.eps)

    def mixer(self, m, x):
        w, i, n, r = self.params, self.i, self.n, self.r
        xz = x @ w[m + "in_proj.weight"].T
        u = silu(causal_conv(xz[..., :i], w[m + "conv1d.weight"],
                             w[m + "conv1d.bias"]))
        z = xz[..., i:]
        proj = u @ w[m + "x_proj.weight"].T
        Bm, Cm = proj[..., r:r + n], proj[..., r + n:]
        dt = F.softplus(proj[..., :r] @ w[m + "dt_proj.weight"].T +
                        w[m + "dt_proj.bias"])  # [B, T, i]
        A = -torch.exp(w[m + "A_log"])
        y = selective_scan(u, dt, A, Bm, Cm)
        y = (y + u * w[m + "D"]) * silu(z)
        return y @ w[m + "out_proj.weight"].T


def selective_scan_loop(u, dt, A, Bm, Cm):
    """Mamba's scan h_t = e^{dt_t A} h_{t-1} + dt_t u_t B_t, y_t = h_t C_t,
    one step per token (the definition; self_check compares against it).
    u, dt [B, T, di], A [di, N], Bm, Cm [B, T, N] -> y [B, T, di]."""
    decay = torch.exp(dt[..., None] * A)  # [B, T, di, N]
    inject = (dt * u)[..., None] * Bm[:, :, None, :]
    h = torch.zeros(u.shape[0], u.shape[2], A.shape[1], dtype=u.dtype)
    ys = []
    for t in range(u.shape[1]):
        h = decay[:, t] * h + inject[:, t]
        ys.append((h * Cm[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1)


class LinearScan(torch.autograd.Function):
    """h_t = a_t * h_{t-1} + b_t (h_{-1} = 0) along dim 1 of a, b [B, T, ...],
    with a hand-written backward (g_t = dL/dh_t + a_{t+1} g_{t+1};
    dL/db_t = g_t, dL/da_t = g_t h_{t-1}). Exact: the same sum in the same
    order as the loop, but neither pass records a graph per token, which is
    what made the autograd loop slow (docs/trained-mqar.md)."""

    @staticmethod
    def forward(ctx, a, b):
        states = torch.empty_like(b)
        h = torch.zeros_like(b[:, 0])
        for t in range(b.shape[1]):
            h = torch.addcmul(b[:, t], a[:, t], h)
            states[:, t] = h
        ctx.save_for_backward(a, states)
        return states

    @staticmethod
    def backward(ctx, grad_states):
        a, states = ctx.saved_tensors
        grad_b = torch.empty_like(grad_states)
        g = grad_states[:, -1]
        grad_b[:, -1] = g
        for t in range(grad_states.shape[1] - 2, -1, -1):
            g = torch.addcmul(grad_states[:, t], a[:, t + 1], g)
            grad_b[:, t] = g
        previous = torch.cat((torch.zeros_like(states[:, :1]), states[:, :-1]),
                             1)
        return grad_b * previous, grad_b


def selective_scan(u, dt, A, Bm, Cm):
    """selective_scan_loop's function through LinearScan (the training path)."""
    decay = torch.exp(dt[..., None] * A)  # [B, T, di, N]
    inject = (dt * u)[..., None] * Bm[:, :, None, :]
    return torch.einsum("btdn,btn->btd", LinearScan.apply(decay, inject), Cm)


def self_check(seed=0):
    """Mamba's training scan equals its step-by-step definition in float64,
    values and gradients (raises AssertionError otherwise); train_mqar.py
    runs it before training Mamba."""
    g = torch.Generator().manual_seed(seed)
    B, T, di, N = 2, 37, 6, 5  # T not a multiple of the chunk
    u = torch.randn(B, T, di, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(B, T, di, generator=g, dtype=torch.float64))
    A = -torch.exp(torch.randn(di, N, generator=g, dtype=torch.float64))
    Bm, Cm = (torch.randn(B, T, N, generator=g, dtype=torch.float64)
              for _ in range(2))
    want = selective_scan_loop(u, dt, A, Bm, Cm)
    got = selective_scan(u, dt, A, Bm, Cm)
    err = ((got - want).abs().max() / want.abs().max()).item()
    assert err < 1e-12, f"selective scan differs from the loop by {err:.2e}"
    a = torch.rand(B, 9, di, N, generator=g, dtype=torch.float64)
    b = torch.randn(B, 9, di, N, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        LinearScan.apply, (a.requires_grad_(), b.requires_grad_())), \
        "LinearScan's backward differs from finite differences"
    return err


# ----------------------------------------------------------------- Mamba-2

class Mamba2(Model):
    """Mamba2ForCausalLM (one group, untied head, no in/out bias)."""

    def __init__(self, vocab, seed, hidden=64, layers=2, heads=4, state=32,
                 conv=4):
        super().__init__(seed)
        self.h, self.layers, self.H, self.N, self.k = hidden, layers, heads, \
            state, conv
        self.di = 2 * hidden
        self.P, self.eps = self.di // heads, 1e-5
        self.conv_dim = self.di + 2 * state
        self.config = {
            "architectures": ["Mamba2ForCausalLM"], "conv_kernel": conv,
            "expand": 2, "head_dim": self.P, "hidden_act": "silu",
            "hidden_size": hidden, "layer_norm_epsilon": self.eps,
            "model_type": "mamba2", "n_groups": 1, "num_heads": heads,
            "num_hidden_layers": layers, "rms_norm": True,
            "state_size": state, "tie_word_embeddings": True,
            "time_step_limit": [0.0, 1e308], "torch_dtype": "float32",
            "use_bias": False, "use_conv_bias": True, "vocab_size": vocab}
        self.add("backbone.embeddings.weight", [vocab, hidden], std=EMBED_STD)
        for l in range(layers):
            p = f"backbone.layers.{l}."
            m = p + "mixer."
            self.add(p + "norm.weight", [hidden], fill=1.0)
            self.linear(m + "in_proj.weight", self.di + self.conv_dim + heads,
                        hidden)
            self.add(m + "conv1d.weight", [self.conv_dim, 1, conv],
                     std=1 / math.sqrt(conv))
            self.add(m + "conv1d.bias", [self.conv_dim], fill=0.0)
            self.add(m + "dt_bias", [heads], values=dt_bias_init(self.gen,
                                                                 heads))
            self.add(m + "A_log", [heads], values=torch.log(
                torch.linspace(1, 16, heads)))
            self.add(m + "D", [heads], fill=1.0)
            self.add(m + "norm.weight", [self.di], fill=1.0)
            self.linear(m + "out_proj.weight", hidden, self.di)
        self.add("backbone.norm_f.weight", [hidden], fill=HEAD_GAIN)
        self.readout = "backbone.embeddings.weight"

    def hidden(self, tokens):
        w = self.params
        x = w["backbone.embeddings.weight"][tokens]
        for l in range(self.layers):
            p = f"backbone.layers.{l}."
            x = x + self.mixer(p + "mixer.",
                               rms_norm(x, w[p + "norm.weight"], self.eps))
        return rms_norm(x, w["backbone.norm_f.weight"], self.eps)

    def mixer(self, m, u):
        w, (Bsz, T, _) = self.params, u.shape
        di, H, P, N = self.di, self.H, self.P, self.N
        proj = u @ w[m + "in_proj.weight"].T
        z, xbc = proj[..., :di], proj[..., di:di + self.conv_dim]
        dt = F.softplus(proj[..., di + self.conv_dim:] + w[m + "dt_bias"])
        xbc = silu(causal_conv(xbc, w[m + "conv1d.weight"],
                               w[m + "conv1d.bias"]))
        x = xbc[..., :di].reshape(Bsz, T, H, P)
        Bm, Cm = xbc[..., di:di + N], xbc[..., di + N:]
        A = -torch.exp(w[m + "A_log"])
        # SSD dual form: y_t = sum_{s<=t} exp(L_t - L_s) dt_s (C_t.B_s) x_s.
        L = torch.cumsum(dt * A, 1)  # [B, T, H]
        diff = L[:, :, None, :] - L[:, None, :, :]  # [B, t, s, H]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        decay = torch.exp(diff.masked_fill(~causal[None, :, :, None],
                                           float("-inf")))
        scores = (Cm @ Bm.transpose(1, 2))[..., None] * decay * dt[:, None]
        y = torch.einsum("btsh,bshp->bthp", scores, x)
        y = y + x * w[m + "D"][:, None]
        y = y.reshape(Bsz, T, di) * silu(z)
        y = rms_norm(y, w[m + "norm.weight"], self.eps)  # one group
        return y @ w[m + "out_proj.weight"].T


# ---------------------------------------------------------- Gated DeltaNet

class GatedDeltaNet(Model):
    """fla GatedDeltaNetForCausalLM (short conv, output gate, untied)."""

    def __init__(self, vocab, seed, hidden=64, layers=2, heads=2, head_dim=32,
                 inter=128, conv=4):
        super().__init__(seed)
        self.h, self.layers, self.H, self.dk, self.k = hidden, layers, heads, \
            head_dim, conv
        self.dv, self.eps = head_dim, 1e-6
        self.config = {
            "architectures": ["GatedDeltaNetForCausalLM"],
            "allow_neg_eigval": False, "conv_size": conv, "expand_v": 1.0,
            "head_dim": head_dim, "hidden_act": "swish", "hidden_ratio": 4,
            "hidden_size": hidden, "intermediate_size": inter,
            "model_type": "gated_deltanet", "norm_eps": self.eps,
            "num_heads": heads, "num_hidden_layers": layers,
            "num_v_heads": heads, "tie_word_embeddings": True,
            "torch_dtype": "float32", "use_gate": True,
            "use_short_conv": True, "vocab_size": vocab}
        kd = heads * head_dim
        self.add("model.embeddings.weight", [vocab, hidden], std=EMBED_STD)
        for l in range(layers):
            p = f"model.layers.{l}."
            a = p + "attn."
            self.add(p + "attn_norm.weight", [hidden], fill=1.0)
            self.linear(a + "q_proj.weight", kd, hidden)
            self.linear(a + "k_proj.weight", kd, hidden)
            self.linear(a + "v_proj.weight", kd, hidden)
            self.linear(a + "a_proj.weight", heads, hidden)
            self.linear(a + "b_proj.weight", heads, hidden)
            self.add(a + "A_log", [heads], values=torch.log(
                torch.linspace(1, 16, heads)))
            self.add(a + "dt_bias", [heads], values=dt_bias_init(self.gen,
                                                                 heads))
            self.linear(a + "g_proj.weight", kd, hidden)
            for n in ("q", "k", "v"):
                self.add(a + f"{n}_conv1d.weight", [kd, 1, conv],
                         std=1 / math.sqrt(conv))
            self.add(a + "o_norm.weight", [head_dim], fill=1.0)
            self.linear(a + "o_proj.weight", hidden, kd)
            self.add(p + "mlp_norm.weight", [hidden], fill=1.0)
            self.linear(p + "mlp.gate_proj.weight", inter, hidden)
            self.linear(p + "mlp.up_proj.weight", inter, hidden)
            self.linear(p + "mlp.down_proj.weight", hidden, inter)
        self.add("model.norm.weight", [hidden], fill=HEAD_GAIN)
        self.readout = "model.embeddings.weight"

    def hidden(self, tokens):
        w = self.params
        x = w["model.embeddings.weight"][tokens]
        for l in range(self.layers):
            p = f"model.layers.{l}."
            x = x + self.attn(p + "attn.",
                              rms_norm(x, w[p + "attn_norm.weight"], self.eps))
            y = rms_norm(x, w[p + "mlp_norm.weight"], self.eps)
            y = silu(y @ w[p + "mlp.gate_proj.weight"].T) * (
                y @ w[p + "mlp.up_proj.weight"].T)
            x = x + y @ w[p + "mlp.down_proj.weight"].T
        return rms_norm(x, w["model.norm.weight"], self.eps)

    def attn(self, a, x):
        w, (Bsz, T, _) = self.params, x.shape
        H, dk, dv = self.H, self.dk, self.dv

        def proj(n):
            return silu(causal_conv(x @ w[a + f"{n}_proj.weight"].T,
                                    w[a + f"{n}_conv1d.weight"], None))

        def l2(t):
            return t / torch.sqrt((t * t).sum(-1, keepdim=True) + 1e-6)

        q = l2(proj("q").reshape(Bsz, T, H, dk)) / math.sqrt(dk)
        k = l2(proj("k").reshape(Bsz, T, H, dk))
        v = proj("v").reshape(Bsz, T, H, dv)
        g = -torch.exp(w[a + "A_log"]) * F.softplus(
            x @ w[a + "a_proj.weight"].T + w[a + "dt_bias"])
        beta = torch.sigmoid(x @ w[a + "b_proj.weight"].T)
        o = gated_delta_chunked(q, k, v, g, beta)
        o = rms_norm(o, w[a + "o_norm.weight"], self.eps)
        o = o * silu((x @ w[a + "g_proj.weight"].T).reshape(Bsz, T, H, dv))
        return o.reshape(Bsz, T, H * dv) @ w[a + "o_proj.weight"].T


def gated_delta_chunked(q, k, v, g, beta, chunk=16):
    """The gated delta rule S_t = e^{g_t} S_{t-1} (I - b_t k_t k_t^T) +
    b_t v_t k_t^T, o_t = S_t q_t, a chunk at a time (exact, no recurrence
    inside a chunk). q, k [B, T, H, dk], v [B, T, H, dv], g, beta [B, T, H].

    Within a chunk from state S0, with G the cumulative sum of g and
    u_t = b_t (v_t - e^{g_t} S_{t-1} k_t) the value each step writes,
    S_t = e^{G_t} S0 + sum_{i<=t} e^{G_t - G_i} u_i k_i^T, so the u solve the
    unit lower-triangular system
      u_t + b_t sum_{i<t} e^{G_t - G_i} (k_t.k_i) u_i = b_t (v_t - e^{G_t} S0 k_t)
    and o_t = e^{G_t} S0 q_t + sum_{i<=t} e^{G_t - G_i} (q_t.k_i) u_i.
    """
    Bsz, T, H, dk = k.shape
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, *]
    g, beta = g.transpose(1, 2), beta.transpose(1, 2)  # [B, H, T]
    S = torch.zeros(Bsz, H, v.shape[-1], dk)
    outs = []
    for c0 in range(0, T, chunk):
        qc, kc, vc = q[:, :, c0:c0 + chunk], k[:, :, c0:c0 + chunk], \
            v[:, :, c0:c0 + chunk]
        gc, bc = g[:, :, c0:c0 + chunk], beta[:, :, c0:c0 + chunk]
        n = kc.shape[2]
        G = torch.cumsum(gc, -1)
        incl = torch.ones(n, n, dtype=torch.bool).tril()
        decay = torch.exp((G[..., :, None] - G[..., None, :]).masked_fill(
            ~incl, float("-inf")))  # [t, i], zero above the diagonal
        strict = decay.masked_fill(torch.eye(n, dtype=torch.bool), 0.0)
        A = bc[..., :, None] * strict * (kc @ kc.transpose(-1, -2))
        eG = torch.exp(G)[..., None]
        rhs = bc[..., None] * (vc - eG * (kc @ S.transpose(-1, -2)))
        eye = torch.eye(n).expand_as(A)
        U = torch.linalg.solve_triangular(eye + A, rhs, upper=False,
                                          unitriangular=True)
        outs.append(eG * (qc @ S.transpose(-1, -2)) +
                    (decay * (qc @ kc.transpose(-1, -2))) @ U)
        tail = torch.exp(G[..., -1:] - G)[..., None]  # e^{G_n - G_i}
        S = torch.exp(G[..., -1])[..., None, None] * S + \
            (tail * U).transpose(-1, -2) @ kc
    return torch.cat(outs, 2).transpose(1, 2)  # [B, T, H, dv]


# ------------------------------------------------------------------ RWKV-7

class Rwkv7(Model):
    """fla RWKV7ForCausalLM (LayerNorm biases, norm_first, fused l2 norm,
    untied head)."""

    def __init__(self, vocab, seed, hidden=64, layers=2, head_dim=32,
                 ranks=(16, 16, 8, 16), inter=128):
        super().__init__(seed)
        self.h, self.layers, self.dk = hidden, layers, head_dim
        self.H, self.eps = hidden // head_dim, 1e-5
        w_rank, a_rank, v_rank, g_rank = ranks
        self.config = {
            "architectures": ["RWKV7ForCausalLM"], "a_low_rank_dim": a_rank,
            "attn": None, "decay_low_rank_dim": w_rank, "fuse_norm": True,
            "gate_low_rank_dim": g_rank, "head_dim": head_dim,
            "hidden_act": "sqrelu", "hidden_ratio": 4, "hidden_size": hidden,
            "intermediate_size": inter, "model_type": "rwkv7",
            "norm_bias": True, "norm_eps": self.eps, "norm_first": True,
            "num_hidden_layers": layers, "tie_word_embeddings": True,
            "torch_dtype": "float32", "v_low_rank_dim": v_rank,
            "value_dim": [hidden] * layers, "vocab_size": vocab}
        h = hidden
        self.add("model.embeddings.weight", [vocab, h], std=EMBED_STD)

        def norm(prefix):
            self.add(prefix + ".weight", [h], fill=1.0)
            self.add(prefix + ".bias", [h], fill=0.0)

        def lora(prefix, rank, bias=None):
            self.linear(prefix + ".lora.0.weight", rank, h)
            self.add(prefix + ".lora.2.weight", [h, rank], fill=0.0)
            if bias is not None:
                self.add(prefix + ".lora.2.bias", [h], values=bias)

        for l in range(layers):
            p = f"model.layers.{l}."
            a = p + "attn."
            if l == 0:
                norm(p + "pre_norm")
            norm(p + "attn_norm")
            for n in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
                self.add(a + n, [1, 1, h], fill=0.5)
            self.add(a + "k_k", [h], fill=0.85)
            self.add(a + "k_a", [h], fill=1.0)
            self.add(a + "r_k", [self.H, head_dim], fill=0.0)
            for n in ("r", "k", "v", "o"):
                self.linear(a + f"{n}_proj.weight", h, h)
            # Decay LoRA bias: per-channel log-decay spread like RWKV-7's
            # init, so some channels keep state for long.
            self.add(a + "w_lora.lora.0.weight", [w_rank, h],
                     std=1 / math.sqrt(h))
            self.add(a + "w_lora.lora.2.weight", [h, w_rank], fill=0.0)
            self.add(a + "w_lora.lora.2.bias", [h],
                     values=torch.linspace(-6.0, 1.0, h))
            if l > 0:
                lora(a + "v_lora", v_rank, bias=torch.ones(h))
            lora(a + "a_lora", a_rank, bias=torch.zeros(h))
            self.linear(a + "g_lora.lora.0.weight", g_rank, h)
            self.linear(a + "g_lora.lora.2.weight", h, g_rank)
            self.add(a + "g_norm.weight", [h], fill=1.0)
            self.add(a + "g_norm.bias", [h], fill=0.0)
            norm(p + "ffn_norm")
            self.add(p + "ffn.x_k", [h], fill=0.5)
            self.linear(p + "ffn.key.weight", inter, h)
            self.add(p + "ffn.value.weight", [h, inter], fill=0.0)
        self.add("model.norm.weight", [h], fill=HEAD_GAIN)
        self.add("model.norm.bias", [h], fill=0.0)
        self.readout = "model.embeddings.weight"

    def ln(self, prefix, x):
        return layer_norm(x, self.params[prefix + ".weight"],
                          self.params[prefix + ".bias"], self.eps)

    def lora(self, prefix, x, act):
        w = self.params
        y = act(x @ w[prefix + ".lora.0.weight"].T) @ w[prefix +
                                                       ".lora.2.weight"].T
        bias = w.get(prefix + ".lora.2.bias")
        return y if bias is None else y + bias

    def hidden(self, tokens):
        w = self.params
        x = self.ln("model.layers.0.pre_norm",
                    w["model.embeddings.weight"][tokens])
        v_first = None
        for l in range(self.layers):
            p = f"model.layers.{l}."
            mixed, v_first = self.time_mix(p + "attn.", l,
                                           self.ln(p + "attn_norm", x), v_first)
            x = x + mixed
            y = self.ln(p + "ffn_norm", x)
            yk = y + (shift(y) - y) * w[p + "ffn.x_k"]
            x = x + torch.relu(yk @ w[p + "ffn.key.weight"].T)**2 @ w[
                p + "ffn.value.weight"].T
        return self.ln("model.norm", x)

    def time_mix(self, a, layer, x, v_first):
        w, (Bsz, T, _) = self.params, x.shape
        H, dk = self.H, self.dk
        delta = shift(x) - x
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
            v = v + (v_first - v) * mix
        ia = torch.sigmoid(self.lora(a + "a_lora", xa, lambda t: t))
        g = self.lora(a + "g_lora", xg, torch.sigmoid)
        kk = (k * w[a + "k_k"]).view(Bsz, T, H, dk)
        kk = kk / torch.sqrt((kk * kk).sum(-1, keepdim=True) + 1e-6)
        k = k * (1 + (ia - 1) * w[a + "k_a"])
        rh, kh, vh = (t.view(Bsz, T, H, dk) for t in (r, k, v))
        ah = ia.view(Bsz, T, H, dk)
        o = rwkv7_chunked(rh, kh, vh, logw.view(Bsz, T, H, dk), kk, kk * ah)
        mean = o.mean(-1, keepdim=True)
        var = ((o - mean)**2).mean(-1, keepdim=True)
        o = (o - mean) / torch.sqrt(var + dk * self.eps)
        o = o.reshape(Bsz, T, -1) * w[a + "g_norm.weight"] + w[a +
                                                               "g_norm.bias"]
        bonus = (rh * kh * w[a + "r_k"]).sum(-1, keepdim=True) * vh
        o = (o + bonus.reshape(Bsz, T, -1)) * g
        return o @ w[a + "o_proj.weight"].T, v_first


def rwkv7_chunked(r, k, v, logw, kk, b, chunk=16):
    """RWKV-7's S_t = S_{t-1} (diag(w_t) - kk_t b_t^T) + v_t k_t^T,
    o_t = S_t r_t (S [dv, dk], fla's orientation; b = kk * a), a chunk at a
    time (exact). All inputs [B, T, H, dk] (v: dv), logw = log w.

    Within a chunk from S0, with LW the cumulative log decay and
    x_t = -S_{t-1} kk_t the removed read,
    S_t = S0 e^{LW_t} + sum_{i<=t} (x_i b_i^T + v_i k_i^T) e^{LW_t - LW_i}
    (e^{..} a diagonal of channel ratios), so x solves the unit lower-
    triangular system x_t + sum_{i<t} P_ti x_i = -S0 (e^{LW_{t-1}} kk_t) -
    sum_{i<t} Q_ti v_i with P_ti = sum_c kk_tc b_ic e^{LW_{t-1,c} - LW_ic}
    (Q likewise with k_i), and o_t = S0 (e^{LW_t} r_t) + sum_{i<=t} (R^b_ti x_i
    + R^k_ti v_i) with R^b_ti = sum_c r_tc b_ic e^{LW_tc - LW_ic}.
    """
    Bsz, T, H, dk = k.shape
    r, k, v, logw, kk, b = (t.transpose(1, 2) for t in (r, k, v, logw, kk, b))
    S = torch.zeros(Bsz, H, v.shape[-1], dk)
    outs = []
    for c0 in range(0, T, chunk):
        rc, kc, vc, lc, kkc, bc = (t[:, :, c0:c0 + chunk]
                                   for t in (r, k, v, logw, kk, b))
        n = kc.shape[2]
        LW = torch.cumsum(lc, 2)  # [B, H, n, dk]
        prev = LW - lc  # LW_{t-1}
        strict = torch.ones(n, n).tril(-1)
        incl = torch.ones(n, n).tril()
        # e^{top_t - LW_i} factors as e^{top_t} e^{-LW_i}: log w >= -e^{-1/2}
        # bounds |LW| by 0.61 * chunk, so neither factor overflows.
        grow = torch.exp(-LW)
        left_prev, left = kkc * torch.exp(prev), rc * torch.exp(LW)
        P = (left_prev @ (bc * grow).transpose(-1, -2)) * strict
        Q = (left_prev @ (kc * grow).transpose(-1, -2)) * strict
        rhs = -left_prev @ S.transpose(-1, -2) - Q @ vc
        eye = torch.eye(n).expand_as(P)
        X = torch.linalg.solve_triangular(eye + P, rhs, upper=False,
                                          unitriangular=True)
        Rb = (left @ (bc * grow).transpose(-1, -2)) * incl
        Rk = (left @ (kc * grow).transpose(-1, -2)) * incl
        outs.append(left @ S.transpose(-1, -2) + Rb @ X + Rk @ vc)
        tail = torch.exp(LW[:, :, -1:] - LW)  # e^{LW_n - LW_i}
        S = S * torch.exp(LW[:, :, -1])[:, :, None, :] + \
            X.transpose(-1, -2) @ (bc * tail) + vc.transpose(-1, -2) @ (
                kc * tail)
    return torch.cat(outs, 2).transpose(1, 2)  # [B, T, H, dv]


def shift(x):
    """The previous token's row (zeros before the first): x [B, T, C]."""
    return torch.cat((torch.zeros_like(x[:, :1]), x[:, :-1]), 1)


MODELS = {
    "attention": Llama,
    "sliding_window": lambda vocab, seed, **kw: Llama(vocab, seed, window=64,
                                                      **kw),
    "mamba": Mamba,
    "mamba2": Mamba2,
    "gated_deltanet": GatedDeltaNet,
    "rwkv7": Rwkv7,
}
