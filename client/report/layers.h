// The sweep's three layers per architecture (docs/trained-vs-circuit.md):
// a trained checkpoint's measured recall capacity, the closed-form
// circuit's (the built-in preset of the same architecture) and the
// information bound of each one's state: a state of B bits holds at most
// B / log2(V) facts, V the engine's vocabulary. Pure functions of a
// SweepReport whose `trained` models (from --trained_manifest) and
// summaries are filled; the table, CSV and chart fragments read `layers`.
//
// Example:
//   for (v1::SweepLayers& l : SweepLayersOf(report))
//     *report.add_layers() = std::move(l);
//   std::cout << FormatLayersTable(report);
//   // capacity@90%: trained / circuit / bound
//   // family  trained         circuit    train N  trained  circuit  bound ...
//   // mamba   mamba_mqar      mamba      16       16       <8       17.3 k ...
#ifndef TRILEMMA_CLIENT_REPORT_LAYERS_H_
#define TRILEMMA_CLIENT_REPORT_LAYERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/report.pb.h"

namespace trilemma::client {

// Model-tier plus external state bytes EngineInfo gives for a context of
// `tokens`: min(cap, fixed + per_token * tokens) (cap when > 0) plus
// external_bytes_per_token * tokens. Before KV block rounding.
int64_t InfoStateBytes(const v1::EngineInfo& info, int64_t tokens);

// The bound at N = `pairs` stored pairs: the state at the context they
// occupy (2N tokens), in bits, over log2 of the engine's vocab.
// REQUIRES: info.shape().vocab() >= 2.
v1::SweepBound StateBound(const v1::EngineInfo& info, int32_t pairs);

// One SweepLayers per report.trained() model whose trained and circuit
// engines are both in report.engines(); each bound is evaluated at the
// largest N measured for its engine. REQUIRES: report.summaries() filled.
std::vector<v1::SweepLayers> SweepLayersOf(const v1::SweepReport& report);

// "64", ">=512" (recall held at every N measured, up to the largest),
// "<8" (missed at the smallest N measured) for an engine's capacity_90.
std::string FormatCapacity(const v1::SweepReport& report,
                           const std::string& engine, int32_t capacity);

// "17.3 k", or "466 k (grows)" when the state grows with context.
std::string FormatBound(const v1::SweepBound& bound);

// The table "capacity@90%: trained / circuit / bound", one line per
// report.layers() entry, and a footer on how the bound is computed; "" when
// there are no layers.
std::string FormatLayersTable(const v1::SweepReport& report);

// layers.csv: a header (LayersCsvColumns) and one line per layers entry.
std::vector<std::string> LayersCsvColumns();
std::string FormatLayersCsv(const v1::SweepReport& report);

// Chart fragments (client/report/charts.h draws them into its charts).
// Under the recall-vs-facts chart: one row per layers entry on a log axis
// of facts, ● trained capacity, ◆ circuit capacity, | bound of the trained
// state (and ¦ of the circuit's). "" when there are no layers.
std::string LayersCapacityStrip(const v1::SweepReport& report, double left,
                                double top, double width);
// Its height in pixels (0 when there are no layers).
double LayersCapacityStripHeight(const v1::SweepReport& report);
// Beside the triangle: the same three numbers per architecture as text,
// from (x, y) down. "" when there are no layers.
std::string LayersTriangleKey(const v1::SweepReport& report, double x,
                              double y);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_REPORT_LAYERS_H_
