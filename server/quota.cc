#include "server/quota.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace trilemma {
namespace {

// Idle clients (no calls, full bucket) are forgotten once the table holds
// this many, so peers that come and go do not grow it without bound.
constexpr size_t kSweepAbove = 4096;

// Status payload type URLs of a refusal (QuotaOfStatus and
// RetryAfterSecondsOfStatus).
constexpr absl::string_view kQuotaPayload = "type.trilemma/quota";
constexpr absl::string_view kRetryAfterPayload =
    "type.trilemma/retry_after_seconds";

}  // namespace

absl::string_view QuotaOfStatus(const absl::Status& status) {
  auto name = status.GetPayload(kQuotaPayload);
  if (!name.has_value()) return "";
  for (size_t i = 0; i < static_cast<size_t>(Quota::kCount); ++i) {
    // The static name, so the view outlives `status`.
    if (*name == QuotaName(static_cast<Quota>(i))) {
      return QuotaName(static_cast<Quota>(i));
    }
  }
  return "";
}

std::optional<double> RetryAfterSecondsOfStatus(const absl::Status& status) {
  auto text = status.GetPayload(kRetryAfterPayload);
  double seconds = 0;
  if (!text.has_value() || !absl::SimpleAtod(text->Flatten(), &seconds)) {
    return std::nullopt;
  }
  return seconds;
}

absl::string_view QuotaName(Quota quota) {
  constexpr absl::string_view kNames[] = {"max_streams_per_client",
                                          "max_sessions_per_client",
                                          "tokens_per_second_per_client"};
  static_assert(std::size(kNames) == static_cast<size_t>(Quota::kCount));
  return kNames[static_cast<size_t>(quota)];
}

struct CallQuota::Client {
  std::string name;
  int32_t streams = 0;
  int32_t sessions = 0;
  double bucket = 0;  // tokens; may be negative (debt)
  absl::Time refilled;
};

struct CallQuota::Shared {
  Shared(QuotaOptions o, prometheus::Family<prometheus::Counter>* family)
      : options(o),
        burst(o.token_burst > 0 ? o.token_burst : o.tokens_per_second) {
    for (size_t i = 0; i < rejections.size(); ++i) {
      rejections[i] =
          family == nullptr
              ? nullptr
              : &family->Add(
                    {{"quota", std::string{QuotaName(static_cast<Quota>(i))}}});
    }
  }

  // `retry_after`: seconds until a retry can pass, when known.
  absl::Status Reject(Quota quota, const std::string& message,
                      std::optional<double> retry_after = std::nullopt) {
    if (prometheus::Counter* c = rejections[static_cast<size_t>(quota)]) {
      c->Increment();
    }
    absl::Status status = absl::ResourceExhaustedError(
        absl::StrCat("quota ", QuotaName(quota), ": ", message));
    status.SetPayload(kQuotaPayload, absl::Cord(QuotaName(quota)));
    if (retry_after.has_value()) {
      status.SetPayload(kRetryAfterPayload,
                        absl::Cord(absl::StrCat(*retry_after)));
    }
    return status;
  }

  void Refill(Client& client, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const double seconds = absl::ToDoubleSeconds(now - client.refilled);
    client.bucket =
        std::min(burst, client.bucket + seconds * options.tokens_per_second);
    client.refilled = now;
  }

  const QuotaOptions options;
  const double burst;
  std::array<prometheus::Counter*, static_cast<size_t>(Quota::kCount)>
      rejections{};
  absl::Mutex mu;
  absl::flat_hash_map<std::string, std::shared_ptr<Client>> clients
      ABSL_GUARDED_BY(mu);
};

CallQuota::~CallQuota() { Release(); }

CallQuota& CallQuota::operator=(CallQuota&& other) noexcept {
  if (this != &other) {
    Release();
    shared_ = std::move(other.shared_);
    client_ = std::move(other.client_);
    session_ = other.session_;
  }
  return *this;
}

void CallQuota::Release() {
  if (shared_ == nullptr) return;
  {
    absl::MutexLock lock(&shared_->mu);
    --client_->streams;
    if (session_) --client_->sessions;
  }
  shared_.reset();
  client_.reset();
}

absl::Status CallQuota::ChargeTokens(int64_t tokens) {
  if (shared_ == nullptr || shared_->options.tokens_per_second <= 0) {
    return absl::OkStatus();
  }
  absl::MutexLock lock(&shared_->mu);
  const absl::Time now = absl::Now();
  shared_->Refill(*client_, now);
  if (client_->bucket <= 0) {
    const double wait =
        (1.0 - client_->bucket) / shared_->options.tokens_per_second;
    return shared_->Reject(
        Quota::kTokensPerSecond,
        absl::StrFormat("client '%s' is over %.6g tokens/s (prompt + "
                        "max_new_tokens); retry in %.2f s",
                        client_->name, shared_->options.tokens_per_second,
                        wait),
        wait);
  }
  client_->bucket -= static_cast<double>(tokens);
  return absl::OkStatus();
}

ClientQuotas::ClientQuotas(QuotaOptions options,
                           prometheus::Family<prometheus::Counter>* rejections)
    : shared_(std::make_shared<CallQuota::Shared>(options, rejections)) {}

bool ClientQuotas::enabled() const {
  const QuotaOptions& o = shared_->options;
  return o.max_streams > 0 || o.max_sessions > 0 || o.tokens_per_second > 0;
}

absl::StatusOr<CallQuota> ClientQuotas::StartCall(const std::string& client,
                                                  bool session) {
  if (!enabled()) return CallQuota();
  const QuotaOptions& o = shared_->options;
  absl::MutexLock lock(&shared_->mu);
  const absl::Time now = absl::Now();
  if (shared_->clients.size() > kSweepAbove) {
    absl::erase_if(shared_->clients, [&](const auto& entry) {
      CallQuota::Client& c = *entry.second;
      if (c.streams > 0) return false;
      shared_->Refill(c, now);
      return c.bucket >= shared_->burst;
    });
  }
  std::shared_ptr<CallQuota::Client>& slot = shared_->clients[client];
  if (slot == nullptr) {
    slot = std::make_shared<CallQuota::Client>();
    slot->name = client;
    slot->bucket = shared_->burst;
    slot->refilled = now;
  }
  if (o.max_streams > 0 && slot->streams >= o.max_streams) {
    return shared_->Reject(
        Quota::kStreams,
        absl::StrCat("client '", client, "' has ", slot->streams, " of ",
                     o.max_streams, " concurrent streams open"));
  }
  if (session && o.max_sessions > 0 && slot->sessions >= o.max_sessions) {
    return shared_->Reject(
        Quota::kSessions,
        absl::StrCat("client '", client, "' has ", slot->sessions, " of ",
                     o.max_sessions, " sessions open"));
  }
  ++slot->streams;
  if (session) ++slot->sessions;
  CallQuota call;
  call.shared_ = shared_;
  call.client_ = slot;
  call.session_ = session;
  return call;
}

}  // namespace trilemma
