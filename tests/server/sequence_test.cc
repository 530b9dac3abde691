// The request lifecycle (server/sequence.h): the transition table, the abort
// on an illegal transition, and the one request-limit check that starting a
// turn and each decode step share.
#include "server/sequence.h"

#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;
using S = SequenceState;

constexpr S kAll[] = {S::kWaiting,  S::kIdle,      S::kPrefilling,
                      S::kDecoding, S::kPreempted, S::kRecomputing,
                      S::kRetired};

TEST(SequenceStateTest, TheTransitionTableIsExactlyTheDocumentedOne) {
  // The table of server/sequence.h, written out pair by pair.
  const std::set<std::pair<S, S>> legal = {
      {S::kWaiting, S::kIdle},         {S::kWaiting, S::kRetired},
      {S::kIdle, S::kPrefilling},      {S::kIdle, S::kDecoding},
      {S::kIdle, S::kPreempted},       {S::kIdle, S::kRetired},
      {S::kPrefilling, S::kDecoding},  {S::kPrefilling, S::kIdle},
      {S::kPrefilling, S::kPreempted}, {S::kPrefilling, S::kRetired},
      {S::kDecoding, S::kIdle},        {S::kDecoding, S::kPreempted},
      {S::kDecoding, S::kRetired},     {S::kPreempted, S::kRecomputing},
      {S::kPreempted, S::kIdle},       {S::kPreempted, S::kPrefilling},
      {S::kPreempted, S::kDecoding},   {S::kPreempted, S::kRetired},
      {S::kRecomputing, S::kIdle},     {S::kRecomputing, S::kPrefilling},
      {S::kRecomputing, S::kDecoding}, {S::kRecomputing, S::kPreempted},
      {S::kRecomputing, S::kRetired},
  };
  int allowed = 0;
  for (S from : kAll) {
    for (S to : kAll) {
      SCOPED_TRACE(
          absl::StrCat(SequenceStateName(from), " -> ", SequenceStateName(to)));
      EXPECT_EQ(IsLegalTransition(from, to), legal.contains({from, to}));
      allowed += IsLegalTransition(from, to) ? 1 : 0;
    }
  }
  EXPECT_EQ(allowed, static_cast<int>(legal.size()));
  // Every state has a distinct name.
  std::set<std::string> names;
  for (S s : kAll) names.emplace(SequenceStateName(s));
  EXPECT_EQ(names.size(), std::size(kAll));
}

TEST(SequenceStateTest, AdmittedOnceIsTrackedThroughRetirement) {
  Sequence never;
  EXPECT_EQ(never.state(), S::kWaiting);
  EXPECT_FALSE(never.opened());
  never.SetState(S::kRetired);
  EXPECT_TRUE(never.retired());
  EXPECT_FALSE(never.opened());

  Sequence admitted;
  admitted.SetState(S::kIdle);
  EXPECT_TRUE(admitted.opened());
  EXPECT_TRUE(admitted.running());
  admitted.SetState(S::kPreempted);
  EXPECT_FALSE(admitted.running());
  EXPECT_TRUE(admitted.opened());
  EXPECT_EQ(admitted.ResumeState(), S::kIdle);  // no turn
  admitted.SetState(S::kRetired);
  EXPECT_TRUE(admitted.opened());
}

TEST(SequenceStateDeathTest, AnIllegalTransitionAbortsNamingBothStates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Sequence seq;
  seq.id = 7;
  EXPECT_DEATH(seq.SetState(S::kDecoding),
               "sequence 7: illegal state transition waiting -> decoding");
  seq.SetState(S::kRetired);
  EXPECT_DEATH(seq.SetState(S::kRetired),
               "illegal state transition retired -> retired");
}

TEST(CheckRequestLimitsTest, NamesTheContextThenTheStateLimit) {
  std::unique_ptr<Engine> engine =
      CreateEngine(testing::SmallSpec("attention", "attention")).value();
  Sequence seq;
  seq.session = engine->NewSession().value();
  ASSERT_TRUE(seq.session->Reserve(3).ok());
  const std::vector<int32_t> three = {1, 2, 3};
  ASSERT_TRUE(engine->Prefill(seq.session.get(), three, nullptr).ok());

  EXPECT_FALSE(CheckRequestLimits(seq, 100).has_value());  // no limits

  seq.limits.set_max_context_tokens(4);
  EXPECT_FALSE(CheckRequestLimits(seq, 1).has_value());
  std::optional<LimitBreach> context = CheckRequestLimits(seq, 2);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->reason, v1::CONTEXT_LIMIT);
  EXPECT_THAT(context->detail,
              HasSubstr("2 more tokens on top of 3 of context would exceed "
                        "max_context_tokens 4"));

  // The context limit is checked first; the state limit counts the state
  // after the tokens (one 16-token block here holds them all).
  seq.limits.set_max_context_tokens(0);
  const int64_t after_one = seq.session->state_bytes_after(1);
  seq.limits.set_max_state_bytes(after_one);
  EXPECT_FALSE(CheckRequestLimits(seq, 1).has_value());
  seq.limits.set_max_state_bytes(after_one - 1);
  std::optional<LimitBreach> state = CheckRequestLimits(seq, 1);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->reason, v1::STATE_LIMIT);
  EXPECT_THAT(
      state->detail,
      HasSubstr(absl::StrCat("1 more token would take the state to ", after_one,
                             " bytes, over max_state_bytes ", after_one - 1)));
}

}  // namespace
}  // namespace trilemma
