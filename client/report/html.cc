#include "client/report/html.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/common/json_output.h"
#include "client/common/table_printer.h"
#include "client/report/layers.h"
#include "client/report/svg.h"
#include "client/report/sweep_analysis.h"

namespace trilemma::client {
namespace {

constexpr char kStyle[] = R"css(
body { font-family: sans-serif; margin: 24px auto; max-width: 1200px;
       color: #222; line-height: 1.4; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 13px; }
figure { margin: 12px 0; overflow-x: auto; }
figcaption { color: #444; font-size: 13px; max-width: 900px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; }
td.l, th.l { text-align: left; }
tr.error td { color: #b00; }
.note { font-size: 13px; color: #444; max-width: 900px; }
)css";

std::string Cell(absl::string_view text, bool left = false) {
  return absl::StrCat(left ? "<td class=\"l\">" : "<td>", XmlEscape(text),
                      "</td>");
}

std::string HeaderRow(const std::vector<std::string>& headers,
                      int left_columns) {
  std::string row = "<tr>";
  for (size_t i = 0; i < headers.size(); ++i) {
    absl::StrAppend(
        &row, static_cast<int>(i) < left_columns ? "<th class=\"l\">" : "<th>",
        XmlEscape(headers[i]), "</th>");
  }
  return absl::StrCat(row, "</tr>\n");
}

std::string SummaryTable(const v1::SweepReport& report) {
  std::string out = absl::StrCat(
      "<table id=\"summary\">\n",
      HeaderRow({"engine", "family", "claims", "measured", "N@90%",
                 "recall at max N", "state exponent", "compute exponent",
                 "max context", "state there", "FLOPs/token there"},
                4));
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    absl::StrAppend(
        &out, "<tr>", Cell(s.engine(), true), Cell(s.family(), true),
        Cell(FormatCorners(s.claimed()), true),
        Cell(FormatCorners(s.measured()), true),
        Cell(s.capacity_90() > 0 ? absl::StrCat(s.capacity_90()) : "< min"),
        Cell(absl::StrFormat("%.3f", s.recall_at_max_pairs())),
        Cell(absl::StrFormat("%.2f", s.state_exponent())),
        Cell(absl::StrFormat("%.2f", s.compute_exponent())),
        Cell(absl::StrCat(s.max_context_tokens())),
        Cell(FormatBytes(s.state_bytes_at_max_context())),
        Cell(FormatCount(s.flops_per_token_at_max_context())), "</tr>\n");
  }
  return absl::StrCat(out, "</table>\n");
}

// The three layers per architecture (client/report/layers.h); "" without
// trained models.
std::string LayersSection(const v1::SweepReport& report) {
  if (report.layers().empty()) return "";
  std::string out = absl::StrCat(
      "<h2>Trained / circuit / bound</h2>\n<p class=\"note\">"
      "capacity@90%: trained / circuit / bound. For each architecture: a "
      "checkpoint trained on MQAR, the built-in preset whose closed-form "
      "weights recall through the same mechanism, and the information "
      "bound — the state's bits (EngineInfo, at the context the largest N "
      "measured occupies) over log<sub>2</sub> V, the most facts a state of "
      "that size could hold. Both capacities are measured by the server's "
      "recall probes; <i>grows</i> marks a state that grows with context "
      "(its bound grows with N).</p>\n<table id=\"layers\">\n",
      HeaderRow(
          {"family", "trained", "circuit", "train N",
           "trained recall at train N", "trained N@90%", "circuit N@90%",
           "bound (trained state)", "bound (circuit state)", "training s"},
          3));
  for (const v1::SweepLayers& l : report.layers()) {
    absl::StrAppend(
        &out, "<tr>", Cell(l.family(), true), Cell(l.trained_engine(), true),
        Cell(l.circuit_engine(), true), Cell(absl::StrCat(l.train_pairs())),
        Cell(l.trained_recall_at_train_pairs() < 0
                 ? "-"
                 : absl::StrFormat("%.3f", l.trained_recall_at_train_pairs())),
        Cell(FormatCapacity(report, l.trained_engine(),
                            l.trained_capacity_90())),
        Cell(FormatCapacity(report, l.circuit_engine(),
                            l.circuit_capacity_90())),
        Cell(FormatBound(l.trained_bound())),
        Cell(FormatBound(l.circuit_bound())),
        Cell(absl::StrFormat("%.0f", l.train_seconds())), "</tr>\n");
  }
  return absl::StrCat(out,
                      "</table>\n<p class=\"meta\">The same numbers: "
                      "<a href=\"layers.csv\">layers.csv</a> and "
                      "sweep.json (<code>layers</code>).</p>\n");
}

std::string EnginesTable(const v1::SweepReport& report) {
  std::string out =
      absl::StrCat("<table id=\"engines\">\n",
                   HeaderRow({"engine", "family", "claims", "knobs",
                              "description", "state", "FLOPs"},
                             7));
  for (const v1::EngineInfo& e : report.engines()) {
    std::vector<std::string> knobs;
    std::map<std::string, std::string> sorted(e.knobs().begin(),
                                              e.knobs().end());
    for (const auto& [k, v] : sorted) knobs.push_back(absl::StrCat(k, "=", v));
    absl::StrAppend(&out, "<tr>", Cell(e.name(), true), Cell(e.family(), true),
                    Cell(FormatCorners(e.corners()), true),
                    Cell(absl::StrJoin(knobs, " "), true),
                    Cell(e.description(), true), Cell(e.state_formula(), true),
                    Cell(e.flops_formula(), true), "</tr>\n");
  }
  return absl::StrCat(out, "</table>\n");
}

std::string RowsTable(const v1::SweepReport& report) {
  std::string out = absl::StrCat(
      "<table id=\"rows\">\n",
      HeaderRow({"engine", "N", "filler", "repeat", "recall", "hits", "context",
                 "state", "external", "FLOPs/token", "ms/step", "error"},
                1));
  for (const v1::SweepRow& r : report.rows()) {
    absl::StrAppend(&out, r.error().empty() ? "<tr>" : "<tr class=\"error\">",
                    Cell(r.engine(), true), Cell(absl::StrCat(r.pairs())),
                    Cell(absl::StrCat(r.filler())),
                    Cell(absl::StrCat(r.repeat())),
                    Cell(absl::StrFormat("%.3f", r.recall())),
                    Cell(absl::StrCat(r.hits(), "/", r.queries())),
                    Cell(absl::StrCat(r.context_tokens())),
                    Cell(FormatBytes(r.state_bytes())),
                    Cell(FormatBytes(r.external_state_bytes())),
                    Cell(FormatCount(r.flops_per_token())),
                    Cell(absl::StrFormat("%.3f", r.ms_per_step())),
                    Cell(r.error(), true), "</tr>\n");
  }
  return absl::StrCat(out, "</table>\n");
}

absl::Status WriteFile(const std::filesystem::path& path,
                       const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    return absl::PermissionDeniedError(
        absl::StrCat("--out: cannot write '", path.string(), "'"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string BuildSweepHtml(const v1::SweepReport& report,
                           const std::vector<SweepChart>& charts) {
  std::vector<std::string> pairs, contexts;
  for (int32_t p : report.pairs()) pairs.push_back(absl::StrCat(p));
  for (int64_t c : report.contexts()) contexts.push_back(absl::StrCat(c));
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>Trilemma sweep report</title>\n<style>",
      kStyle, "</style>\n</head>\n<body>\n",
      "<h1>The impossibility triangle, measured</h1>\n<p class=\"meta\">",
      XmlEscape(absl::StrCat(
          "target ", report.target(), " · ", report.engines_size(),
          " engines · N = ", absl::StrJoin(pairs, ", "),
          " · filler = ", absl::StrJoin(contexts, ", "), " tokens · ",
          report.queries(), " queries per cell · ", report.repeats(),
          " repeat(s) · seed ", report.seed(), " · ",
          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::Now(),
                           absl::UTCTimeZone()))),
      "</p>\n<p class=\"note\">Efficient: per-step compute independent of "
      "the context length n. Compact: state independent of n. Recall: the "
      "facts an engine can recall grow with n. Each cell stores N MQAR "
      "key-value pairs in a Session, appends the filler, then asks the "
      "queries; the server scores every answer and reports state and "
      "FLOPs. <b>claims</b> are the corners an engine declares, "
      "<b>measured</b> those its numbers show.</p>\n",
      "<h2>Summary</h2>\n", SummaryTable(report), LayersSection(report));
  for (const SweepChart& chart : charts) {
    absl::StrAppend(&html, "<h2>", XmlEscape(chart.title), "</h2>\n<figure>\n",
                    chart.svg, "<figcaption>", XmlEscape(chart.caption),
                    " <a href=\"", XmlEscape(chart.file), "\">",
                    XmlEscape(chart.file), "</a></figcaption>\n</figure>\n");
  }
  absl::StrAppend(
      &html, "<h2>5. The numbers</h2>\n<h3>Engines</h3>\n",
      EnginesTable(report), "<h3>Every cell</h3>\n", RowsTable(report),
      "<p class=\"meta\">The same rows: <a href=\"sweep.csv\">sweep.csv</a>, "
      "<a href=\"sweep.json\">sweep.json</a>.</p>\n</body>\n</html>\n");
  return html;
}

absl::StatusOr<std::string> WriteSweepReport(const v1::SweepReport& report,
                                             const std::string& dir) {
  const std::filesystem::path root(dir);
  std::error_code error;
  std::filesystem::create_directories(root, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(
        "--out: cannot create directory '", dir, "': ", error.message()));
  }
  const std::vector<SweepChart> charts = RenderSweepCharts(report);
  for (const SweepChart& chart : charts) {
    if (absl::Status s = WriteFile(root / chart.file, chart.svg); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = WriteFile(root / "sweep.csv", FormatSweepCsv(report));
      !s.ok()) {
    return s;
  }
  if (!report.layers().empty()) {
    if (absl::Status s =
            WriteFile(root / "layers.csv", FormatLayersCsv(report));
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::string> json = ToJson(report);
  if (!json.ok()) return json.status();
  if (absl::Status s = WriteFile(root / "sweep.json", *json); !s.ok()) return s;
  const std::filesystem::path html = root / "report.html";
  if (absl::Status s = WriteFile(html, BuildSweepHtml(report, charts));
      !s.ok()) {
    return s;
  }
  return std::filesystem::absolute(html).string();
}

}  // namespace trilemma::client
