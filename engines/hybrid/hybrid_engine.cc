// Hybrids: engines inside the triangle, made of a compact recurrent memory
// and some softmax attention. Knob `shape` picks one of the two published
// shapes:
//
// shape=based (Arora et al. 2024, "Based"): every block runs, side by side
// on the same normed input, softmax attention over the last W tokens and a
// linear-attention state (taylor2 features by default); their outputs are
// summed by the block's output projection. State and compute stop growing at
// W (efficient and compact); recall is the window's for recent facts and
// the linear state's (capacity ~ d_φ) beyond it.
//   per block l, per session:
//     q, k, v = QkvBlock(l).ProjectNormed(norm(h))  q, k: [d | m], v: [d | d]
//     o_win = softmax attention of q[:d] over the last W (k[:d], v[:d])  [d]
//     o_lin = S_lᵀφ(q[d:]) after S_l += φ(k[d:]) v[d:]ᵀ               [d]
//     h += [o_win | o_lin] · Woᵀ = o_win·Wo_winᵀ + o_lin·Wo_linᵀ      [d]
//
// shape=jamba (Lieber et al. 2024, "Jamba"; also the 3:1 Gated DeltaNet /
// attention stacks): L layers (knob layers) of which A = round(ρ·L) (at
// least one when ρ > 0; ρ = attention_fraction) are full softmax attention
// over a paged KV cache and the rest recurrent (knob recurrent: the gated
// delta rule or linear attention). Attention layers close each group: layer
// l is attention when ⌊(l+1)·A/L⌋ > ⌊l·A/L⌋. State and compute grow like
// A/L of full attention's; recall is full attention's when A > 0.
//   per layer l:  q, k, v = QkvBlock(l).ProjectNormed(norm(h))         [B, d] each
//                 o = attention over all past (k, v)   or  recurrent read
//                 h += o · Wo_lᵀ
//
// Circuit (init=circuit): based — block 0 carries both branches' circuits
// (window: q = β·x_t, k = x_{t-1}; linear: as linear_attention, on a JL
// projection to m = qk_dim dims), blocks 2.. have zero output. jamba —
// exactly one layer carries the recall circuit: the first attention layer
// when A > 0, else layer 0 (recurrent); every other layer runs its real
// mixer with a zero output projection, so it costs compute and state like a
// real layer. A second circuit layer would read the first one's answer in
// its input and corrupt its own keys, so recall is carried by attention when
// there is any and by the recurrent memory otherwise.
//
// Knobs: the common ones (lm_frame.h; jamba takes `layers` instead of
// `depth`), shape, heads; the softmax part's beta and out_gain; based:
// window and the linear part's feature, normalize, qk_dim, gamma, qk_gain,
// linear_out_gain; jamba: layers, attention_fraction, recurrent and the
// recurrent part's knobs (delta: qk_dim, alpha, delta_beta; linear: feature,
// normalize, qk_dim, gamma, qk_gain) and recurrent_out_gain; kv_dtype for
// the attention layers' KV (docs/kv_compression.md).
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/matrix_mixers.h"
#include "engines/common/qkv_block.h"
#include "engines/common/softmax_preset.h"
#include "engines/hybrid/hybrid_mixers.h"
#include "engines/registry.h"

