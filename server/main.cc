// trilemma-server: hosts the engines and serves the Trilemma gRPC API and
// Prometheus /metrics. Wiring only: flags -> TrilemmaServer; SIGINT/SIGTERM
// drain it and exit 0.
//
//   trilemma-server --listen=127.0.0.1:50051 --metrics_listen=127.0.0.1:9464
//   trilemma-server --engines=attention --state_budget_bytes=268435456
//   trilemma-server --config=deploy/engines.textproto
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine_host.h"
#include "server/http/http_server.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC listen address host:port (port 0 picks a free port).");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics listen address host:port; empty disables.");
ABSL_FLAG(std::string, engines, "",
          "Comma-separated engine names to host (default: every registered "
          "family's default presets, or every engine of --config). May also "
          "name presets of hidden families.");
// absl keeps only the last value of a repeated flag; main() collects every
// occurrence from argv itself (RepeatedFlagValues) and uses those.
ABSL_FLAG(
    std::vector<std::string>, checkpoint, {},
    "NAME=DIR: also host the Hugging Face model directory DIR (config.json "
    "+ safetensors; GPT-NeoX, Llama, Mamba) as engine NAME; repeatable "
    "or comma-separated");
ABSL_FLAG(std::vector<std::string>, checkpoint_manifest, {},
          "Path of a JSON checkpoint manifest ({\"models\": [{\"name\", "
          "\"dir\", \"circuit\", ...}]}, dirs relative to the file): host "
          "every model in it as --checkpoint=NAME=DIR would; repeatable "
          "(docs/trained-vs-circuit.md).");
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
ABSL_FLAG(int32_t, engine_threads, 0,
          "Threads one engine step may use (its matmuls); 0 shares the "
          "machine's cores among the hosted engines (both cores for an "
          "engine hosted alone on 2 cores, 1 each for many).");
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
ABSL_FLAG(int32_t, metrics_threads, 16,
          "Worker threads of /metrics; each idle or slow HTTP connection "
          "holds one for up to --metrics_request_timeout.");
ABSL_FLAG(absl::Duration, metrics_request_timeout, absl::Seconds(2),
          "How long /metrics waits for a connection's request (and idles "
          "between keep-alive requests) before closing it.");
ABSL_FLAG(std::string, metrics_tls_cert_file, "",
          "PEM certificate chain of the /metrics port; with "
          "--metrics_tls_key_file it serves HTTPS only. Re-read at the first "
          "handshake after the file changes (often the --tls_cert_file).");
ABSL_FLAG(std::string, metrics_tls_key_file, "",
          "PEM private key for --metrics_tls_cert_file.");
ABSL_FLAG(std::string, metrics_tls_client_ca_file, "",
          "PEM CA bundle: scrapers of /metrics must present a certificate it "
          "signed (mutual TLS; Prometheus' tls_config cert_file/key_file).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the gRPC port; with --tls_key_file turns "
          "TLS on. The files are watched: replaced certificates serve new "
          "handshakes within --tls_reload_interval, open streams stay.");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key for --tls_cert_file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: clients must present a certificate it signed "
          "(mutual TLS). Watched like --tls_cert_file.");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "How often the TLS files (and --auth_tokens_file) are checked for "
          "changes.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of 'client_name token' lines (# comments); every call must "
          "send 'authorization: Bearer <token>' or gets UNAUTHENTICATED. "
          "Needs TLS. Re-read on SIGHUP and when the file changes (checked "
          "every --tls_reload_interval).");
ABSL_FLAG(bool, health_without_token, true,
          "With --auth_tokens_file, still answer the gRPC health service "
          "without a token (probes, load balancers).");
ABSL_FLAG(int32_t, max_streams_per_client, 0,
          "Generate and Session calls one client (token name, else peer "
          "address) may have open; more get RESOURCE_EXHAUSTED. 0: no limit.");
ABSL_FLAG(int32_t, max_sessions_per_client, 0,
          "Session streams one client may have open. 0: no limit.");
ABSL_FLAG(double, tokens_per_second_per_client, 0,
          "Prompt + max_new_tokens one client may request per second "
          "(bucket of one second's worth, or --token_burst_per_client). "
          "0: no limit.");
ABSL_FLAG(double, token_burst_per_client, 0,
          "Bucket size of --tokens_per_second_per_client (0: one second).");
ABSL_FLAG(int32_t, max_streams_per_connection, 256,
          "HTTP/2 streams one connection may have open (gRPC "
          "max_concurrent_streams). 0: gRPC's default (unlimited).");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::InfiniteDuration(),
          "Connections without calls for this long are closed; 'inf' keeps "
          "them.");
ABSL_FLAG(std::string, http_listen, "",
          "OpenAI-compatible HTTP endpoint host:port (GET /v1/models, POST "
          "/v1/completions; docs/http.md); empty disables. Uses the TLS and "
          "--auth_tokens_file of the gRPC port.");
