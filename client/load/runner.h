// Drives a load test with gRPC's callback API: closed loop (a fixed number of
// requests in flight) or open loop (arrivals from an ArrivalProcess, sent
// whether or not earlier requests finished). Each request is a Session
// (mqar: open, append, one query turn after another, half-close) or a Generate
// stream (niah, random), per its RequestPlan.
//
// Example:
//   LoadRunOptions options{.engines = engines, .concurrency = 8,
//                          .max_requests = 64, .seed = 7};
//   absl::StatusOr<LoadRun> run = RunLoad(*stub, options, nullptr);
//   // run->records.size() == sum of run->sent
//
// Threads: the calling thread dispatches (it never waits on a stream), an
// optional progress thread reports, and gRPC's callback threads run the
// streams; nothing spawns a thread per request. Requests go to the engines
// round-robin (request i to engine i mod E). Request i's contents depend only
// on (seed, i), never on timing.
//
// The run stops sending at `max_requests` or `max_duration`, whichever comes
// first, then waits up to `drain_timeout` for requests in flight and cancels
// the rest (they end CANCELLED). Every request sent yields exactly one
// record, whatever its status.
#ifndef TRILEMMA_CLIENT_LOAD_RUNNER_H_
#define TRILEMMA_CLIENT_LOAD_RUNNER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/load/stats.h"
#include "client/load/workload.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

namespace trilemma::client {

struct LoadRunOptions {
  // The engines to load; requests name them by index. Non-empty.
  std::vector<v1::EngineInfo> engines{};
  WorkloadOptions workload{};
  // Closed loop when rate == 0: keep `concurrency` (>= 1) requests in flight.
  int32_t concurrency = 8;
  // Open loop when > 0: mean arrivals per second, gamma shape of the gaps.
  double rate = 0;
  double burstiness = 1;
  // Bounds; 0 = none. At least one must be set.
  int64_t max_requests = 0;
  absl::Duration max_duration = absl::ZeroDuration();
  // Open loop: arrivals finding this many requests in flight wait for one
  // to finish (and are counted as delayed), so memory stays bounded.
  int32_t max_in_flight = 1024;
  absl::Duration drain_timeout = absl::Seconds(30);
  uint64_t seed = 0;
};

// A snapshot for the progress display.
struct LoadProgress {
  int64_t sent = 0;
  int64_t finished = 0;
  int64_t failed = 0;
  int64_t in_flight = 0;
  double elapsed_seconds = 0;
};

struct LoadRun {
  // One per request sent, in the order they finished.
  std::vector<RequestRecord> records;
  // Requests sent per engine.
  std::vector<int64_t> sent;
  // From the start of the run to the last request's end.
  double duration_seconds = 0;
  int64_t delayed_arrivals = 0;
};

// Called every ~200 ms from a separate thread while the run lasts, and once
// more at its end.
using LoadProgressFn = std::function<void(const LoadProgress&)>;

// Runs the load. INVALID_ARGUMENT for bad options (no engines, no bound,
// concurrency < 1) or a workload an engine cannot serve (e.g. more pairs
// than vocab/2 keys); requests already sent are then still drained. RPC
// failures are recorded, never returned.
absl::StatusOr<LoadRun> RunLoad(v1::Trilemma::StubInterface& stub,
                                const LoadRunOptions& options,
                                const LoadProgressFn& progress);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_RUNNER_H_
