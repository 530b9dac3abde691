"""RWKV7ForCausalLM checkpoints (flash-linear-attention's layout) for
make_checkpoints.py: the config as fla's RWKV7Config saves it and every tensor
under the names fla/models/rwkv7/modeling_rwkv7.py and fla/layers/rwkv7.py
give them. register() adds the cases and the bench shape:

  rwkv7          hidden 64, head_dim 16 (4 heads), 2 layers, LoRA ranks
                 16/16/8/32 (w/a/v/g), intermediate_size from hidden_ratio,
                 value_dim as a per-layer list, fuse_norm, LayerNorm biases,
                 untied lm_head, the extra keys fla writes
  rwkv7_tied     hidden 48, num_heads 2 (no head_dim), 3 layers, value_dim 96
                 (= 2 x hidden, as an integer), no LayerNorm biases,
                 norm_first false, fuse_norm false, tied head, F16
  rwkv7_168m     (bench) hidden 768, 12 layers, head_dim 64, vocab 50304,
                 ranks 64/64/32/128 as fla-hub/rwkv7-168M-pile
"""
import math


def rwkv7(tensor, normal, vocab=96, hidden=64, layers=2, head_dim=16,
          num_heads=None, ranks=(16, 16, 8, 32), hidden_ratio=4,
          intermediate_size=None, value_dim="list", norm_bias=True,
          norm_first=True, fuse_norm=True, tied=False, dtype="F32",
          out_gain=1.0, logit_std=0.5):
    heads = hidden // head_dim if head_dim else num_heads
    dk = hidden // heads
    vd = hidden if value_dim in ("list", None) else value_dim
    ff = intermediate_size or 32 * ((int(hidden * hidden_ratio) + 31) // 32)
    w_rank, a_rank, v_rank, g_rank = ranks
    config = {
        "architectures": ["RWKV7ForCausalLM"], "a_low_rank_dim": a_rank,
        "attn": None, "attn_mode": "chunk", "bos_token_id": 1,
        "decay_low_rank_dim": w_rank, "eos_token_id": 2,
        "fuse_cross_entropy": True, "fuse_linear_cross_entropy": False,
        "fuse_norm": fuse_norm, "gate_low_rank_dim": g_rank,
        "head_dim": head_dim, "hidden_act": "sqrelu",
        "hidden_ratio": hidden_ratio, "hidden_size": hidden,
        "initializer_range": 0.006, "intermediate_size": intermediate_size,
        "max_position_embeddings": 2048, "model_type": "rwkv7",
        "norm_bias": norm_bias, "norm_eps": 1e-5, "norm_first": norm_first,
        "num_heads": num_heads, "num_hidden_layers": layers,
        "tie_word_embeddings": tied, "torch_dtype": "float32",
        "transformers_version": "4.48.0", "use_cache": True,
        "use_l2warp": True, "v_low_rank_dim": v_rank,
        "value_dim": [vd] * layers if value_dim == "list" else value_dim,
        "vocab_size": vocab}
    if head_dim is None:
        del config["head_dim"]

    def norm(prefix):
        out = [tensor(prefix + ".weight", [hidden], normal(0.1, 1.0))]
        if norm_bias:
            out.append(tensor(prefix + ".bias", [hidden], normal(0.1)))
        return out

    def lora(prefix, rank, out_dim, bias_mean=None):
        out = [tensor(prefix + ".lora.0.weight", [rank, hidden],
                      normal(1.0 / math.sqrt(hidden))),
               tensor(prefix + ".lora.2.weight", [out_dim, rank],
                      normal(1.0 / math.sqrt(rank)))]
        if bias_mean is not None:
            out.append(tensor(prefix + ".lora.2.bias", [out_dim],
                              normal(0.5, bias_mean)))
        return out

    ts = [tensor("model.embeddings.weight", [vocab, hidden], normal(1.0))]
    for i in range(layers):
        p = f"model.layers.{i}."
        a = p + "attn."
        if i == 0 and norm_first:
            ts += norm(p + "pre_norm")
        ts += norm(p + "attn_norm")
        ts += [tensor(a + x, [1, 1, hidden], normal(0.3, 0.5))
               for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g")]
        ts += [tensor(a + "k_k", [hidden], normal(0.2, 1.0)),
               tensor(a + "k_a", [hidden], normal(0.2, 1.0)),
               tensor(a + "r_k", [heads, dk], normal(0.3)),
               tensor(a + "r_proj.weight", [hidden, hidden],
                      normal(1.0 / math.sqrt(hidden))),
               tensor(a + "k_proj.weight", [hidden, hidden],
                      normal(1.0 / math.sqrt(hidden))),
               tensor(a + "v_proj.weight", [vd, hidden],
                      normal(1.0 / math.sqrt(hidden))),
               tensor(a + "o_proj.weight", [hidden, vd],
                      normal(out_gain / math.sqrt(vd)))]
        ts += lora(a + "w_lora", w_rank, hidden, bias_mean=0.0)
        if i > 0:
            ts += lora(a + "v_lora", v_rank, vd, bias_mean=0.0)
        ts += lora(a + "a_lora", a_rank, hidden, bias_mean=0.0)
        ts += lora(a + "g_lora", g_rank, vd)
        ts += [tensor(a + "g_norm.weight", [vd], normal(0.1, 1.0)),
               tensor(a + "g_norm.bias", [vd], normal(0.1))]
        ts += norm(p + "ffn_norm")
        ts += [tensor(p + "ffn.x_k", [hidden], normal(0.3, 0.5)),
               tensor(p + "ffn.key.weight", [ff, hidden],
                      normal(1.0 / math.sqrt(hidden))),
               tensor(p + "ffn.value.weight", [hidden, ff],
                      normal(out_gain / math.sqrt(ff)))]
    ts += norm("model.norm")
    if not tied:
        ts.append(tensor("lm_head.weight", [vocab, hidden], normal(logit_std)))
    for t in ts:
        t.dtype = dtype
    if dtype != "F32":
        config["torch_dtype"] = {"F16": "float16", "BF16": "bfloat16"}[dtype]
    return config, ts


def register(cases, bench, tensor, normal):
    """Adds the rwkv7 cases to make_checkpoints.py's CASES and BENCH (seeds
    and out_gain picked as make_checkpoints.py's CASES comment says: greedy
    wanders, every top-2 gap is over 3e-3 of the row's max |logit|)."""
    cases["rwkv7"] = (lambda: rwkv7(tensor, normal), 1, 1)
    cases["rwkv7_tied"] = (
        lambda: rwkv7(tensor, normal, hidden=48, layers=3, head_dim=None,
                      num_heads=2, value_dim=96, norm_bias=False,
                      norm_first=False, fuse_norm=False, tied=True,
                      intermediate_size=160, dtype="F16", logit_std=None,
                      out_gain=3.0),
        7, 1)
    bench["rwkv7_168m"] = (
        lambda: rwkv7(tensor, normal, vocab=50304, hidden=768, layers=12,
                      head_dim=64, ranks=(64, 64, 32, 128)),
        203)
