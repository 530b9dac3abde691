#!/usr/bin/python3
"""An independent float64 PyTorch forward pass over a Hugging Face checkpoint.

Reads a model directory on its own (config.json; model.safetensors or shards
plus model.safetensors.index.json, parsed here with struct/json/numpy) and
runs GPTNeoXForCausalLM, LlamaForCausalLM (and MistralForCausalLM: Llama
with a sliding window) or MambaForCausalLM as the published
Hugging Face modeling code defines them, in float64, vectorised over the whole
sequence. It shares no code with the C++ engine or with make_checkpoints.py.

  torch_reference.py --checkpoint DIR --tokens 1,2,3 --greedy 32 --out OUT

writes OUT/logits.npy [T, V] float64 (logits after every prompt token),
OUT/greedy.npy [greedy] int32 (greedy continuation, each step re-running the
full sequence) and OUT/greedy_margin.npy [greedy] float64 (top-1 minus top-2
logit over the row's max |logit|: how far each greedy choice is from a tie).
--perturb NAME:INDEX:DELTA adds DELTA to flat element INDEX of tensor NAME
after loading and writes the result's logits to OUT/perturbed_logits.npy, so a
caller can show that its comparison detects a one-weight change.

Before writing, it self-checks the whole-sequence forward against a
token-by-token run (attention: a KV cache; Mamba: conv and SSM state
recurrence) and, for Mamba, its scan (a loop over time) against a loop-free
quadratic form, and fails if any differ by more than 1e-9 relative.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

import rwkv7_ref  # RWKV7ForCausalLM (its own file)

torch.set_default_dtype(torch.float64)
SELF_CHECK_TOLERANCE = 1e-9
LEGACY_SUFFIXES = (".attention.rotary_emb.inv_freq", ".attention.bias",
                   ".attention.masked_bias")


class CheckpointError(Exception):
    pass


# ---------------------------------------------------------------- loading

def read_safetensors(path):
    """Returns {name: float64 numpy array} of one safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise CheckpointError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise CheckpointError(f"{path}: header length {n} beyond the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape, dtype = list(info["shape"]), info["dtype"]
        raw = data[begin:end]
        if end > len(data) or begin > end:
            raise CheckpointError(f"{path}: {name} offsets out of range")
        numel = math.prod(shape)
        if dtype == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dtype == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dtype == "BF16":  # bfloat16 is the upper half of a float32
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32).astype(np.float64)
        elif dtype in ("BOOL", "U8"):
            arr = np.frombuffer(raw, dtype=np.uint8).astype(np.float64)
        else:
            raise CheckpointError(f"{path}: {name} has dtype {dtype}")
        if arr.size != numel:
            raise CheckpointError(f"{path}: {name} holds {arr.size} values, "
                                  f"shape {shape} needs {numel}")
        out[name] = arr.reshape(shape)
        spans.append((begin, end))
    spans.sort()
    covered = 0
    for begin, end in spans:  # the data must be contiguous, no holes
        if begin != covered:
            raise CheckpointError(f"{path}: data hole or overlap at {begin}")
        covered = end
    if covered != len(data):
        raise CheckpointError(f"{path}: {len(data) - covered} trailing bytes")
    return out


