#!/usr/bin/python3
"""Writes random-weight checkpoints in the Hugging Face model-directory layout.

Each checkpoint is a directory holding config.json (as save_pretrained writes
it: sorted keys, indent 2, "architectures", "model_type", "torch_dtype") and
either model.safetensors or shards model-0000i-of-0000n.safetensors plus
model.safetensors.index.json. The safetensors files are written here by hand
from the format: an 8-byte little-endian header length, a JSON header
{name: {dtype, shape, data_offsets}} (plus "__metadata__") padded with spaces
to a multiple of 8, then the raw little-endian tensor bytes. Header keys are
sorted by name while the data is laid out in model order, so a reader cannot
assume that header order is data order.

  make_checkpoints.py --out DIR                 # every test case, DIR/<case>/
  make_checkpoints.py --out DIR --case neox     # one case (repeatable)
  make_checkpoints.py --list                    # the case names
  make_checkpoints.py --bench pythia160m --out DIR   # full-size, for speed
  make_checkpoints.py --bench mamba130m --out DIR
  make_checkpoints.py --bench rwkv7_168m --out DIR   # rwkv7_checkpoints.py

The cases (vocab 96, 2 layers; see CASES):
  neox           GPT-NeoX, hidden 64, 4 heads, rotary_pct 0.25, parallel
                 residual, untied embed_out, legacy buffers (bool mask)
  neox_seq       sequential residual, rotary_pct 0.5, F16, uint8 mask buffer
  llama_gqa      Llama, hidden 64, 4 heads / 2 KV heads, untied lm_head
  llama_tied     tied head (no lm_head), rope_theta 5e5, eps 1e-6, 4 KV heads,
                 no "head_dim" key
  llama_sharded  as llama_gqa, two shards plus the index
  llama_bf16     as llama_gqa, BF16
  mistral        MistralForCausalLM: llama_gqa's tensors, sliding_window 8
  mamba          Mamba, hidden 64, state 16, dt_rank 4, no in/out bias, the
                 extra keys of the state-spaces/mamba-*-hf configs
  mamba_bias     hidden 80, use_bias, time_step_rank "auto" (= 5)
  llama_text     as llama_gqa with vocab 288 and a tokenizer.json: a tiny
                 byte-level BPE (the 256 byte symbols plus 32 merges) so the
                 engine takes text (tests/tokenizer)
  gdn, gdn_gva   GatedDeltaNetForCausalLM (gated_deltanet_checkpoints.py)
  mamba2, mamba2_groups  Mamba2ForCausalLM (mamba2_checkpoints.py)

Test cases also get DIR/<case>/prompt.json: {"tokens": [24 token ids]}
(bench checkpoints: 512 ids). Weights are seeded (same bytes every run),
scaled by role so logits spread over a few units, and generated tensor by
tensor in row chunks, so the full-size checkpoints stream to disk with memory
bounded by one chunk. Uses numpy only: it shares no code with the PyTorch
reference, which parses these files on its own.
"""
import argparse
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np

import rwkv7_checkpoints  # RWKV7ForCausalLM cases (its own file)

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "BOOL": 1, "U8": 1}
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
CHUNK_ELEMENTS = 1 << 22  # values generated at a time (16 MB of float32)
PROMPT_LENGTH = 24
BENCH_PROMPT_LENGTH = 512


class Tensor:
    """One tensor to write: name, shape, storage dtype and how to fill it.

    init is ("normal", std, mean) | ("const", value) | ("a_log",) |
    ("dt_bias", dt_min, dt_max) | ("tril",) | ("inv_freq", base).
    """

    def __init__(self, name, shape, init, dtype="F32"):
        self.name, self.shape = name, list(shape)
        self.init, self.dtype = init, dtype

    @property
    def nbytes(self):
        return math.prod(self.shape) * DTYPE_BYTES[self.dtype]


