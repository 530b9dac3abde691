// SessionReactor: one bidirectional Session stream.
//
// Reads one request at a time and reads the next only once the reply to the
// last one is written (open -> SessionOpened, append/generate -> its tokens
// and Summary), so a client can pipeline requests without the server
// buffering more than one turn. Protocol errors (anything before `open`, a
// second `open`, `close` with nothing open) end the stream with
// FAILED_PRECONDITION; invalid contents with INVALID_ARGUMENT naming the
// field. A client half-close is a `close`.
//
// Lifetime: created by the service per call; deletes itself in OnDone.
// Reads are serialised by gRPC (one in flight), writes by the EventStream's
// writer token; the two paths share no mutable state.
#ifndef TRILEMMA_SERVER_SESSION_REACTOR_H_
#define TRILEMMA_SERVER_SESSION_REACTOR_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "server/engine_host.h"
#include "server/event_stream.h"
#include "server/quota.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

class SessionReactor final
    : public grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionEvent>,
      public EventStream::Writer {
 public:
  // `host` must outlive the call; `quota` is held until the call is done and
  // charged each turn's tokens.
  SessionReactor(const EngineHost& host, size_t queue_events,
                 CallQuota quota = {});

  // grpc::ServerBidiReactor
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // EventStream::Writer
  void StartEventWrite(v1::SessionEvent event, bool more_queued) override;
  void FinishStream(const absl::Status& status) override;

 private:
  // Acts on request_ (read path).
  void Handle();
  // Ends the stream with `status` and frees the session.
  void Fail(absl::Status status);

  const EngineHost& host_;
  std::shared_ptr<EventStream> stream_;
  CallQuota quota_;

  // Read path.
  v1::SessionRequest request_;
  const EngineHost::Hosted* hosted_ = nullptr;  // set by `open`
  EngineScheduler::SequenceId id_ = 0;

  // Write path.
  v1::SessionEvent write_;
  bool write_ends_reply_ = false;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_SESSION_REACTOR_H_
