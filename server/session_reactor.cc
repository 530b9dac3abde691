#include "server/session_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/grpc_status.h"
#include "server/validation.h"

namespace trilemma {

SessionReactor::SessionReactor(const EngineHost& host, size_t queue_events,
                               absl::Time deadline, CallQuota quota)
    : host_(host),
      deadline_(deadline),
      stream_(std::make_shared<EventStream>(queue_events, nullptr)),
      quota_(std::move(quota)) {
  stream_->Attach(this);
  MaybeRead();
}

void SessionReactor::MaybeRead() {
  {
    absl::MutexLock lock(&mu_);
    if (reading_ || read_over_ || unanswered_ >= kMaxUnanswered) return;
    reading_ = true;
  }
  StartRead(&request_);
}

void SessionReactor::ReplyWritten() {
  bool close = false;
  {
    absl::MutexLock lock(&mu_);
    --unanswered_;
    if (close_deferred_ && unanswered_ == 0) {
      close_deferred_ = false;
      close = true;
    }
  }
  if (close) {
    hosted_->scheduler->CloseSession(id_, /*reply=*/true);
  } else {
    MaybeRead();
  }
}

void SessionReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The client half-closed (or the call ended): same as `close`, once the
    // replies owed are written.
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      read_over_ = true;
      if (hosted_ != nullptr && unanswered_ > 0) {
        close_deferred_ = true;
        return;
      }
    }
    if (hosted_ != nullptr) {
      hosted_->scheduler->CloseSession(id_, /*reply=*/true);
    } else {
      stream_->Finish(absl::OkStatus());
    }
    return;
  }
  // request_ is ours until reading_ is cleared.
  const bool go_on = Handle();
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!go_on) read_over_ = true;
  }
  MaybeRead();
}

bool SessionReactor::Handle() {
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
        hosted->metrics->requests(Outcome::kInvalid, Protocol::kGrpc)
            .Increment();
        return Fail(s);
      }
      EngineScheduler* scheduler = hosted->scheduler.get();
      stream_->SetOnRoom([scheduler] { scheduler->Wake(); });
      text_.emplace(hosted->engine->tokenizer());  // before replies can come
      {
        absl::MutexLock lock(&mu_);
        hosted_ = hosted;
        id_ = scheduler->NewSessionId();  // before replies can come
        ++unanswered_;
      }
      scheduler->OpenSession(id_, open.limits(), stream_, accepted, deadline_);
      return true;
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
          append ? TurnFromAppend(request_.append(), info,
                                  hosted_->engine->tokenizer())
                 : TurnFromGenerateTurn(request_.generate(), info,
                                        hosted_->engine->tokenizer());
      if (!turn.ok()) {
        hosted_->metrics->requests(Outcome::kInvalid, Protocol::kGrpc)
            .Increment();
        return Fail(turn.status());
      }
      if (absl::Status s =
              quota_.ChargeTokens(static_cast<int64_t>(turn->tokens.size()) +
                                  (append ? 0 : turn->max_new_tokens));
          !s.ok()) {
        return Fail(s);
      }
      {
        absl::MutexLock lock(&mu_);
        ++unanswered_;
      }
      hosted_->scheduler->SubmitTurn(id_, *std::move(turn), accepted);
      return true;
    }
    case v1::SessionRequest::kStop:
      if (hosted_ == nullptr) {
        return Fail(absl::FailedPreconditionError("stop: no session is open"));
      }
      hosted_->scheduler->StopTurns(id_);
      return true;
    case v1::SessionRequest::kClose: {
      if (hosted_ == nullptr) {
        return Fail(absl::FailedPreconditionError("close: no session is open"));
      }
      {
        absl::MutexLock lock(&mu_);
        if (unanswered_ > 0) {
          close_deferred_ = true;  // ReplyWritten closes
          return false;
        }
      }
      hosted_->scheduler->CloseSession(id_, /*reply=*/true);
      return false;
    }
    case v1::SessionRequest::REQUEST_NOT_SET:
      break;
  }
  return Fail(absl::InvalidArgumentError(
      "request: empty SessionRequest; set open, append, generate, stop or "
      "close"));
}

bool SessionReactor::Fail(absl::Status status) {
  // Finish first so the stream ends with this status, not the close's.
  stream_->Finish(std::move(status));
  if (hosted_ != nullptr) hosted_->scheduler->CloseSession(id_, false);
  return false;
}

void SessionReactor::OnWriteDone(bool ok) {
  // The token is still ours here, so no Finish can race this read.
  if (ok && write_ends_reply_) ReplyWritten();
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
  if (text_.has_value()) text_->Annotate(&write_);
  write_ends_reply_ = write_.has_opened() || write_.has_summary();
  grpc::WriteOptions options;
  if (more_queued) options.set_buffer_hint();
  StartWrite(&write_, options);
}

void SessionReactor::FinishStream(const absl::Status& status) {
  Finish(ToGrpcStatus(status));
}

}  // namespace trilemma
