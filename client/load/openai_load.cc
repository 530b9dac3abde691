#include "client/load/openai_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/common/mqar_workload.h"
#include "client/load/arrivals.h"
#include "client/load/text_workload.h"

namespace trilemma::client {
namespace {

using Clock = std::chrono::steady_clock;

// The arrival process's seed stream (as RunLoad's).
constexpr uint64_t kArrivalStream = uint64_t{1} << 62;
constexpr int32_t kMaxOpenLoopWorkers = 256;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

struct Job {
  int32_t engine = 0;
  RequestPlan plan;
};

// Adds one completion's measurements to `record`; `offset` is when the
// completion was sent, in seconds after the record's request started.
void AddCompletion(const OpenAiCompletion& c, double offset,
                   RequestRecord* record) {
  for (double t : c.chunk_seconds) record->token_seconds.push_back(offset + t);
  record->prompt_tokens += c.prompt_tokens;
  record->peak_state_bytes =
      std::max(record->peak_state_bytes, c.peak_state_bytes);
  record->flops_sum += static_cast<double>(c.flops);
  record->state_bytes_sum += static_cast<double>(c.state_bytes) *
                             static_cast<double>(c.completion_tokens);
  if (c.status.ok()) record->finish_reasons.push_back(c.finish_reason);
}

// Scores `text` against `expected` (token IDs); appends the probe.
std::vector<int32_t> Score(const std::string& text, const PlannedTurn& turn,
                           int64_t context_tokens, RequestRecord* record) {
  std::optional<std::vector<int32_t>> ids = ParseTokenIdText(text);
  std::vector<int32_t> generated = ids.value_or(std::vector<int32_t>{});
  if (!turn.expected.empty()) {
    const bool hit = generated.size() >= turn.expected.size() &&
                     std::equal(turn.expected.begin(), turn.expected.end(),
                                generated.begin());
    record->probes.push_back({context_tokens, hit});
  }
  return generated;
}

// Runs one plan's completions; returns its record.
RequestRecord RunPlan(OpenAiConnection& connection, const std::string& model,
                      const Job& job, const std::atomic<bool>& cancel) {
  RequestRecord record;
  record.engine = job.engine;
  record.workload = job.plan.kind;
  const Clock::time_point start = Clock::now();
  if (job.plan.text.has_value()) {
    OpenAiRequest request;
    request.model = model;
    request.text_prompt = job.plan.text->prompt;
    request.max_tokens = job.plan.text->max_tokens;
    OpenAiCompletion completion = connection.Complete(request, &cancel);
    AddCompletion(completion, 0, &record);
    record.status = completion.status.code();
    if (completion.status.ok()) {
      // The context the answer was produced in, in the server's tokens.
      record.probes.push_back(
          {completion.prompt_tokens,
           ScoreTextAnswer(completion.text, job.plan.text->expected)});
    }
    record.e2e_seconds = Seconds(Clock::now() - start);
    return record;
  }
  std::vector<int32_t> context = job.plan.append;
  for (const PlannedTurn& turn : job.plan.turns) {
    if (cancel.load()) {
      record.status = absl::StatusCode::kCancelled;
      break;
    }
    OpenAiRequest request;
    request.model = model;
    request.max_tokens = turn.max_new_tokens;
    request.token_prompt = context;
    request.token_prompt.insert(request.token_prompt.end(), turn.prompt.begin(),
                                turn.prompt.end());
    const double offset = Seconds(Clock::now() - start);
    OpenAiCompletion completion = connection.Complete(request, &cancel);
    AddCompletion(completion, offset, &record);
    if (!completion.status.ok()) {
      record.status = completion.status.code();
      break;
    }
    const int64_t context_tokens =
        static_cast<int64_t>(request.token_prompt.size());
    std::vector<int32_t> generated =
        Score(completion.text, turn, context_tokens, &record);
    if (!job.plan.session) break;
    // The next turn sees what a Session would hold: this turn's prompt and
    // the answer the server gave.
    context = std::move(request.token_prompt);
    context.insert(context.end(), generated.begin(), generated.end());
  }
  record.e2e_seconds = Seconds(Clock::now() - start);
  return record;
}

}  // namespace

absl::StatusOr<LoadRun> RunOpenAiLoad(const OpenAiTarget& target,
                                      const LoadRunOptions& options,
                                      const LoadProgressFn& progress) {
  if (options.engines.empty()) {
    return absl::InvalidArgumentError("--model: no model to load");
  }
  if (options.max_requests <= 0 &&
      options.max_duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--requests / --duration: give at least one bound");
  }
  bool token_workload = false;
  for (const WorkloadWeight& w : options.workload.mix) {
    token_workload |=
        w.kind != WorkloadKind::kPasskey && w.kind != WorkloadKind::kPhonebook;
  }
  for (const v1::EngineInfo& engine : options.engines) {
    if (token_workload && engine.shape().vocab() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("--vocab: the vocabulary of model '", engine.name(),
                       "' is unknown (the server does not say); give --vocab"));
    }
  }
  const bool open_loop = options.rate > 0;
  const int32_t workers =
      open_loop ? std::min(options.max_in_flight, kMaxOpenLoopWorkers)
                : options.concurrency;
  if (workers < 1) {
    return absl::InvalidArgumentError(
        "--concurrency / --max_in_flight: must be >= 1");
  }

