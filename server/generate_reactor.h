// GenerateReactor: one server-streaming Generate call.
//
// Validates the request against the engine (INVALID_ARGUMENT naming the
// field), hands it to the engine's scheduler and writes the events the
// scheduler pushes into its EventStream — tokens, then one Summary — one
// write at a time; then finishes with the status the scheduler gave.
// Never blocks: all engine work happens on the scheduler thread.
//
// Lifetime: created by the service per call; deletes itself in OnDone.
#ifndef TRILEMMA_SERVER_GENERATE_REACTOR_H_
#define TRILEMMA_SERVER_GENERATE_REACTOR_H_

#include <cstddef>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/engine_host.h"
#include "server/event_stream.h"
#include "server/quota.h"
#include "server/text_events.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

class GenerateReactor final
    : public grpc::ServerWriteReactor<v1::GenerateEvent>,
      public EventStream::Writer {
 public:
  // `host` must outlive the call. `deadline`: the call's, passed on to the
  // scheduler (absl::InfiniteFuture() when none); `quota` is held until the
  // call is done.
  GenerateReactor(const v1::GenerateRequest& request, const EngineHost& host,
                  size_t queue_events,
                  absl::Time deadline = absl::InfiniteFuture(),
                  CallQuota quota = {});

  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // EventStream::Writer
  void StartEventWrite(v1::SessionEvent event, bool more_queued) override;
  void FinishStream(const absl::Status& status) override;

 private:
  std::shared_ptr<EventStream> stream_;
  v1::GenerateEvent write_;  // the write in flight
  CallQuota quota_;
  // Set once the engine is known; touched only by StartEventWrite.
  std::optional<EventText> text_;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_GENERATE_REACTOR_H_
