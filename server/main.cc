// trilemma-server: hosts the engines and serves the Trilemma gRPC API and
// Prometheus /metrics. Wiring only: flags -> TrilemmaServer; SIGINT/SIGTERM
// drain it and exit 0.
//
//   trilemma-server --listen=127.0.0.1:50051 --metrics_listen=127.0.0.1:9464
//   trilemma-server --engines=attention --state_budget_bytes=268435456
//   trilemma-server --config=deploy/engines.textproto
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine_host.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC listen address host:port (port 0 picks a free port).");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics listen address host:port; empty disables.");
ABSL_FLAG(std::string, engines, "",
          "Comma-separated engine names to host (default: every registered "
          "family's default presets, or every engine of --config). May also "
          "name presets of hidden families.");
ABSL_FLAG(std::string, config, "",
          "Path of a protobuf text-format trilemma.v1.ServerConfig listing "
          "the engines (name, family, knobs, state_budget_bytes); replaces "
          "the default presets.");
ABSL_FLAG(int64_t, state_budget_bytes, int64_t{1} << 30,
          "Model-tier state budget per engine in bytes, carved into KV "
          "blocks (engines of --config may override it).");
ABSL_FLAG(int64_t, external_budget_bytes, -1,
          "External-tier state budget per engine in bytes (a memory engine's "
          "key-value store); over it the --budget_policy applies as for the "
          "model tier. -1 = each engine's state budget, 0 = no budget.");
ABSL_FLAG(int32_t, max_waiting, 256,
          "Requests per engine that may wait for admission once everything "
          "that fits its budget and --max_running was admitted; the newest "
          "beyond it get RESOURCE_EXHAUSTED naming this flag.");
ABSL_FLAG(int32_t, max_running, 64,
          "Sequences per engine holding state at most (running Generate "
          "calls plus open Session streams, like vLLM's max_num_seqs); more "
          "wait for admission.");
ABSL_FLAG(int64_t, max_open_streams, 2048,
          "Open Generate and Session streams over all engines at most "
          "(waiting or running); more get RESOURCE_EXHAUSTED at once.");
ABSL_FLAG(int32_t, max_step_tokens, 512,
          "Tokens one scheduler iteration of an engine consumes at most: one "
          "per decoding stream first, prefill chunks fill the rest.");
ABSL_FLAG(double, prefill_time_share, 1.0,
          "While streams decode, prefill per iteration may take at most this "
          "multiple of a decode step's time, so a huge prompt slows short "
          "streams by about 1 + this factor; 0 leaves prefill to the token "
          "budgets.");
ABSL_FLAG(int64_t, max_context_tokens, int64_t{1} << 20,
          "Context tokens any request or session may hold (its own "
          "limits.max_context_tokens is lowered to it); 0 = no cap.");
ABSL_FLAG(int64_t, max_message_bytes, -1,
          "Largest request message accepted (gRPC answers RESOURCE_EXHAUSTED "
          "above it); -1 follows --max_context_tokens (5 bytes a token + 64 "
          "KiB), 0 keeps gRPC's 4 MiB.");
ABSL_FLAG(absl::Duration, max_queue_wait, absl::Seconds(30),
          "How long a request may wait for admission before "
          "RESOURCE_EXHAUSTED naming the engine's budget.");
ABSL_FLAG(std::string, budget_policy, "preempt",
          "What happens to a running session its engine's state budget "
          "cannot grow: 'preempt' frees the youngest session's state and "
          "re-queues it to recompute its context later (counted as "
          "limit_events_total{limit=\"preempted\"}); 'reject' ends the turn "
          "with STATE_LIMIT.");
ABSL_FLAG(absl::Duration, session_idle_timeout, absl::Minutes(10),
          "A Session stream with no turn for this long is closed with "
          "DEADLINE_EXCEEDED and its state freed; 'inf' disables.");
ABSL_FLAG(bool, step_metrics, true,
          "Record per-step and per-token metrics (histograms, token and FLOP "
          "counters, state gauges). Off only to measure what they cost.");
ABSL_FLAG(int32_t, max_batch_size, 64,
          "Sessions per batched decode step at most.");
ABSL_FLAG(int32_t, prefill_chunk_tokens, 256,
          "Prompt tokens one session consumes per scheduler iteration at "
          "most; with --max_step_tokens and --prefill_time_share this keeps "
          "long prompts from stalling running streams.");
ABSL_FLAG(int32_t, max_prefill_tokens_per_step, 1024,
          "Prompt tokens all sessions of an engine consume per iteration at "
          "most.");
ABSL_FLAG(int32_t, stream_queue_events, 32,
          "Events a stream may queue unsent before its session is paused "
          "(backpressure from slow clients).");