namespace trilemma {
namespace {

// Copies all of `from` to `to` and returns the float after the copy.
float* CopyData(const Tensor& from, float* to) {
  std::copy(from.data.begin(), from.data.end(), to);
  return to + from.size();
}

// Adds block `layer` as one QkvBlock holding two parallel branches: q/k rows
// [a ; b], v rows [a ; b] and Wo columns [a | b]. Norm and token shift are
// branch a's (the two circuits use the same ones).
void AddParallelBlockWeights(const QkvBlockSpec& a, const QkvBlockSpec& b,
                             int layer, std::mt19937_64& rng, TensorMap* w) {
  TensorMap wa, wb;
  AddQkvBlockWeights(a, 0, rng, &wa);
  AddQkvBlockWeights(b, 0, rng, &wb);
  const int d = a.d_model;
  for (const char* name : {"norm", "shift_q", "shift_k", "shift_v"}) {
    const Tensor& t = wa.Get(LayerTensor(0, name));
    CopyData(t, w->Add(LayerTensor(layer, name), t.shape));
  }
  for (const char* name : {"wq", "wk", "wv"}) {
    const Tensor& ta = wa.Get(LayerTensor(0, name));
    const Tensor& tb = wb.Get(LayerTensor(0, name));
    float* rows = w->Add(LayerTensor(layer, name),
                         {ta.shape[0] + tb.shape[0], int64_t{d}});
    CopyData(tb, CopyData(ta, rows));
  }
  float* wo = w->Add(LayerTensor(layer, "wo"), {d, a.v_dim + b.v_dim});
  const float* wo_a = wa.Data(LayerTensor(0, "wo"));
  const float* wo_b = wb.Data(LayerTensor(0, "wo"));
  for (int i = 0; i < d; ++i) {
    std::copy(wo_a + i * a.v_dim, wo_a + (i + 1) * a.v_dim, wo);
    std::copy(wo_b + i * b.v_dim, wo_b + (i + 1) * b.v_dim, wo + a.v_dim);
    wo += a.v_dim + b.v_dim;
  }
}

// The softmax part's knobs (defaults differ from the attention family's: a
// softer β keeps a window that holds no match from voting for one).
SoftmaxPreset ReadHybridSoftmaxKnobs(Knobs& knobs, float beta, float out_gain) {
  SoftmaxPreset p;
  p.heads = static_cast<int>(knobs.Int("heads", 1, 1, 64));
  p.beta = static_cast<float>(knobs.Float("beta", beta, 0.0, 1e4));
  p.out_gain = static_cast<float>(knobs.Float("out_gain", out_gain, 0.0, 1e6));
  return p;
}

QkvBlockSpec SoftmaxBlockSpec(const CommonKnobs& common, const SoftmaxPreset& p,
                              bool zero_output) {
  return {.d_model = common.d_model,
          .qk_dim = common.d_model,
          .v_dim = common.d_model,
          .init = common.init,
          .q_gain = p.beta *
                    std::sqrt(static_cast<float>(p.head_dim(common.d_model))),
          .out_gain = p.out_gain,
          .zero_output = zero_output};
}

absl::Status CheckSoftmaxHeads(const CommonKnobs& common,
                               const SoftmaxPreset& p) {
  if (common.d_model % p.heads == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "knobs.heads: ", p.heads, " does not divide d_model ", common.d_model));
}

absl::StatusOr<std::unique_ptr<Engine>> CreateBased(const EngineSpec& spec,
                                                    Knobs& knobs,
                                                    const CommonKnobs& common) {
  const int d = common.d_model;
  const int64_t window = knobs.Int("window", 64, 1, int64_t{1} << 24);
  const SoftmaxPreset sm = ReadHybridSoftmaxKnobs(knobs, 12.0f, 4.0f);
  const KvFormat kv_format = ReadKvDtypeKnob(knobs, sm.head_dim(d));
  const LinearAttentionKnobs la =
      ReadLinearAttentionKnobs(knobs, d, "taylor2", "linear_out_gain");
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  if (absl::Status s = CheckSoftmaxHeads(common, sm); !s.ok()) return s;
  if (absl::Status s = ValidateLinearAttention(la, d); !s.ok()) return s;

  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  MixerStack stack;
  for (int l = 0; l < common.depth; ++l) {
    const bool zero = common.init == "circuit" && l > 0;
    const QkvBlockSpec linear{.d_model = d,
                              .qk_dim = la.qk_dim,
                              .v_dim = d,
                              .init = common.init,
                              .q_gain = la.qk_gain,
                              .k_gain = la.qk_gain,
                              .out_gain = la.out_gain,
                              .zero_output = zero};
    AddParallelBlockWeights(SoftmaxBlockSpec(common, sm, zero), linear, l, rng,
                            &weights);
    AddLinearAttentionParams(la, l, &weights);
    std::vector<MixerPart> parts;
    parts.push_back({MakeSoftmaxKvMixer(sm.heads, sm.head_dim(d)), d, d});
    parts.push_back(
        {MakeLinearAttentionMixer(weights, l, la, d), la.qk_dim, d});
    stack.mixers.push_back(MakeParallelMixer(std::move(parts)));
  }
  stack.kv = RingWindowKvPolicy(window, kv_format);
  stack.kv_dim = d;

  const int64_t dphi = la.feature_dim();
  v1::EngineInfo info;
  FillCommonInfo(spec.name, "hybrid", common, &info);
  info.set_description(absl::StrCat(
      "Based-style hybrid: per block, softmax attention over the last ", window,
      " tokens plus linear attention (", la.feature,
      la.normalize ? " normalised" : "", ", qk ", la.qk_dim, " -> d_phi ", dphi,
      ") on the same input, outputs summed; ", common.init, " weights",
      common.init == "circuit" ? DepthNote(common) : std::string(),
      KvDtypeNote(kv_format)));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(sm.heads);
  info.mutable_shape()->set_head_dim(sm.head_dim(d));
  info.mutable_shape()->set_state_dim(static_cast<int32_t>(dphi));
  info.mutable_shape()->set_window(static_cast<int32_t>(window));
  info.set_block_tokens(common.block_tokens);
  info.set_flops_formula(absl::StrCat(
      "L*(4*d*(d+m) + 8*d*d + 4*min(n,W)*d + 4*F*d + feature map) + 2*V*d  "
      "(m = ",
      la.qk_dim, ", F = d_phi = ", dphi, "; flat once n >= W)"));
  info.set_state_formula(
      absl::StrCat("4*L*(d + F*d) + ceil(min(n,W)/T)*T*2*L*d*4  (F = ", dphi,
                   ", T = block_tokens; flat once n >= W)"));
  knobs.RecordIn(&info);
  return MakeCircuitStackEngine(std::move(info), std::move(weights),
                                std::move(stack), spec.state_budget_bytes);
}

// Layer l of `layers` is attention when the running count of attention
// layers steps up at l, so they close each group (3:1 puts it 4th).
bool IsAttentionLayer(int l, int layers, int attention_layers) {
  return (int64_t{l} + 1) * attention_layers / layers >
         int64_t{l} * attention_layers / layers;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateJamba(const EngineSpec& spec,
                                                    Knobs& knobs,
                                                    CommonKnobs common) {
  const int d = common.d_model;
  const int layers = static_cast<int>(knobs.Int("layers", 4, 1, 64));
  const double rho = knobs.Float("attention_fraction", 0.25, 0.0, 1.0);
  const std::string recurrent =
      knobs.Choice("recurrent", "delta", {"delta", "linear"});
  const SoftmaxPreset sm = ReadHybridSoftmaxKnobs(knobs, 40.0f, 8.0f);
  const KvFormat kv_format = ReadKvDtypeKnob(knobs, sm.head_dim(d));
  LinearAttentionKnobs la;
  DeltaRuleKnobs dr;
  if (recurrent == "linear") {
    la = ReadLinearAttentionKnobs(knobs, d, "identity", "recurrent_out_gain");
  } else {
    dr = ReadDeltaRuleKnobs(knobs, d, "delta_beta", "recurrent_out_gain");
  }
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  if (common.depth != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("knobs.depth: shape=jamba stacks `layers` layers (",
                     layers, "); set layers instead of depth ", common.depth));
  }
  if (absl::Status s = CheckSoftmaxHeads(common, sm); !s.ok()) return s;
  absl::Status valid = recurrent == "linear" ? ValidateLinearAttention(la, d)
                                             : ValidateDeltaRule(dr, d);
  if (!valid.ok()) return valid;
  int attention_layers = static_cast<int>(std::lround(rho * layers));
  if (rho > 0.0) attention_layers = std::max(attention_layers, 1);
  common.depth = layers;

  std::vector<bool> attention(layers);
  int carrier = 0;  // the one layer with the recall circuit
  for (int l = layers - 1; l >= 0; --l) {
    attention[l] = IsAttentionLayer(l, layers, attention_layers);
    if (attention[l]) carrier = l;
  }
  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  MixerStack stack;
  std::vector<int> attention_at;
  for (int l = 0; l < layers; ++l) {
    const bool zero = common.init == "circuit" && l != carrier;
    if (attention[l]) {
      attention_at.push_back(l);
      AddQkvBlockWeights(SoftmaxBlockSpec(common, sm, zero), l, rng, &weights);
      stack.mixers.push_back(MakeSoftmaxKvMixer(sm.heads, sm.head_dim(d)));
    } else if (recurrent == "linear") {
      AddQkvBlockWeights({.d_model = d,
                          .qk_dim = la.qk_dim,
                          .v_dim = d,
                          .init = common.init,
                          .q_gain = la.qk_gain,
                          .k_gain = la.qk_gain,
                          .out_gain = la.out_gain,
                          .zero_output = zero},
                         l, rng, &weights);
      AddLinearAttentionParams(la, l, &weights);
      stack.mixers.push_back(MakeLinearAttentionMixer(weights, l, la, d));
    } else {
      AddQkvBlockWeights({.d_model = d,
                          .qk_dim = dr.qk_dim,
                          .v_dim = d,
                          .init = common.init,
                          .out_gain = dr.out_gain,
                          .zero_output = zero},
                         l, rng, &weights);
      AddDeltaRuleParams(dr, l, &weights);
      stack.mixers.push_back(MakeDeltaRuleMixer(weights, l, dr, d));
    }
  }
  stack.kv = PagedKvPolicy(kv_format);
  stack.kv_dim = d;

  const std::string rec_text =
      recurrent == "linear"
          ? absl::StrCat("linear attention (", la.feature, ", qk ", la.qk_dim,
                         ")")
          : absl::StrCat("gated delta rule (alpha ", dr.alpha, ", beta ",
                         dr.beta, ", qk ", dr.qk_dim, ")");
  const int64_t rec_floats = recurrent == "linear"
                                 ? la.state_floats(d) * la.heads
                                 : int64_t{dr.qk_dim} * d / dr.heads;
  v1::EngineInfo info;
  FillCommonInfo(spec.name, "hybrid", common, &info);
  info.set_description(absl::StrCat(
      "Jamba-style hybrid of ", layers, " layers: ",
      attention_layers == 0
          ? std::string("no attention")
          : absl::StrCat(attention_layers,
                         " full softmax attention (paged KV; layer ",
                         absl::StrJoin(attention_at, ","), ")"),
      ", ", layers - attention_layers, " ", rec_text, "; ", common.init,
      " weights",
      common.init == "circuit"
          ? absl::StrCat("; only layer ", carrier, " (",
                         attention[carrier] ? "attention" : "recurrent",
                         ") carries the recall circuit, the others have a "
                         "zero output projection")
          : std::string(),
      KvDtypeNote(kv_format)));
  info.mutable_corners()->set_recall(attention_layers > 0);
  info.mutable_corners()->set_efficient(attention_layers == 0);
  info.mutable_corners()->set_compact(attention_layers == 0);
  info.mutable_shape()->set_heads(sm.heads);
  info.mutable_shape()->set_head_dim(sm.head_dim(d));
  info.mutable_shape()->set_state_dim(
      recurrent == "linear" ? static_cast<int32_t>(la.feature_dim())
                            : dr.qk_dim / dr.heads);
  info.set_block_tokens(common.block_tokens);
  info.set_flops_formula(absl::StrCat(
      "L*8*d*d + A*4*n*d + (L-A)*R + 2*V*d  (A = ", attention_layers,
      " attention layers; R = ", recurrent == "linear" ? "4*F*d" : "6*qk*d",
      " per recurrent layer; grows with n when A > 0)"));
  info.set_state_formula(absl::StrCat(
      "4*(L*d + (L-A)*", rec_floats, ") + ceil(n/T)*T*2*A*d*4  (A = ",
      attention_layers, "; grows with n when A > 0)"));
  knobs.RecordIn(&info);
  return MakeCircuitStackEngine(std::move(info), std::move(weights),
                                std::move(stack), spec.state_budget_bytes);
}

absl::StatusOr<std::unique_ptr<Engine>> CreateHybridEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  const std::string shape = knobs.Choice("shape", "based", {"based", "jamba"});
  if (shape == "based") return CreateBased(spec, knobs, common);
  return CreateJamba(spec, knobs, common);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "hybrid",
    .factory = CreateHybridEngine,
    .default_specs = {PresetSpec("hybrid_based", {{"shape", "based"}}),
                      PresetSpec("hybrid_jamba", {{"shape", "jamba"}})},
    .conformance_knobs = {{{"shape", "based"},
                           {"init", "random"},
                           {"window", "7"},
                           {"heads", "2"},
                           {"qk_dim", "6"},
                           {"depth", "2"}},
                          {{"shape", "based"},
                           {"window", "10"},
                           {"block_tokens", "4"}},
                          {{"shape", "jamba"},
                           {"init", "random"},
                           {"attention_fraction", "0.5"},
                           {"block_tokens", "3"}},
                          {{"shape", "jamba"},
                           {"attention_fraction", "0"},
                           {"recurrent", "linear"},
                           {"layers", "2"}}},
    .display_order = 60});

}  // namespace
}  // namespace trilemma
