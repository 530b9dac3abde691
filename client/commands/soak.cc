#include "client/commands/soak.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/common/channel.h"
#include "client/common/engine_selection.h"
#include "client/common/shared_flags.h"
#include "client/load/soak_runner.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

// --rate, --duration, --engines and --seed are shared flags
// (client/common/shared_flags.h).

ABSL_FLAG(double, soak_multiple, 2.0,
          "soak: send at this multiple of the measured sustainable rate "
          "(ignored with --rate).");
ABSL_FLAG(absl::Duration, soak_calibrate, absl::Seconds(10),
          "soak: how long the closed-loop measurement of the sustainable "
          "rate runs.");
ABSL_FLAG(int32_t, soak_calibrate_concurrency, 64,
          "soak: calls in flight while measuring the sustainable rate.");
ABSL_FLAG(int32_t, soak_workers, 256,
          "soak: client threads, each with one call at a time.");
ABSL_FLAG(absl::Duration, soak_call_deadline, absl::Seconds(60),
          "soak: the deadline of every call but the short-deadline ones; a "
          "call still running 10 s after its deadline counts as hung.");
ABSL_FLAG(absl::Duration, soak_settle, absl::Seconds(30),
          "soak: idle time after the load before gauges and RSS are read.");
ABSL_FLAG(int64_t, server_pid, 0,
          "soak: the server's process id, to read its RSS from /proc "
          "(0 = no RSS figures).");
ABSL_FLAG(std::string, metrics_target, "",
          "soak: the server's /metrics host:port (IPv4), to check the gauges "
          "are back to 0 (empty = skip).");
ABSL_FLAG(double, soak_max_rss_ratio, 0,
          "soak: fail when RSS after settling exceeds this multiple of RSS "
          "before (0 = report only).");

namespace trilemma::client {
namespace {

// VmRSS of `pid` in bytes, or -1.
int64_t RssBytes(int64_t pid) {
  if (pid <= 0) return -1;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    int64_t kb = 0;
    std::istringstream(line.substr(6)) >> kb;
    return kb * 1024;
  }
  return -1;
}

std::string MiB(int64_t bytes) {
  if (bytes < 0) return "n/a";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f MiB",
                static_cast<double>(bytes) / (1 << 20));
  return buffer;
}

// GET /metrics from host:port; empty on failure.
std::string ScrapeMetrics(const std::string& target) {
  const size_t colon = target.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(target.substr(colon + 1), &port)) {
    return "";
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, target.substr(0, colon).c_str(), &addr.sin_addr) !=
          1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request =
      "GET /metrics HTTP/1.0\r\nHost: soak\r\nConnection: close\r\n\r\n";
  std::string response;
  if (write(fd, request.data(), request.size()) ==
      static_cast<ssize_t>(request.size())) {
    char buffer[8192];
    for (;;) {
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n <= 0) break;
      response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// Sum of every sample of gauge `name` whose labels contain `label` (empty:
// all).
double SumGauge(const std::string& metrics, const std::string& name,
                const std::string& label = "") {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::ConsumePrefix(&line, name)) continue;
    if (line.empty() || (line[0] != '{' && line[0] != ' ')) continue;
    if (!label.empty() && line.find(label) == absl::string_view::npos) {
      continue;
    }
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space != absl::string_view::npos &&
        absl::SimpleAtod(line.substr(space + 1), &value)) {
      sum += value;
    }
  }
  return sum;
}

std::string Counts(const std::map<std::string, int64_t>& counts) {
  std::string out;
  for (const auto& [name, n] : counts) {
    absl::StrAppend(&out, out.empty() ? "" : " + ", name, " ", n);
  }
  return out.empty() ? "0" : out;
}

}  // namespace

