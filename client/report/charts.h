// The four charts of a sweep report, as standalone SVG documents:
//   1. recall vs facts stored (log x), one line per engine, the 90% line
//      and each engine's capacity marked;
//   2. state bytes vs context length (log-log);
//   3. FLOPs per token and measured ms per step vs context length (two
//      log-log panels);
//   4. the triangle: engines placed by compute growth exponent (x) and
//      state growth exponent (y), coloured by recall capacity, families
//      with several knob settings joined as trajectories.
// With trained models (report.layers(), client/report/layers.h), chart 1
// draws each trained engine dashed in its circuit's colour and a strip of
// trained / circuit / bound capacities per architecture; chart 4 joins each
// trained engine to its circuit and lists the three numbers.
//
// Example:
//   for (const SweepChart& chart : RenderSweepCharts(report))
//     WriteFile(dir + "/" + chart.file, chart.svg);
//
// REQUIRES: report.summaries() filled (SummarizeSweep). Engines keep one
// colour (SeriesColor of their index in report.engines(), a trained
// engine its circuit's) in charts 1-3.
#ifndef TRILEMMA_CLIENT_REPORT_CHARTS_H_
#define TRILEMMA_CLIENT_REPORT_CHARTS_H_

#include <string>
#include <vector>

#include "trilemma/v1/report.pb.h"

namespace trilemma::client {

struct SweepChart {
  // File name in the report directory, e.g. "recall_vs_facts.svg".
  std::string file;
  // The <svg> element's id, e.g. "recall-vs-facts".
  std::string id;
  std::string title;
  // One or two sentences on how to read the chart.
  std::string caption;
  std::string svg;
};

std::string RecallVsFactsChart(const v1::SweepReport& report);
std::string StateVsContextChart(const v1::SweepReport& report);
std::string CostVsContextChart(const v1::SweepReport& report);
std::string TriangleChart(const v1::SweepReport& report);

// The four charts in order, with file names, ids, titles and captions.
std::vector<SweepChart> RenderSweepCharts(const v1::SweepReport& report);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_REPORT_CHARTS_H_
