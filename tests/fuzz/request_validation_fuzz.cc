// Fuzz target: wire bytes -> GenerateRequest or a sequence of SessionRequest
// messages -> the server's validation -> an EngineScheduler hosting the
// `null` engine (vocab 64, a 64 KiB budget, so state and context limits
// fire). Does what GenerateReactor and SessionReactor do, minus gRPC, and
// traps on a broken stream contract: a token out of the vocabulary, an
// event after the stream finished, a turn that never ends.
//
// Input: the first byte picks the mode (even: one GenerateRequest, odd: a
// Session); the rest is the GenerateRequest's wire bytes, or SessionRequests
// each preceded by its varint length.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/logging.h"
#include "server/engine_host.h"
#include "server/metrics.h"
#include "server/validation.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {
namespace {

constexpr int32_t kVocab = 64;
// Generation is cheap but not free; longer turns only repeat the same code.
constexpr int32_t kMaxFuzzedNewTokens = 256;
constexpr absl::Duration kHangAfter = absl::Seconds(20);

// Collects one stream's events and checks the EventSink contract.
class CheckingSink final : public EventSink {
 public:
  bool Ready() override { return true; }
  bool Cancelled() override { return false; }

  void Push(v1::SessionEvent event) override {
    absl::MutexLock lock(&mu_);
    if (finished_) __builtin_trap();  // event after Finish
    if (event.has_token()) {
      const int32_t token = event.token().token();
      if (token < 0 || token >= kVocab) __builtin_trap();
    }
    if (event.has_opened() || event.has_summary() || event.has_closed()) {
      ++replies_;
    }
  }

  void Finish(absl::Status status) override {
    absl::MutexLock lock(&mu_);
    if (!finished_) status_ = std::move(status);
    finished_ = true;
  }

  // Waits until `replies` replies were pushed or the stream finished.
  // Returns false once finished.
  bool AwaitReplies(int replies) {
    absl::MutexLock lock(&mu_);
    auto done = [this, replies]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return finished_ || replies_ >= replies;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), kHangAfter)) {
      __builtin_trap();  // a turn that never ends
    }
    return !finished_;
  }

  int replies() {
    absl::MutexLock lock(&mu_);
    return replies_;
  }

 private:
  absl::Mutex mu_;
  int replies_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

struct Harness {
  Harness() {
    // Invalid UTF-8 in string fields is logged on every parse; quiet.
    google::protobuf::SetLogHandler(nullptr);
    EngineSpec spec;
    spec.name = "null";
    spec.family = "null";
    spec.knobs = {{"vocab", std::to_string(kVocab)}};
    spec.state_budget_bytes = 64 * 1024;
    SchedulerOptions options;
    options.max_waiting = 4;
    options.max_queue_wait = absl::Milliseconds(20);
    absl::StatusOr<std::unique_ptr<EngineHost>> created =
        EngineHost::Create({spec}, &metrics, options);
    if (!created.ok()) __builtin_trap();
    host = *std::move(created);
  }
  ServerMetrics metrics;
  std::unique_ptr<EngineHost> host;
};

Harness& GetHarness() {
  static Harness* harness = new Harness();
  return *harness;
}

void FuzzGenerate(const uint8_t* data, size_t size) {
  v1::GenerateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  const EngineHost::Hosted* hosted =
      GetHarness().host->FindHosted(request.engine());
  if (hosted == nullptr) return;
  absl::StatusOr<TurnRequest> turn =
      TurnFromGenerateRequest(request, hosted->engine->info());
  if (!turn.ok()) {
    if (turn.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();  // validation speaks INVALID_ARGUMENT only
    }
    return;
  }
  if (turn->max_new_tokens > kMaxFuzzedNewTokens) return;
  auto sink = std::make_shared<CheckingSink>();
  hosted->scheduler->SubmitGenerate(request.limits(), *std::move(turn), sink);
  while (sink->AwaitReplies(sink->replies() + 1)) {
  }
}

void FuzzSession(const uint8_t* data, size_t size) {
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(size));
  const EngineHost::Hosted* hosted = nullptr;
  EngineScheduler::SequenceId id = 0;
  auto sink = std::make_shared<CheckingSink>();
  int expected_replies = 0;
  bool finished = false;
  uint32_t length = 0;
  while (in.ReadVarint32(&length)) {
    std::string bytes;
    if (!in.ReadString(&bytes, static_cast<int>(length))) break;
    v1::SessionRequest request;
    if (!request.ParseFromString(bytes)) break;
    // SessionReactor::Handle, one request at a time.
    if (request.has_open()) {
      if (hosted != nullptr) break;
      hosted = GetHarness().host->FindHosted(request.open().engine());
      if (hosted == nullptr) return;
      if (!ValidateLimits(request.open().limits(), "open.limits").ok()) {
        hosted = nullptr;
        return;
      }
      id = hosted->scheduler->NewSessionId();
      hosted->scheduler->OpenSession(id, request.open().limits(), sink);
    } else if (request.has_append() || request.has_generate()) {
      if (hosted == nullptr) return;
      const v1::EngineInfo& info = hosted->engine->info();
      absl::StatusOr<TurnRequest> turn =
          request.has_append() ? TurnFromAppend(request.append(), info)
                               : TurnFromGenerateTurn(request.generate(), info);
      if (!turn.ok()) {
        if (turn.status().code() != absl::StatusCode::kInvalidArgument) {
          __builtin_trap();
        }
        break;
      }
      if (turn->max_new_tokens > kMaxFuzzedNewTokens) break;
      hosted->scheduler->SubmitTurn(id, *std::move(turn));
    } else {
      break;  // close, or an empty request
    }
    if (!sink->AwaitReplies(++expected_replies)) {
      finished = true;
      break;
    }
  }
  if (hosted == nullptr) return;
  // As SessionReactor: a stream that ended in an error frees its session
  // without a reply; a live one is closed like a client half-close.
  hosted->scheduler->CloseSession(id, /*reply=*/!finished);
  while (sink->AwaitReplies(sink->replies() + 1)) {
  }
}

}  // namespace
}  // namespace trilemma

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    trilemma::FuzzGenerate(data + 1, size - 1);
  } else {
    trilemma::FuzzSession(data + 1, size - 1);
  }
  return 0;
}
