// How `trilemma load` prints a LoadReport: aligned tables for a terminal,
// one CSV row per engine (plus "all"), or protobuf JSON (json_output.h);
// and the live progress line.
//
// Example:
//   std::cout << FormatLoadTable(report);
//   //  engine     sent  ok  failed  req/s  tok/s  goodput/s ...
//   std::cout << FormatLoadCsv(report);
//   // engine,family,sent,succeeded,failed,failed_by_status,...
#ifndef TRILEMMA_CLIENT_LOAD_OUTPUT_H_
#define TRILEMMA_CLIENT_LOAD_OUTPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/load/runner.h"
#include "trilemma/v1/report.pb.h"

namespace trilemma::client {

enum class ReportFormat { kTable, kJson, kCsv };

// "table", "json" or "csv".
absl::StatusOr<ReportFormat> ParseReportFormat(absl::string_view flag,
                                               absl::string_view text);

// Three tables (throughput, recall and state per engine; latency
// percentiles in ms; recall by context length when any probe ran) and a
// footer with the arrivals, duration, SLO and the accounting line.
std::string FormatLoadTable(const v1::LoadReport& report);

// The CSV header (LoadCsvColumns joined) and one row per engine, then the
// "all" row. Map fields are "KEY:VALUE;..." in one field; recall buckets are
// "MIN-MAX:HITS/PROBES;...". Latencies in seconds.
std::string FormatLoadCsv(const v1::LoadReport& report);
std::vector<std::string> LoadCsvColumns();

// "[#######.......]  32/64 sent  30 done  0 failed  2 in flight  4.1 s";
// the bar follows requests when `max_requests` > 0, else time.
std::string FormatLoadProgress(const LoadProgress& progress,
                               int64_t max_requests, double max_seconds);

// "sent 64 = 62 ok + 2 failed (RESOURCE_EXHAUSTED 2)".
std::string AccountingLine(const v1::LoadEngineResult& result);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_OUTPUT_H_