def load_checkpoint(directory):
    """Returns (config dict, {name: float64 torch tensor})."""
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    index_path = os.path.join(directory, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(index_path):
        with open(index_path) as f:
            weight_map = json.load(f)["weight_map"]
        for shard in sorted(set(weight_map.values())):
            for name, arr in read_safetensors(os.path.join(directory,
                                                           shard)).items():
                if weight_map.get(name) != shard:
                    raise CheckpointError(f"{shard}: {name} not mapped to it")
                tensors[name] = arr
        missing = set(weight_map) - set(tensors)
        if missing:
            raise CheckpointError(
                f"index names tensors no shard holds: {sorted(missing)}")
    else:
        tensors = read_safetensors(os.path.join(directory, "model.safetensors"))
    return config, {k: torch.from_numpy(v) for k, v in tensors.items()}


def take_weights(tensors, expected):
    """Checks names and shapes against {name: shape}; drops legacy buffers."""
    for name in tensors:
        if name not in expected and not name.endswith(LEGACY_SUFFIXES):
            raise CheckpointError(f"unexpected tensor {name}")
    weights = {}
    for name, shape in expected.items():
        if name not in tensors:
            raise CheckpointError(f"missing tensor {name}")
        if list(tensors[name].shape) != list(shape):
            raise CheckpointError(
                f"{name} has shape {list(tensors[name].shape)}, config "
                f"implies {list(shape)}")
        weights[name] = tensors[name]
    return weights


# ---------------------------------------------------------------- pieces

def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def gelu_exact(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def silu(x):
    return x * torch.sigmoid(x)


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x, positions, rot_dims, base):
    """NeoX-style rotary on the first rot_dims of x [heads, T, head_dim]."""
    inv_freq = 1.0 / base**(
        torch.arange(0, rot_dims, 2, dtype=torch.float64) / rot_dims)
    angles = positions[:, None].to(torch.float64) * inv_freq[None, :]
    emb = torch.cat((angles, angles), dim=-1)  # [T, rot_dims]
    rot, rest = x[..., :rot_dims], x[..., rot_dims:]
    rot = rot * torch.cos(emb) + rotate_half(rot) * torch.sin(emb)
    return torch.cat((rot, rest), dim=-1)


def attend(q, k, v, cache, start, window=None):
    """Causal attention of q [H, T, d] at positions start.. over the cache.

    cache is {"k": [Hkv, S, d], "v": ...} (or empty) and is extended with k, v;
    query head h reads KV head h // (H / Hkv) (Llama's repeat_kv). With a
    window W (Mistral's sliding_window) the query at position t sees keys
    t - W + 1 .. t only: W positions, itself included.
    """
    if cache is not None:
        if "k" in cache:
            k = torch.cat((cache["k"], k), dim=1)
            v = torch.cat((cache["v"], v), dim=1)
        cache["k"], cache["v"] = k, v
    rep = q.shape[0] // k.shape[0]
    k = k.repeat_interleave(rep, dim=0)
    v = v.repeat_interleave(rep, dim=0)
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    tq, tk = q.shape[1], k.shape[1]
    allowed = (torch.arange(tk)[None, :] <=
               (start + torch.arange(tq))[:, None])
    if window is not None:
        allowed &= (torch.arange(tk)[None, :] >
                    (start + torch.arange(tq))[:, None] - window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # [H, T, d]


# ---------------------------------------------------------------- models

class GPTNeoX:
    def __init__(self, config, tensors):
        c = config
        self.h, self.heads = c["hidden_size"], c["num_attention_heads"]
        self.layers, self.vocab = c["num_hidden_layers"], c["vocab_size"]
        self.inter = c["intermediate_size"]
        assert self.h % self.heads == 0
        self.hd = self.h // self.heads
        self.rot = int(self.hd * c.get("rotary_pct", 0.25))
        self.base = float(c.get("rotary_emb_base", 10000))
        self.eps = c.get("layer_norm_eps", 1e-5)
        self.parallel = c.get("use_parallel_residual", True)
        assert c.get("hidden_act", "gelu") == "gelu"
        assert self.rot % 2 == 0
        h, i = self.h, self.inter
        exp = {"gpt_neox.embed_in.weight": [self.vocab, h],
               "gpt_neox.final_layer_norm.weight": [h],
               "gpt_neox.final_layer_norm.bias": [h],
               "embed_out.weight": [self.vocab, h]}
        for l in range(self.layers):
            p = f"gpt_neox.layers.{l}."
            for norm in ("input_layernorm", "post_attention_layernorm"):
                exp[p + norm + ".weight"] = exp[p + norm + ".bias"] = [h]
            exp.update({p + "attention.query_key_value.weight": [3 * h, h],
                        p + "attention.query_key_value.bias": [3 * h],
                        p + "attention.dense.weight": [h, h],
                        p + "attention.dense.bias": [h],
                        p + "mlp.dense_h_to_4h.weight": [i, h],
                        p + "mlp.dense_h_to_4h.bias": [i],
                        p + "mlp.dense_4h_to_h.weight": [h, i],
                        p + "mlp.dense_4h_to_h.bias": [h]})
        self.w = take_weights(tensors, exp)

    def new_state(self):
        return [{} for _ in range(self.layers)]

    def forward(self, tokens, state=None, start=0):
        w, T = self.w, len(tokens)
        pos = torch.arange(start, start + T)
        x = w["gpt_neox.embed_in.weight"][tokens]
        for l in range(self.layers):
            p = f"gpt_neox.layers.{l}."
            a_in = layer_norm(x, w[p + "input_layernorm.weight"],
                              w[p + "input_layernorm.bias"], self.eps)
            qkv = linear(a_in, w[p + "attention.query_key_value.weight"],
                         w[p + "attention.query_key_value.bias"])
            qkv = qkv.view(T, self.heads, 3, self.hd).permute(2, 1, 0, 3)
            q = rope(qkv[0], pos, self.rot, self.base)
            k = rope(qkv[1], pos, self.rot, self.base)
            o = attend(q, k, qkv[2], None if state is None else state[l], start)
            attn = linear(o.permute(1, 0, 2).reshape(T, self.h),
                          w[p + "attention.dense.weight"],
                          w[p + "attention.dense.bias"])
            if self.parallel:
                m_in = layer_norm(x, w[p + "post_attention_layernorm.weight"],
                                  w[p + "post_attention_layernorm.bias"],
                                  self.eps)
                x = x + attn + self.mlp(p, m_in)
            else:
                x = x + attn
                m_in = layer_norm(x, w[p + "post_attention_layernorm.weight"],
                                  w[p + "post_attention_layernorm.bias"],
                                  self.eps)
                x = x + self.mlp(p, m_in)
        x = layer_norm(x, w["gpt_neox.final_layer_norm.weight"],
                       w["gpt_neox.final_layer_norm.bias"], self.eps)
        return linear(x, w["embed_out.weight"])

    def mlp(self, p, x):
        w = self.w
        up = linear(x, w[p + "mlp.dense_h_to_4h.weight"],
                    w[p + "mlp.dense_h_to_4h.bias"])
        return linear(gelu_exact(up), w[p + "mlp.dense_4h_to_h.weight"],
                      w[p + "mlp.dense_4h_to_h.bias"])


class Llama:
    """LlamaForCausalLM; MistralForCausalLM when the config's architecture
    says so (the same tensors, plus its sliding_window on attention)."""

    def __init__(self, config, tensors):
        c = config
        self.window = None
        if c.get("architectures", [None])[0] == "MistralForCausalLM":
            self.window = c.get("sliding_window")
        self.h, self.heads = c["hidden_size"], c["num_attention_heads"]
        self.kv = c.get("num_key_value_heads") or self.heads
        self.layers, self.vocab = c["num_hidden_layers"], c["vocab_size"]
        self.inter = c["intermediate_size"]
        self.hd = c.get("head_dim") or self.h // self.heads
        self.theta = float(c.get("rope_theta", 10000.0))
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.tied = c.get("tie_word_embeddings", False)
        assert self.heads % self.kv == 0
        assert c.get("hidden_act", "silu") == "silu"
        assert not c.get("attention_bias", False) and not c.get("mlp_bias")
        assert c.get("rope_scaling") is None
        h, i = self.h, self.inter
        qd, kd = self.heads * self.hd, self.kv * self.hd
        exp = {"model.embed_tokens.weight": [self.vocab, h],
               "model.norm.weight": [h]}
        if not self.tied:
            exp["lm_head.weight"] = [self.vocab, h]
        for l in range(self.layers):
            p = f"model.layers.{l}."
            exp.update({p + "input_layernorm.weight": [h],
                        p + "post_attention_layernorm.weight": [h],
                        p + "self_attn.q_proj.weight": [qd, h],
                        p + "self_attn.k_proj.weight": [kd, h],
                        p + "self_attn.v_proj.weight": [kd, h],
                        p + "self_attn.o_proj.weight": [h, qd],
                        p + "mlp.gate_proj.weight": [i, h],
                        p + "mlp.up_proj.weight": [i, h],
                        p + "mlp.down_proj.weight": [h, i]})
        self.w = take_weights(tensors, exp)

    def new_state(self):
        return [{} for _ in range(self.layers)]

    def forward(self, tokens, state=None, start=0):
        w, T = self.w, len(tokens)
        pos = torch.arange(start, start + T)
        x = w["model.embed_tokens.weight"][tokens]
        for l in range(self.layers):
            p = f"model.layers.{l}."
            a = rms_norm(x, w[p + "input_layernorm.weight"], self.eps)
            q = linear(a, w[p + "self_attn.q_proj.weight"])
            k = linear(a, w[p + "self_attn.k_proj.weight"])
            v = linear(a, w[p + "self_attn.v_proj.weight"])
            q = rope(q.view(T, self.heads, self.hd).transpose(0, 1), pos,
                     self.hd, self.theta)
            k = rope(k.view(T, self.kv, self.hd).transpose(0, 1), pos, self.hd,
                     self.theta)
            v = v.view(T, self.kv, self.hd).transpose(0, 1)
            o = attend(q, k, v, None if state is None else state[l], start,
                       self.window)
            x = x + linear(o.transpose(0, 1).reshape(T, self.heads * self.hd),
                           w[p + "self_attn.o_proj.weight"])
            m = rms_norm(x, w[p + "post_attention_layernorm.weight"], self.eps)
            gated = silu(linear(m, w[p + "mlp.gate_proj.weight"])) * linear(
                m, w[p + "mlp.up_proj.weight"])
            x = x + linear(gated, w[p + "mlp.down_proj.weight"])
        x = rms_norm(x, w["model.norm.weight"], self.eps)
        head = w["model.embed_tokens.weight" if self.tied else "lm_head.weight"]
        return linear(x, head)


class Mamba:
    def __init__(self, config, tensors):
        c = config
        self.h, self.layers = c["hidden_size"], c["num_hidden_layers"]
        self.vocab, self.n = c["vocab_size"], c.get("state_size", 16)
        self.inter = int(c.get("expand", 2) * self.h)
        if "intermediate_size" in c:
            assert c["intermediate_size"] == self.inter
        rank = c.get("time_step_rank", "auto")
        self.rank = math.ceil(self.h / 16) if rank == "auto" else int(rank)
        self.k = c.get("conv_kernel", 4)
        self.eps = c.get("layer_norm_epsilon", 1e-5)
        self.use_bias = c.get("use_bias", True)
        self.conv_bias = c.get("use_conv_bias", True)
        assert c.get("hidden_act", "silu") == "silu"
        assert c.get("tie_word_embeddings", True)
        h, i, n, r = self.h, self.inter, self.n, self.rank
        exp = {"backbone.embeddings.weight": [self.vocab, h],
               "backbone.norm_f.weight": [h]}
        for l in range(self.layers):
            p = f"backbone.layers.{l}."
            m = p + "mixer."
            exp.update({p + "norm.weight": [h],
                        m + "in_proj.weight": [2 * i, h],
                        m + "conv1d.weight": [i, 1, self.k],
                        m + "x_proj.weight": [r + 2 * n, i],
                        m + "dt_proj.weight": [i, r],
                        m + "dt_proj.bias": [i],
                        m + "A_log": [i, n], m + "D": [i],
                        m + "out_proj.weight": [h, i]})
            if self.use_bias:
                exp[m + "in_proj.bias"] = [2 * i]
                exp[m + "out_proj.bias"] = [h]
            if self.conv_bias:
                exp[m + "conv1d.bias"] = [i]
        self.w = take_weights(tensors, exp)
        self.scan = selective_scan_loop
        self.alternative_scans = [selective_scan_quadratic]

    def new_state(self):
        return [{"conv": torch.zeros(self.inter, self.k),
                 "ssm": torch.zeros(self.inter, self.n)}
                for _ in range(self.layers)]

    def forward(self, tokens, state=None, start=0):
        del start  # position-free
        w = self.w
        x = w["backbone.embeddings.weight"][tokens]
        for l in range(self.layers):
            p = f"backbone.layers.{l}."
            mixed = self.mixer(p + "mixer.",
                               rms_norm(x, w[p + "norm.weight"], self.eps),
                               None if state is None else state[l])
            x = x + mixed
        x = rms_norm(x, w["backbone.norm_f.weight"], self.eps)
        return linear(x, w["backbone.embeddings.weight"])

    def mixer(self, m, x, state):
        w, T, i, n, r = self.w, x.shape[0], self.inter, self.n, self.rank
        xz = linear(x, w[m + "in_proj.weight"], w.get(m + "in_proj.bias"))
        u, z = xz[:, :i], xz[:, i:]
        conv_w = w[m + "conv1d.weight"]
        conv_b = w.get(m + "conv1d.bias")
        if state is None:  # causal depthwise conv over the whole sequence
            u = F.conv1d(u.T[None], conv_w, conv_b, padding=self.k - 1,
                         groups=i)[0, :, :T].T
        else:
            assert T == 1
            state["conv"] = torch.cat((state["conv"][:, 1:], u.T), dim=1)
            u = (state["conv"] * conv_w[:, 0, :]).sum(-1)[None]
            if conv_b is not None:
                u = u + conv_b
        u = silu(u)  # [T, i]
        proj = linear(u, w[m + "x_proj.weight"])
        dt_in, B, C = proj[:, :r], proj[:, r:r + n], proj[:, r + n:]
        dt = F.softplus(linear(dt_in, w[m + "dt_proj.weight"],
                               w[m + "dt_proj.bias"]))  # [T, i]
        A = -torch.exp(w[m + "A_log"])  # [i, n]
        if state is None:
            y = self.scan(u, dt, A, B, C)
        else:
            state["ssm"] = (torch.exp(dt[0][:, None] * A) * state["ssm"] +
                            (dt[0] * u[0])[:, None] * B[0][None, :])
            y = (state["ssm"] @ C[0])[None]
        y = (y + u * w[m + "D"]) * silu(z)
        return linear(y, w[m + "out_proj.weight"], w.get(m + "out_proj.bias"))


def selective_scan_loop(u, dt, A, B, C):
    """y_t = C_t . h_t with h_t = exp(dt_t A) h_{t-1} + dt_t B_t u_t, h_0 = 0.

    u, dt [T, i]; A [i, n]; B, C [T, n]; returns y [T, i]. Vectorised over
    channels and state, a loop over time.
    """
    decay = torch.exp(dt[:, :, None] * A[None])  # [T, i, n]
    inject = (dt * u)[:, :, None] * B[:, None, :]  # [T, i, n]
    h, ys = torch.zeros_like(A), []
    for t in range(u.shape[0]):
        h = decay[t] * h + inject[t]
        ys.append(h @ C[t])
    return torch.stack(ys)


def selective_scan_quadratic(u, dt, A, B, C):
    """y_t = C_t . h_t with h_t = exp(dt_t A) h_{t-1} + dt_t B_t u_t, h_0 = 0.

    Unrolled: h_t = sum_{s<=t} exp(L_t - L_s) dt_s u_s B_s with L the cumulative
    sum of dt A over time, so the whole sequence is one masked einsum
    (O(T^2) memory): a second, loop-free formulation for the self-check.
    """
    T = u.shape[0]
    L = torch.cumsum(dt[:, :, None] * A[None], dim=0)  # [T, i, n]
    diff = L[:, None] - L[None, :]  # [t, s, i, n]
    causal = torch.arange(T)[None, :] <= torch.arange(T)[:, None]
    decay = torch.exp(diff.masked_fill(~causal[:, :, None, None],
                                       float("-inf")))
    return torch.einsum("tn,tsin,si,sn->ti", C, decay, dt * u, B)


ARCHITECTURES = {"GPTNeoXForCausalLM": GPTNeoX, "LlamaForCausalLM": Llama,
                 "MistralForCausalLM": Llama,
                 "MambaForCausalLM": Mamba,
                 "RWKV7ForCausalLM":
                     lambda c, t: rwkv7_ref.Rwkv7(c, t, take_weights)}
# Architectures modelled in files of their own (they take take_weights).
for _arch, _module, _cls in (
        ("GatedDeltaNetForCausalLM", "fla_gated_deltanet_ref", "GatedDeltaNet"),
        ("Mamba2ForCausalLM", "mamba2_ref", "Mamba2")):
    ARCHITECTURES[_arch] = (lambda cls: lambda c, t: cls(c, t, take_weights))(
        getattr(__import__(_module), _cls))


def build_model(config, tensors):
    arch = (config.get("architectures") or [None])[0]
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"architecture {arch}; supported: "
                              f"{sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](config, tensors)


def max_row_relative(a, b):
    return ((a - b).abs().max(dim=1).values /
            b.abs().max(dim=1).values).max().item()


def self_check(model, tokens):
    """Token-by-token (cache / recurrence) logits equal the whole-sequence
    ones, and so do those of any alternative scan formulation."""
    full = model.forward(tokens)
    state = model.new_state()
    steps = torch.cat([model.forward(tokens[t:t + 1], state, t)
                       for t in range(len(tokens))])
    errors = {"stepped": max_row_relative(steps, full)}
    scan = getattr(model, "scan", None)
    for alternative in getattr(model, "alternative_scans", []):
        model.scan = alternative
        errors[alternative.__name__] = max_row_relative(model.forward(tokens),
                                                        full)
        model.scan = scan
    for what, err in errors.items():
        if not err <= SELF_CHECK_TOLERANCE:
            raise AssertionError(f"self-check: {what} vs whole-sequence logits "
                                 f"differ by {err:.3e} relative")
    return full, max(errors.values())


def greedy(model, tokens, steps):
    seq, chosen, margins = list(tokens.tolist()), [], []
    for _ in range(steps):
        row = model.forward(torch.tensor(seq))[-1]
        top = torch.topk(row, 2).values
        chosen.append(int(torch.argmax(row)))
        margins.append(float((top[0] - top[1]) / row.abs().max()))
        seq.append(chosen[-1])
    return np.array(chosen, dtype=np.int32), np.array(margins)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--tokens", required=True, help="comma-separated ids")
    parser.add_argument("--greedy", type=int, default=32)
    parser.add_argument("--out", required=True)
    parser.add_argument("--perturb", help="NAME:INDEX:DELTA")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config, tensors = load_checkpoint(args.checkpoint)
    model = build_model(config, tensors)
    tokens = torch.tensor([int(t) for t in args.tokens.split(",")])
    if tokens.min() < 0 or tokens.max() >= model.vocab:
        raise CheckpointError(f"token ids must be in [0, {model.vocab})")
    logits, err = self_check(model, tokens)
    assert logits.shape == (len(tokens), model.vocab)
    assert torch.isfinite(logits).all()
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "logits.npy"), logits.numpy())
    ids, margins = greedy(model, tokens, args.greedy)
    np.save(os.path.join(args.out, "greedy.npy"), ids)
    np.save(os.path.join(args.out, "greedy_margin.npy"), margins)
    line = f"self-check {err:.1e}"
    if args.perturb:
        name, index, delta = args.perturb.split(":")
        if name not in model.w or not 0 <= int(index) < model.w[name].numel():
            raise CheckpointError(f"--perturb: no element {index} of {name}")
        model.w[name].view(-1)[int(index)] += float(delta)
        perturbed = model.forward(tokens)
        np.save(os.path.join(args.out, "perturbed_logits.npy"),
                perturbed.numpy())
        line += f", perturbed {name}[{index}] by {delta}"
    print(f"torch_reference {args.checkpoint}: T={len(tokens)} "
          f"V={model.vocab} {line}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckpointError as e:
        print(f"torch_reference: {e}", file=sys.stderr)
        sys.exit(2)
