// Helpers shared by the server tests: small engine specs, a recording
// EventSink, a direct greedy decode to compare the scheduler with, and a
// minimal HTTP GET for /metrics.
#ifndef TRILEMMA_TESTS_SERVER_TEST_UTIL_H_
#define TRILEMMA_TESTS_SERVER_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engines/engine.h"
#include "server/sequence.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::testing {

inline constexpr int kVocab = 256;
// A hang guard for waits in tests, never a timing assertion.
inline constexpr absl::Duration kWait = absl::Seconds(60);

// `family` at d_model 32, vocab 256, plus `knobs`.
EngineSpec SmallSpec(const std::string& name, const std::string& family,
                     int64_t budget_bytes = int64_t{64} << 20,
                     std::map<std::string, std::string> knobs = {});

// An EventSink that records everything; Ready() can be gated and
// Cancelled() forced by the test.
class RecordingSink final : public EventSink {
 public:
  bool Ready() override;
  bool Cancelled() override;
  void Push(v1::SessionEvent event) override;
  void Finish(absl::Status status) override;

  void SetReady(bool ready);
  void SetCancelled();

  // Waits (at most kWait) until finished / until `n` summaries or events
  // arrived; returns whether it happened.
  bool WaitFinished();
  bool WaitSummaries(int n);
  bool WaitEvents(int n);

  std::vector<v1::SessionEvent> events();
  std::vector<v1::TokenEvent> tokens();
  std::vector<v1::Summary> summaries();
  std::optional<absl::Status> status();
  int finish_calls();

 private:
  int CountSummariesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> status_ ABSL_GUARDED_BY(mu_);
  int finish_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// Turns as the service builds them: generate `max_new` tokens after
// `prompt`, or append `tokens`.
TurnRequest GenerateTurn(std::vector<int32_t> prompt, int max_new);
TurnRequest AppendTurn(std::vector<int32_t> tokens);

// Greedy decode of `n` tokens after `prompt`, stepping the engine directly.
std::vector<int32_t> DirectGreedy(const Engine& engine,
                                  const std::vector<int32_t>& prompt, int n);

// Sum of NextStepCost over consuming `tokens` one at a time from a fresh
// session (what a turn's total_flops must equal for these inputs).
int64_t DirectFlops(const Engine& engine, const std::vector<int32_t>& tokens);

// Body of GET http://127.0.0.1:port/path, or an error.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// Polls `done` until true or kWait passes; returns its last value.
bool PollUntil(const std::function<bool()>& done);

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_SERVER_TEST_UTIL_H_
