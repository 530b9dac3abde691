#!/usr/bin/env python3
"""Writes the seed corpora of safetensors_header_fuzz and hf_config_fuzz.

Run from the repository root: python3 tests/fuzz/make_weights_seeds.py
Each seed is a small valid or edge-case file; the fuzzer mutates from them.
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def safetensors(tensors, metadata=None, pad=True, extra_data=b""):
    """tensors: list of (name, dtype, shape, data bytes), laid out in order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data + extra_data


def write(target, name, content):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())


def main():
    t = "safetensors_header_fuzz"
    f32 = struct.pack("<4f", 1, -2, 0.5, 3)
    write(t, "valid_f32", safetensors([("w", "F32", [2, 2], f32)]))
    write(t, "valid_mixed", safetensors([
        ("gpt_neox.embed_in.weight", "BF16", [3, 2], b"\x80\x3f" * 6),
        ("gpt_neox.layers.0.attention.rotary_emb.inv_freq", "F32", [2],
         struct.pack("<2f", 1, 0.01)),
        ("ids", "I64", [1], struct.pack("<q", 7)),
        ("flag", "BOOL", [3], b"\x01\x00\x01"),
        ("h", "F16", [], b"\x00\x3c")], metadata={"format": "pt"}))
    write(t, "valid_empty_tensors", safetensors([
        ("e", "F32", [0, 4], b""), ("s", "U8", [], b"x"),
        ("f", "F64", [1], struct.pack("<d", 2.5))]))
    write(t, "valid_no_tensors", safetensors([], metadata={}))
    write(t, "unpadded", safetensors([("w", "F32", [4], f32)], pad=False))
    write(t, "hole_at_end", safetensors([("w", "F32", [4], f32)],
                                        extra_data=b"xx"))
    hdr = (b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
           b'"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}')
    write(t, "overlap", struct.pack("<Q", len(hdr)) + hdr + b"\0" * 12)
    write(t, "truncated", b"\x10\x00\x00")
    write(t, "header_past_end", struct.pack("<Q", 4096) + b"{}")

    t = "hf_config_fuzz"
    write(t, "pythia", json.dumps({
        "architectures": ["GPTNeoXForCausalLM"], "hidden_act": "gelu",
        "hidden_size": 768, "intermediate_size": 3072,
        "layer_norm_eps": 1e-05, "max_position_embeddings": 2048,
        "model_type": "gpt_neox", "num_attention_heads": 12,
        "num_hidden_layers": 12, "rotary_emb_base": 10000,
        "rotary_pct": 0.25, "tie_word_embeddings": False,
        "torch_dtype": "float16", "use_parallel_residual": True,
        "vocab_size": 50304}, indent=2))
    write(t, "llama", json.dumps({
        "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
        "num_key_value_heads": 2, "num_attention_heads": 4,
        "rms_norm_eps": 1e-06, "rope_theta": 500000.0, "rope_scaling": None,
        "tie_word_embeddings": True, "vocab_size": 128}))
    write(t, "mamba", json.dumps({
        "architectures": ["MambaForCausalLM"], "d_model": 768,
        "hidden_size": 768, "state_size": 16, "expand": 2, "conv_kernel": 4,
        "use_bias": False, "use_conv_bias": True, "time_step_rank": 48,
        "vocab_size": 50280, "layer_norm_epsilon": 1e-05}))
    write(t, "edge_types", '{"hidden_size": 2.0, "rope_theta": 1e9,'
          ' "num_attention_heads": null, "architectures": [],'
          ' "hidden_act": "\\u00e9", "vocab_size": 9223372036854775807}')
    write(t, "bad_values", '{"hidden_size": -3, "rope_theta": "x",'
          ' "architectures": ["A", 1], "tie_word_embeddings": 1}')
    write(t, "not_object", "[1, 2, 3]")
    write(t, "not_json", '{"hidden_size": ')


if __name__ == "__main__":
    main()
