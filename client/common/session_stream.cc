#include "client/common/session_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/common/channel.h"
#include "client/common/command.h"

namespace trilemma::client {
namespace {

const char* EventName(const v1::SessionEvent& event) {
  switch (event.event_case()) {
    case v1::SessionEvent::kOpened:
      return "opened";
    case v1::SessionEvent::kSummary:
      return "summary";
    case v1::SessionEvent::kToken:
      return "token";
    case v1::SessionEvent::kClosed:
      return "closed";
    case v1::SessionEvent::EVENT_NOT_SET:
      break;
  }
  return "an empty event";
}

absl::Status Unexpected(const v1::SessionEvent& event, const char* expecting) {
  return absl::InternalError(absl::StrCat("session: expected ", expecting,
                                          ", got ", EventName(event)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SessionStream>> SessionStream::Open(
    v1::Trilemma::StubInterface& stub, const v1::OpenSession& open) {
  std::unique_ptr<SessionStream> session(new SessionStream());
  ApplyTimeout(&session->context_);
  session->stream_ = stub.Session(&session->context_);
  v1::SessionRequest request;
  *request.mutable_open() = open;
  if (absl::Status s = session->Send(request); !s.ok()) return s;
  absl::StatusOr<v1::SessionEvent> event = session->Receive("opened");
  if (!event.ok()) return event.status();
  if (!event->has_opened()) {
    return session->Fail(Unexpected(*event, "opened"));
  }
  session->opened_ = std::move(*event->mutable_opened());
  return session;
}

SessionStream::~SessionStream() {
  if (finished_ || stream_ == nullptr) return;
  context_.TryCancel();
  stream_->Finish().IgnoreError();
}

absl::Status SessionStream::Send(const v1::SessionRequest& request) {
  if (finished_) return failed_;
  if (stream_->Write(request)) return absl::OkStatus();
  // A failed write means the stream is over; Finish says why.
  const grpc::Status status = stream_->Finish();
  finished_ = true;
  failed_ =
      status.ok()
          ? absl::InternalError("session: the server ended the stream early")
          : ToAbslStatus(status);
  return failed_;
}

absl::StatusOr<v1::SessionEvent> SessionStream::Receive(const char* expecting) {
  if (finished_) return failed_;
  v1::SessionEvent event;
  if (stream_->Read(&event)) return event;
  const grpc::Status status = stream_->Finish();
  finished_ = true;
  failed_ = status.ok() ? absl::InternalError(absl::StrCat(
                              "session: the stream ended before ", expecting))
                        : ToAbslStatus(status);
  return failed_;
}

absl::Status SessionStream::Fail(absl::Status status) {
  if (!finished_) {
    context_.TryCancel();
    stream_->Finish().IgnoreError();
    finished_ = true;
    failed_ = std::move(status);
  }
  return failed_;
}

absl::StatusOr<v1::Summary> SessionStream::Append(
    absl::Span<const int32_t> tokens) {
  v1::SessionRequest request;
  request.mutable_append()->mutable_tokens()->Add(tokens.begin(), tokens.end());
  if (absl::Status s = Send(request); !s.ok()) return s;
  absl::StatusOr<v1::SessionEvent> event = Receive("the append summary");
  if (!event.ok()) return event.status();
  if (!event->has_summary()) return Fail(Unexpected(*event, "summary"));
  return std::move(*event->mutable_summary());
}

absl::StatusOr<SessionTurn> SessionStream::Generate(
    const v1::GenerateTurn& turn) {
  v1::SessionRequest request;
  *request.mutable_generate() = turn;
  if (absl::Status s = Send(request); !s.ok()) return s;
  SessionTurn reply;
  while (true) {
    absl::StatusOr<v1::SessionEvent> event = Receive("the turn's summary");
    if (!event.ok()) return event.status();
    if (event->has_token()) {
      reply.tokens.push_back(std::move(*event->mutable_token()));
    } else if (event->has_summary()) {
      reply.summary = std::move(*event->mutable_summary());
      return reply;
    } else {
      return Fail(Unexpected(*event, "token or summary"));
    }
  }
}

absl::StatusOr<v1::SessionClosed> SessionStream::Close() {
  v1::SessionRequest request;
  request.mutable_close();
  if (absl::Status s = Send(request); !s.ok()) return s;
  absl::StatusOr<v1::SessionEvent> event = Receive("closed");
  if (!event.ok()) return event.status();
  if (!event->has_closed()) return Fail(Unexpected(*event, "closed"));
  stream_->WritesDone();
  // Drain anything after `closed` so Finish does not wait on unread
  // messages.
  v1::SessionEvent extra;
  while (stream_->Read(&extra)) {
  }
  const grpc::Status status = stream_->Finish();
  finished_ = true;
  if (!status.ok()) {
    failed_ = ToAbslStatus(status);
    return failed_;
  }
  failed_ = absl::FailedPreconditionError("session: already closed");
  return std::move(*event->mutable_closed());
}

}  // namespace trilemma::client
