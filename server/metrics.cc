#include "server/metrics.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

using prometheus::Histogram;

// Bucket bounds start, start*factor, ..., count of them.
Histogram::BucketBoundaries ExponentialBuckets(double start, double factor,
                                               int count) {
  Histogram::BucketBoundaries bounds;
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

// 100 µs .. ~60 s.
Histogram::BucketBoundaries SecondsBuckets() {
  return ExponentialBuckets(1e-4, 2.5, 15);
}
// 1 .. 256 sessions.
Histogram::BucketBoundaries BatchBuckets() {
  return ExponentialBuckets(1, 2, 9);
}
// 10 kFLOP .. ~1e13 FLOP per token.
Histogram::BucketBoundaries FlopsBuckets() {
  return ExponentialBuckets(1e4, 4, 16);
}
// 1 KiB .. 64 GiB.
Histogram::BucketBoundaries BytesBuckets() {
  return ExponentialBuckets(1024, 4, 14);
}
// 16 .. 512 Ki tokens.
Histogram::BucketBoundaries TokenBuckets() {
  return ExponentialBuckets(16, 2, 16);
}

constexpr absl::string_view kOutcomeNames[] = {
    "length",   "state_limit", "context_limit", "cancelled", "shutdown",
    "appended", "rejected",    "invalid",       "error"};
static_assert(std::size(kOutcomeNames) == static_cast<size_t>(Outcome::kCount));

constexpr absl::string_view kLimitNames[] = {
    "state",         "context",   "budget",      "queue_full",
    "queue_timeout", "preempted", "session_idle"};
static_assert(std::size(kLimitNames) ==
              static_cast<size_t>(LimitEvent::kCount));

constexpr const char* kRequests = "trilemma_requests_total";
constexpr const char* kPromptTokens = "trilemma_prompt_tokens_total";
constexpr const char* kGeneratedTokens = "trilemma_generated_tokens_total";
constexpr const char* kFlops = "trilemma_flops_total";
constexpr const char* kLimitEvents = "trilemma_limit_events_total";
constexpr const char* kRecallProbes = "trilemma_recall_probes_total";
constexpr const char* kActiveSessions = "trilemma_active_sessions";
constexpr const char* kWaitingRequests = "trilemma_waiting_requests";
constexpr const char* kStateBytes = "trilemma_state_bytes";
constexpr const char* kStateBudgetBytes = "trilemma_state_budget_bytes";
constexpr const char* kStateBlocks = "trilemma_state_blocks";
constexpr const char* kRecomputedTokens = "trilemma_recomputed_tokens_total";
constexpr const char* kEngineInfo = "trilemma_engine_info";
constexpr const char* kTtft = "trilemma_time_to_first_token_seconds";
constexpr const char* kItl = "trilemma_inter_token_latency_seconds";
constexpr const char* kStepDuration = "trilemma_step_duration_seconds";
constexpr const char* kStepBatchSize = "trilemma_step_batch_size";
constexpr const char* kTokenFlops = "trilemma_token_flops";
constexpr const char* kSessionStateBytes = "trilemma_session_state_bytes";
constexpr const char* kContextTokens = "trilemma_context_tokens";
constexpr const char* kRecallContextTokens = "trilemma_recall_context_tokens";
constexpr const char* kQueueDuration = "trilemma_queue_duration_seconds";
constexpr const char* kRequestDuration = "trilemma_request_duration_seconds";
constexpr const char* kAuthFailures = "trilemma_auth_failures_total";
constexpr const char* kQuotaRejections = "trilemma_quota_rejections_total";

}  // namespace

absl::string_view OutcomeName(Outcome outcome) {
  return kOutcomeNames[static_cast<size_t>(outcome)];
}

absl::string_view LimitEventName(LimitEvent limit) {
  return kLimitNames[static_cast<size_t>(limit)];
}

