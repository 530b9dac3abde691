#include "client/load/output.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/common/table_printer.h"
#include "client/load/stats.h"
#include "client/report/csv.h"

namespace trilemma::client {
namespace {

std::string Ms(double seconds) {
  return absl::StrFormat("%.2f", seconds * 1e3);
}

std::string Rate(double per_second) {
  return absl::StrFormat("%.1f", per_second);
}

template <typename Map>
std::string JoinMap(const Map& map, absl::string_view sep,
                    absl::string_view kv_sep) {
  // Sorted, so the output is stable (protobuf maps are unordered).
  std::map<std::string, int64_t> sorted(map.begin(), map.end());
  std::vector<std::string> parts;
  for (const auto& [key, value] : sorted) {
    parts.push_back(absl::StrCat(key, kv_sep, value));
  }
  return absl::StrJoin(parts, sep);
}

std::vector<const v1::LoadEngineResult*> Rows(const v1::LoadReport& report) {
  std::vector<const v1::LoadEngineResult*> rows;
  for (const v1::LoadEngineResult& e : report.engines()) rows.push_back(&e);
  // The total only adds information when several engines ran.
  if (report.engines_size() > 1) rows.push_back(&report.total());
  return rows;
}

}  // namespace

absl::StatusOr<ReportFormat> ParseReportFormat(absl::string_view flag,
                                               absl::string_view text) {
  if (text == "table") return ReportFormat::kTable;
  if (text == "json") return ReportFormat::kJson;
  if (text == "csv") return ReportFormat::kCsv;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", text, "' is not one of table|json|csv"));
}

std::string AccountingLine(const v1::LoadEngineResult& result) {
  std::string line =
      absl::StrCat("sent ", result.sent(), " = ", result.succeeded(), " ok + ",
                   result.failed(), " failed");
  if (result.failed() > 0) {
    absl::StrAppend(&line, " (", JoinMap(result.failed_by_status(), ", ", " "),
                    ")");
  }
  return line;
}

std::string FormatLoadTable(const v1::LoadReport& report) {
  using C = TablePrinter;
  const std::vector<const v1::LoadEngineResult*> rows = Rows(report);
  bool any_probe = false;
  for (const v1::LoadEngineResult* r : rows) any_probe |= r->probes() > 0;

  TablePrinter main({{"engine"},
                     {"sent", C::kRight},
                     {"ok", C::kRight},
                     {"failed", C::kRight},
                     {"req/s", C::kRight},
                     {"out tok/s", C::kRight},
                     {"goodput/s", C::kRight},
                     {"slo met", C::kRight},
                     {"recall", C::kRight},
                     {"preempted", C::kRight},
                     {"peak state", C::kRight},
                     {"mean state", C::kRight},
                     {"flops/token", C::kRight}});
  for (const v1::LoadEngineResult* r : rows) {
    main.AddRow(
        {r->engine(), absl::StrCat(r->sent()), absl::StrCat(r->succeeded()),
         r->failed() == 0
             ? "0"
             : absl::StrCat(r->failed(), " (",
                            JoinMap(r->failed_by_status(), ",", " "), ")"),
         Rate(r->requests_per_second()), Rate(r->output_tokens_per_second()),
         Rate(r->goodput_requests_per_second()),
         absl::StrFormat("%.1f%%", 100 * r->slo_attainment()),
         r->probes() > 0 ? absl::StrFormat("%.3f", r->recall()) : "-",
         absl::StrCat(r->preempted_requests()),
         FormatBytes(r->peak_state_bytes()),
         r->output_tokens() > 0
             ? FormatBytes(static_cast<int64_t>(r->mean_state_bytes()))
             : "-",
         r->output_tokens() > 0 ? FormatCount(r->flops_per_token()) : "-"});
  }

  TablePrinter latency({{"engine"},
                        {"latency (ms)"},
                        {"n", C::kRight},
                        {"mean", C::kRight},
                        {"p50", C::kRight},
                        {"p90", C::kRight},
                        {"p99", C::kRight},
                        {"max", C::kRight}});
  for (const v1::LoadEngineResult* r : rows) {
    const std::pair<const char*, const v1::LatencySummary*> metrics[] = {
        {"ttft", &r->ttft()},
        {"itl", &r->itl()},
        {"tpot", &r->tpot()},
        {"e2e", &r->e2e()}};
    for (const auto& [name, s] : metrics) {
      if (s->count() == 0) {
        latency.AddRow({r->engine(), name, "0", "-", "-", "-", "-", "-"});
        continue;
      }
      latency.AddRow({r->engine(), name, absl::StrCat(s->count()),
                      Ms(s->mean_seconds()), Ms(s->p50_seconds()),
                      Ms(s->p90_seconds()), Ms(s->p99_seconds()),
                      Ms(s->max_seconds())});
    }
  }

  std::string out = absl::StrCat(main.ToString(), "\n", latency.ToString());
  if (any_probe) {
    TablePrinter recall({{"engine"},
                         {"context tokens", C::kRight},
                         {"probes", C::kRight},
                         {"recall", C::kRight}});
    for (const v1::LoadEngineResult& r : report.engines()) {
      for (const v1::RecallBucket& b : r.recall_by_context()) {
        recall.AddRow(
            {r.engine(),
             absl::StrCat(b.min_context_tokens(), "-", b.max_context_tokens()),
             absl::StrCat(b.probes()), absl::StrFormat("%.3f", b.recall())});
      }
    }
    absl::StrAppend(&out, "\n", recall.ToString());
  }

  const v1::LoadSettings& s = report.settings();
  const std::string arrivals =
      s.arrivals() == "open"
          ? absl::StrFormat("open loop, %g req/s (gamma shape %g)", s.rate(),
                            s.burstiness())
          : absl::StrCat("closed loop, concurrency ", s.concurrency());
  absl::StrAppend(&out, "\n", arrivals, "; workload ", s.workload(), "; ",
                  absl::StrFormat("%.2f s", report.duration_seconds()),
                  "; SLO ", FormatSlo(s.slo()));
  if (s.delayed_arrivals() > 0) {
    absl::StrAppend(&out, "; ", s.delayed_arrivals(),
                    " arrivals delayed by --max_in_flight");
  }
  absl::StrAppend(
      &out, "\nall requests accounted for: ", AccountingLine(report.total()),
      "; seed ", report.seed(), "\n");
  return out;
}

std::vector<std::string> LoadCsvColumns() {
  std::vector<std::string> columns = {"engine",
                                      "family",
                                      "sent",
                                      "succeeded",
                                      "failed",
                                      "failed_by_status",
                                      "finish_reasons",
                                      "prompt_tokens",
                                      "output_tokens",
                                      "requests_per_second",
                                      "output_tokens_per_second",
                                      "good_requests",
                                      "goodput_requests_per_second",
                                      "slo_attainment",
                                      "probes",
                                      "hits",
                                      "recall",
                                      "recall_by_context",
                                      "peak_state_bytes",
                                      "mean_state_bytes",
                                      "flops_per_token",
                                      "preemptions",
                                      "preempted_requests",
                                      "recomputed_tokens"};
  for (const char* metric : {"ttft", "itl", "tpot", "e2e"}) {
    for (const char* stat :
         {"count", "mean_s", "p50_s", "p90_s", "p99_s", "max_s"}) {
      columns.push_back(absl::StrCat(metric, "_", stat));
    }
  }
  return columns;
}

std::string FormatLoadCsv(const v1::LoadReport& report) {
  std::string out = CsvRow(LoadCsvColumns());
  std::vector<const v1::LoadEngineResult*> rows;
  for (const v1::LoadEngineResult& e : report.engines()) rows.push_back(&e);
  rows.push_back(&report.total());
  for (const v1::LoadEngineResult* r : rows) {
    std::vector<std::string> buckets;
    for (const v1::RecallBucket& b : r->recall_by_context()) {
      buckets.push_back(absl::StrCat(b.min_context_tokens(), "-",
                                     b.max_context_tokens(), ":", b.hits(), "/",
                                     b.probes()));
    }
    std::vector<std::string> fields = {
        r->engine(),
        r->family(),
        absl::StrCat(r->sent()),
        absl::StrCat(r->succeeded()),
        absl::StrCat(r->failed()),
        JoinMap(r->failed_by_status(), ";", ":"),
        JoinMap(r->finish_reasons(), ";", ":"),
        absl::StrCat(r->prompt_tokens()),
        absl::StrCat(r->output_tokens()),
        CsvNumber(r->requests_per_second()),
        CsvNumber(r->output_tokens_per_second()),
        absl::StrCat(r->good_requests()),
        CsvNumber(r->goodput_requests_per_second()),
        CsvNumber(r->slo_attainment()),
        absl::StrCat(r->probes()),
        absl::StrCat(r->hits()),
        CsvNumber(r->recall()),
        absl::StrJoin(buckets, ";"),
        absl::StrCat(r->peak_state_bytes()),
        CsvNumber(r->mean_state_bytes()),
        CsvNumber(r->flops_per_token()),
        absl::StrCat(r->preemptions()),
        absl::StrCat(r->preempted_requests()),
        absl::StrCat(r->recomputed_tokens())};
    for (const v1::LatencySummary* s :
         {&r->ttft(), &r->itl(), &r->tpot(), &r->e2e()}) {
      fields.push_back(absl::StrCat(s->count()));
      for (double v : {s->mean_seconds(), s->p50_seconds(), s->p90_seconds(),
                       s->p99_seconds(), s->max_seconds()}) {
        fields.push_back(CsvNumber(v));
      }
    }
    out += CsvRow(fields);
  }
  return out;
}

std::string FormatLoadProgress(const LoadProgress& progress,
                               int64_t max_requests, double max_seconds) {
  constexpr int kWidth = 24;
  double fraction = 0;
  if (max_requests > 0) {
    fraction = static_cast<double>(progress.finished) /
               static_cast<double>(max_requests);
  }
  if (max_seconds > 0) {
    fraction = std::max(fraction, progress.elapsed_seconds / max_seconds);
  }
  const int filled =
      static_cast<int>(std::lround(std::clamp(fraction, 0.0, 1.0) * kWidth));
  return absl::StrFormat(
      "[%s%s] %d%s sent  %d done  %d failed  %d in flight  %.1f s",
      std::string(filled, '#'), std::string(kWidth - filled, '.'),
      progress.sent,
      max_requests > 0 ? absl::StrCat("/", max_requests) : std::string(),
      progress.finished, progress.failed, progress.in_flight,
      progress.elapsed_seconds);
}

}  // namespace trilemma::client