  const Clock::time_point start = Clock::now();
  const Clock::time_point stop =
      options.max_duration > absl::ZeroDuration()
          ? start + std::chrono::duration_cast<Clock::duration>(
                        absl::ToChronoNanoseconds(options.max_duration))
          : Clock::time_point::max();
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  bool closing = false;
  int64_t in_flight = 0;  // queued or running
  LoadProgress counts;
  LoadRun run;
  run.sent.assign(options.engines.size(), 0);
  Clock::time_point last_end = start;
  std::atomic<bool> cancel{false};

  std::vector<std::thread> threads;
  for (int32_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      OpenAiConnection connection(target);
      for (;;) {
        Job job;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return closing || !jobs.empty(); });
          if (jobs.empty()) return;
          job = std::move(jobs.front());
          jobs.pop_front();
        }
        RequestRecord record = RunPlan(
            connection, options.engines[job.engine].name(), job, cancel);
        std::lock_guard<std::mutex> lock(mu);
        ++counts.finished;
        counts.failed += record.status != absl::StatusCode::kOk;
        --in_flight;
        last_end = Clock::now();
        run.records.push_back(std::move(record));
        cv.notify_all();
      }
    });
  }
  std::thread progress_thread;
  bool progress_done = false;
  auto snapshot = [&] {
    LoadProgress p = counts;
    p.in_flight = in_flight;
    p.elapsed_seconds = Seconds(Clock::now() - start);
    return p;
  };
  if (progress) {
    progress_thread = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      while (!progress_done) {
        const LoadProgress p = snapshot();
        lock.unlock();
        progress(p);
        lock.lock();
        cv.wait_for(lock, std::chrono::milliseconds(200));
      }
    });
  }

  ArrivalProcess arrivals(open_loop ? options.rate : 1, options.burstiness,
                          DeriveSeed(options.seed, kArrivalStream));
  Clock::time_point next_arrival = start;
  absl::Status plan_error;
  const int64_t limit = open_loop ? options.max_in_flight : workers;
  for (int64_t index = 0;
       options.max_requests <= 0 || index < options.max_requests; ++index) {
    if (open_loop) {
      next_arrival += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(arrivals.NextGapSeconds()));
      if (next_arrival >= stop) break;
      std::this_thread::sleep_until(next_arrival);
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      if (in_flight >= limit) {
        run.delayed_arrivals += open_loop;
        if (!cv.wait_until(lock, stop, [&] { return in_flight < limit; })) {
          break;
        }
      }
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
          absl::StrCat("request ", index, " to model '", info.name(),
                       "': ", plan.status().message()));
      break;
    }
    std::lock_guard<std::mutex> lock(mu);
    ++run.sent[engine];
    ++counts.sent;
    ++in_flight;
    jobs.push_back({engine, *std::move(plan)});
    cv.notify_all();
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    const auto drain_until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           absl::ToChronoNanoseconds(options.drain_timeout));
    if (!cv.wait_until(lock, drain_until, [&] { return in_flight == 0; })) {
      cancel.store(true);
    }
    closing = true;
    cv.notify_all();
  }
  for (std::thread& t : threads) t.join();
  if (progress) {
    {
      std::lock_guard<std::mutex> lock(mu);
      progress_done = true;
      cv.notify_all();
    }
    progress_thread.join();
    progress(snapshot());
  }
  if (!plan_error.ok()) return plan_error;
  run.duration_seconds = Seconds(last_end - start);
  return run;
}

}  // namespace trilemma::client
