// Every Prometheus metric family the server exports, defined in one place.
//
// ServerMetrics owns a prometheus::Registry holding the `trilemma_*` families
// of docs/engines.md and the README ("Monitoring"). Each hosted engine resolves
// its label children once (ForEngine) into an EngineMetrics of plain
// references, so the hot path (the engine's scheduler thread) never looks a
// label set up again. Every family is labelled by `engine` (bounded by the
// config); none carries a request id. Units are base units (seconds, bytes,
// FLOPs, tokens).
//
// Example:
//   ServerMetrics metrics;
//   EngineMetrics& m = metrics.ForEngine(engine->info());
//   m.requests(Outcome::kLength, Protocol::kGrpc).Increment();
//   m.step_duration_seconds.Observe(0.002);
//   auto exposer = MetricsExposer::Start("127.0.0.1:9464", metrics.registry());
//
// Thread-safety: ForEngine may be called from any thread; the returned
// references are valid for the ServerMetrics' life and, like every
// prometheus-cpp metric, may be updated from any thread.
#ifndef TRILEMMA_SERVER_METRICS_H_
#define TRILEMMA_SERVER_METRICS_H_

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/protocol.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma {

// How a request (a Generate call or one Session turn/open) ended; the
// `outcome` label of trilemma_requests_total (its `protocol` label is
// server/protocol.h).
enum class Outcome {
  kLength,        // max_new_tokens generated
  kStateLimit,    // max_state_bytes or the engine's budget
  kContextLimit,  // max_context_tokens
  kCancelled,     // client cancel or deadline
  kShutdown,      // cut by the server's drain
  kAppended,      // a Session append completed
  kRejected,      // RESOURCE_EXHAUSTED before admission (queue full/timeout)
  kInvalid,       // INVALID_ARGUMENT / FAILED_PRECONDITION
  kError,         // any other non-OK status
  kCount,
};
absl::string_view OutcomeName(Outcome outcome);

// Why a limit fired; the `limit` label of trilemma_limit_events_total.
enum class LimitEvent {
  kState,         // the request's max_state_bytes
  kContext,       // the request's max_context_tokens
  kBudget,        // the engine's state budget, for a running session
  kQueueFull,     // the admission queue was full
  kQueueTimeout,  // waited longer than --max_queue_wait
  kPreempted,     // a session's state was freed for an older one to grow
  kSessionIdle,   // a Session stream idled past --session_idle_timeout
  kCount,
};
absl::string_view LimitEventName(LimitEvent limit);

// One engine's resolved metric children.
struct EngineMetrics {
  prometheus::Counter& requests(Outcome o, Protocol p) {
    return *requests_by_outcome[static_cast<size_t>(p)][static_cast<size_t>(o)];
  }
  prometheus::Counter& limit_events(LimitEvent l) {
    return *limit_events_by_kind[static_cast<size_t>(l)];
  }

  std::array<
      std::array<prometheus::Counter*, static_cast<size_t>(Outcome::kCount)>,
      static_cast<size_t>(Protocol::kCount)>
      requests_by_outcome{};
  std::array<prometheus::Counter*, static_cast<size_t>(LimitEvent::kCount)>
      limit_events_by_kind{};
  prometheus::Counter& prompt_tokens;
  prometheus::Counter& generated_tokens;
  prometheus::Counter& flops;
  prometheus::Counter& recall_hits;
  prometheus::Counter& recall_misses;
  prometheus::Counter& recomputed_tokens;

  prometheus::Gauge& active_sessions;
  prometheus::Gauge& waiting_requests;
  prometheus::Gauge& model_state_bytes;
  prometheus::Gauge& external_state_bytes;
  prometheus::Gauge& state_budget_bytes;
  prometheus::Gauge& state_blocks_used;
  prometheus::Gauge& state_blocks_total;

  prometheus::Histogram& time_to_first_token_seconds;
  prometheus::Histogram& inter_token_latency_seconds;
  prometheus::Histogram& step_duration_seconds;
  prometheus::Histogram& step_batch_size;
  prometheus::Histogram& token_flops;
  prometheus::Histogram& session_state_bytes;
  prometheus::Histogram& context_tokens;
  prometheus::Histogram& recall_hit_context_tokens;
  prometheus::Histogram& recall_miss_context_tokens;
  prometheus::Histogram& queue_duration_seconds;
  prometheus::Histogram& request_duration_seconds;
};

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The children of engine `info.name()`, created on first use (which also
  // sets engine_info and state_budget_bytes). Stable for this object's life.
  EngineMetrics& ForEngine(const v1::EngineInfo& info);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Server-wide families of the security layer: refused calls by `reason`
  // (server/auth.h) and by `quota` (server/quota.h). Never labelled with a
  // token or a client name.
  prometheus::Family<prometheus::Counter>& auth_failures();
  prometheus::Family<prometheus::Counter>& quota_rejections();

  // Every family name this server exports (e.g. "trilemma_requests_total"),
  // for dashboards and their tests.
  static std::vector<std::string> FamilyNames();
  // The families among them without an `engine` label (server-wide).
  static std::vector<std::string> ServerWideFamilyNames();

 private:
  struct Families;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<EngineMetrics>> engines_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_METRICS_H_