ABSL_FLAG(absl::Duration, drain_deadline, absl::Seconds(10),
          "On SIGINT/SIGTERM: how long running streams may finish before "
          "they are cut with a SHUTDOWN summary.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trilemma inference server: streams tokens from every hosted engine "
      "under explicit state limits, with per-step cost and recall metrics.\n"
      "Usage: trilemma-server [--listen=HOST:PORT] "
      "[--metrics_listen=HOST:PORT] [--engines=a,b | --config=FILE] ...");
  // --help lists the flags defined under server/ (absl's default only
  // matches a file named after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "server/");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built with Mutex deadlock detection on, which keeps a
  // lock-order graph on every lock (~1% of a streamed token's cost). Tests
  // keep it; serving does not need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals go to sigwait below: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::vector<trilemma::EngineSpec>> specs =
      trilemma::ResolveEngineSpecs(
          {.engines = absl::GetFlag(FLAGS_engines),
           .config_path = absl::GetFlag(FLAGS_config),
           .default_budget_bytes = absl::GetFlag(FLAGS_state_budget_bytes)});
  if (!specs.ok()) {
    std::cerr << "trilemma-server: " << specs.status() << "\n";
    return 2;
  }
  trilemma::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.scheduler.max_waiting = absl::GetFlag(FLAGS_max_waiting);
  options.scheduler.max_running = absl::GetFlag(FLAGS_max_running);
  options.scheduler.external_budget_bytes =
      absl::GetFlag(FLAGS_external_budget_bytes);
  options.scheduler.max_open_streams = absl::GetFlag(FLAGS_max_open_streams);
  options.scheduler.max_step_tokens = absl::GetFlag(FLAGS_max_step_tokens);
  options.scheduler.prefill_time_share =
      absl::GetFlag(FLAGS_prefill_time_share);
  options.scheduler.max_context_tokens =
      absl::GetFlag(FLAGS_max_context_tokens);
  {
    const int64_t message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
    options.max_message_bytes =
        message_bytes < 0
            ? trilemma::MessageBytesForContext(
                  options.scheduler.max_context_tokens > 0
                      ? options.scheduler.max_context_tokens
                      : int64_t{1} << 20)
            : static_cast<int>(std::min<int64_t>(message_bytes, 1 << 30));
  }
  options.scheduler.max_queue_wait = absl::GetFlag(FLAGS_max_queue_wait);
  options.scheduler.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.scheduler.prefill_chunk_tokens =
      absl::GetFlag(FLAGS_prefill_chunk_tokens);
  options.scheduler.max_prefill_tokens_per_step =
      absl::GetFlag(FLAGS_max_prefill_tokens_per_step);
  absl::StatusOr<trilemma::SchedulerOptions::BudgetPolicy> policy =
      trilemma::ParseBudgetPolicy(absl::GetFlag(FLAGS_budget_policy));
  if (!policy.ok()) {
    std::cerr << "trilemma-server: --" << policy.status().message() << "\n";
    return 2;
  }
  options.scheduler.budget_policy = *policy;
  options.scheduler.session_idle_timeout =
      absl::GetFlag(FLAGS_session_idle_timeout);
  options.scheduler.step_metrics = absl::GetFlag(FLAGS_step_metrics);
  options.service.stream_queue_events =
      static_cast<size_t>(absl::GetFlag(FLAGS_stream_queue_events));
  if (options.scheduler.max_batch_size < 1 ||
      options.scheduler.prefill_chunk_tokens < 1 ||
      options.scheduler.max_prefill_tokens_per_step < 1 ||
      options.scheduler.max_waiting < 0 || options.scheduler.max_running < 1 ||
      options.scheduler.max_open_streams < 1 ||
      options.scheduler.max_step_tokens < 1 ||
      options.scheduler.prefill_time_share < 0 ||
      options.scheduler.max_context_tokens < 0 ||
      options.scheduler.session_idle_timeout <= absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_stream_queue_events) < 1) {
    std::cerr << "trilemma-server: --max_batch_size, --prefill_chunk_tokens, "
                 "--max_prefill_tokens_per_step, --stream_queue_events, "
                 "--max_running, --max_open_streams and --max_step_tokens "
                 "must be >= 1, --max_waiting, --prefill_time_share and "
                 "--max_context_tokens >= 0, --session_idle_timeout > 0\n";
    return 2;
  }

  absl::StatusOr<std::unique_ptr<trilemma::TrilemmaServer>> server =
      trilemma::TrilemmaServer::Start(*specs, options);
  if (!server.ok()) {
    std::cerr << "trilemma-server: " << server.status() << "\n";
    return 1;
  }
  std::cout << (*server)->ReadyLine() << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cout << "trilemma-server: signal " << signal_number << ", draining for "
            << absl::FormatDuration(absl::GetFlag(FLAGS_drain_deadline))
            << std::endl;
  (*server)->Shutdown(absl::GetFlag(FLAGS_drain_deadline));
  std::cout << "trilemma-server: stopped" << std::endl;
  return 0;
}
