// What serving costs beyond the engines' own steps (part of engine_bench).
//
//   build/bin/engine_bench --benchmark_filter='BM_StreamOverhead|BM_Scheduler'
//
// BM_StreamOverhead/streams:<S>/step_metrics:<0|1> — S concurrent Generate
//   streams of kStreamTokens tokens each, through a real in-process
//   TrilemmaServer on loopback TCP hosting the `null` engine (no FLOPs, no
//   state): items_per_second = streamed tokens/s; us_per_token = wall time
//   per streamed token over all streams. The client threads share the two
//   cores, so this bounds the server's own per-token cost from above.
// BM_SchedulerStream/<engine>/streams:<S>/step_metrics:<0|1> — the same S
//   streams through one EngineScheduler directly (no gRPC), for the null
//   engine and real ones: the difference between step_metrics 1 and 0 is
//   what the per-step and per-token metrics cost, next to the step time.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "engines/registry.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/server.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

namespace trilemma {
namespace {

constexpr int kStreamTokens = 256;
constexpr int kSchedulerTokens = 64;

EngineSpec NullSpec() {
  EngineSpec spec;
  spec.name = "null";
  spec.family = "null";
  spec.state_budget_bytes = int64_t{1} << 30;
  return spec;
}

absl::StatusOr<EngineSpec> SpecNamed(const std::string& name) {
  if (name == "null") return NullSpec();
  for (const EngineSpec& spec : DefaultEngineSpecs()) {
    if (spec.name == name) return spec;
  }
  return absl::NotFoundError(absl::StrCat("no default engine ", name));
}

// Wall microseconds of the timed loop per item.
double MicrosPer(absl::Duration elapsed, double items) {
  return items > 0 ? absl::ToDoubleMicroseconds(elapsed) / items : 0.0;
}

void BM_StreamOverhead(benchmark::State& state) {
  const int streams = static_cast<int>(state.range(0));
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.scheduler.step_metrics = state.range(1) != 0;
  absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
      TrilemmaServer::Start({NullSpec()}, options);
  if (!server.ok()) {
    state.SkipWithError(server.status().ToString().c_str());
    return;
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Trilemma::Stub> stub = v1::Trilemma::NewStub(channel);
  v1::GenerateRequest request;
  request.set_engine("null");
  request.add_prompt(1);
  request.set_max_new_tokens(kStreamTokens);

  int64_t tokens = 0;
  bool failed = false;
  const absl::Time begin = absl::Now();
  for (auto _ : state) {
    std::vector<int64_t> received(streams, 0);
    std::vector<grpc::Status> statuses(streams);
    std::vector<std::thread> clients;
    for (int i = 0; i < streams; ++i) {
      clients.emplace_back([&, i] {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(120));
        auto reader = stub->Generate(&context, request);
        v1::GenerateEvent event;
        while (reader->Read(&event)) received[i] += event.has_token() ? 1 : 0;
        statuses[i] = reader->Finish();
      });
    }
    for (std::thread& t : clients) t.join();
    for (int i = 0; i < streams; ++i) {
      failed |= !statuses[i].ok() || received[i] != kStreamTokens;
      tokens += received[i];
    }
  }
  const absl::Duration elapsed = absl::Now() - begin;
  (*server)->Shutdown(absl::ZeroDuration());
  if (failed) state.SkipWithError("a stream failed or came back short");
  state.SetItemsProcessed(tokens);
  state.counters["us_per_token"] =
      MicrosPer(elapsed, static_cast<double>(tokens));
}

BENCHMARK(BM_StreamOverhead)
    ->ArgNames({"streams", "step_metrics"})
    ->Args({1, 1})
    ->Args({32, 1})
    ->Args({32, 0})
    ->Iterations(8)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Counts a stream's tokens and signals when it ends.
class CountingSink final : public EventSink {
 public:
  explicit CountingSink(absl::BlockingCounter* done) : done_(done) {}
  bool Ready() override { return true; }
  bool Cancelled() override { return false; }
  void Push(v1::SessionEvent event) override {
    tokens_ += event.has_token() ? 1 : 0;
  }
  void Finish(absl::Status status) override {
    ok_ = status.ok();
    done_->DecrementCount();
  }
  int64_t tokens() const { return tokens_; }
  bool ok() const { return ok_; }

 private:
  absl::BlockingCounter* done_;
  int64_t tokens_ = 0;  // written by the scheduler thread only
  bool ok_ = false;
};

void BM_SchedulerStream(benchmark::State& state, const std::string& name,
                        int streams, bool step_metrics) {
  absl::StatusOr<EngineSpec> spec = SpecNamed(name);
  absl::StatusOr<std::unique_ptr<Engine>> engine =
      spec.ok() ? CreateEngine(*spec) : spec.status();
  if (!engine.ok()) {
    state.SkipWithError(engine.status().ToString().c_str());
    return;
  }
  ServerMetrics metrics;
  SchedulerOptions options;
  options.step_metrics = step_metrics;
  EngineScheduler scheduler(engine->get(),
                            &metrics.ForEngine((*engine)->info()), options);
  TurnRequest turn;
  turn.kind = TurnRequest::Kind::kGenerate;
  turn.tokens = {1, 2, 3, 4};
  turn.max_new_tokens = kSchedulerTokens;

  int64_t tokens = 0;
  bool failed = false;
  const absl::Time begin = absl::Now();
  for (auto _ : state) {
    absl::BlockingCounter done(streams);
    std::vector<std::shared_ptr<CountingSink>> sinks;
    for (int i = 0; i < streams; ++i) {
      sinks.push_back(std::make_shared<CountingSink>(&done));
      scheduler.SubmitGenerate({}, turn, sinks.back());
    }
    done.Wait();
    for (const auto& sink : sinks) {
      failed |= !sink->ok() || sink->tokens() != kSchedulerTokens;
      tokens += sink->tokens();
    }
  }
  const absl::Duration elapsed = absl::Now() - begin;
  scheduler.Stop();
  if (failed) state.SkipWithError("a stream failed or came back short");
  state.SetItemsProcessed(tokens);
  state.counters["us_per_token"] =
      MicrosPer(elapsed, static_cast<double>(tokens));
  // Steps: every stream is in every step (they start together).
  state.counters["us_per_step"] = MicrosPer(
      elapsed, static_cast<double>(state.iterations()) * kSchedulerTokens);
}

[[maybe_unused]] const bool kRegistered = [] {
  // As in trilemma-server: no lock-order graph on the hot path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  for (const char* name : {"null", "mamba", "linear_attention", "attention"}) {
    for (const bool metrics : {true, false}) {
      const std::string label =
          absl::StrCat("BM_SchedulerStream/", name,
                       "/streams:32/step_metrics:", metrics ? 1 : 0);
      benchmark::RegisterBenchmark(label.c_str(), BM_SchedulerStream, name, 32,
                                   metrics)
          ->Iterations(6)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
}  // namespace trilemma
