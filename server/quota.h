// Per-client quotas: concurrent streams, open sessions and tokens per second,
// keyed by ClientKey (the authenticated client name, else the peer address).
// Over quota is RESOURCE_EXHAUSTED naming the quota, the client and the
// limit (docs/security.md).
//
// Example:
//   ClientQuotas quotas({.max_streams = 8, .max_sessions = 4,
//                        .tokens_per_second = 2000}, &metrics);
//   absl::StatusOr<CallQuota> call = quotas.StartCall("alice", /*session=*/1);
//   if (!call.ok()) return Reject(call.status());
//   if (absl::Status s = call->ChargeTokens(prompt + max_new); !s.ok()) ...
//   // the stream and session count drop when `call` is destroyed
//
// Tokens per second is a token bucket that may go into debt: a request is
// admitted while the client's bucket is above zero and is then charged what
// it may consume (prompt + max_new_tokens), so a request larger than the
// burst is still served once and the client then waits for the refill.
//
// Thread-safe. CallQuota objects may outlive the ClientQuotas.
#ifndef TRILEMMA_SERVER_QUOTA_H_
#define TRILEMMA_SERVER_QUOTA_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"

namespace trilemma {

struct QuotaOptions {
  // 0 disables each quota.
  int32_t max_streams = 0;       // Generate and Session calls in flight
  int32_t max_sessions = 0;      // Session streams in flight
  double tokens_per_second = 0;  // prompt + max_new_tokens admitted per second
  // Bucket size in tokens; 0: one second's worth.
  double token_burst = 0;
};

// The `quota` label of trilemma_quota_rejections_total.
enum class Quota { kStreams, kSessions, kTokensPerSecond, kCount };
absl::string_view QuotaName(Quota quota);

// What a refusal from this file carries besides its message, for front ends
// that answer in their own terms (the HTTP endpoint's 429 `code` and
// Retry-After, docs/http.md): the quota's name ("" for any other status)
// and, for tokens_per_second, the seconds until the client's bucket is
// above zero again.
absl::string_view QuotaOfStatus(const absl::Status& status);
std::optional<double> RetryAfterSecondsOfStatus(const absl::Status& status);

class ClientQuotas;

// One call's hold on its client's quotas; released on destruction. Default
// constructed: holds nothing and charges nothing (quotas off).
class CallQuota {
 public:
  CallQuota() = default;
  CallQuota(CallQuota&&) noexcept = default;
  // Releases what this held, then takes over `other`'s hold.
  CallQuota& operator=(CallQuota&& other) noexcept;
  ~CallQuota();

  // RESOURCE_EXHAUSTED naming quota "tokens_per_second" when the client's
  // bucket is empty; else charges `tokens`.
  absl::Status ChargeTokens(int64_t tokens);

 private:
  friend class ClientQuotas;
  void Release();

  struct Shared;
  struct Client;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Client> client_;
  bool session_ = false;
};

class ClientQuotas {
 public:
  // `rejections` (one counter per Quota, created here) must outlive this and
  // every CallQuota; null: not counted.
  ClientQuotas(QuotaOptions options,
               prometheus::Family<prometheus::Counter>* rejections);

  bool enabled() const;

  // Counts one stream (and one session if `session`) for `client`, or
  // RESOURCE_EXHAUSTED naming "max_streams_per_client" or
  // "max_sessions_per_client".
  absl::StatusOr<CallQuota> StartCall(const std::string& client, bool session);

 private:
  std::shared_ptr<CallQuota::Shared> shared_;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_QUOTA_H_
