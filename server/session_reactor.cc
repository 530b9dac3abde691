#include "server/session_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/grpc_status.h"
#include "server/validation.h"

namespace trilemma {

SessionReactor::SessionReactor(const EngineHost& host, size_t queue_events,
                               CallQuota quota)
    : host_(host),
      stream_(std::make_shared<EventStream>(queue_events, nullptr)),
      quota_(std::move(quota)) {
  stream_->Attach(this);
  StartRead(&request_);
}

void SessionReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The client half-closed (or the call ended): same as `close`.
    if (hosted_ != nullptr) {
      hosted_->scheduler->CloseSession(id_, /*reply=*/true);
    } else {
      stream_->Finish(absl::OkStatus());
    }
    return;
  }
  Handle();
}

void SessionReactor::Handle() {
  const absl::Time accepted = absl::Now();
  switch (request_.request_case()) {
    case v1::SessionRequest::kOpen: {
      if (hosted_ != nullptr) {
        return Fail(
            absl::FailedPreconditionError("open: the session is already open"));
      }
      const v1::OpenSession& open = request_.open();
      const EngineHost::Hosted* hosted = host_.FindHosted(open.engine());
      if (hosted == nullptr) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat("open.engine: unknown engine '", open.engine(),
                         "'; hosted: ", host_.NameList())));
      }
      if (absl::Status s = ValidateLimits(open.limits(), "open.limits");
          !s.ok()) {
        hosted->metrics->requests(Outcome::kInvalid).Increment();
        return Fail(s);
      }
      hosted_ = hosted;
      EngineScheduler* scheduler = hosted->scheduler.get();
      stream_->SetOnRoom([scheduler] { scheduler->Wake(); });
      id_ = scheduler->NewSessionId();  // before replies can trigger reads
      scheduler->OpenSession(id_, open.limits(), stream_, accepted);
      return;  // reads on once SessionOpened is written
    }
    case v1::SessionRequest::kAppend:
    case v1::SessionRequest::kGenerate: {
      const bool append =
          request_.request_case() == v1::SessionRequest::kAppend;
      if (hosted_ == nullptr) {
        return Fail(absl::FailedPreconditionError(
            absl::StrCat(append ? "append" : "generate",
                         ": the first message of a session must be open")));
      }
      const v1::EngineInfo& info = hosted_->engine->info();
      absl::StatusOr<TurnRequest> turn =
          append ? TurnFromAppend(request_.append(), info)
                 : TurnFromGenerateTurn(request_.generate(), info);
      if (!turn.ok()) {
        hosted_->metrics->requests(Outcome::kInvalid).Increment();
        return Fail(turn.status());
      }
      if (absl::Status s =
              quota_.ChargeTokens(static_cast<int64_t>(turn->tokens.size()) +
                                  (append ? 0 : turn->max_new_tokens));
          !s.ok()) {
        return Fail(s);
      }
      hosted_->scheduler->SubmitTurn(id_, *std::move(turn), accepted);
      return;
    }
    case v1::SessionRequest::kClose:
      if (hosted_ == nullptr) {
        return Fail(absl::FailedPreconditionError("close: no session is open"));
      }
      hosted_->scheduler->CloseSession(id_, /*reply=*/true);
      return;
    case v1::SessionRequest::REQUEST_NOT_SET:
      break;
  }
  Fail(absl::InvalidArgumentError(
      "request: empty SessionRequest; set open, append, generate or close"));
}

void SessionReactor::Fail(absl::Status status) {
  // Finish first so the stream ends with this status, not the close's.
  stream_->Finish(std::move(status));
  if (hosted_ != nullptr) hosted_->scheduler->CloseSession(id_, false);
}

void SessionReactor::OnWriteDone(bool ok) {
  // The token is still ours here, so no Finish can race this read.
  if (ok && write_ends_reply_) StartRead(&request_);
  stream_->OnWriteDone(ok);
}

void SessionReactor::OnCancel() { stream_->Cancel(); }

void SessionReactor::OnDone() {
  stream_->Detach();
  if (hosted_ != nullptr) hosted_->scheduler->CloseSession(id_, false);
  delete this;
}

void SessionReactor::StartEventWrite(v1::SessionEvent event, bool more_queued) {
  write_ = std::move(event);
  write_ends_reply_ = write_.has_opened() || write_.has_summary();
  grpc::WriteOptions options;
  if (more_queued) options.set_buffer_hint();
  StartWrite(&write_, options);
}

void SessionReactor::FinishStream(const absl::Status& status) {
  Finish(ToGrpcStatus(status));
}

}  // namespace trilemma