struct ServerMetrics::Families {
  explicit Families(prometheus::Registry& r)
      : requests(prometheus::BuildCounter()
                     .Name(kRequests)
                     .Help("Generate calls, Session turns and HTTP "
                           "completions by how they ended and the protocol "
                           "they came by (refused Session opens count too).")
                     .Register(r)),
        prompt_tokens(prometheus::BuildCounter()
                          .Name(kPromptTokens)
                          .Help("Prompt and appended tokens consumed.")
                          .Register(r)),
        generated_tokens(prometheus::BuildCounter()
                             .Name(kGeneratedTokens)
                             .Help("Tokens generated and streamed.")
                             .Register(r)),
        flops(prometheus::BuildCounter()
                  .Name(kFlops)
                  .Help("Analytic floating-point operations of all steps "
                        "(multiply-add = 2), prefill included.")
                  .Register(r)),
        limit_events(prometheus::BuildCounter()
                         .Name(kLimitEvents)
                         .Help("Limits reached: state, context, budget, "
                               "queue_full, queue_timeout, preempted, "
                               "session_idle.")
                         .Register(r)),
        recall_probes(prometheus::BuildCounter()
                          .Name(kRecallProbes)
                          .Help("Recall probes scored, by result (hit|miss).")
                          .Register(r)),
        recomputed_tokens(prometheus::BuildCounter()
                              .Name(kRecomputedTokens)
                              .Help("Context tokens recomputed by sessions "
                                    "re-admitted after a preemption.")
                              .Register(r)),
        active_sessions(prometheus::BuildGauge()
                            .Name(kActiveSessions)
                            .Help("Sessions holding engine state.")
                            .Register(r)),
        waiting_requests(prometheus::BuildGauge()
                             .Name(kWaitingRequests)
                             .Help("Requests waiting for admission.")
                             .Register(r)),
        state_bytes(prometheus::BuildGauge()
                        .Name(kStateBytes)
                        .Help("State held by all sessions, by tier "
                              "(model: taken from the budget; external).")
                        .Register(r)),
        state_budget_bytes(prometheus::BuildGauge()
                               .Name(kStateBudgetBytes)
                               .Help("The engine's model-tier state budget.")
                               .Register(r)),
        state_blocks(prometheus::BuildGauge()
                         .Name(kStateBlocks)
                         .Help("The budget's KV blocks, by use (used: held "
                               "by sessions, KV or fixed state; total).")
                         .Register(r)),
        engine_info(prometheus::BuildGauge()
                        .Name(kEngineInfo)
                        .Help("1 per hosted engine, labelled with its family "
                              "and the triangle corners it claims.")
                        .Register(r)),
        ttft(prometheus::BuildHistogram()
                 .Name(kTtft)
                 .Help("From accepting a request to its first token.")
                 .Register(r)),
        itl(prometheus::BuildHistogram()
                .Name(kItl)
                .Help("Between consecutive tokens of one stream.")
                .Register(r)),
        step_duration(prometheus::BuildHistogram()
                          .Name(kStepDuration)
                          .Help("Wall time of one batched decode step.")
                          .Register(r)),
        step_batch_size(prometheus::BuildHistogram()
                            .Name(kStepBatchSize)
                            .Help("Sessions per batched decode step.")
                            .Register(r)),
        token_flops(prometheus::BuildHistogram()
                        .Name(kTokenFlops)
                        .Help("Analytic FLOPs per generated token.")
                        .Register(r)),
        session_state_bytes(prometheus::BuildHistogram()
                                .Name(kSessionStateBytes)
                                .Help("State bytes (both tiers) of a session "
                                      "per decode step.")
                                .Register(r)),
        context_tokens(prometheus::BuildHistogram()
                           .Name(kContextTokens)
                           .Help("Context tokens of a session per decode "
                                 "step.")
                           .Register(r)),
        recall_context_tokens(
            prometheus::BuildHistogram()
                .Name(kRecallContextTokens)
                .Help("Context length of scored recall probes, by result; "
                      "accuracy per bucket = hit / (hit + miss).")
                .Register(r)),
        queue_duration(prometheus::BuildHistogram()
                           .Name(kQueueDuration)
                           .Help("Time waiting for admission.")
                           .Register(r)),
        request_duration(prometheus::BuildHistogram()
                             .Name(kRequestDuration)
                             .Help("From accepting a request (or turn) to "
                                   "its summary.")
                             .Register(r)),
        auth_failures(prometheus::BuildCounter()
                          .Name(kAuthFailures)
                          .Help("Calls refused UNAUTHENTICATED, by reason "
                                "(missing, malformed, invalid, mismatch).")
                          .Register(r)),
        quota_rejections(prometheus::BuildCounter()
                             .Name(kQuotaRejections)
                             .Help("Calls or turns refused "
                                   "RESOURCE_EXHAUSTED by a per-client "
                                   "quota, by quota.")
                             .Register(r)) {}

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& prompt_tokens;
  prometheus::Family<prometheus::Counter>& generated_tokens;
  prometheus::Family<prometheus::Counter>& flops;
  prometheus::Family<prometheus::Counter>& limit_events;
  prometheus::Family<prometheus::Counter>& recall_probes;
  prometheus::Family<prometheus::Counter>& recomputed_tokens;
  prometheus::Family<prometheus::Gauge>& active_sessions;
  prometheus::Family<prometheus::Gauge>& waiting_requests;
  prometheus::Family<prometheus::Gauge>& state_bytes;
  prometheus::Family<prometheus::Gauge>& state_budget_bytes;
  prometheus::Family<prometheus::Gauge>& state_blocks;
  prometheus::Family<prometheus::Gauge>& engine_info;
  prometheus::Family<Histogram>& ttft;
  prometheus::Family<Histogram>& itl;
  prometheus::Family<Histogram>& step_duration;
  prometheus::Family<Histogram>& step_batch_size;
  prometheus::Family<Histogram>& token_flops;
  prometheus::Family<Histogram>& session_state_bytes;
  prometheus::Family<Histogram>& context_tokens;
  prometheus::Family<Histogram>& recall_context_tokens;
  prometheus::Family<Histogram>& queue_duration;
  prometheus::Family<Histogram>& request_duration;
  prometheus::Family<prometheus::Counter>& auth_failures;
  prometheus::Family<prometheus::Counter>& quota_rejections;
};

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      families_(std::make_unique<Families>(*registry_)) {}

