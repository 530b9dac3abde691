// BlockingEventQueue: the bounded queue between an engine's scheduler and an
// HTTP worker thread that waits for one request's events.
//
// cpp-httplib serves each connection on a worker thread that may block, so
// unlike the gRPC reactors (server/event_stream.h) the consumer here simply
// waits in Pop(). Backpressure works as for gRPC: Ready() is false while
// `capacity` events are queued, and taking an event from a full queue wakes
// the scheduler. Cancel() (the client went away, or a stop string ended the
// choice) makes Cancelled() true, so the scheduler ends the request and frees
// its state within one step.
//
// Example (on an HTTP worker):
//   auto queue = std::make_shared<BlockingEventQueue>(32, scheduler);
//   scheduler->SubmitGenerate(limits, turn, queue);
//   while (auto item = queue->Pop(absl::Seconds(1))) {
//     if (item->event) ...; else if (item->final) break;
//   }
//
// Thread-safe.
#ifndef TRILEMMA_SERVER_HTTP_EVENT_QUEUE_H_
#define TRILEMMA_SERVER_HTTP_EVENT_QUEUE_H_

#include <cstddef>
#include <deque>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/scheduler.h"
#include "server/sequence.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

class BlockingEventQueue final : public EventSink {
 public:
  // What Pop() returns: an event, or the final status once every event was
  // taken.
  struct Item {
    std::optional<v1::SessionEvent> event;
    std::optional<absl::Status> final;
  };

  // `scheduler` (may be null in tests) is woken when a full queue gets room
  // or the queue is cancelled; it must outlive this queue's use.
  BlockingEventQueue(size_t capacity, EngineScheduler* scheduler)
      : capacity_(capacity), scheduler_(scheduler) {}

  // EventSink (scheduler side).
  bool Ready() override;
  bool Cancelled() override;
  void Push(v1::SessionEvent event) override;
  void Finish(absl::Status status) override;
  Protocol protocol() const override { return Protocol::kHttp; }

  // Consumer side: the next item, waiting up to `timeout`; nullopt on
  // timeout. After the final item, returns it again.
  std::optional<Item> Pop(absl::Duration timeout);
  // The consumer is gone: the scheduler ends the request and frees its
  // state.
  void Cancel();

 private:
  bool HasItem() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !events_.empty() || final_.has_value();
  }

  const size_t capacity_;
  EngineScheduler* const scheduler_;
  mutable absl::Mutex mu_;
  std::deque<v1::SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> final_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_HTTP_EVENT_QUEUE_H_
