// SessionReactor: one bidirectional Session stream.
//
// Reads ahead of the replies, but boundedly: a read is in flight while fewer
// than kMaxUnanswered requests (open, append, generate) await their reply,
// so a client can pipeline a turn behind a running one and a `stop` reaches
// the scheduler while a turn runs (it ends the running and queued turns
// with CANCELLED and keeps the state). A `close` or half-close waits for the
// replies already owed, then closes. Protocol errors (anything before
// `open`, a second `open`, `close` with nothing open) end the stream with
// FAILED_PRECONDITION; invalid contents with INVALID_ARGUMENT naming the
// field.
//
// Example (what the service does per call):
//   return new SessionReactor(host, /*queue_events=*/32, context->deadline());
//
// Lifetime: created by the service per call; deletes itself in OnDone.
// Reads are serialised by gRPC (one in flight), writes by the EventStream's
// writer token; the counters they share are guarded by mu_.
#ifndef TRILEMMA_SERVER_SESSION_REACTOR_H_
#define TRILEMMA_SERVER_SESSION_REACTOR_H_

#include <cstddef>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/engine_host.h"
#include "server/event_stream.h"
#include "server/quota.h"
#include "server/text_events.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

class SessionReactor final
    : public grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionEvent>,
      public EventStream::Writer {
 public:
  // `host` must outlive the call. `deadline`: the call's (InfiniteFuture
  // when none), passed on to the scheduler; `quota` is held until the call
  // is done and charged each turn's tokens.
  SessionReactor(const EngineHost& host, size_t queue_events,
                 absl::Time deadline = absl::InfiniteFuture(),
                 CallQuota quota = {});

  // Requests awaiting their reply beyond which the stream stops reading.
  static constexpr int kMaxUnanswered = 2;

  // grpc::ServerBidiReactor
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // EventStream::Writer
  void StartEventWrite(v1::SessionEvent event, bool more_queued) override;
  void FinishStream(const absl::Status& status) override;

 private:
  // Acts on request_ (read path); false when the stream failed.
  bool Handle();
  // Starts a read unless one is in flight, too many replies are owed, or
  // reading is over.
  void MaybeRead();
  // A reply was written: issues a deferred close once none is owed.
  void ReplyWritten();
  // Ends the stream with `status` and frees the session; returns false.
  bool Fail(absl::Status status);

  const EngineHost& host_;
  const absl::Time deadline_;
  std::shared_ptr<EventStream> stream_;
  CallQuota quota_;

  absl::Mutex mu_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_over_ ABSL_GUARDED_BY(mu_) = false;  // closed, failed or EOF
  bool close_deferred_ ABSL_GUARDED_BY(mu_) = false;
  int unanswered_ ABSL_GUARDED_BY(mu_) = 0;

  // Read path.
  v1::SessionRequest request_;
  const EngineHost::Hosted* hosted_ = nullptr;  // set by `open`
  EngineScheduler::SequenceId id_ = 0;

  // Write path.
  v1::SessionEvent write_;
  // Set at `open`, before any reply can be written; then touched only by
  // StartEventWrite.
  std::optional<EventText> text_;
  bool write_ends_reply_ = false;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_SESSION_REACTOR_H_