ServerMetrics::~ServerMetrics() = default;

EngineMetrics& ServerMetrics::ForEngine(const v1::EngineInfo& info) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<EngineMetrics>& slot = engines_[info.name()];
  if (slot != nullptr) return *slot;

  Families& f = *families_;
  const prometheus::Labels engine = {{"engine", info.name()}};
  auto with = [&](const char* key, absl::string_view value) {
    prometheus::Labels labels = engine;
    labels.emplace(key, value);
    return labels;
  };
  slot.reset(new EngineMetrics{
      .prompt_tokens = f.prompt_tokens.Add(engine),
      .generated_tokens = f.generated_tokens.Add(engine),
      .flops = f.flops.Add(engine),
      .recall_hits = f.recall_probes.Add(with("result", "hit")),
      .recall_misses = f.recall_probes.Add(with("result", "miss")),
      .recomputed_tokens = f.recomputed_tokens.Add(engine),
      .active_sessions = f.active_sessions.Add(engine),
      .waiting_requests = f.waiting_requests.Add(engine),
      .model_state_bytes = f.state_bytes.Add(with("tier", "model")),
      .external_state_bytes = f.state_bytes.Add(with("tier", "external")),
      .state_budget_bytes = f.state_budget_bytes.Add(engine),
      .state_blocks_used = f.state_blocks.Add(with("use", "used")),
      .state_blocks_total = f.state_blocks.Add(with("use", "total")),
      .time_to_first_token_seconds = f.ttft.Add(engine, SecondsBuckets()),
      .inter_token_latency_seconds = f.itl.Add(engine, SecondsBuckets()),
      .step_duration_seconds = f.step_duration.Add(engine, SecondsBuckets()),
      .step_batch_size = f.step_batch_size.Add(engine, BatchBuckets()),
      .token_flops = f.token_flops.Add(engine, FlopsBuckets()),
      .session_state_bytes = f.session_state_bytes.Add(engine, BytesBuckets()),
      .context_tokens = f.context_tokens.Add(engine, TokenBuckets()),
      .recall_hit_context_tokens =
          f.recall_context_tokens.Add(with("result", "hit"), TokenBuckets()),
      .recall_miss_context_tokens =
          f.recall_context_tokens.Add(with("result", "miss"), TokenBuckets()),
      .queue_duration_seconds = f.queue_duration.Add(engine, SecondsBuckets()),
      .request_duration_seconds =
          f.request_duration.Add(engine, SecondsBuckets()),
  });
  for (size_t p = 0; p < static_cast<size_t>(Protocol::kCount); ++p) {
    for (size_t i = 0; i < static_cast<size_t>(Outcome::kCount); ++i) {
      prometheus::Labels labels =
          with("outcome", OutcomeName(static_cast<Outcome>(i)));
      labels.emplace("protocol", ProtocolName(static_cast<Protocol>(p)));
      slot->requests_by_outcome[p][i] = &f.requests.Add(labels);
    }
  }
  for (size_t i = 0; i < static_cast<size_t>(LimitEvent::kCount); ++i) {
    slot->limit_events_by_kind[i] = &f.limit_events.Add(
        with("limit", LimitEventName(static_cast<LimitEvent>(i))));
  }
  slot->state_budget_bytes.Set(static_cast<double>(info.state_budget_bytes()));
  auto flag = [](bool b) { return b ? "true" : "false"; };
  f.engine_info
      .Add({{"engine", info.name()},
            {"family", info.family()},
            {"efficient", flag(info.corners().efficient())},
            {"compact", flag(info.corners().compact())},
            {"recall", flag(info.corners().recall())}})
      .Set(1);
  return *slot;
}

std::vector<std::string> ServerMetrics::FamilyNames() {
  return {kRequests,
          kPromptTokens,
          kGeneratedTokens,
          kFlops,
          kLimitEvents,
          kRecallProbes,
          kRecomputedTokens,
          kActiveSessions,
          kWaitingRequests,
          kStateBytes,
          kStateBudgetBytes,
          kStateBlocks,
          kEngineInfo,
          kTtft,
          kItl,
          kStepDuration,
          kStepBatchSize,
          kTokenFlops,
          kSessionStateBytes,
          kContextTokens,
          kRecallContextTokens,
          kQueueDuration,
          kRequestDuration,
          kAuthFailures,
          kQuotaRejections};
}

std::vector<std::string> ServerMetrics::ServerWideFamilyNames() {
  return {kAuthFailures, kQuotaRejections};
}

prometheus::Family<prometheus::Counter>& ServerMetrics::auth_failures() {
  return families_->auth_failures;
}

prometheus::Family<prometheus::Counter>& ServerMetrics::quota_rejections() {
  return families_->quota_rejections;
}

}  // namespace trilemma
