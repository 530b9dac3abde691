#include "client/load/soak_runner.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/common/channel.h"
#include "grpcpp/grpcpp.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

namespace trilemma::client {
namespace {

enum class Behaviour { kNormal, kCancel, kShortDeadline, kSlowReader, kKilled };

const char* BehaviourName(Behaviour b) {
  switch (b) {
    case Behaviour::kNormal:
      return "normal";
    case Behaviour::kCancel:
      return "cancel";
    case Behaviour::kShortDeadline:
      return "short_deadline";
    case Behaviour::kSlowReader:
      return "slow_reader";
    case Behaviour::kKilled:
      return "killed";
  }
  return "?";
}

std::string CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : absl::StrCat("CODE_", i);
}

// What one call ended with.
struct CallRecord {
  Behaviour behaviour = Behaviour::kNormal;
  grpc::Status status;
  bool protocol_error = false;
  enum class Stop { kNone, kCancelled, kTooLate, kBroken } stop = Stop::kNone;
};

// The calls in flight, so the hang check can see and cancel them.
class LiveCalls {
 public:
  explicit LiveCalls(size_t workers) : contexts_(workers, nullptr) {}
  void Set(size_t worker, grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    contexts_[worker] = context;
  }
  // Cancels every call still in flight; returns how many.
  int64_t CancelAll() {
    absl::MutexLock lock(&mu_);
    int64_t n = 0;
    for (grpc::ClientContext* c : contexts_) {
      if (c == nullptr) continue;
      c->TryCancel();
      ++n;
    }
    return n;
  }

 private:
  absl::Mutex mu_;
  std::vector<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

class CallDriver {
 public:
  CallDriver(std::shared_ptr<grpc::Channel> channel, std::string target_uri,
             size_t worker, LiveCalls* live, uint64_t seed,
             absl::Duration call_deadline)
      : channel_(std::move(channel)),
        target_uri_(std::move(target_uri)),
        call_deadline_(call_deadline),
        worker_(worker),
        live_(live),
        rng_(seed) {}

  CallRecord Run(const v1::EngineInfo& engine, bool session, Behaviour b) {
    CallRecord record;
    record.behaviour = b;
    std::shared_ptr<grpc::Channel> channel = channel_;
    if (b == Behaviour::kKilled) {
      // Its own connection, dropped with the call.
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      channel = grpc::CreateCustomChannel(
          target_uri_, grpc::InsecureChannelCredentials(), args);
    }
    std::unique_ptr<v1::Trilemma::Stub> stub = v1::Trilemma::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(
        absl::Now() + (b == Behaviour::kShortDeadline
                           ? absl::Milliseconds(Uniform(5, 300))
                           : call_deadline_)));
    live_->Set(worker_, &context);
    cancel_after_ = static_cast<int>(Uniform(1, 8));
    events_ = 0;
    if (session) {
      RunSession(*stub, &context, engine, b, &record);
    } else {
      RunGenerate(*stub, &context, engine, b, &record);
    }
    live_->Set(worker_, nullptr);
    return record;
  }

 private:
  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  std::vector<int32_t> Tokens(const v1::EngineInfo& engine, int64_t n) {
    std::vector<int32_t> out(static_cast<size_t>(n));
    for (int32_t& t : out) {
      t = static_cast<int32_t>(Uniform(0, engine.shape().vocab() - 1));
    }
    return out;
  }
  // After each event read: the behaviour's client-side action.
  void AfterEvent(grpc::ClientContext* context, Behaviour b) {
    ++events_;
    if (b == Behaviour::kSlowReader) {
      absl::SleepFor(absl::Milliseconds(Uniform(5, 30)));
    } else if ((b == Behaviour::kCancel && events_ >= cancel_after_) ||
               b == Behaviour::kKilled) {
      context->TryCancel();
    }
  }

  void RunGenerate(v1::Trilemma::Stub& stub, grpc::ClientContext* context,
                   const v1::EngineInfo& engine, Behaviour b,
                   CallRecord* record) {
    v1::GenerateRequest request;
    request.set_engine(engine.name());
    for (int32_t t : Tokens(engine, Uniform(8, 256))) request.add_prompt(t);
    request.set_max_new_tokens(static_cast<int32_t>(Uniform(4, 48)));
    std::unique_ptr<grpc::ClientReader<v1::GenerateEvent>> reader =
        stub.Generate(context, request);
    v1::GenerateEvent event;
    bool summary = false;
    while (reader->Read(&event)) {
      summary |= event.has_summary();
      AfterEvent(context, b);
    }
    record->status = reader->Finish();
    record->protocol_error = record->status.ok() && !summary;
  }

  // Reads one turn's events up to its summary; false when the stream ended.
  bool ReadTurn(
      grpc::ClientReaderWriter<v1::SessionRequest, v1::SessionEvent>* stream,
      grpc::ClientContext* context, Behaviour b, bool stop_midway,
      v1::Summary* summary) {
    v1::SessionEvent event;
    bool stopped = false;
    while (stream->Read(&event)) {
      AfterEvent(context, b);
      if (event.has_summary()) {
        *summary = event.summary();
        return true;
      }
      if (stop_midway && !stopped && event.has_token()) {
        v1::SessionRequest stop;
        stop.mutable_stop();
        if (!stream->Write(stop)) return false;
        stopped = true;
      }
    }
    return false;
  }

