#include "engines/attention/rotary_attention_mixer.h"

#include <cmath>
#include <vector>

#include "engines/ops/chunk_attention.h"
#include "engines/ops/matmul.h"
#include "engines/ops/parallel.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {
namespace {

// Below this many rows of one session, the gather and the matmul set-up cost
// more than the per-key loop saves.
constexpr int64_t kMinChunkRows = 8;

}  // namespace

RotaryAttentionMixer::RotaryAttentionMixer(const Config& config,
                                           const Weights& weights)
    : config_(config),
      w_(weights),
      qkv_(weights.qkv, 3 * config.heads * config.head_dim, config.d_model),
      q_(weights.q, config.heads * config.head_dim, config.d_model),
      k_(weights.k, config.kv_heads * config.head_dim, config.d_model),
      v_(weights.v, config.kv_heads * config.head_dim, config.d_model),
      o_(weights.o, config.d_model, config.heads * config.head_dim),
      rotary_(config.head_dim, config.rotary_dims, config.rope_theta),
      scale_(1.0f / std::sqrt(static_cast<float>(config.head_dim))) {}

void RotaryAttentionMixer::Forward(const float* x,
                                   absl::Span<const MixerRow> rows,
                                   float* out) const {
  const int64_t r_count = static_cast<int64_t>(rows.size());
  const int hd = config_.head_dim;
  const int q_dim = config_.heads * hd, kv_dim = config_.kv_heads * hd;
  struct Scratch {
    std::vector<float> qkv, q, k, v, o, cos_sin;
  };
  Scratch& buffers = ops::ThreadScratch<Scratch>();
  std::vector<float>& qkv = buffers.qkv;
  std::vector<float>& q = buffers.q;
  std::vector<float>& k = buffers.k;
  std::vector<float>& v = buffers.v;
  std::vector<float>& o = buffers.o;
  std::vector<float>& cos_sin = buffers.cos_sin;
  q.resize(r_count * q_dim);
  k.resize(r_count * kv_dim);
  v.resize(r_count * kv_dim);
  o.resize(r_count * q_dim);
  cos_sin.resize(config_.rotary_dims);
  if (w_.qkv != nullptr) {
    // qkv: [R, H, 3, hd] -> q, k, v: [R, H, hd]
    qkv.resize(r_count * 3 * q_dim);
    ops::Linear(x, r_count, qkv_, qkv.data(), w_.qkv_bias);
    for (int64_t r = 0; r < r_count; ++r) {
      for (int h = 0; h < config_.heads; ++h) {
        const float* src = &qkv[(r * config_.heads + h) * 3 * hd];
        const int64_t dst = r * q_dim + int64_t{h} * hd;
        ops::Copy(src, &q[dst], hd);
        ops::Copy(src + hd, &k[dst], hd);
        ops::Copy(src + 2 * hd, &v[dst], hd);
      }
    }
  } else {
    ops::Linear(x, r_count, q_, q.data(), w_.q_bias);  // [R, H·hd]
    ops::Linear(x, r_count, k_, k.data(), w_.k_bias);  // [R, G·hd]
    ops::Linear(x, r_count, v_, v.data(), w_.v_bias);  // [R, G·hd]
  }
  // The core: row r's key is stored before row r attends. When no row's
  // write lands on a slot an earlier row of its session reads (decode rows
  // of distinct sessions; a paged prefill chunk), all writes go first and
  // the rows attend in parallel; a ring wrapping inside a chunk stays in
  // row order.
  // An int8 row that raises its block's scale requantizes the rows already
  // there, so a later row's write would change what an earlier row reads.
  bool independent =
      r_count > 0 && rows[0].kv->format().dtype != KvDtype::kInt8;
  for (int64_t r = 1; r < r_count; ++r) {
    if (rows[r].kv == rows[r - 1].kv && rows[r].slot < rows[r - 1].held) {
      independent = false;
    }
  }
  auto store = [&](int64_t r) {
    const MixerRow& row = rows[r];
    float* qr = &q[r * q_dim];
    float* kr = &k[r * kv_dim];
    if (config_.rotary_dims > 0) {
      rotary_.Prepare(row.position, cos_sin.data());
      rotary_.Apply(cos_sin.data(), config_.heads, qr);
      rotary_.Apply(cos_sin.data(), config_.kv_heads, kr);
    }
    // Stored in the engine's kv_dtype; attention decodes it on the fly.
    row.kv->WriteKey(row.kv_layer, row.slot, kr);
    row.kv->WriteValue(row.kv_layer, row.slot, &v[r * kv_dim]);
  };
  auto attend = [&](int64_t r) {
    const MixerRow& row = rows[r];
    ops::AttendGrouped(&q[r * q_dim], config_.heads, config_.kv_heads, hd,
                       scale_, *row.kv, row.kv_layer, row.held,
                       &o[r * q_dim]);  // [H·hd]
  };
  // A prefill chunk (several rows, one session): dense products.
  bool one_session = r_count >= kMinChunkRows;
  for (int64_t r = 1; r < r_count && one_session; ++r) {
    one_session = rows[r].kv == rows[0].kv;
  }
  if (independent && one_session) {
    thread_local std::vector<int64_t> held;
    held.resize(r_count);
    for (int64_t r = 0; r < r_count; ++r) {
      store(r);
      held[r] = rows[r].held;
    }
    ops::AttendChunk(q.data(), q_dim, r_count, held.data(), config_.heads,
                     config_.kv_heads, hd, scale_, *rows[0].kv,
                     rows[0].kv_layer, o.data(), q_dim);  // [R, H·hd]
  } else if (independent) {
    for (int64_t r = 0; r < r_count; ++r) store(r);
    ops::ParallelFor(r_count, attend);
  } else {
    for (int64_t r = 0; r < r_count; ++r) {
      store(r);
      attend(r);
    }
  }
  ops::Linear(o.data(), r_count, o_, out, w_.o_bias);  // [R, d]
}

int64_t RotaryAttentionMixer::Flops(int64_t held) const {
  const int64_t d = config_.d_model;
  const int64_t q_dim = int64_t{config_.heads} * config_.head_dim;
  const int64_t kv_dim = int64_t{config_.kv_heads} * config_.head_dim;
  // Projections in and out, then q·k and p·v for every query head.
  return 2 * d * (q_dim + 2 * kv_dim) + 2 * q_dim * d + 4 * held * q_dim;
}

}  // namespace trilemma
