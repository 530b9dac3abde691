// EventStream: the bounded queue between an engine's scheduler and one RPC's
// reactor, and the rule that keeps at most one write in flight.
//
// The scheduler Push()es events and Finish()es the stream; the reactor
// writes them one at a time. Whoever finds the stream idle (no write or
// Finish in flight) with something queued takes the "writer token" and calls
// the reactor's StartEventWrite/FinishStream outside the lock; the token is
// given back in OnWriteDone. So StartWrite and Finish are never concurrent,
// and the reactor cannot reach OnDone while the token holder still uses it
// (OnDone follows Finish, which only the token holder calls, last).
//
// Backpressure: Ready() is false while `capacity` events are queued; the
// scheduler then leaves the stream out of its next step, and the stream wakes
// the scheduler once a write makes room. Summaries and control events are
// pushed regardless, so the bound is capacity plus a few.
//
// Example (in a reactor):
//   stream_ = std::make_shared<EventStream>(16, [s] { s->Wake(); });
//   stream_->Attach(this);
//   scheduler->SubmitGenerate(limits, turn, stream_);
//   ...
//   void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }
//   void OnCancel() override { stream_->Cancel(); }
//   void OnDone() override { stream_->Detach(); delete this; }
//
// Thread-safe.
#ifndef TRILEMMA_SERVER_EVENT_STREAM_H_
#define TRILEMMA_SERVER_EVENT_STREAM_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/sequence.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

class EventStream final : public EventSink {
 public:
  // Implemented by a reactor.
  class Writer {
   public:
    virtual ~Writer() = default;
    // Starts writing `event`; OnWriteDone must follow via the stream.
    // `more_queued`: further events are already queued and are written
    // next, so the transport may hold this one back and send them together
    // (gRPC's buffer hint: fewer frames and syscalls per token when a
    // stream falls behind). The last queued event is never held back.
    virtual void StartEventWrite(v1::SessionEvent event, bool more_queued) = 0;
    // Finishes the RPC with `status`; nothing is written after.
    virtual void FinishStream(const absl::Status& status) = 0;
  };

  // `on_room` is called (without locks held) when a write makes room in a
  // full queue or the stream is cancelled; it wakes the scheduler.
  EventStream(size_t capacity, std::function<void()> on_room);

  // Replaces `on_room` (e.g. once a Session stream knows its engine).
  void SetOnRoom(std::function<void()> on_room);

  // Connects the reactor; events pushed before are written then.
  void Attach(Writer* writer);
  // Disconnects the reactor (from OnDone); later events are dropped.
  void Detach();

  // EventSink (scheduler side).
  bool Ready() override;
  bool Cancelled() override;
  void Push(v1::SessionEvent event) override;
  void Finish(absl::Status status) override;

  // Reactor side: a write completed (ok = false: the stream is broken).
  void OnWriteDone(bool ok);
  // Reactor side: the client cancelled or the deadline passed.
  void Cancel();

  // True once Finish was called (by anyone).
  bool finishing();

 private:
  // Takes the writer token and starts the next write or the Finish, if any.
  void Pump();

  const size_t capacity_;
  // Calls on_room_ (without mu_ held).
  void NotifyRoom();

  absl::Mutex mu_;
  std::function<void()> on_room_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::SessionEvent> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> final_ ABSL_GUARDED_BY(mu_);
  Writer* writer_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // the writer token is taken
  bool finish_started_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_EVENT_STREAM_H_
