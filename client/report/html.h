// The sweep report directory: report.html (self-contained: the charts are
// inlined SVG, the style an inline <style>; no script, font or other file is
// loaded, so it opens offline), one .svg file per chart, sweep.csv,
// sweep.json (protobuf JSON of the SweepReport) and, with trained models,
// layers.csv (client/report/layers.h).
//
// Example:
//   absl::StatusOr<std::string> html = WriteSweepReport(report, "/tmp/r");
//   // *html == "/tmp/r/report.html"
#ifndef TRILEMMA_CLIENT_REPORT_HTML_H_
#define TRILEMMA_CLIENT_REPORT_HTML_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/report/charts.h"
#include "trilemma/v1/report.pb.h"

namespace trilemma::client {

// The HTML page: run settings, the summary table, each chart inlined with
// its caption and a link to its .svg file, the engines, and a table with
// every row's numbers. REQUIRES: report.summaries() filled.
std::string BuildSweepHtml(const v1::SweepReport& report,
                           const std::vector<SweepChart>& charts);

// Creates `dir` (and parents) if needed and writes every file; returns the
// path of report.html. PERMISSION_DENIED or INTERNAL naming the file on a
// write failure. REQUIRES: report.summaries() filled.
absl::StatusOr<std::string> WriteSweepReport(const v1::SweepReport& report,
                                             const std::string& dir);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_REPORT_HTML_H_