def to_bytes(values, dtype):
    if dtype == "F32":
        return values.astype("<f4").tobytes()
    if dtype == "F16":  # -1e9 (masked_bias) becomes -inf, as in real files
        with np.errstate(over="ignore"):
            return values.astype("<f2").tobytes()
    if dtype == "BF16":  # round to nearest even on the upper 16 bits
        bits = values.astype("<f4").view("<u4").astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes()
    if dtype == "BOOL":
        return values.astype(np.bool_).tobytes()
    if dtype == "U8":
        return values.astype(np.uint8).tobytes()
    raise ValueError(f"unknown dtype {dtype}")


def chunks(tensor, seed):
    """Yields the tensor's values (flattened, row-major) in bounded chunks."""
    rng = np.random.default_rng([seed, zlib.crc32(tensor.name.encode())])
    shape, kind = tensor.shape, tensor.init[0]
    total = math.prod(shape)
    if kind == "tril":  # legacy causal-mask buffer [1, 1, P, P]
        p = shape[-1]
        rows_per = max(1, CHUNK_ELEMENTS // p)
        for r0 in range(0, p, rows_per):
            r = np.arange(r0, min(p, r0 + rows_per))[:, None]
            yield np.arange(p)[None, :] <= r
        return
    if kind == "inv_freq":  # legacy rotary buffer [rotary_ndims / 2]
        dim = 2 * shape[0]
        yield 1.0 / (tensor.init[1]**(np.arange(0, dim, 2, dtype=np.float64) /
                                      dim))
        return
    if kind == "const":
        yield np.full(total, tensor.init[1], dtype=np.float32)
        return
    if kind == "a_log":  # S4D-real init log(1..N) per channel, jittered
        channels, n = shape
        base = np.log(np.arange(1, n + 1, dtype=np.float64))[None, :]
        yield base + 0.1 * rng.standard_normal((channels, n))
        return
    if kind == "dt_bias":  # softplus(bias) = dt, log-uniform in [lo, hi]
        lo, hi = tensor.init[1], tensor.init[2]
        dt = np.exp(rng.uniform(math.log(lo), math.log(hi), total))
        yield dt + np.log(-np.expm1(-dt))  # inverse softplus
        return
    assert kind == "normal", tensor.init
    std, mean = tensor.init[1], tensor.init[2]
    for start in range(0, total, CHUNK_ELEMENTS):
        n = min(CHUNK_ELEMENTS, total - start)
        yield mean + std * rng.standard_normal(n, dtype=np.float32)


def write_safetensors(path, tensors, seed):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in tensors:
        header[t.name] = {"dtype": t.dtype, "shape": t.shape,
                          "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for t in tensors:
            written = 0
            for values in chunks(t, seed):
                data = to_bytes(np.asarray(values), t.dtype)
                f.write(data)
                written += len(data)
            assert written == t.nbytes, (t.name, written, t.nbytes)


def write_checkpoint(directory, config, tensors, seed, shards=1, prompt=None):
    os.makedirs(directory, exist_ok=True)
    for stale in os.listdir(directory):
        if stale.startswith("model") and (stale.endswith(".safetensors") or
                                          stale.endswith(".json")):
            os.remove(os.path.join(directory, stale))
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if shards == 1:
        write_safetensors(os.path.join(directory, "model.safetensors"), tensors,
                          seed)
    else:  # contiguous groups of about equal byte size, like max_shard_size
        total = sum(t.nbytes for t in tensors)
        groups, acc = [[] for _ in range(shards)], 0
        for t in tensors:
            groups[min(shards - 1, acc * shards // total)].append(t)
            acc += t.nbytes
        weight_map = {}
        for i, group in enumerate(groups):
            name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            write_safetensors(os.path.join(directory, name), group, seed)
            weight_map.update({t.name: name for t in group})
        index = {"metadata": {"total_size": total},
                 "weight_map": dict(sorted(weight_map.items()))}
        with open(os.path.join(directory, "model.safetensors.index.json"),
                  "w") as f:
            f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    if prompt is not None:
        with open(os.path.join(directory, "prompt.json"), "w") as f:
            json.dump({"tokens": [int(t) for t in prompt]}, f)
            f.write("\n")


def normal(std, mean=0.0):
    return ("normal", float(std), float(mean))


def neox(vocab=96, hidden=64, heads=4, layers=2, inter=256, rotary_pct=0.25,
         parallel=True, dtype="F32", legacy_mask="BOOL", max_pos=256,
         out_gain=1.0, mlp_gain=2.0, embed_std=0.003):
    config = {
        "architectures": ["GPTNeoXForCausalLM"], "attention_bias": True,
        "attention_dropout": 0.0, "bos_token_id": 0, "classifier_dropout": 0.1,
        "eos_token_id": 0, "hidden_act": "gelu", "hidden_dropout": 0.0,
        "hidden_size": hidden, "initializer_range": 0.02,
        "intermediate_size": inter, "layer_norm_eps": 1e-5,
        "max_position_embeddings": max_pos, "model_type": "gpt_neox",
        "num_attention_heads": heads, "num_hidden_layers": layers,
        "rope_scaling": None, "rotary_emb_base": 10000,
        "rotary_pct": rotary_pct, "tie_word_embeddings": False,
        "torch_dtype": TORCH_DTYPE[dtype], "transformers_version": "4.40.2",
        "use_cache": True, "use_parallel_residual": parallel,
        "vocab_size": vocab}
    rotary_ndims = int(hidden // heads * rotary_pct)
    q_std = 1.2 / math.sqrt(hidden)
    ts = [Tensor("gpt_neox.embed_in.weight", [vocab, hidden],
                 normal(embed_std))]
    for i in range(layers):
        p = f"gpt_neox.layers.{i}."
        ts += [
            Tensor(p + "input_layernorm.weight", [hidden], normal(0.1, 1.0)),
            Tensor(p + "input_layernorm.bias", [hidden], normal(0.05)),
            Tensor(p + "post_attention_layernorm.weight", [hidden],
                   normal(0.1, 1.0)),
            Tensor(p + "post_attention_layernorm.bias", [hidden], normal(0.05)),
            Tensor(p + "attention.query_key_value.weight", [3 * hidden, hidden],
                   normal(q_std)),
            Tensor(p + "attention.query_key_value.bias", [3 * hidden],
                   normal(0.05)),
            Tensor(p + "attention.dense.weight", [hidden, hidden],
                   normal(out_gain / math.sqrt(hidden))),
            Tensor(p + "attention.dense.bias", [hidden], normal(0.02)),
            Tensor(p + "mlp.dense_h_to_4h.weight", [inter, hidden],
                   normal(mlp_gain / math.sqrt(hidden))),
            Tensor(p + "mlp.dense_h_to_4h.bias", [inter], normal(0.05)),
            Tensor(p + "mlp.dense_4h_to_h.weight", [hidden, inter],
                   normal(mlp_gain * out_gain / math.sqrt(inter))),
            Tensor(p + "mlp.dense_4h_to_h.bias", [hidden], normal(0.02)),
        ]
        if legacy_mask:  # buffers older GPT-NeoX checkpoints carry
            ts += [
                Tensor(p + "attention.bias", [1, 1, max_pos, max_pos],
                       ("tril",), legacy_mask),
                Tensor(p + "attention.masked_bias", [], ("const", -1e9)),
                Tensor(p + "attention.rotary_emb.inv_freq", [rotary_ndims // 2],
                       ("inv_freq", 10000.0)),
            ]
    ts += [
        Tensor("gpt_neox.final_layer_norm.weight", [hidden], normal(0.1, 1.0)),
        Tensor("gpt_neox.final_layer_norm.bias", [hidden], normal(0.05)),
        Tensor("embed_out.weight", [vocab, hidden],
               normal(1.6 / math.sqrt(hidden))),
    ]
    for t in ts:
        if t.dtype == "F32":
            t.dtype = dtype
    return config, ts


def llama(vocab=96, hidden=64, heads=4, kv_heads=2, layers=2, inter=160,
          eps=1e-5, theta=10000.0, tied=False, dtype="F32", head_dim_key=True,
          out_gain=1.0, embed_std=0.003):
    head_dim = hidden // heads
    config = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "hidden_size": hidden, "initializer_range": 0.02,
        "intermediate_size": inter, "max_position_embeddings": 256,
        "mlp_bias": False, "model_type": "llama", "num_attention_heads": heads,
        "num_hidden_layers": layers, "num_key_value_heads": kv_heads,
        "pretraining_tp": 1, "rms_norm_eps": eps, "rope_scaling": None,
        "rope_theta": theta, "tie_word_embeddings": tied,
        "torch_dtype": TORCH_DTYPE[dtype], "transformers_version": "4.44.2",
        "use_cache": True, "vocab_size": vocab}
    if head_dim_key:
        config["head_dim"] = head_dim
    h = 1.0 / math.sqrt(hidden)
    logit_std = 1.6 / math.sqrt(hidden)
    # A tied head reads with the (small) embedding; the final norm's gain
    # restores the logit scale.
    final_gain = logit_std / embed_std if tied else 1.0
    ts = [Tensor("model.embed_tokens.weight", [vocab, hidden],
                 normal(embed_std))]
    for i in range(layers):
        p = f"model.layers.{i}."
        ts += [
            Tensor(p + "input_layernorm.weight", [hidden], normal(0.1, 1.0)),
            Tensor(p + "self_attn.q_proj.weight", [heads * head_dim, hidden],
                   normal(1.2 * h)),
            Tensor(p + "self_attn.k_proj.weight", [kv_heads * head_dim, hidden],
                   normal(1.2 * h)),
            Tensor(p + "self_attn.v_proj.weight", [kv_heads * head_dim, hidden],
                   normal(h)),
            Tensor(p + "self_attn.o_proj.weight", [hidden, heads * head_dim],
                   normal(out_gain / math.sqrt(heads * head_dim))),
            Tensor(p + "post_attention_layernorm.weight", [hidden],
                   normal(0.1, 1.0)),
            Tensor(p + "mlp.gate_proj.weight", [inter, hidden],
                   normal(1.5 * h)),
            Tensor(p + "mlp.up_proj.weight", [inter, hidden], normal(h)),
            Tensor(p + "mlp.down_proj.weight", [hidden, inter],
                   normal(out_gain / math.sqrt(inter))),
        ]
    ts.append(Tensor("model.norm.weight", [hidden],
                     normal(0.1 * final_gain, final_gain)))
    if not tied:
        ts.append(Tensor("lm_head.weight", [vocab, hidden], normal(logit_std)))
    for t in ts:
        t.dtype = dtype
    return config, ts


def mistral(window=8, **kwargs):
    """MistralForCausalLM: llama()'s tensors with a sliding_window (shorter
    than the prompt, so the window shows in the logits)."""
    config, ts = llama(**kwargs)
    config.update({"architectures": ["MistralForCausalLM"],
                   "model_type": "mistral", "sliding_window": window})
    return config, ts


def mamba(vocab=96, hidden=64, state=16, expand=2, conv=4, dt_rank=4,
          layers=2, use_bias=False, real_extra_keys=True, out_gain=1.0,
          embed_std=0.003):
    inter = expand * hidden
    rank = math.ceil(hidden / 16) if dt_rank == "auto" else dt_rank
    config = {
        "architectures": ["MambaForCausalLM"], "bos_token_id": 0,
        "conv_kernel": conv, "eos_token_id": 0, "expand": expand,
        "hidden_act": "silu", "hidden_size": hidden, "initializer_range": 0.1,
        "intermediate_size": inter, "layer_norm_epsilon": 1e-5,
        "model_type": "mamba", "num_hidden_layers": layers, "pad_token_id": 0,
        "rescale_prenorm_residual": False, "residual_in_fp32": True,
        "state_size": state, "time_step_floor": 1e-4,
        "time_step_init_scheme": "random", "time_step_max": 0.1,
        "time_step_min": 0.001, "time_step_rank": dt_rank,
        "time_step_scale": 1.0, "torch_dtype": "float32",
        "transformers_version": "4.39.3", "use_bias": use_bias,
        "use_cache": True, "use_conv_bias": True, "vocab_size": vocab}
    if real_extra_keys:  # state-spaces/mamba-*-hf configs also carry these
        config.update({"d_inner": inter, "d_model": hidden,
                       "fused_add_norm": True, "n_layer": layers,
                       "pad_vocab_size_multiple": 8, "rms_norm": True,
                       "ssm_cfg": {}})
    final_gain = 1.6 / math.sqrt(hidden) / embed_std  # tied head, see llama()
    ts = [Tensor("backbone.embeddings.weight", [vocab, hidden],
                 normal(embed_std))]
    for i in range(layers):
        p = f"backbone.layers.{i}."
        m = p + "mixer."
        ts += [
            Tensor(p + "norm.weight", [hidden], normal(0.1, 1.0)),
            Tensor(m + "in_proj.weight", [2 * inter, hidden],
                   normal(1.0 / math.sqrt(hidden)))]
        if use_bias:
            ts.append(Tensor(m + "in_proj.bias", [2 * inter], normal(0.05)))
        ts += [
            Tensor(m + "conv1d.weight", [inter, 1, conv], normal(0.4)),
            Tensor(m + "conv1d.bias", [inter], normal(0.05)),
            Tensor(m + "x_proj.weight", [rank + 2 * state, inter],
                   normal(1.5 / math.sqrt(inter))),
            Tensor(m + "dt_proj.weight", [inter, rank],
                   normal(0.5 / math.sqrt(rank))),
            Tensor(m + "dt_proj.bias", [inter], ("dt_bias", 1e-3, 0.1)),
            Tensor(m + "A_log", [inter, state], ("a_log",)),
            Tensor(m + "D", [inter], normal(0.1, 1.0)),
            Tensor(m + "out_proj.weight", [hidden, inter],
                   normal(out_gain / math.sqrt(inter)))]
        if use_bias:
            ts.append(Tensor(m + "out_proj.bias", [hidden], normal(0.05)))
    ts.append(Tensor("backbone.norm_f.weight", [hidden],
                     normal(0.1 * final_gain, final_gain)))
    return config, ts


# name -> (builder, seed, shards). Seeds and out_gain (the scale of the
# projections that write into the residual stream) were picked so that greedy
# decoding wanders (random models tend to repeat one token) and every greedy
# step's top-2 logit gap is over 2e-3 of the row's max |logit|, far from a tie
# at the comparison's 1e-4 tolerance. Embeddings are small (std 0.003, 0.001
# for eps 1e-6) so the first norm's eps changes the logits by ~100%, and the
# GELU MLPs are strong enough that the tanh approximation shows (~3e-4).
CASES = {
    "neox": (lambda: neox(out_gain=2.0), 3, 1),
    # The causal-mask buffer was uint8 in older transformers, bool later.
    "neox_seq": (lambda: neox(rotary_pct=0.5, parallel=False, dtype="F16",
                              legacy_mask="U8", out_gain=2.0), 6, 1),
    "llama_gqa": (lambda: llama(), 8, 1),
    "llama_tied": (lambda: llama(kv_heads=4, eps=1e-6, theta=500000.0,
                                 tied=True, head_dim_key=False, out_gain=2.0,
                                 embed_std=0.001),
                   6, 1),
    "llama_sharded": (lambda: llama(), 4, 2),
    "llama_bf16": (lambda: llama(dtype="BF16"), 9, 1),
    # A query sees the last 8 positions of the 24-token prompt.
    "mistral": (lambda: mistral(), 8, 1),
    "mamba": (lambda: mamba(out_gain=3.0), 6, 1),
    # hidden 80 so that "auto" (ceil(80 / 16) = 5) differs from mamba's 4.
    "mamba_bias": (lambda: mamba(hidden=80, dt_rank="auto", use_bias=True,
                                 real_extra_keys=False, out_gain=3.0), 7, 1),
    "llama_text": (lambda: llama(vocab=288), 12, 1),
}
# Cases that also get a tokenizer.json (tiny_tokenizer()).
TOKENIZER_CASES = {"llama_text"}

# Merges of the tiny tokenizer, in rank order: common English pairs in the
# byte-level alphabet ("\u0120" is the space).
TINY_MERGES = [
    "\u0120 t", "h e", "i n", "e r", "a n", "o n", "\u0120 a", "r e",
    "\u0120t he", "e n", "\u0120 s", "o r", "e s", "a t", "\u0120 o",
    "i s", "\u0120 w", "\u0120 c", "a r", "i t", "a l", "\u0120 b", "e d",
    "\u0120 f", "in g", "o u", "\u0120 m", "l e", "\u0120 p", "i c",
    "\u0120o f", "\u0120 d",
]


def byte_level_char(b):
    """GPT-2's byte-to-character map of byte-level BPE."""
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100)))
    if b in printable:
        return chr(b)
    return chr(256 + sorted(set(range(256)) - set(printable)).index(b))


def tiny_tokenizer():
    """A byte-level BPE tokenizer.json with 256 + len(TINY_MERGES) ids."""
    vocab = {byte_level_char(b): b for b in range(256)}
    for merge in TINY_MERGES:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                          "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                    "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": TINY_MERGES},
    }

BENCH = {
    "pythia160m": (lambda: neox(vocab=50304, hidden=768, heads=12, layers=12,
                                inter=3072, max_pos=2048), 201),
    "mamba130m": (lambda: mamba(vocab=50280, hidden=768, layers=24,
                                dt_rank=48), 202),
}


rwkv7_checkpoints.register(CASES, BENCH, Tensor, normal)
# Architectures whose writers live in files of their own.
for _module in ("gated_deltanet_checkpoints", "mamba2_checkpoints"):
    _writer = __import__(_module)
    CASES.update(_writer.cases(Tensor, normal))
    BENCH.update(_writer.bench(Tensor, normal))


def prompt_for(seed, vocab, length):
    return np.random.default_rng([seed, 7]).integers(0, vocab, length)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="output directory")
    parser.add_argument("--case", action="append",
                        help="write only this case (repeatable)")
    parser.add_argument("--bench", choices=sorted(BENCH),
                        help="write one full-size checkpoint to --out")
    parser.add_argument("--list", action="store_true", help="print case names")
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    if not args.out:
        parser.error("--out is required")
    if args.bench:
        start = time.time()
        build, seed = BENCH[args.bench]
        config, tensors = build()
        write_checkpoint(args.out, config, tensors, seed,
                         prompt=prompt_for(seed, config["vocab_size"],
                                           BENCH_PROMPT_LENGTH))
        size = sum(os.path.getsize(os.path.join(args.out, f))
                   for f in os.listdir(args.out))
        print(f"{args.bench}: {len(tensors)} tensors, {size / 1e6:.1f} MB in "
              f"{args.out} ({time.time() - start:.1f} s)")
        return 0
    names = args.case or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {list(CASES)}")
    for name in names:
        build, seed, shards = CASES[name]
        config, tensors = build()
        write_checkpoint(os.path.join(args.out, name), config, tensors, seed,
                         shards=shards,
                         prompt=prompt_for(seed, config["vocab_size"],
                                           PROMPT_LENGTH))
        if name in TOKENIZER_CASES:
            with open(os.path.join(args.out, name, "tokenizer.json"), "w",
                      encoding="utf-8") as f:
                json.dump(tiny_tokenizer(), f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
