#include "client/load/runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/common/command.h"
#include "client/common/mqar_workload.h"
#include "client/load/arrivals.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"

namespace trilemma::client {
namespace {

using Clock = std::chrono::steady_clock;

// The arrival process's seed stream, apart from the requests' (0, 1, ...).
constexpr uint64_t kArrivalStream = uint64_t{1} << 62;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

Clock::time_point Deadline(Clock::time_point from, absl::Duration d) {
  if (d == absl::InfiniteDuration() || d <= absl::ZeroDuration()) {
    return Clock::time_point::max();
  }
  return from + std::chrono::duration_cast<Clock::duration>(
                    absl::ToChronoNanoseconds(d));
}

class Call;

// What the dispatcher, the progress thread and the streams share. Calls
// register while in flight so a drain can cancel them; `alive` counts call
// objects until destroyed, so the run outlives every callback.
class Tracker {
 public:
  explicit Tracker(Clock::time_point start) : start_(start) {}

  uint64_t Begin(std::weak_ptr<Call> call) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = next_id_++;
    in_flight_.emplace(id, std::move(call));
    ++sent_;
    return id;
  }

  void End(uint64_t id, RequestRecord record) {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(id);
    ++finished_;
    failed_ += record.status != absl::StatusCode::kOk;
    records_.push_back(std::move(record));
    last_end_ = Clock::now();
    cv_.notify_all();
  }

  void Born() {
    std::lock_guard<std::mutex> lock(mu_);
    ++alive_;
  }

  void Gone() {
    std::lock_guard<std::mutex> lock(mu_);
    --alive_;
    cv_.notify_all();
  }

  // Waits until fewer than `limit` requests are in flight; false when
  // `deadline` came first. `waited` tells whether it had to wait.
  bool WaitForRoom(size_t limit, Clock::time_point deadline, bool* waited) {
    std::unique_lock<std::mutex> lock(mu_);
    *waited = in_flight_.size() >= limit;
    return cv_.wait_until(lock, deadline,
                          [&] { return in_flight_.size() < limit; });
  }

  bool WaitIdle(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return in_flight_.empty(); });
  }

  void WaitAllGone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return alive_ == 0 && in_flight_.empty(); });
  }

  // Cancels every request in flight. TryCancel runs outside the lock (gRPC
  // may run the call's callbacks inline) on calls kept alive by the copies.
  void CancelAll();

  LoadProgress Progress() {
    std::lock_guard<std::mutex> lock(mu_);
    return LoadProgress{.sent = sent_,
                        .finished = finished_,
                        .failed = failed_,
                        .in_flight = static_cast<int64_t>(in_flight_.size()),
                        .elapsed_seconds = Seconds(Clock::now() - start_)};
  }

  // REQUIRES: WaitAllGone returned.
  std::vector<RequestRecord> TakeRecords() { return std::move(records_); }
  Clock::time_point last_end() const { return last_end_; }

 private:
  const Clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::weak_ptr<Call>> in_flight_;
  uint64_t next_id_ = 0;
  int64_t alive_ = 0, sent_ = 0, finished_ = 0, failed_ = 0;
  std::vector<RequestRecord> records_;
  Clock::time_point last_end_ = start_;
};

// One request's RPC and what it measured. Owns itself while in flight
// (`self_`), released in OnDone.
class Call {
 public:
  Call(Tracker* tracker, int32_t engine, WorkloadKind kind)
      : tracker_(tracker) {
    record_.engine = engine;
    record_.workload = kind;
    tracker_->Born();
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  virtual ~Call() { tracker_->Gone(); }

  void Cancel() { context_.TryCancel(); }

 protected:
  void Begin(std::shared_ptr<Call> self) {
    id_ = tracker_->Begin(self);
    self_ = std::move(self);
    ApplyTimeout(&context_);
    start_ = Clock::now();
  }

  void RecordToken(const v1::TokenEvent& token) {
    record_.token_seconds.push_back(Seconds(Clock::now() - start_));
    record_.state_bytes_sum += static_cast<double>(
        token.stats().state_bytes() + token.stats().external_state_bytes());
    record_.flops_sum += static_cast<double>(token.stats().flops());
  }

  void RecordSummary(const v1::Summary& summary) {
    record_.prompt_tokens += summary.prompt_tokens();
    record_.preemptions += summary.preemptions();
    record_.recomputed_tokens += summary.recomputed_tokens();
    record_.peak_state_bytes =
        std::max(record_.peak_state_bytes, summary.peak_state_bytes());
    if (summary.finish_reason() != v1::APPENDED) {
      record_.finish_reasons.push_back(summary.finish_reason());
    }
    if (summary.recall().probed()) {
      record_.probes.push_back(
          {summary.recall().context_tokens(), summary.recall().hit()});
    }
  }

  // The last thing a call does: hands its record over and drops its
  // self-reference (which may destroy it).
  void Finish(const grpc::Status& status) {
    record_.status = static_cast<absl::StatusCode>(status.error_code());
    record_.e2e_seconds = Seconds(Clock::now() - start_);
    tracker_->End(id_, std::move(record_));
    std::shared_ptr<Call> self = std::move(self_);
  }

  grpc::ClientContext context_;
  RequestRecord record_;

 private:
  Tracker* const tracker_;
  std::shared_ptr<Call> self_;
  uint64_t id_ = 0;
  Clock::time_point start_;
};

void Tracker::CancelAll() {
  std::vector<std::shared_ptr<Call>> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, weak] : in_flight_) {
      if (std::shared_ptr<Call> call = weak.lock()) calls.push_back(call);
    }
  }
  for (const std::shared_ptr<Call>& call : calls) call->Cancel();
}

