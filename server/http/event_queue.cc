#include "server/http/event_queue.h"

#include <utility>

namespace trilemma {

bool BlockingEventQueue::Ready() {
  absl::MutexLock lock(&mu_);
  return events_.size() < capacity_;
}

bool BlockingEventQueue::Cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void BlockingEventQueue::Push(v1::SessionEvent event) {
  absl::MutexLock lock(&mu_);
  // After Cancel() tokens are dropped, but the summary still comes: it
  // carries the usage and cost of what was generated.
  if (final_.has_value() || (cancelled_ && event.has_token())) return;
  events_.push_back(std::move(event));
}

void BlockingEventQueue::Finish(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (!final_.has_value()) final_ = std::move(status);
}

std::optional<BlockingEventQueue::Item> BlockingEventQueue::Pop(
    absl::Duration timeout) {
  bool was_full = false;
  Item item;
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &BlockingEventQueue::HasItem),
                         timeout);
    if (!events_.empty()) {
      was_full = events_.size() >= capacity_;
      item.event = std::move(events_.front());
      events_.pop_front();
    } else if (final_.has_value()) {
      item.final = *final_;
    } else {
      return std::nullopt;
    }
  }
  if (was_full && scheduler_ != nullptr) scheduler_->Wake();
  return item;
}

void BlockingEventQueue::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
  }
  if (scheduler_ != nullptr) scheduler_->Wake();
}

}  // namespace trilemma