  void RunSession(v1::Trilemma::Stub& stub, grpc::ClientContext* context,
                  const v1::EngineInfo& engine, Behaviour b,
                  CallRecord* record) {
    auto stream = stub.Session(context);
    v1::SessionRequest request;
    request.mutable_open()->set_engine(engine.name());
    v1::SessionEvent event;
    bool ok =
        stream->Write(request) && stream->Read(&event) && event.has_opened();
    if (ok) AfterEvent(context, b);
    v1::Summary summary;
    if (ok) {
      request.Clear();
      for (int32_t t : Tokens(engine, Uniform(16, 128))) {
        request.mutable_append()->add_tokens(t);
      }
      ok = stream->Write(request) &&
           ReadTurn(stream.get(), context, b, false, &summary);
    }
    const bool stop = b == Behaviour::kNormal && Uniform(0, 2) == 0;
    if (ok) {
      request.Clear();
      for (int32_t t : Tokens(engine, Uniform(1, 8))) {
        request.mutable_generate()->add_prompt(t);
      }
      request.mutable_generate()->set_max_new_tokens(
          static_cast<int32_t>(stop ? 256 : Uniform(4, 32)));
      ok = stream->Write(request) &&
           ReadTurn(stream.get(), context, b, stop, &summary);
      if (stop) {
        if (!ok) {
          record->stop = CallRecord::Stop::kBroken;
        } else if (summary.finish_reason() == v1::CANCELLED) {
          record->stop = CallRecord::Stop::kCancelled;
        } else {
          record->stop = CallRecord::Stop::kTooLate;
        }
      }
    }
    if (ok) {
      // After a stop the session must go on from its kept state.
      request.Clear();
      request.mutable_generate()->set_max_new_tokens(2);
      ok = stream->Write(request) &&
           ReadTurn(stream.get(), context, b, false, &summary);
      if (stop && !ok) record->stop = CallRecord::Stop::kBroken;
    }
    bool closed = false;
    if (ok) {
      stream->WritesDone();
      while (stream->Read(&event)) closed |= event.has_closed();
    }
    record->status = stream->Finish();
    record->protocol_error = record->status.ok() && ok && !closed;
    // A stream the server ended with a status (its deadline, a cap) broke
    // no stop; only one that went on OK without its replies did.
    if (record->stop == CallRecord::Stop::kBroken && !record->status.ok()) {
      record->stop = CallRecord::Stop::kNone;
    }
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::string target_uri_;
  absl::Duration call_deadline_;
  size_t worker_;
  LiveCalls* live_;
  std::mt19937_64 rng_;
  int cancel_after_ = 1;
  int events_ = 0;
};

}  // namespace

SoakResult RunSoak(const std::string& target_uri, const SoakOptions& options) {
  SoakResult result;
  const size_t workers = static_cast<size_t>(std::max(1, options.workers));
  std::shared_ptr<grpc::Channel> channel = CreateClientChannel(target_uri);
  LiveCalls live(workers);
  absl::Mutex mu;
  std::atomic<size_t> running{workers};
  const absl::Time start = absl::Now();
  const absl::Time end = start + options.duration;

  auto work = [&](size_t w) {
    CallDriver driver(channel, target_uri, w, &live, options.seed * 7919 + w,
                      options.call_deadline);
    std::mt19937_64 rng(options.seed * 104729 + w);
    const double per_worker = options.rate / static_cast<double>(workers);
    std::exponential_distribution<double> gap(per_worker > 0 ? per_worker : 1);
    absl::Time next = start + absl::Seconds(gap(rng));
    for (;;) {
      const absl::Time now = absl::Now();
      if (options.closed_loop_normal_only) {
        if (now >= end) break;
      } else {
        // A worker held up past `end` by a slow call sends no more (its
        // call would outlive the hang check).
        if (next >= end || now >= end) break;
        if (now < next) absl::SleepFor(next - now);
      }
      const bool late = !options.closed_loop_normal_only &&
                        now - next > absl::Milliseconds(100);
      next += absl::Seconds(gap(rng));
      const v1::EngineInfo& engine =
          options.engines[std::uniform_int_distribution<size_t>(
              0, options.engines.size() - 1)(rng)];
      Behaviour b = Behaviour::kNormal;
      bool session = false;
      if (!options.closed_loop_normal_only) {
        session = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
        const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
        b = roll < 50   ? Behaviour::kNormal
            : roll < 63 ? Behaviour::kCancel
            : roll < 76 ? Behaviour::kShortDeadline
            : roll < 89 ? Behaviour::kSlowReader
                        : Behaviour::kKilled;
      }
      const CallRecord record = driver.Run(engine, session, b);
      absl::MutexLock lock(&mu);
      ++result.sent;
      result.late_sends += late ? 1 : 0;
      const std::string code = CodeName(record.status.error_code());
      ++result.by_status[code];
      ++result.by_behaviour[BehaviourName(b)];
      if (b == Behaviour::kNormal) ++result.normal_by_status[code];
      result.protocol_errors += record.protocol_error ? 1 : 0;
      result.stops_cancelled += record.stop == CallRecord::Stop::kCancelled;
      result.stops_too_late += record.stop == CallRecord::Stop::kTooLate;
      result.stops_broken += record.stop == CallRecord::Stop::kBroken;
      if (!record.status.ok() && result.examples.size() < 12 &&
          b == Behaviour::kNormal) {
        result.examples.push_back(
            absl::StrCat(code, ": ", record.status.error_message()));
      }
    }
    running.fetch_sub(1);
  };
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (size_t w = 0; w < workers; ++w) threads.emplace_back(work, w);
  absl::SleepFor(std::max(absl::ZeroDuration(), end - absl::Now()));
  // The last calls began before `end`; each must end by its deadline.
  const absl::Time grace_end = end + options.call_deadline + options.hang_grace;
  while (running.load() > 0 && absl::Now() < grace_end) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  if (running.load() > 0) result.hung = live.CancelAll();
  for (std::thread& t : threads) t.join();
  result.elapsed = absl::Now() - start;
  return result;
}

}  // namespace trilemma::client
