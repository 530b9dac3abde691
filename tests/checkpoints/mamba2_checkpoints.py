"""Random Mamba2ForCausalLM checkpoints in Hugging Face transformers' layout,
for make_checkpoints.py (which owns the file writing; this module only lists
config.json and the tensors with how to fill them). config.json carries
time_step_limit as transformers writes it: [0.0, Infinity] by default (the
word Python's json module writes for float('inf')).

Names and shapes as transformers' Mamba2ForCausalLM state dict has them:
backbone.embeddings.weight [V, d]; per layer backbone.layers.<i>.norm.weight
[d], mixer.in_proj.weight [di + (di + 2GN) + H, d] (rows z | xBC | dt),
mixer.conv1d.weight [di + 2GN, 1, K] and .bias, mixer.dt_bias / A_log / D
[H], mixer.norm.weight [di], mixer.out_proj.weight [d, di] (+ in/out biases
with use_bias); backbone.norm_f.weight; lm_head.weight unless tied.
"""
import math


def mamba2(tensor, normal, vocab=96, hidden=64, heads=8, head_dim=16,
           state=16, groups=1, expand=2, conv=4, layers=2, use_bias=False,
           tied=False, dt_limit=(0.0, math.inf), out_gain=1.0,
           embed_std=0.003):
    """(config, tensors); `tensor` and `normal` are make_checkpoints.py's
    Tensor class and normal() init helper."""
    di = expand * hidden
    assert heads * head_dim == di
    conv_dim = di + 2 * groups * state
    config = {
        "architectures": ["Mamba2ForCausalLM"], "bos_token_id": 0,
        "chunk_size": 256, "conv_kernel": conv, "eos_token_id": 0,
        "expand": expand, "head_dim": head_dim, "hidden_act": "silu",
        "hidden_size": hidden, "initializer_range": 0.1,
        "layer_norm_epsilon": 1e-5, "model_type": "mamba2", "n_groups": groups,
        "num_heads": heads, "num_hidden_layers": layers, "pad_token_id": 0,
        "rescale_prenorm_residual": False, "residual_in_fp32": True,
        "rms_norm": True, "state_size": state, "tie_word_embeddings": tied,
        "time_step_floor": 1e-4, "time_step_limit": list(dt_limit),
        "time_step_max": 0.1, "time_step_min": 0.001,
        "time_step_rank": math.ceil(hidden / 16), "torch_dtype": "float32",
        "transformers_version": "4.44.0", "use_bias": use_bias,
        "use_cache": True, "use_conv_bias": True, "vocab_size": vocab}
    logit_std = 1.6 / math.sqrt(hidden)
    final_gain = logit_std / embed_std if tied else 1.0
    ts = [tensor("backbone.embeddings.weight", [vocab, hidden],
                 normal(embed_std))]
    for i in range(layers):
        p = f"backbone.layers.{i}."
        m = p + "mixer."
        ts += [tensor(p + "norm.weight", [hidden], normal(0.1, 1.0)),
               tensor(m + "in_proj.weight", [di + conv_dim + heads, hidden],
                      normal(1.0 / math.sqrt(hidden)))]
        if use_bias:
            ts.append(tensor(m + "in_proj.bias", [di + conv_dim + heads],
                             normal(0.05)))
        ts += [
            tensor(m + "conv1d.weight", [conv_dim, 1, conv], normal(0.4)),
            tensor(m + "conv1d.bias", [conv_dim], normal(0.05)),
            tensor(m + "dt_bias", [heads], ("dt_bias", 1e-3, 0.1)),
            tensor(m + "A_log", [heads], normal(0.5, 1.0)),
            tensor(m + "D", [heads], normal(0.1, 1.0)),
            tensor(m + "norm.weight", [di], normal(0.1, 1.0)),
            tensor(m + "out_proj.weight", [hidden, di],
                   normal(out_gain / math.sqrt(di)))]
        if use_bias:
            ts.append(tensor(m + "out_proj.bias", [hidden], normal(0.05)))
    ts.append(tensor("backbone.norm_f.weight", [hidden],
                     normal(0.1 * final_gain, final_gain)))
    if not tied:
        ts.append(tensor("lm_head.weight", [vocab, hidden], normal(logit_std)))
    return config, ts


def cases(tensor, normal):
    """name -> (builder, seed, shards), as make_checkpoints.CASES."""
    return {
        # 8 heads of 16 sharing one B/C group, untied head.
        "mamba2": (lambda: mamba2(tensor, normal, out_gain=3.0), 25, 1),
        # 2 groups (heads 0-3 read group 0, 4-7 group 1; the gated norm per
        # group), in/out biases, tied head, hidden 48, and a time_step_limit
        # that clamps (dt_bias alone spans [1e-3, 0.1]).
        "mamba2_groups": (lambda: mamba2(
            tensor, normal, hidden=48, heads=8, head_dim=12, groups=2,
            use_bias=True, tied=True, dt_limit=(0.005, 0.05), out_gain=3.0,
            embed_std=0.001), 22, 1),
    }


def bench(tensor, normal):
    """name -> (builder, seed): the state-spaces/mamba2-130m shape (hidden
    768, 24 layers, 24 heads of 64, state 128, one group, tied head)."""
    return {
        "mamba2_130m": (lambda: mamba2(
            tensor, normal, vocab=50280, hidden=768, heads=24, head_dim=64,
            state=128, groups=1, layers=24, tied=True), 204),
    }
