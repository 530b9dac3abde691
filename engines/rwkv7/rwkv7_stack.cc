#include "engines/rwkv7/rwkv7_stack.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "engines/ops/transformer_ops.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {
namespace {

std::string Layer(int l, const std::string& name) {
  return absl::StrCat("model.layers.", l, ".", name);
}

void AddNorm(const Rwkv7Shape& s, const std::string& prefix,
             TensorShapes* out) {
  out->push_back({prefix + ".weight", {s.d_model}});
  if (s.norm_bias) out->push_back({prefix + ".bias", {s.d_model}});
}

Norm LayerNormOf(const Rwkv7Shape& s, const TensorMap& w,
                 const std::string& prefix) {
  return {.kind = Norm::Kind::kLayer,
          .weight = w.Data(prefix + ".weight"),
          .bias = s.norm_bias ? w.Data(prefix + ".bias") : nullptr,
          .eps = s.norm_eps,
          .width = s.d_model};
}

}  // namespace

TensorShapes Rwkv7LayerTensors(const Rwkv7Shape& s) {
  const int64_t d = s.d_model, kd = int64_t{s.heads} * s.head_dim;
  const int64_t vd = s.value_dim;
  TensorShapes t;
  for (int l = 0; l < s.layers; ++l) {
    if (l == 0 && s.norm_first) AddNorm(s, Layer(l, "pre_norm"), &t);
    AddNorm(s, Layer(l, "attn_norm"), &t);
    for (const char* mu : {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"}) {
      t.push_back({Layer(l, absl::StrCat("attn.", mu)), {1, 1, d}});
    }
    t.push_back({Layer(l, "attn.k_k"), {kd}});
    t.push_back({Layer(l, "attn.k_a"), {kd}});
    t.push_back({Layer(l, "attn.r_k"), {s.heads, s.head_dim}});
    t.push_back({Layer(l, "attn.r_proj.weight"), {kd, d}});
    t.push_back({Layer(l, "attn.k_proj.weight"), {kd, d}});
    t.push_back({Layer(l, "attn.v_proj.weight"), {vd, d}});
    t.push_back({Layer(l, "attn.o_proj.weight"), {d, vd}});
    t.push_back({Layer(l, "attn.w_lora.lora.0.weight"), {s.w_rank, d}});
    t.push_back({Layer(l, "attn.w_lora.lora.2.weight"), {kd, s.w_rank}});
    t.push_back({Layer(l, "attn.w_lora.lora.2.bias"), {kd}});
    if (l > 0) {
      t.push_back({Layer(l, "attn.v_lora.lora.0.weight"), {s.v_rank, d}});
      t.push_back({Layer(l, "attn.v_lora.lora.2.weight"), {vd, s.v_rank}});
      t.push_back({Layer(l, "attn.v_lora.lora.2.bias"), {vd}});
    }
    t.push_back({Layer(l, "attn.a_lora.lora.0.weight"), {s.a_rank, d}});
    t.push_back({Layer(l, "attn.a_lora.lora.2.weight"), {kd, s.a_rank}});
    t.push_back({Layer(l, "attn.a_lora.lora.2.bias"), {kd}});
    t.push_back({Layer(l, "attn.g_lora.lora.0.weight"), {s.g_rank, d}});
    t.push_back({Layer(l, "attn.g_lora.lora.2.weight"), {vd, s.g_rank}});
    t.push_back({Layer(l, "attn.g_norm.weight"), {vd}});
    t.push_back({Layer(l, "attn.g_norm.bias"), {vd}});
    AddNorm(s, Layer(l, "ffn_norm"), &t);
    t.push_back({Layer(l, "ffn.x_k"), {d}});
    t.push_back({Layer(l, "ffn.key.weight"), {s.ff, d}});
    t.push_back({Layer(l, "ffn.value.weight"), {d, s.ff}});
  }
  AddNorm(s, "model.norm", &t);
  return t;
}

void AddPrenormedEmbeddings(const Rwkv7Shape& s, const float* embed,
                            TensorMap* weights) {
  const int64_t rows = s.vocab, d = s.d_model;
  float* out = weights->Add(kPrenormedEmbeddings, {rows, d});
  if (!s.norm_first) {
    ops::Copy(embed, out, rows * d);
    return;
  }
  const Norm pre = LayerNormOf(s, *weights, Layer(0, "pre_norm"));
  pre.Apply(embed, rows, out);  // [V, d]
}

LayerStack MakeRwkv7Stack(const Rwkv7Shape& s, const TensorMap& w,
                          const float* readout) {
  LayerStack stack;
  stack.frame = {.d_model = s.d_model,
                 .vocab = s.vocab,
                 .embed = w.Data(kPrenormedEmbeddings),
                 .final_norm = LayerNormOf(s, w, "model.norm"),
                 .readout = readout};
  for (int l = 0; l < s.layers; ++l) {
    auto t = [&](const char* name) { return w.Data(Layer(l, name)); };
    Rwkv7TimeMix::Weights tw;
    const char* mus[6] = {"attn.x_r", "attn.x_w", "attn.x_k",
                          "attn.x_v", "attn.x_a", "attn.x_g"};
    for (int c = 0; c < 6; ++c) tw.mu[c] = t(mus[c]);
    tw.k_k = t("attn.k_k");
    tw.k_a = t("attn.k_a");
    tw.r_k = t("attn.r_k");
    tw.r_proj = t("attn.r_proj.weight");
    tw.k_proj = t("attn.k_proj.weight");
    tw.v_proj = t("attn.v_proj.weight");
    tw.o_proj = t("attn.o_proj.weight");
    tw.w1 = t("attn.w_lora.lora.0.weight");
    tw.w2 = t("attn.w_lora.lora.2.weight");
    tw.w_bias = t("attn.w_lora.lora.2.bias");
    if (l > 0) {
      tw.v1 = t("attn.v_lora.lora.0.weight");
      tw.v2 = t("attn.v_lora.lora.2.weight");
      tw.v_bias = t("attn.v_lora.lora.2.bias");
    }
    tw.a1 = t("attn.a_lora.lora.0.weight");
    tw.a2 = t("attn.a_lora.lora.2.weight");
    tw.a_bias = t("attn.a_lora.lora.2.bias");
    tw.g1 = t("attn.g_lora.lora.0.weight");
    tw.g2 = t("attn.g_lora.lora.2.weight");
    tw.gn_weight = t("attn.g_norm.weight");
    tw.gn_bias = t("attn.g_norm.bias");
    StackBlock time;
    time.norm = LayerNormOf(s, w, Layer(l, "attn_norm"));
    time.mixer = std::make_unique<Rwkv7TimeMix>(s, l, tw);
    stack.blocks.push_back(std::move(time));
    StackBlock channel;
    channel.norm = LayerNormOf(s, w, Layer(l, "ffn_norm"));
    channel.mixer = std::make_unique<Rwkv7ChannelMix>(
        s, Rwkv7ChannelMix::Weights{.mu_k = t("ffn.x_k"),
                                    .key = t("ffn.key.weight"),
                                    .value = t("ffn.value.weight")});
    stack.blocks.push_back(std::move(channel));
  }
  return stack;
}

std::string Rwkv7FlopsFormula() {
  return "L*(8*d*d + 4*d*(Rw+Ra+Rg) + 4*d*Rv + 9*d*dk + 4*d*ff) + 2*V*d  "
         "(value width d, dk = d/H; no v LoRA on layer 0; flat in n)";
}

std::string Rwkv7StateFormula() {
  return "4*L*(2*d + dk*Vd)  (dk = d/H, Vd = value width over all heads, d "
         "unless value_dim says otherwise; constant)";
}

}  // namespace trilemma
