#include "server/generate_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/grpc_status.h"
#include "server/validation.h"

namespace trilemma {

GenerateReactor::GenerateReactor(const v1::GenerateRequest& request,
                                 const EngineHost& host, size_t queue_events,
                                 absl::Time deadline, CallQuota quota)
    : quota_(std::move(quota)) {
  const absl::Time accepted = absl::Now();
  const EngineHost::Hosted* hosted = host.FindHosted(request.engine());
  EngineScheduler* scheduler =
      hosted == nullptr ? nullptr : hosted->scheduler.get();
  stream_ = std::make_shared<EventStream>(queue_events, [scheduler] {
    if (scheduler != nullptr) scheduler->Wake();
  });
  stream_->Attach(this);
  if (hosted != nullptr) text_.emplace(hosted->engine->tokenizer());
  if (hosted == nullptr) {
    stream_->Finish(absl::InvalidArgumentError(
        absl::StrCat("engine: unknown engine '", request.engine(),
                     "'; hosted: ", host.NameList())));
    return;
  }
  absl::StatusOr<TurnRequest> turn = TurnFromGenerateRequest(
      request, hosted->engine->info(), hosted->engine->tokenizer());
  if (!turn.ok()) {
    hosted->metrics->requests(Outcome::kInvalid, Protocol::kGrpc).Increment();
    stream_->Finish(turn.status());
    return;
  }
  scheduler->SubmitGenerate(request.limits(), *std::move(turn), stream_,
                            accepted, deadline);
}

void GenerateReactor::OnWriteDone(bool ok) { stream_->OnWriteDone(ok); }

void GenerateReactor::OnCancel() { stream_->Cancel(); }

void GenerateReactor::OnDone() {
  stream_->Detach();
  delete this;
}

void GenerateReactor::StartEventWrite(v1::SessionEvent event,
                                      bool more_queued) {
  write_.Clear();
  if (text_.has_value()) text_->Annotate(&event);
  if (event.has_token()) {
    *write_.mutable_token() = std::move(*event.mutable_token());
  } else {
    *write_.mutable_summary() = std::move(*event.mutable_summary());
  }
  grpc::WriteOptions options;
  if (more_queued) options.set_buffer_hint();
  StartWrite(&write_, options);
}

void GenerateReactor::FinishStream(const absl::Status& status) {
  Finish(ToGrpcStatus(status));
}

}  // namespace trilemma
