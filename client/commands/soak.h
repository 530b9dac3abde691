// `trilemma soak`: overload soak of a running server. Measures the rate the
// server sustains (closed loop of normal Generate calls, --soak_calibrate),
// then drives mixed Generate/Session load at --soak_multiple times it (or at
// --rate) for --duration with random cancels, short deadlines, slow readers,
// killed clients and Session `stop`s, and prints the accounting:
//
//   sent 24012 = OK 15890 + RESOURCE_EXHAUSTED 2100 + CANCELLED 3012 + ...
//   hung 0   protocol errors 0   stops: 812 CANCELLED, 40 too late, 0 broken
//   gauges after 30s: active 0 waiting 0 state bytes 0
//   server RSS: 74.1 MiB before, 310.2 MiB peak, 80.3 MiB 30s after
//
// Example:
//   trilemma soak --duration=60s --soak_multiple=2 --server_pid=$PID
//       --metrics_target=127.0.0.1:9464
//
// Every call has a deadline (--soak_call_deadline, or 5-300 ms for the
// short-deadline ones). Exit status 1 when a call hung (still running 10 s
// after its deadline), the protocol was broken (a stream ending OK without
// its summary, a stopped session that could not go on), a normal call (no
// cancel, full deadline) ended other than OK, RESOURCE_EXHAUSTED,
// UNAVAILABLE or DEADLINE_EXCEEDED, a gauge is not back to 0, or RSS after
// exceeds --soak_max_rss_ratio times RSS before.
#ifndef TRILEMMA_CLIENT_COMMANDS_SOAK_H_
#define TRILEMMA_CLIENT_COMMANDS_SOAK_H_

#include "client/common/command.h"

namespace trilemma::client {

int RunSoakCommand(const CommandEnv& env);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_SOAK_H_