ABSL_FLAG(int32_t, http_threads, 32,
          "HTTP worker threads: connections served at once (a streamed "
          "completion holds one).");
ABSL_FLAG(int64_t, http_max_body_bytes, int64_t{8} << 20,
          "Largest HTTP request body; larger ones get 413.");
ABSL_FLAG(absl::Duration, http_timeout, absl::Seconds(30),
          "HTTP read and write timeout (a request must arrive, and a stalled "
          "client must take a write, within it).");
ABSL_FLAG(absl::Duration, drain_deadline, absl::Seconds(10),
          "On SIGINT/SIGTERM: how long running streams may finish before "
          "they are cut with a SHUTDOWN summary.");

int main(int argc, char** argv) {
  // OpenMP reads OMP_WAIT_POLICY and GOMP_SPINCOUNT when the runtime loads,
  // before main: an engine step's team must not spin on the cores other
  // engines need, yet waking a sleeping thread for each of a decode step's
  // ~50 parallel regions costs a single stream a quarter of its speed. So
  // team threads spin briefly (10,000 polls, well under a millisecond) and
  // then sleep (docs/performance.md); set both and start again as the same
  // program.
  const bool policy_unset = std::getenv("OMP_WAIT_POLICY") == nullptr;
  const bool spin_unset = std::getenv("GOMP_SPINCOUNT") == nullptr;
  if (policy_unset || spin_unset) {
    if (policy_unset) setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    if (spin_unset) setenv("GOMP_SPINCOUNT", "10000", 1);
    execv("/proc/self/exe", argv);
    // If exec fails, run on; only idle spinning is at stake.
  }
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
  std::vector<std::string> checkpoints;
  for (const std::string& value :
       trilemma::RepeatedFlagValues(argc, argv, "checkpoint")) {
    for (absl::string_view part :
         absl::StrSplit(value, ',', absl::SkipEmpty())) {
      checkpoints.emplace_back(part);
    }
  }
  std::vector<std::string> manifests;
  for (const std::string& value :
       trilemma::RepeatedFlagValues(argc, argv, "checkpoint_manifest")) {
    for (absl::string_view part :
         absl::StrSplit(value, ',', absl::SkipEmpty())) {
      manifests.emplace_back(part);
    }
  }
  // Debian's Abseil is built with Mutex deadlock detection on, which keeps a
  // lock-order graph on every lock (~1% of a streamed token's cost). Tests
  // keep it; serving does not need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals go to sigwait below: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::vector<trilemma::EngineSpec>> specs =
      trilemma::ResolveEngineSpecs(
          {.engines = absl::GetFlag(FLAGS_engines),
           .checkpoints = checkpoints,
           .checkpoint_manifests = manifests,
           .config_path = absl::GetFlag(FLAGS_config),
           .default_budget_bytes = absl::GetFlag(FLAGS_state_budget_bytes)});
  if (!specs.ok()) {
    std::cerr << "trilemma-server: " << specs.status() << "\n";
    return 2;
  }
  trilemma::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.metrics_threads = absl::GetFlag(FLAGS_metrics_threads);
  options.metrics_request_timeout =
      absl::GetFlag(FLAGS_metrics_request_timeout);
  options.metrics_tls = {
      .cert_file = absl::GetFlag(FLAGS_metrics_tls_cert_file),
      .key_file = absl::GetFlag(FLAGS_metrics_tls_key_file),
      .client_ca_file = absl::GetFlag(FLAGS_metrics_tls_client_ca_file)};
  options.tls = {.cert_file = absl::GetFlag(FLAGS_tls_cert_file),
                 .key_file = absl::GetFlag(FLAGS_tls_key_file),
                 .client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file),
                 .reload_interval = absl::GetFlag(FLAGS_tls_reload_interval)};
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  options.health_without_token = absl::GetFlag(FLAGS_health_without_token);
  options.quotas = {
      .max_streams = absl::GetFlag(FLAGS_max_streams_per_client),
      .max_sessions = absl::GetFlag(FLAGS_max_sessions_per_client),
      .tokens_per_second = absl::GetFlag(FLAGS_tokens_per_second_per_client),
      .token_burst = absl::GetFlag(FLAGS_token_burst_per_client)};
  options.max_streams_per_connection =
      absl::GetFlag(FLAGS_max_streams_per_connection);
  options.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
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
  options.max_message_bytes =
      trilemma::ResolveMaxMessageBytes(absl::GetFlag(FLAGS_max_message_bytes),
                                       options.scheduler.max_context_tokens);
  options.scheduler.max_queue_wait = absl::GetFlag(FLAGS_max_queue_wait);
  options.scheduler.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.scheduler.engine_threads = absl::GetFlag(FLAGS_engine_threads);
  if (options.scheduler.engine_threads == 0) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    options.scheduler.engine_threads =
        std::max(1, cores / static_cast<int>(specs->size()));
  }
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
      options.scheduler.engine_threads < 1 ||
      options.scheduler.prefill_chunk_tokens < 1 ||
      options.scheduler.max_prefill_tokens_per_step < 1 ||
      options.scheduler.max_waiting < 0 || options.scheduler.max_running < 1 ||
      options.scheduler.max_open_streams < 1 ||
      options.scheduler.max_step_tokens < 1 ||
      options.scheduler.prefill_time_share < 0 ||
      options.scheduler.max_context_tokens < 0 ||
      options.scheduler.session_idle_timeout <= absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_stream_queue_events) < 1 ||
      options.metrics_threads < 1 || options.quotas.max_streams < 0 ||
      options.quotas.max_sessions < 0 ||
      !(options.quotas.tokens_per_second >= 0) ||
      !(options.quotas.token_burst >= 0) ||
      options.max_streams_per_connection < 0) {
    std::cerr << "trilemma-server: --engine_threads, --max_batch_size, "
                 "--prefill_chunk_tokens, --max_prefill_tokens_per_step, "
                 "--stream_queue_events, --max_running, --max_open_streams, "
                 "--max_step_tokens and --metrics_threads must be >= 1, "
                 "--max_waiting, --prefill_time_share, --max_context_tokens "
                 "and quotas >= 0, --session_idle_timeout > 0\n";
    return 2;
  }

  absl::StatusOr<std::unique_ptr<trilemma::TrilemmaServer>> server =
      trilemma::TrilemmaServer::Start(*specs, options);
  if (!server.ok()) {
    std::cerr << "trilemma-server: " << server.status() << "\n";
    return 1;
  }
  std::unique_ptr<trilemma::HttpServer> http;
  if (!absl::GetFlag(FLAGS_http_listen).empty()) {
    trilemma::HttpServerOptions http_options;
    http_options.listen = absl::GetFlag(FLAGS_http_listen);
    http_options.threads = absl::GetFlag(FLAGS_http_threads);
    http_options.max_body_bytes = static_cast<size_t>(
        std::max<int64_t>(1, absl::GetFlag(FLAGS_http_max_body_bytes)));
    http_options.read_timeout = absl::GetFlag(FLAGS_http_timeout);
    http_options.write_timeout = absl::GetFlag(FLAGS_http_timeout);
    http_options.stream_queue_events = options.service.stream_queue_events;
    http_options.tls_cert_file = options.tls.cert_file;
    http_options.tls_key_file = options.tls.key_file;
    http_options.auth_tokens_file = options.auth_tokens_file;
    http_options.quotas = (*server)->quotas();
    absl::StatusOr<std::unique_ptr<trilemma::HttpServer>> started =
        trilemma::HttpServer::Start(http_options, &(*server)->host(),
                                    (*server)->metrics().registry().get());
    if (!started.ok()) {
      std::cerr << "trilemma-server: " << started.status() << "\n";
      return 1;
    }
    http = *std::move(started);
  }
  std::cout << (*server)->ReadyLine()
            << (http == nullptr ? ""
                                : absl::StrCat(" http=", http->address(),
                                               http->tls() ? " (https)" : ""))
            << std::endl;

  // SIGHUP or a changed token file reloads the tokens; SIGINT/SIGTERM drain.
  const absl::Duration poll = absl::GetFlag(FLAGS_tls_reload_interval);
  const timespec poll_spec = absl::ToTimespec(poll);
  int signal_number = 0;
  for (;;) {
    const int received = sigtimedwait(&signals, nullptr, &poll_spec);
    if (received == SIGINT || received == SIGTERM) {
      signal_number = received;
      break;
    }
    absl::StatusOr<bool> reloaded = false;
    if (received == SIGHUP) {
      absl::Status status = (*server)->ReloadAuthTokens();
      if (status.ok() && http != nullptr) status = http->ReloadAuthTokens();
      reloaded = status.ok() ? absl::StatusOr<bool>(true)
                             : absl::StatusOr<bool>(status);
    } else {
      reloaded = (*server)->ReloadAuthTokensIfChanged();
    }
    if (!reloaded.ok()) {
      std::cout << "trilemma-server: auth tokens kept: " << reloaded.status()
                << std::endl;
    } else if (*reloaded) {
      if (http != nullptr) http->ReloadAuthTokens().IgnoreError();
      std::cout << "trilemma-server: auth tokens reloaded" << std::endl;
    }
  }
  std::cout << "trilemma-server: signal " << signal_number << ", draining for "
            << absl::FormatDuration(absl::GetFlag(FLAGS_drain_deadline))
            << std::endl;
  if (http != nullptr) http->BeginDrain();
  (*server)->Shutdown(absl::GetFlag(FLAGS_drain_deadline));
  if (http != nullptr) http->Stop();
  std::cout << "trilemma-server: stopped" << std::endl;
  return 0;
}
