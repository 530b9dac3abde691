// ExternalStoreKvPolicy (engines/stack/external_store_kv.h) as a KV policy of
// its own, apart from the memory family: which layer's rows it stores and
// when, what Retrieve returns, Fork, its checks, its cost estimate, and a
// layer stack of plain softmax mixers that keeps its window with it (same
// logits as a ring window; the store grows beside the pool).
#include "engines/stack/external_store_kv.h"

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/knobs.h"
#include "engines/common/lm_frame.h"
#include "engines/common/softmax_preset.h"
#include "engines/engine.h"
#include "engines/stack/kv_policy.h"
#include "engines/state/external_kv_store.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;

constexpr int kLayers = 2;
constexpr int kDim = 4;
constexpr int kBlockTokens = 2;

ExternalStoreKvOptions Options(int64_t window, int store_layer) {
  return {.window = window,
          .top_k = 2,
          .store_layer = store_layer,
          .store = {.dim = kDim, .index = ExternalKvIndex::kExact}};
}

// Writes token t's rows: key of layer l = (t + 1) * (l + 1) * e_(t mod dim)
// (so the query e_j ranks tokens with t mod dim = j, later ones first),
// value of layer l = key + 100.
void WriteToken(KvPolicy& kv, int64_t t) {
  int64_t slot = 0, held = 0;
  ASSERT_TRUE(kv.Place(0, &slot, &held));
  for (int l = 0; l < kLayers; ++l) {
    float* key = kv.table().Key(l, slot);
    float* value = kv.table().Value(l, slot);
    for (int i = 0; i < kDim; ++i) {
      key[i] = i == t % kDim ? static_cast<float>((t + 1) * (l + 1)) : 0.0f;
      value[i] = key[i] + 100.0f;
    }
  }
}

absl::Status AppendTokens(KvPolicy& kv, int64_t first, int64_t n) {
  for (int64_t t = first; t < first + n; ++t) {
    if (absl::Status s = kv.Reserve(1); !s.ok()) return s;
    if (absl::Status s = kv.BeforeWrite(); !s.ok()) return s;
    WriteToken(kv, t);
    kv.Advance(1);
  }
  return absl::OkStatus();
}

TEST(ExternalStoreKvTest, SpecCarriesWindowAndEntryBytes) {
  const ExternalStoreKvOptions options = Options(3, 0);
  const KvPolicySpec spec = ExternalStoreKvPolicy(options);
  EXPECT_EQ(spec.kept_tokens, 3);
  EXPECT_EQ(spec.external_bytes_per_token,
            ExternalKvStore::BytesPerEntry(options.store));
  EXPECT_EQ(spec.external_bytes_per_token, 8 * kDim);
  ExternalStoreKvOptions int4 = options;
  int4.store.format.dtype = KvDtype::kInt4;
  // kDim/2 nibble bytes and one f16 scale, for the key and the value.
  EXPECT_EQ(ExternalStoreKvPolicy(int4).external_bytes_per_token,
            2 * ((kDim + 1) / 2 + 2));
}

TEST(ExternalStoreKvTest, FactoryChecksDimAndLayer) {
  KvBlockPool pool("t", 1 << 20,
                   KvBlockTable::BlockBytes(kLayers, kDim, kBlockTokens));
  absl::StatusOr<std::unique_ptr<KvPolicy>> made =
      ExternalStoreKvPolicy(Options(3, 0))
          .make(&pool, kLayers, kDim + 1, kBlockTokens);
  EXPECT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(made.status().message(), HasSubstr("kv_dim"));
  made = ExternalStoreKvPolicy(Options(3, kLayers))
             .make(&pool, kLayers, kDim, kBlockTokens);
  EXPECT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(made.status().message(), HasSubstr("layer"));
}