int RunSoakCommand(const CommandEnv& env) {
  absl::StatusOr<std::vector<std::string>> names = EnginesFlag();
  if (!names.ok()) return ReportError(env, "soak", names.status(), true);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  if (duration <= absl::ZeroDuration()) {
    return ReportError(env, "soak",
                       absl::InvalidArgumentError("--duration: must be > 0"),
                       true);
  }
  absl::StatusOr<std::string> uri = TargetUri(env.target);
  if (!uri.ok()) return ReportError(env, "soak", uri.status(), true);
  std::unique_ptr<v1::Trilemma::Stub> stub = v1::Trilemma::NewStub(env.channel);
  absl::StatusOr<std::vector<v1::EngineInfo>> engines =
      ListSelectedEngines(*stub, env.target, *names);
  if (!engines.ok()) return ReportError(env, "soak", engines.status());

  const int64_t pid = absl::GetFlag(FLAGS_server_pid);
  const int64_t rss_before = RssBytes(pid);
  SoakOptions options;
  options.engines = *engines;
  options.call_deadline = absl::GetFlag(FLAGS_soak_call_deadline);
  options.seed = absl::GetFlag(FLAGS_seed).value_or(1);
  double rate = absl::GetFlag(FLAGS_rate);
  if (rate <= 0) {
    SoakOptions calibrate = options;
    calibrate.closed_loop_normal_only = true;
    calibrate.workers = absl::GetFlag(FLAGS_soak_calibrate_concurrency);
    calibrate.duration = absl::GetFlag(FLAGS_soak_calibrate);
    const SoakResult measured = RunSoak(*uri, calibrate);
    const auto ok = measured.by_status.find("OK");
    const double sustainable =
        (ok == measured.by_status.end() ? 0 : ok->second) /
        absl::ToDoubleSeconds(measured.elapsed);
    rate = std::max(1.0, sustainable * absl::GetFlag(FLAGS_soak_multiple));
    env.out << "sustainable: " << sustainable << " calls/s (closed loop, "
            << calibrate.workers << " in flight, " << Counts(measured.by_status)
            << "); soaking at " << rate << " calls/s\n";
    env.out.flush();
  }
  options.rate = rate;
  options.duration = duration;
  options.workers = absl::GetFlag(FLAGS_soak_workers);

  std::atomic<bool> sampling{true};
  std::atomic<int64_t> rss_peak{rss_before};
  std::thread sampler([&] {
    while (sampling.load()) {
      const int64_t rss = RssBytes(pid);
      if (rss > rss_peak.load()) rss_peak.store(rss);
      absl::SleepFor(absl::Milliseconds(250));
    }
  });
  const SoakResult result = RunSoak(*uri, options);
  sampling.store(false);
  sampler.join();
  absl::SleepFor(absl::GetFlag(FLAGS_soak_settle));
  const int64_t rss_after = RssBytes(pid);

  bool failed =
      result.hung > 0 || result.protocol_errors > 0 || result.stops_broken > 0;
  for (const auto& [code, n] : result.normal_by_status) {
    if (code != "OK" && code != "RESOURCE_EXHAUSTED" && code != "UNAVAILABLE" &&
        code != "DEADLINE_EXCEEDED") {
      failed = true;
    }
  }
  env.out << "soak: " << absl::FormatDuration(result.elapsed) << " at " << rate
          << " calls/s over " << options.engines.size() << " engines\n";
  env.out << "sent " << result.sent << " = " << Counts(result.by_status)
          << "\n";
  env.out << "by behaviour: " << Counts(result.by_behaviour)
          << "; normal calls: " << Counts(result.normal_by_status) << "\n";
  env.out << "hung " << result.hung << "   protocol errors "
          << result.protocol_errors << "   late sends " << result.late_sends
          << "   stops: " << result.stops_cancelled << " CANCELLED, "
          << result.stops_too_late << " finished first, " << result.stops_broken
          << " broken\n";
  for (const std::string& example : result.examples) {
    env.out << "  e.g. " << example << "\n";
  }
  const std::string metrics_target = absl::GetFlag(FLAGS_metrics_target);
  if (!metrics_target.empty()) {
    const std::string metrics = ScrapeMetrics(metrics_target);
    if (metrics.empty()) {
      env.out << "gauges: /metrics on " << metrics_target << " unreadable\n";
      failed = true;
    } else {
      const double active = SumGauge(metrics, "trilemma_active_sessions");
      const double waiting = SumGauge(metrics, "trilemma_waiting_requests");
      const double state = SumGauge(metrics, "trilemma_state_bytes");
      const double blocks =
          SumGauge(metrics, "trilemma_state_blocks", "use=\"used\"");
      env.out << "gauges after "
              << absl::FormatDuration(absl::GetFlag(FLAGS_soak_settle))
              << ": active " << active << " waiting " << waiting
              << " state bytes " << state << " blocks used " << blocks << "\n";
      failed |= active != 0 || waiting != 0 || state != 0 || blocks != 0;
    }
  }
  env.out << "server RSS: " << MiB(rss_before) << " before, "
          << MiB(rss_peak.load()) << " peak, " << MiB(rss_after) << " "
          << absl::FormatDuration(absl::GetFlag(FLAGS_soak_settle))
          << " after\n";
  const double max_ratio = absl::GetFlag(FLAGS_soak_max_rss_ratio);
  if (max_ratio > 0 && rss_before > 0 &&
      static_cast<double>(rss_after) >
          max_ratio * static_cast<double>(rss_before)) {
    env.out << "RSS after is over " << max_ratio << "x RSS before\n";
    failed = true;
  }
  env.out << (failed ? "soak: FAILED" : "soak: passed") << "\n";
  env.out.flush();
  return failed ? kExitFailure : kExitOk;
}

}  // namespace trilemma::client
