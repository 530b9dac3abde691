// Engine-level properties of kv_evict and memory beyond the conformance
// suite: knob validation specific to them, memory's two state tiers and the
// per-step cost of its index (exact scan linear in the store, HNSW not).
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engines/registry.h"
#include "engines/state/kv_block_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Engine> MustCreate(const std::string& family,
                                   std::map<std::string, std::string> knobs) {
  absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(
      {.name = family + "_test", .family = family, .knobs = std::move(knobs)});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

absl::Status StepTokens(const Engine& engine, Session* session, int64_t n,
                        uint64_t seed) {
  const int vocab = engine.info().shape().vocab();
  std::mt19937_64 rng(seed);
  std::vector<int32_t> tokens(n);
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % vocab);
  if (absl::Status s = session->Reserve(n); !s.ok()) return s;
  return engine.Prefill(session, tokens, nullptr);
}

TEST(KvEvictEngineTest, PolicyKnobsAreValidated) {
  // The other policy's knobs are unknown.
  absl::StatusOr<std::unique_ptr<Engine>> e =
      CreateEngine({.name = "x",
                    .family = "kv_evict",
                    .knobs = {{"policy", "sinks"}, {"budget", "10"}}});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("knobs.budget"));
  e = CreateEngine({.name = "x",
                    .family = "kv_evict",
                    .knobs = {{"policy", "h2o"}, {"window", "10"}}});
  EXPECT_THAT(e.status().message(), HasSubstr("knobs.window"));
  // The recent window must fit in the budget.
  e = CreateEngine(
      {.name = "x",
       .family = "kv_evict",
       .knobs = {{"policy", "h2o"}, {"budget", "10"}, {"recent", "11"}}});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("knobs.recent"));
}

TEST(KvEvictEngineTest, InfoStatesTheKeptSetAndFixedBookkeeping) {
  std::unique_ptr<Engine> sinks = MustCreate(
      "kv_evict", {{"policy", "sinks"}, {"d_model", "32"}, {"vocab", "64"}});
  std::unique_ptr<Engine> h2o = MustCreate(
      "kv_evict", {{"policy", "h2o"}, {"d_model", "32"}, {"vocab", "64"}});
  ASSERT_NE(sinks, nullptr);
  ASSERT_NE(h2o, nullptr);
  EXPECT_EQ(sinks->info().shape().window(), 4 + 252);
  EXPECT_EQ(h2o->info().shape().window(), 256);
  // 256 kept tokens in 16-token blocks; H2O adds 16 bytes per budget slot.
  const int64_t kv = 16 * sinks->info().block_bytes();
  EXPECT_EQ(sinks->info().state_bytes_cap(), 4 * 32 + kv);
  EXPECT_EQ(h2o->info().state_bytes_fixed(), 4 * 32 + 16 * 256);
  EXPECT_EQ(h2o->info().state_bytes_cap(), 4 * 32 + 16 * 256 + kv);
  EXPECT_TRUE(h2o->info().corners().efficient());
  EXPECT_TRUE(h2o->info().corners().compact());
  EXPECT_FALSE(h2o->info().corners().recall());
}

TEST(MemoryEngineTest, HnswKnobsOnlyWithTheHnswIndex) {
  absl::StatusOr<std::unique_ptr<Engine>> e =
      CreateEngine({.name = "x",
                    .family = "memory",
                    .knobs = {{"index", "exact"}, {"ef", "10"}}});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("knobs.ef"));
}

// Model state stops at the window; the store takes every older token.
TEST(MemoryEngineTest, ModelTierFlatExternalTierGrows) {
  for (const std::string index : {"exact", "hnsw"}) {
    SCOPED_TRACE(index);
    std::unique_ptr<Engine> engine =
        MustCreate("memory", {{"index", index},
                              {"d_model", "32"},
                              {"vocab", "64"},
                              {"window", "8"},
                              {"block_tokens", "4"}});
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(engine->info().corners().efficient(), index == "hnsw");
    EXPECT_TRUE(engine->info().corners().recall());
    EXPECT_FALSE(engine->info().corners().compact());
    std::unique_ptr<Session> s = engine->NewSession().value();
    ASSERT_TRUE(StepTokens(*engine, s.get(), 8, 1).ok());
    const int64_t model = s->state_bytes();
    EXPECT_EQ(s->external_state_bytes(), 0);  // nothing has left the window
    ASSERT_TRUE(StepTokens(*engine, s.get(), 1, 2).ok());
    EXPECT_EQ(s->state_bytes(), model);
    const int64_t external_1 = s->external_state_bytes();
    EXPECT_GT(external_1, 0);
    ASSERT_TRUE(StepTokens(*engine, s.get(), 600, 3).ok());
    EXPECT_EQ(s->state_bytes(), model);
    EXPECT_GT(s->external_state_bytes(), external_1);
    // 601 entries in a capacity of 1024.
    if (index == "exact") {
      EXPECT_EQ(s->external_state_bytes(), 1024 * 32 * 8);
    }
    EXPECT_EQ(engine->pool().used_bytes(), model);  // the store is not pooled
    s.reset();
    EXPECT_EQ(engine->pool().used_bytes(), 0);
  }
}