// Window 3, storing layer 1: positions 0.. leave the window at 3.., and the
// store holds their layer-1 rows, found by Retrieve best first.
TEST(ExternalStoreKvTest, LeavingTokensGoToTheStoreFromTheirLayer) {
  KvBlockPool pool("t", 1 << 20,
                   KvBlockTable::BlockBytes(kLayers, kDim, kBlockTokens));
  std::unique_ptr<KvPolicy> kv = ExternalStoreKvPolicy(Options(3, 1))
                                     .make(&pool, kLayers, kDim, kBlockTokens)
                                     .value();
  EXPECT_EQ(kv->retrieve_k(), 2);
  int64_t slot = 0, held = 0;
  EXPECT_FALSE(kv->Place(1, &slot, &held));  // one token at a time

  ASSERT_TRUE(AppendTokens(*kv, 0, 3).ok());
  EXPECT_EQ(kv->external_bytes(), 0);
  KvPolicy::ExternalWork work = kv->NextExternalWork();
  EXPECT_EQ(work.retrieved, 1);  // token 0 leaves with the next step
  EXPECT_EQ(work.products, 1);
  const int64_t window_bytes = kv->bytes();

  ASSERT_TRUE(AppendTokens(*kv, 3, 6).ok());  // tokens 0..5 stored
  EXPECT_EQ(kv->tokens(), 9);
  EXPECT_EQ(kv->bytes(), window_bytes);
  EXPECT_EQ(kv->external_bytes(), ExternalKvStore::kMinCapacity * kDim * 8);
  work = kv->NextExternalWork();
  EXPECT_EQ(work.retrieved, 2);
  EXPECT_EQ(work.products, 7);  // 6 stored + token 6 leaving next

  const float query[kDim] = {0, 1, 0, 0};  // tokens 1 and 5
  const float* keys[2];
  const float* values[2];
  ASSERT_EQ(kv->Retrieve(query, keys, values), 2);
  EXPECT_EQ(keys[0][1], 12.0f);  // token 5, layer 1: (5 + 1) * 2
  EXPECT_EQ(values[0][1], 112.0f);
  EXPECT_EQ(keys[1][1], 4.0f);  // token 1
  EXPECT_EQ(values[1][0], 100.0f);

  // A fork retrieves the same rows and stores on from there on its own.
  std::unique_ptr<KvPolicy> fork = ExternalStoreKvPolicy(Options(3, 1))
                                       .make(&pool, kLayers, kDim, kBlockTokens)
                                       .value();
  ASSERT_TRUE(fork->CopyFrom(*kv).ok());
  EXPECT_EQ(fork->tokens(), 9);
  EXPECT_EQ(fork->external_bytes(), kv->external_bytes());
  ASSERT_EQ(fork->Retrieve(query, keys, values), 2);
  EXPECT_EQ(keys[0][1], 12.0f);
  ASSERT_TRUE(AppendTokens(*fork, 9, 4).ok());  // tokens 6..9 stored
  ASSERT_EQ(fork->Retrieve(query, keys, values), 2);
  EXPECT_EQ(keys[0][1], 20.0f);  // token 9
  ASSERT_EQ(kv->Retrieve(query, keys, values), 2);
  EXPECT_EQ(keys[0][1], 12.0f);  // the original is untouched
}

// Softmax mixers that never retrieve, kept by the external-store policy: the
// window is a ring window's (same logits), and the store still takes every
// token leaving it, outside the pool.
TEST(ExternalStoreKvTest, AnyStackCanKeepItsWindowWithIt) {
  CommonKnobs common;
  common.d_model = 16;
  common.vocab = 32;
  common.depth = 2;
  common.init = "random";
  common.block_tokens = 4;
  SoftmaxPreset preset;
  preset.heads = 2;
  auto make = [&](KvPolicySpec kv) {
    TensorMap weights;
    AddFrameWeights(common, &weights);
    std::mt19937_64 rng(common.seed);
    EXPECT_TRUE(
        AddSoftmaxBlocks(common, preset, 0, common.depth, rng, &weights).ok());
    v1::EngineInfo info;
    info.set_name("t");
    info.set_block_tokens(common.block_tokens);
    return MakeCircuitStackEngine(
        info, std::move(weights),
        SoftmaxKvStack(common.depth, preset.heads,
                       preset.head_dim(common.d_model), std::move(kv)),
        1 << 20);
  };
  const int64_t window = 5;
  std::unique_ptr<Engine> ring = make(RingWindowKvPolicy(window));
  std::unique_ptr<Engine> stored = make(ExternalStoreKvPolicy(
      {.window = window,
       .top_k = 3,
       .store_layer = 0,
       .store = {.dim = common.d_model, .index = ExternalKvIndex::kExact}}));
  EXPECT_EQ(stored->info().external_bytes_per_token(), 8 * common.d_model);
  EXPECT_EQ(ring->info().external_bytes_per_token(), 0);
  EXPECT_EQ(stored->info().state_bytes_cap(), ring->info().state_bytes_cap());

  std::unique_ptr<Session> a = ring->NewSession().value();
  std::unique_ptr<Session> b = stored->NewSession().value();
  std::vector<float> la(common.vocab), lb(common.vocab);
  std::mt19937_64 rng(7);
  for (int t = 0; t < 12; ++t) {
    const int32_t token = static_cast<int32_t>(rng() % common.vocab);
    ASSERT_TRUE(a->Reserve(1).ok());
    ASSERT_TRUE(b->Reserve(1).ok());
    Session* sa[] = {a.get()};
    Session* sb[] = {b.get()};
    ASSERT_TRUE(ring->Step(sa, {&token, 1}, la.data()).ok());
    ASSERT_TRUE(stored->Step(sb, {&token, 1}, lb.data()).ok());
    EXPECT_EQ(la, lb) << "token " << t;
    EXPECT_EQ(b->state_bytes(), a->state_bytes());
  }
  EXPECT_EQ(a->external_state_bytes(), 0);
  EXPECT_EQ(b->external_state_bytes(),
            ExternalKvStore::kMinCapacity * common.d_model * 8);
  EXPECT_EQ(stored->pool().used_bytes(), b->state_bytes());
}

}  // namespace
}  // namespace trilemma
