#include "server/event_stream.h"

#include <utility>

namespace trilemma {

EventStream::EventStream(size_t capacity, std::function<void()> on_room)
    : capacity_(capacity == 0 ? 1 : capacity), on_room_(std::move(on_room)) {}

void EventStream::SetOnRoom(std::function<void()> on_room) {
  absl::MutexLock lock(&mu_);
  on_room_ = std::move(on_room);
}

void EventStream::NotifyRoom() {
  std::function<void()> on_room;
  {
    absl::MutexLock lock(&mu_);
    on_room = on_room_;
  }
  if (on_room) on_room();
}

void EventStream::Attach(Writer* writer) {
  {
    absl::MutexLock lock(&mu_);
    writer_ = writer;
  }
  Pump();
}

void EventStream::Detach() {
  absl::MutexLock lock(&mu_);
  writer_ = nullptr;
  detached_ = true;
  queue_.clear();
}

bool EventStream::Ready() {
  absl::MutexLock lock(&mu_);
  return queue_.size() < capacity_ && !cancelled_;
}

bool EventStream::Cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool EventStream::finishing() {
  absl::MutexLock lock(&mu_);
  return final_.has_value();
}

void EventStream::Push(v1::SessionEvent event) {
  {
    absl::MutexLock lock(&mu_);
    if (final_ || cancelled_ || detached_) return;
    queue_.push_back(std::move(event));
  }
  Pump();
}

void EventStream::Finish(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (final_) return;
    final_ = std::move(status);
  }
  Pump();
}

void EventStream::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    busy_ = false;
    if (!ok) {
      // The call is broken (cancelled or the peer went away): nothing more
      // can be written; the scheduler must end the request.
      cancelled_ = true;
      queue_.clear();
    }
  }
  if (!ok) NotifyRoom();
  Pump();
}

void EventStream::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    queue_.clear();
  }
  NotifyRoom();
  Pump();
}

void EventStream::Pump() {
  Writer* writer = nullptr;
  std::optional<v1::SessionEvent> event;
  std::optional<absl::Status> finish;
  bool made_room = false;
  bool more_queued = false;
  {
    absl::MutexLock lock(&mu_);
    if (busy_ || finish_started_ || writer_ == nullptr) return;
    if (!queue_.empty()) {
      made_room = queue_.size() >= capacity_;
      event = std::move(queue_.front());
      queue_.pop_front();
      more_queued = !queue_.empty();
    } else if (final_) {
      finish = *final_;
      if (cancelled_ && finish->ok()) {
        finish = absl::CancelledError("client cancelled or deadline passed");
      }
      finish_started_ = true;
    } else {
      return;
    }
    busy_ = true;
    writer = writer_;
  }
  if (made_room) NotifyRoom();
  if (event) {
    writer->StartEventWrite(std::move(*event), more_queued);
  } else {
    writer->FinishStream(*finish);
  }
}

}  // namespace trilemma
