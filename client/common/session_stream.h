// A blocking, turn-by-turn client of the Session RPC: open, append, generate
// turns, close. Used by `recall` (and the later `load` / `sweep` commands) to
// store facts once and then ask many queries in the same session.
//
// Example:
//   absl::StatusOr<std::unique_ptr<SessionStream>> session =
//       SessionStream::Open(stub, open_request);
//   absl::StatusOr<v1::Summary> stored = (*session)->Append(tokens);
//   absl::StatusOr<SessionTurn> turn = (*session)->Generate(query);
//   absl::StatusOr<v1::SessionClosed> closed = (*session)->Close();
//
// Every call sends one request and reads its whole reply (a Summary, or
// token events then a Summary), so replies never interleave. Once a call
// fails the stream is finished and every later call returns that status:
// the server's status when it ended the stream (RESOURCE_EXHAUSTED,
// FAILED_PRECONDITION ...), else INTERNAL describing the protocol surprise.
// Destroying an unclosed stream cancels it. Not thread-safe: one thread
// drives one stream.
#ifndef TRILEMMA_CLIENT_COMMON_SESSION_STREAM_H_
#define TRILEMMA_CLIENT_COMMON_SESSION_STREAM_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"
#include "trilemma/v1/trilemma.grpc.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::client {

// The reply to one generate turn.
struct SessionTurn {
  std::vector<v1::TokenEvent> tokens;
  v1::Summary summary;
};

class SessionStream {
 public:
  // Starts the stream (with the --timeout deadline) and sends `open`;
  // returns once the server answered with `opened`. `stub` need only live
  // through this call.
  static absl::StatusOr<std::unique_ptr<SessionStream>> Open(
      v1::Trilemma::StubInterface& stub, const v1::OpenSession& open);

  SessionStream(const SessionStream&) = delete;
  SessionStream& operator=(const SessionStream&) = delete;
  ~SessionStream();

  const v1::SessionOpened& opened() const { return opened_; }

  // Appends tokens; returns the turn's Summary (finish reason APPENDED, or a
  // limit's).
  absl::StatusOr<v1::Summary> Append(absl::Span<const int32_t> tokens);

  // Runs one generate turn; returns its token events and Summary.
  absl::StatusOr<SessionTurn> Generate(const v1::GenerateTurn& turn);

  // Sends `close`, reads `closed`, half-closes and waits for the final
  // status.
  absl::StatusOr<v1::SessionClosed> Close();

 private:
  using Stream =
      grpc::ClientReaderWriterInterface<v1::SessionRequest, v1::SessionEvent>;

  SessionStream() = default;

  absl::Status Send(const v1::SessionRequest& request);
  // Reads the next event. A stream the server ended yields its status (or
  // INTERNAL when it ended with OK where `expecting` was due).
  absl::StatusOr<v1::SessionEvent> Receive(const char* expecting);
  // Ends the stream and records why; returns the recorded status.
  absl::Status Fail(absl::Status status);

  grpc::ClientContext context_;
  std::unique_ptr<Stream> stream_;
  v1::SessionOpened opened_;
  absl::Status failed_;  // non-OK once the stream is finished by a failure
  bool finished_ = false;
};

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_SESSION_STREAM_H_
