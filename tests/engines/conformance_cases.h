// The cases the conformance suite runs, built from the registry alone, and
// the helpers its checks share.
//
// A case is one engine spec: every registered family (hidden ones included)
// contributes its default presets shrunk to d_model 32 / vocab 96, and each
// of its `conformance_knobs` sets (with d_model 32 / vocab 96 unless the set
// gives them). Nothing here names a family: a family registered by a new
// engine folder is picked up on the next build.
//
// Example:
//   INSTANTIATE_TEST_SUITE_P(Registry, MySuite,
//                            ::testing::ValuesIn(AllConformanceCases()),
//                            ConformanceCaseName);
#ifndef TRILEMMA_TESTS_ENGINES_CONFORMANCE_CASES_H_
#define TRILEMMA_TESTS_ENGINES_CONFORMANCE_CASES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engines/engine.h"
#include "gtest/gtest.h"

namespace trilemma::conformance {

inline constexpr int kDModel = 32;
inline constexpr int kVocab = 96;

struct ConformanceCase {
  std::string family;
  // Readable, unique, [A-Za-z0-9_] only: the preset name for default presets,
  // "<family>__<knob>_<value>__..." for conformance knob sets.
  std::string test_name;
  // The hosted name the engine is created under (appears in its errors).
  std::string engine_name;
  // Knobs the preset or conformance set gives.
  std::map<std::string, std::string> knobs;
  // Shrinking knobs (d_model, vocab) added unless `knobs` gives them, and
  // only where the family takes them (an engine without a d_model knob is
  // created without it).
  std::map<std::string, std::string> shrink;
  // Set for a checkpoint case: the model directory's name under
  // $TRILEMMA_TEST_CHECKPOINTS (written by tests/checkpoints/
  // make_checkpoints.py before the suite runs).
  std::string checkpoint;
};

// Every case of every registered family, in registry order. Cheap: creates no
// engine (gtest calls it while listing tests).
std::vector<ConformanceCase> AllConformanceCases();

// One case per small checkpoint make_checkpoints.py writes (the names come
// from its --list at configure time): every checkpoint architecture must keep
// the same Engine/Session contract as the built-in families.
std::vector<ConformanceCase> CheckpointConformanceCases();

std::string ConformanceCaseName(
    const ::testing::TestParamInfo<ConformanceCase>& info);

// Prints "family {knob=value, ...}" in failure messages.
std::string DescribeCase(const ConformanceCase& c);
void PrintTo(const ConformanceCase& c, std::ostream* os);

// The case's spec as given (family and knobs, or the checkpoint directory
// under $TRILEMMA_TEST_CHECKPOINTS), named engine_name, without shrinking.
EngineSpec CaseSpec(const ConformanceCase& c);

// Creates the case's engine with `budget` bytes of state budget, named
// engine_name + name_suffix, from `knobs` plus those `shrink` knobs the
// family takes (a shrink knob it rejects as unknown is dropped).
absl::StatusOr<std::unique_ptr<Engine>> CreateCaseEngine(
    const ConformanceCase& c, int64_t budget = int64_t{1} << 30,
    const std::string& name_suffix = "");

// n tokens uniform in [0, vocab), seeded.
std::vector<int32_t> RandomTokens(int64_t n, int vocab, uint64_t seed);

// Reserve(1) + Step of one session alone; logits (vocab floats) out.
absl::Status StepOne(const Engine& engine, Session* session, int32_t token,
                     float* logits);

// Steps `session` alone through `tokens`; `logits` gets the logits after each
// token, [tokens.size(), vocab] (may be null).
absl::Status StepAll(const Engine& engine, Session* session,
                     absl::Span<const int32_t> tokens,
                     std::vector<float>* logits);

// Reserve(tokens.size()) + Prefill, in chunks of at most `chunk` tokens.
absl::Status PrefillChunked(const Engine& engine, Session* session,
                            absl::Span<const int32_t> tokens, int64_t chunk,
                            float* logits);

// max|a - b| / max(max|a|, max|b|): the relative difference of two logit
// vectors, robust to individual logits near zero.
double RelativeDiff(const float* a, const float* b, int64_t n);

// The model-tier state_bytes() an engine's EngineInfo implies at `tokens`
// of context: state_bytes_fixed plus whole blocks (ceil(tokens /
// block_tokens) * block_bytes) for paged state, or tokens *
// state_bytes_per_token when the engine keeps no blocks, capped at
// state_bytes_cap when that is set.
int64_t StateBytesFromInfo(const v1::EngineInfo& info, int64_t tokens);

// ASSERTs that a Status is OK, naming the case and the expression.
#define CONF_ASSERT_OK(expr)                                                  \
  do {                                                                        \
    const absl::Status conf_status_ = (expr);                                 \
    ASSERT_TRUE(conf_status_.ok())                                            \
        << DescribeCase(GetParam()) << ": " << #expr << ": " << conf_status_; \
  } while (0)

// Fixture of the parameterised suites: the case's engine, created with the
// default budget before each test.
class EngineCaseTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        CreateCaseEngine(GetParam());
    ASSERT_TRUE(engine.ok())
        << DescribeCase(GetParam()) << ": " << engine.status();
    engine_ = *std::move(engine);
    vocab_ = engine_->info().shape().vocab();
  }

  // A new session of engine_, or a test failure naming the case.
  std::unique_ptr<Session> MustNewSession() {
    absl::StatusOr<std::unique_ptr<Session>> session = engine_->NewSession();
    EXPECT_TRUE(session.ok())
        << DescribeCase(GetParam()) << ": " << session.status();
    return session.ok() ? *std::move(session) : nullptr;
  }

  std::unique_ptr<Engine> engine_;
  int vocab_ = 0;
};

}  // namespace trilemma::conformance

#endif  // TRILEMMA_TESTS_ENGINES_CONFORMANCE_CASES_H_
