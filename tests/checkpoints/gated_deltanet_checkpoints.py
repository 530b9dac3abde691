"""Random GatedDeltaNetForCausalLM checkpoints in flash-linear-attention's
layout, for make_checkpoints.py (which owns the file writing; this module only
lists config.json and the tensors with how to fill them).

Names and shapes as fla's GatedDeltaNetForCausalLM state dict has them:
model.embeddings.weight [V, d]; per layer model.layers.<i>.attn_norm.weight,
attn.{q,k}_proj.weight [H*dk, d], attn.v_proj.weight / g_proj.weight
[HV*dv, d], attn.{a,b}_proj.weight [HV, d], attn.A_log / attn.dt_bias [HV],
attn.{q,k,v}_conv1d.weight [C, 1, K] (no conv bias: fla builds the
ShortConvolutions without one), attn.o_norm.weight [dv], attn.o_proj.weight
[d, HV*dv], mlp_norm.weight, mlp.{gate,up}_proj.weight [ff, d],
mlp.down_proj.weight [d, ff]; model.norm.weight; lm_head.weight unless tied.
"""
import math


def gated_deltanet(tensor, normal, vocab=96, hidden=64, heads=2, v_heads=None,
                   head_dim=16, expand_v=2.0, layers=2, conv=4, use_gate=True,
                   short_conv=True, neg_eigval=False, tied=False, ff=None,
                   out_gain=1.0, embed_std=0.003):
    """(config, tensors); `tensor` and `normal` are make_checkpoints.py's
    Tensor class and normal() init helper."""
    hv = v_heads or heads
    dv = int(head_dim * expand_v)
    kd, vd = heads * head_dim, hv * dv
    config = {
        "architectures": ["GatedDeltaNetForCausalLM"], "attn": None,
        "attn_mode": "chunk", "bos_token_id": 1, "conv_size": conv,
        "eos_token_id": 2, "expand_v": expand_v, "fuse_cross_entropy": True,
        "fuse_norm": True, "fuse_swiglu": True, "head_dim": head_dim,
        "hidden_act": "swish", "hidden_ratio": 4, "hidden_size": hidden,
        "initializer_range": 0.02, "intermediate_size": ff,
        "max_position_embeddings": 2048, "model_type": "gated_deltanet",
        "norm_eps": 1e-6, "num_heads": heads, "num_hidden_layers": layers,
        "num_v_heads": v_heads, "tie_word_embeddings": tied,
        "torch_dtype": "float32", "transformers_version": "4.53.3",
        "use_cache": True, "use_gate": use_gate, "use_short_conv": short_conv,
        "allow_neg_eigval": neg_eigval, "vocab_size": vocab}
    if ff is None:  # fla's GatedMLP default from hidden_ratio
        ff = 256 * ((int(hidden * 4 * 2 / 3) + 255) // 256)
    h = 1.0 / math.sqrt(hidden)
    logit_std = 1.6 / math.sqrt(hidden)
    final_gain = logit_std / embed_std if tied else 1.0
    ts = [tensor("model.embeddings.weight", [vocab, hidden], normal(embed_std))]
    for i in range(layers):
        p = f"model.layers.{i}."
        a = p + "attn."
        ts += [
            tensor(p + "attn_norm.weight", [hidden], normal(0.1, 1.0)),
            tensor(a + "q_proj.weight", [kd, hidden], normal(h)),
            tensor(a + "k_proj.weight", [kd, hidden], normal(h)),
            tensor(a + "v_proj.weight", [vd, hidden], normal(1.5 * h)),
            tensor(a + "a_proj.weight", [hv, hidden], normal(h)),
            tensor(a + "b_proj.weight", [hv, hidden], normal(2 * h)),
            tensor(a + "A_log", [hv], normal(0.3, 0.0)),
            tensor(a + "dt_bias", [hv], ("dt_bias", 0.05, 0.5))]
        if short_conv:
            ts += [tensor(a + f"{n}_conv1d.weight", [w, 1, conv], normal(0.5))
                   for n, w in (("q", kd), ("k", kd), ("v", vd))]
        if use_gate:
            ts.append(tensor(a + "g_proj.weight", [vd, hidden], normal(2 * h)))
        ts += [
            tensor(a + "o_norm.weight", [dv], normal(0.1, 1.0)),
            tensor(a + "o_proj.weight", [hidden, vd],
                   normal(out_gain / math.sqrt(vd))),
            tensor(p + "mlp_norm.weight", [hidden], normal(0.1, 1.0)),
            tensor(p + "mlp.gate_proj.weight", [ff, hidden], normal(1.5 * h)),
            tensor(p + "mlp.up_proj.weight", [ff, hidden], normal(h)),
            tensor(p + "mlp.down_proj.weight", [hidden, ff],
                   normal(out_gain / math.sqrt(ff)))]
    ts.append(tensor("model.norm.weight", [hidden],
                     normal(0.1 * final_gain, final_gain)))
    if not tied:
        ts.append(tensor("lm_head.weight", [vocab, hidden], normal(logit_std)))
    return config, ts


def cases(tensor, normal):
    """name -> (builder, seed, shards), as make_checkpoints.CASES."""
    return {
        # 2 key heads of 16, value heads of 32, gate, convs, ff from
        # hidden_ratio (256).
        "gdn": (lambda: gated_deltanet(tensor, normal, out_gain=3.0), 11, 1),
        # Grouped values (4 value heads over 2 key heads), no gate, negative
        # eigenvalues (beta in (0, 2)), explicit ff, tied head.
        "gdn_gva": (lambda: gated_deltanet(
            tensor, normal, v_heads=4, expand_v=1.0, use_gate=False,
            neg_eigval=True, tied=True, ff=96, out_gain=3.0,
            embed_std=0.001), 12, 1),
    }


def bench(tensor, normal):
    """name -> (builder, seed): a ~137M-parameter shape beside mamba130m and
    pythia160m (hidden 768, 6 heads of 96 with expand_v 2 as fla's recipes
    use 0.75·d for the keys, 12 layers, SwiGLU ff 2048, tied head)."""
    return {
        "gdn130m": (lambda: gated_deltanet(
            tensor, normal, vocab=50280, hidden=768, heads=6, head_dim=96,
            expand_v=2.0, layers=12, tied=True), 203),
    }
