// The soak's load: mixed Generate and Session calls, open loop at a fixed
// rate, each call drawn with a client behaviour that stresses overload
// handling — normal, cancelled mid-stream, a short deadline, a slow reader,
// a killed client (its own connection, dropped after the first event), and
// for Sessions a `stop` of a running turn that must come back CANCELLED with
// the session still usable. Every call sent ends in exactly one record.
//
// Example:
//   SoakOptions options{.engines = engines, .rate = 200,
//                       .duration = absl::Seconds(60)};
//   SoakResult result = RunSoak(target_uri, options);
//   // result.sent == sum of result.by_status; result.hung must be 0
//
// Threads: `workers` threads each send one call at a time (synchronous
// gRPC), at their share of the rate; a call whose arrival finds its worker
// busy is sent late (counted). Every call has a deadline; one still running
// `hang_grace` after it is counted hung (the server failed to end it) and
// cancelled.
#ifndef TRILEMMA_CLIENT_LOAD_SOAK_RUNNER_H_
#define TRILEMMA_CLIENT_LOAD_SOAK_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma::client {

struct SoakOptions {
  std::vector<v1::EngineInfo> engines{};
  // Calls per second over all workers; > 0.
  double rate = 100;
  absl::Duration duration = absl::Seconds(60);
  int32_t workers = 256;
  // The deadline of every call but the short-deadline ones: under overload
  // the server may drop a call at it (DEADLINE_EXCEEDED), but must end it.
  absl::Duration call_deadline = absl::Seconds(60);
  // A call still running this long after its deadline is hung.
  absl::Duration hang_grace = absl::Seconds(10);
  // Closed loop instead (rate ignored): every worker sends normal Generate
  // calls back to back; used to measure the sustainable rate.
  bool closed_loop_normal_only = false;
  uint64_t seed = 1;
};

struct SoakResult {
  int64_t sent = 0;
  // gRPC status code name ("OK", "RESOURCE_EXHAUSTED", ...) -> calls.
  std::map<std::string, int64_t> by_status;
  // Behaviour name -> calls, and the statuses of normal calls only (they
  // must be OK, RESOURCE_EXHAUSTED, UNAVAILABLE or DEADLINE_EXCEEDED).
  std::map<std::string, int64_t> by_behaviour;
  std::map<std::string, int64_t> normal_by_status;
  // Session `stop`s whose turn came back CANCELLED / came back otherwise
  // (finished first: LENGTH) / broke the session.
  int64_t stops_cancelled = 0;
  int64_t stops_too_late = 0;
  int64_t stops_broken = 0;
  int64_t late_sends = 0;
  int64_t hung = 0;
  // Protocol violations seen by the client (e.g. a Generate stream ending
  // OK without a summary); must be 0.
  int64_t protocol_errors = 0;
  std::vector<std::string> examples;  // a few non-OK messages, for the log
  absl::Duration elapsed;
};

SoakResult RunSoak(const std::string& target_uri, const SoakOptions& options);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_SOAK_RUNNER_H_
