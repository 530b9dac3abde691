// MQAR recall of the kv_evict and memory presets at their defaults (d_model
// 128, vocab 8192), against what their memory mechanisms promise:
//   kv_evict_sinks  (4 sinks + 252 recent)  all pairs while the prompt fits
//                   (N <= 64), about the last 126 pairs beyond: <= 0.4 at
//                   N = 1024
//   kv_evict_h2o    (budget 256, recent 128) the same while it fits; beyond,
//                   MQAR's attention picks no real heavy hitters: <= 0.5 at
//                   N = 1024
//   memory_exact    (window 64 + exact store) >= 0.95 at every N
//   memory          (window 64 + HNSW store)  >= 0.9 at every N
// and memory's model-tier state flat while its external store grows. The
// same floors hold with the window and the external store compressed
// ("memory_exact+int8": the preset with kv_dtype=int8;
// docs/kv_compression.md), and the store's bytes shrink accordingly.
//
// MQAR as in tests/common/mqar_recall.h, with up to 100 queries.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engines/ops/vector_ops.h"
#include "engines/registry.h"
#include "gtest/gtest.h"
#include "tests/common/mqar_recall.h"

namespace trilemma {
namespace {

constexpr int kMaxQueries = 100;

using Recall = testing::MqarRecallResult;

// "preset" or "preset+kv_dtype".
absl::StatusOr<std::unique_ptr<Engine>> CreateDefaultPreset(
    const std::string& name) {
  const size_t plus = name.find('+');
  const std::string preset = name.substr(0, plus);
  for (EngineSpec spec : DefaultEngineSpecs()) {
    if (spec.name != preset) continue;
    if (plus != std::string::npos) {
      spec.knobs["kv_dtype"] = name.substr(plus + 1);
    }
    return CreateEngine(spec);
  }
  return absl::NotFoundError(name + " is not a default preset");
}

absl::StatusOr<Recall> MeasureRecall(const Engine& engine, int pairs,
                                     uint64_t seed) {
  return testing::MeasureMqarRecall(engine, pairs, kMaxQueries, seed);
}

class EvictMemoryRecallTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Recall at N = 16, 64, 256, 1024 pairs, printed as one table row.
  std::map<int, Recall> Sweep() {
    std::map<int, Recall> out;
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        CreateDefaultPreset(GetParam());
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return out;
    EXPECT_EQ((*engine)->info().shape().d_model(), 128);
    std::cout << GetParam() << ":";
    for (int pairs : {16, 64, 256, 1024}) {
      absl::StatusOr<Recall> r = MeasureRecall(**engine, pairs, 1000 + pairs);
      EXPECT_TRUE(r.ok()) << GetParam() << " N=" << pairs << ": " << r.status();
      if (!r.ok()) continue;
      out[pairs] = *r;
      std::cout << "  N=" << pairs << " recall " << r->recall << " (model "
                << r->state_bytes << " B, external " << r->external_bytes
                << " B)";
    }
    std::cout << std::endl;
    return out;
  }
};

TEST_P(EvictMemoryRecallTest, RecallFollowsTheMemoryMechanism) {
  const std::string& name = GetParam();
  std::map<int, Recall> r = Sweep();
  ASSERT_EQ(r.size(), 4u);
  if (name == "kv_evict_sinks" || name == "kv_evict_h2o") {
    // 2N <= 128 tokens fit the 256 kept: nothing is evicted yet.
    EXPECT_GE(r[16].recall, 0.95);
    EXPECT_GE(r[64].recall, 0.95);
    EXPECT_LE(r[1024].recall, name == "kv_evict_sinks" ? 0.4 : 0.5);
    EXPECT_LT(r[1024].recall, r[64].recall);
    EXPECT_EQ(r[1024].state_bytes, r[256].state_bytes);  // compact
    EXPECT_EQ(r[1024].external_bytes, 0);
  } else {
    const double floor = name.starts_with("memory_exact") ? 0.95 : 0.9;
    for (const auto& [pairs, result] : r) {
      EXPECT_GE(result.recall, floor) << "N=" << pairs;
    }
    // Model tier flat once the window (64) is full; the store grows.
    EXPECT_EQ(r[1024].state_bytes, r[64].state_bytes);
    EXPECT_GT(r[1024].external_bytes, r[256].external_bytes);
    EXPECT_GT(r[256].external_bytes, r[64].external_bytes);
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, EvictMemoryRecallTest,
                         ::testing::Values("kv_evict_sinks", "kv_evict_h2o",
                                           "memory", "memory_exact",
                                           "memory+int8", "memory_exact+int8",
                                           "memory+int4", "memory_exact+int4"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '+', '_');
                           return name;
                         });

}  // namespace
}  // namespace trilemma