// niah and random: one server-streaming Generate.
class GenerateCall final : public Call,
                           public grpc::ClientReadReactor<v1::GenerateEvent> {
 public:
  GenerateCall(Tracker* tracker, int32_t engine, const std::string& name,
               RequestPlan plan)
      : Call(tracker, engine, plan.kind) {
    PlannedTurn& turn = plan.turns.front();
    request_.set_engine(name);
    request_.mutable_prompt()->Add(turn.prompt.begin(), turn.prompt.end());
    request_.set_max_new_tokens(turn.max_new_tokens);
    if (!turn.expected.empty()) {
      request_.mutable_probe()->mutable_expected()->Add(turn.expected.begin(),
                                                        turn.expected.end());
      request_.mutable_probe()->set_distance(turn.distance);
    }
  }

  void Start(v1::Trilemma::StubInterface& stub,
             std::shared_ptr<GenerateCall> self) {
    Begin(std::move(self));
    stub.async()->Generate(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    if (event_.has_token()) RecordToken(event_.token());
    if (event_.has_summary()) RecordSummary(event_.summary());
    StartRead(&event_);
  }

  void OnDone(const grpc::Status& status) override { Finish(status); }

 private:
  v1::GenerateRequest request_;
  v1::GenerateEvent event_;
};

// mqar: a Session turn by turn, like a chat client: each request is written
// once the reply to the previous one arrived (open -> opened, append or
// generate -> its Summary), then a half-close, which the server treats as
// `close`. A reply may arrive before its write's OnWriteDone, so the write
// path is guarded by `mu_`; reads are serialised by gRPC.
class SessionCall final
    : public Call,
      public grpc::ClientBidiReactor<v1::SessionRequest, v1::SessionEvent> {
 public:
  SessionCall(Tracker* tracker, int32_t engine, const std::string& name,
              const RequestPlan& plan)
      : Call(tracker, engine, plan.kind) {
    requests_.emplace_back().mutable_open()->set_engine(name);
    if (!plan.append.empty()) {
      requests_.emplace_back().mutable_append()->mutable_tokens()->Add(
          plan.append.begin(), plan.append.end());
    }
    for (const PlannedTurn& turn : plan.turns) {
      v1::GenerateTurn* generate = requests_.emplace_back().mutable_generate();
      generate->mutable_prompt()->Add(turn.prompt.begin(), turn.prompt.end());
      generate->set_max_new_tokens(turn.max_new_tokens);
      if (!turn.expected.empty()) {
        generate->mutable_probe()->mutable_expected()->Add(
            turn.expected.begin(), turn.expected.end());
        generate->mutable_probe()->set_distance(turn.distance);
      }
    }
  }

  void Start(v1::Trilemma::StubInterface& stub,
             std::shared_ptr<SessionCall> self) {
    Begin(std::move(self));
    stub.async()->Session(&context_, this);
    StartRead(&event_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      WriteNextLocked();
    }
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    // A failed write means the stream is over; OnDone says why.
    if (ok && replies_ >= written_) WriteNextLocked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    bool reply_done = false;
    switch (event_.event_case()) {
      case v1::SessionEvent::kOpened:
        reply_done = true;
        break;
      case v1::SessionEvent::kToken:
        RecordToken(event_.token());
        break;
      case v1::SessionEvent::kSummary:
        RecordSummary(event_.summary());
        reply_done = true;
        break;
      case v1::SessionEvent::kClosed:
        record_.peak_state_bytes = std::max(record_.peak_state_bytes,
                                            event_.closed().peak_state_bytes());
        break;
      default:
        break;
    }
    if (reply_done) {
      std::lock_guard<std::mutex> lock(mu_);
      ++replies_;
      if (!writing_) WriteNextLocked();
    }
    StartRead(&event_);
  }

  void OnDone(const grpc::Status& status) override { Finish(status); }

 private:
  // Writes the next request, or half-closes after the last.
  void WriteNextLocked() {
    if (written_ < requests_.size()) {
      writing_ = true;
      StartWrite(&requests_[written_++]);
    } else if (!writes_done_) {
      writes_done_ = true;
      StartWritesDone();
    }
  }

  std::vector<v1::SessionRequest> requests_;
  v1::SessionEvent event_;
  std::mutex mu_;
  size_t written_ = 0;  // requests whose write started
  size_t replies_ = 0;  // replies fully read
  bool writing_ = false;
  bool writes_done_ = false;
};

absl::Status ValidateOptions(const LoadRunOptions& options) {
  if (options.engines.empty()) {
    return absl::InvalidArgumentError("--engines: no engine to load");
  }
  if (options.max_requests <= 0 &&
      options.max_duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--requests / --duration: give at least one bound");
  }
  if (options.rate > 0) {
    if (!(options.burstiness > 0)) {
      return absl::InvalidArgumentError("--burstiness: must be > 0");
    }
    if (options.max_in_flight < 1) {
      return absl::InvalidArgumentError("--max_in_flight: must be >= 1");
    }
  } else if (options.concurrency < 1) {
    return absl::InvalidArgumentError("--concurrency: must be >= 1");
  }
  bool mqar = false;
  for (const WorkloadWeight& w : options.workload.mix) {
    mqar |= w.kind == WorkloadKind::kMqar;
  }
  for (const v1::EngineInfo& engine : options.engines) {
    const int32_t keys = engine.shape().vocab() / 2;
    for (int32_t pairs : options.workload.pairs) {
      // Fewer pairs than keys, so noise has tokens left to draw from.
      if (mqar && pairs >= keys) {
        return absl::InvalidArgumentError(
            absl::StrCat("--pairs: ", pairs, " pairs need more than the ", keys,
                         " keys of engine '", engine.name(), "' (vocab ",
                         engine.shape().vocab(), ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadRun> RunLoad(v1::Trilemma::StubInterface& stub,
                                const LoadRunOptions& options,
                                const LoadProgressFn& progress) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  const Clock::time_point start = Clock::now();
  const Clock::time_point stop = Deadline(start, options.max_duration);
  const bool open_loop = options.rate > 0;
  Tracker tracker(start);

  std::mutex progress_mu;
  std::condition_variable progress_cv;
  bool progress_done = false;
  std::thread progress_thread;
  if (progress) {
    progress_thread = std::thread([&] {
      std::unique_lock<std::mutex> lock(progress_mu);
      while (!progress_cv.wait_for(lock, std::chrono::milliseconds(200),
                                   [&] { return progress_done; })) {
        progress(tracker.Progress());
      }
    });
  }

  LoadRun run;
  run.sent.assign(options.engines.size(), 0);
  ArrivalProcess arrivals(open_loop ? options.rate : 1, options.burstiness,
                          DeriveSeed(options.seed, kArrivalStream));
  Clock::time_point next_arrival = start;
  absl::Status plan_error;
  for (int64_t index = 0;
       options.max_requests <= 0 || index < options.max_requests; ++index) {
    bool waited = false;
    if (open_loop) {
      next_arrival += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(arrivals.NextGapSeconds()));
      if (next_arrival >= stop) break;
      std::this_thread::sleep_until(next_arrival);
      if (!tracker.WaitForRoom(options.max_in_flight, stop, &waited)) break;
      run.delayed_arrivals += waited;
    } else if (!tracker.WaitForRoom(options.concurrency, stop, &waited)) {
      break;
    }
    if (Clock::now() >= stop) break;

    const int32_t engine = static_cast<int32_t>(
        index % static_cast<int64_t>(options.engines.size()));
    const v1::EngineInfo& info = options.engines[engine];
    absl::StatusOr<RequestPlan> plan =
        PlanRequest(options.workload, info.shape().vocab(),
                    DeriveSeed(options.seed, static_cast<uint64_t>(index)));
    if (!plan.ok()) {
      plan_error = absl::InvalidArgumentError(
          absl::StrCat("request ", index, " to engine '", info.name(),
                       "': ", plan.status().message()));
      break;
    }
    ++run.sent[engine];
    if (plan->session) {
      auto call =
          std::make_shared<SessionCall>(&tracker, engine, info.name(), *plan);
      call->Start(stub, call);
    } else {
      auto call = std::make_shared<GenerateCall>(&tracker, engine, info.name(),
                                                 *std::move(plan));
      call->Start(stub, call);
    }
  }

  if (!tracker.WaitIdle(Deadline(Clock::now(), options.drain_timeout))) {
    tracker.CancelAll();
  }
  tracker.WaitAllGone();
  if (progress) {
    {
      std::lock_guard<std::mutex> lock(progress_mu);
      progress_done = true;
    }
    progress_cv.notify_all();
    progress_thread.join();
    progress(tracker.Progress());
  }
  if (!plan_error.ok()) return plan_error;
  run.records = tracker.TakeRecords();
  run.duration_seconds = Seconds(tracker.last_end() - start);
  return run;
}

}  // namespace trilemma::client