// kv_dtype compresses the external store too: EngineInfo and the session
// count the encoded rows (d = 64, two heads of 32: int8 adds a float scale
// per head, int4 an f16 scale per 32 elements).
TEST(MemoryEngineTest, ExternalBytesFollowKvDtype) {
  // f32 first: the HNSW rows compare against it.
  const std::vector<std::pair<std::string, int64_t>> row_bytes = {
      {"f32", 256}, {"f16", 128}, {"int8", 64 + 8}, {"int4", 32 + 4}};
  int64_t hnsw_f32 = 0;
  for (const auto& [dtype, row] : row_bytes) {
    SCOPED_TRACE(dtype);
    std::unique_ptr<Engine> engine =
        MustCreate("memory", {{"index", "exact"},
                              {"d_model", "64"},
                              {"vocab", "64"},
                              {"heads", "2"},
                              {"window", "8"},
                              {"kv_dtype", dtype},
                              {"block_tokens", "4"}});
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(engine->info().external_bytes_per_token(), 2 * row);
    std::unique_ptr<Session> s = engine->NewSession().value();
    ASSERT_TRUE(StepTokens(*engine, s.get(), 20, 1).ok());
    EXPECT_EQ(s->external_state_bytes(), 256 * 2 * row);  // capacity 256
    std::unique_ptr<Engine> hnsw = MustCreate("memory", {{"index", "hnsw"},
                                                         {"d_model", "64"},
                                                         {"vocab", "64"},
                                                         {"heads", "2"},
                                                         {"window", "8"},
                                                         {"m", "4"},
                                                         {"kv_dtype", dtype}});
    ASSERT_NE(hnsw, nullptr);
    // The index keeps float keys: only the value row shrinks.
    if (dtype == "f32") hnsw_f32 = hnsw->info().external_bytes_per_token();
    EXPECT_EQ(hnsw_f32 - hnsw->info().external_bytes_per_token(), 256 - row);
  }
}

// The exact scan costs 2·d per stored entry on top of a constant; the HNSW
// index's counted products grow far slower than the store.
TEST(MemoryEngineTest, IndexSearchCostInStepFlops) {
  std::map<std::string, std::vector<int64_t>> flops;
  const std::vector<int64_t> contexts = {64, 1064, 4064};
  for (const std::string index : {"exact", "hnsw"}) {
    std::unique_ptr<Engine> engine = MustCreate("memory", {{"index", index},
                                                           {"d_model", "32"},
                                                           {"vocab", "64"},
                                                           {"window", "64"}});
    ASSERT_NE(engine, nullptr);
    std::unique_ptr<Session> s = engine->NewSession().value();
    int64_t done = 0;
    for (int64_t context : contexts) {
      ASSERT_TRUE(StepTokens(*engine, s.get(), context - done, context).ok());
      done = context;
      flops[index].push_back(engine->NextStepCost(*s).flops);
    }
  }
  const std::vector<int64_t>& exact = flops["exact"];
  const std::vector<int64_t>& hnsw = flops["hnsw"];
  std::cout << "step flops at contexts 64, 1064, 4064: exact " << exact[0]
            << " " << exact[1] << " " << exact[2] << "; hnsw " << hnsw[0] << " "
            << hnsw[1] << " " << hnsw[2] << std::endl;
  // Each stored entry adds one 32-wide product (1 entry at context 64, 1001
  // at 1064); the retrieved rows in the softmax go from 1 to top_k = 4.
  EXPECT_EQ(exact[1] - exact[0], 2 * 32 * 1000 + 4 * 32 * 3);
  EXPECT_EQ(exact[2] - exact[1], 2 * 32 * 3000);
  EXPECT_GT(hnsw[2], hnsw[0]);
  EXPECT_LT(hnsw[2] - hnsw[1], (exact[2] - exact[1]) / 2);
}

}  // namespace
}  // namespace trilemma
