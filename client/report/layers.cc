#include "client/report/layers.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/common/table_printer.h"
#include "client/report/csv.h"
#include "client/report/sweep_analysis.h"

namespace trilemma::client {
namespace {

const v1::EngineInfo* InfoOf(const v1::SweepReport& report,
                             const std::string& engine) {
  for (const v1::EngineInfo& info : report.engines()) {
    if (info.name() == engine) return &info;
  }
  return nullptr;
}

const v1::SweepEngineSummary* SummaryOf(const v1::SweepReport& report,
                                        const std::string& engine) {
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    if (s.engine() == engine) return &s;
  }
  return nullptr;
}

// The smallest and largest N measured for `engine` (rows without error),
// or {0, 0} when there is none.
std::pair<int32_t, int32_t> PairsRange(const v1::SweepReport& report,
                                       const std::string& engine) {
  int32_t lo = 0, hi = 0;
  for (const v1::SweepRow& row : report.rows()) {
    if (row.engine() != engine || !row.error().empty()) continue;
    lo = lo == 0 ? row.pairs() : std::min(lo, row.pairs());
    hi = std::max(hi, row.pairs());
  }
  return {lo, hi};
}

int64_t MinFiller(const v1::SweepReport& report) {
  if (report.contexts().empty()) return 0;
  return *std::min_element(report.contexts().begin(), report.contexts().end());
}

// Mean recall at exactly N = `pairs` (smallest filler); -1 when unmeasured.
double RecallAt(const v1::SweepReport& report, const std::string& engine,
                int32_t pairs) {
  for (const auto& [n, recall] :
       RecallByPairs(report, engine, MinFiller(report))) {
    if (static_cast<int32_t>(n) == pairs) return recall;
  }
  return -1;
}

std::string RecallText(double recall) {
  return recall < 0 ? "-" : absl::StrFormat("%.3f", recall);
}

}  // namespace

int64_t InfoStateBytes(const v1::EngineInfo& info, int64_t tokens) {
  int64_t model =
      info.state_bytes_fixed() + info.state_bytes_per_token() * tokens;
  if (info.state_bytes_cap() > 0) {
    model = std::min(model, info.state_bytes_cap());
  }
  return model + info.external_bytes_per_token() * tokens;
}

v1::SweepBound StateBound(const v1::EngineInfo& info, int32_t pairs) {
  v1::SweepBound bound;
  const int64_t tokens = 2 * static_cast<int64_t>(pairs);
  bound.set_pairs(pairs);
  bound.set_context_tokens(tokens);
  bound.set_vocab(info.shape().vocab());
  bound.set_state_bits(8 * InfoStateBytes(info, tokens));
  bound.set_facts(static_cast<double>(bound.state_bits()) /
                  std::log2(static_cast<double>(std::max(2, bound.vocab()))));
  // One more token adds state: the bound still moves with N.
  bound.set_grows(InfoStateBytes(info, tokens + 1) >
                  InfoStateBytes(info, tokens));
  return bound;
}

std::vector<v1::SweepLayers> SweepLayersOf(const v1::SweepReport& report) {
  std::vector<v1::SweepLayers> layers;
  for (const v1::ManifestModel& model : report.trained()) {
    const v1::EngineInfo* trained = InfoOf(report, model.name());
    const v1::EngineInfo* circuit = InfoOf(report, model.circuit());
    if (trained == nullptr || circuit == nullptr) continue;
    v1::SweepLayers l;
    // The architecture: the circuit's family (a checkpoint's own family
    // names its file layout, e.g. llama for attention and sliding window).
    l.set_family(circuit->family());
    l.set_trained_engine(model.name());
    l.set_circuit_engine(model.circuit());
    l.set_train_pairs(model.train_pairs());
    l.set_val_accuracy(model.val_accuracy());
    l.set_train_seconds(model.train_seconds());
    if (const v1::SweepEngineSummary* s = SummaryOf(report, model.name())) {
      l.set_trained_capacity_90(s->capacity_90());
    }
    if (const v1::SweepEngineSummary* s = SummaryOf(report, model.circuit())) {
      l.set_circuit_capacity_90(s->capacity_90());
    }
    l.set_trained_recall_at_train_pairs(
        RecallAt(report, model.name(), model.train_pairs()));
    l.set_circuit_recall_at_train_pairs(
        RecallAt(report, model.circuit(), model.train_pairs()));
    const int32_t trained_n = PairsRange(report, model.name()).second;
    const int32_t circuit_n = PairsRange(report, model.circuit()).second;
    *l.mutable_trained_bound() =
        StateBound(*trained, trained_n > 0 ? trained_n : model.train_pairs());
    *l.mutable_circuit_bound() =
        StateBound(*circuit, circuit_n > 0 ? circuit_n : model.train_pairs());
    layers.push_back(std::move(l));
  }
  return layers;
}

std::string FormatCapacity(const v1::SweepReport& report,
                           const std::string& engine, int32_t capacity) {
  const auto [lo, hi] = PairsRange(report, engine);
  if (capacity <= 0) return lo > 0 ? absl::StrCat("<", lo) : "-";
  if (capacity >= hi) return absl::StrCat(">=", capacity);
  return absl::StrCat(capacity);
}

std::string FormatBound(const v1::SweepBound& bound) {
  return absl::StrCat(FormatCount(bound.facts()),
                      bound.grows() ? " (grows)" : "");
}

std::string FormatLayersTable(const v1::SweepReport& report) {
  if (report.layers().empty()) return "";
  using C = TablePrinter;
  TablePrinter table({{"family"},
                      {"trained"},
                      {"circuit"},
                      {"train N", C::kRight},
                      {"recall there", C::kRight},
                      {"trained N@90%", C::kRight},
                      {"circuit N@90%", C::kRight},
                      {"bound (trained state)", C::kRight},
                      {"bound (circuit state)", C::kRight}});
  for (const v1::SweepLayers& l : report.layers()) {
    table.AddRow(
        {l.family(), l.trained_engine(), l.circuit_engine(),
         absl::StrCat(l.train_pairs()),
         RecallText(l.trained_recall_at_train_pairs()),
         FormatCapacity(report, l.trained_engine(), l.trained_capacity_90()),
         FormatCapacity(report, l.circuit_engine(), l.circuit_capacity_90()),
         FormatBound(l.trained_bound()), FormatBound(l.circuit_bound())});
  }
  return absl::StrCat(
      "capacity@90%: trained / circuit / bound\n", table.ToString(),
      "N@90%: facts stored up to which recall stays >= 0.9 (smallest "
      "filler); recall there: the trained model's at its train N\n"
      "bound: state bits / log2 V (the most facts the state could hold), "
      "state from EngineInfo at the 2N tokens the largest N measured "
      "occupies; (grows): the state grows with context, so does the bound\n");
}

std::vector<std::string> LayersCsvColumns() {
  return {"family",
          "trained_engine",
          "circuit_engine",
          "train_pairs",
          "val_accuracy",
          "train_seconds",
          "trained_recall_at_train_pairs",
          "circuit_recall_at_train_pairs",
          "trained_capacity_90",
          "circuit_capacity_90",
          "trained_bound_facts",
          "trained_bound_state_bits",
          "trained_bound_pairs",
          "trained_bound_vocab",
          "trained_bound_grows",
          "circuit_bound_facts",
          "circuit_bound_state_bits",
          "circuit_bound_pairs",
          "circuit_bound_vocab",
          "circuit_bound_grows"};
}

std::string FormatLayersCsv(const v1::SweepReport& report) {
  std::string out = CsvRow(LayersCsvColumns());
  auto bound = [](const v1::SweepBound& b) {
    return std::vector<std::string>{
        CsvNumber(b.facts()), absl::StrCat(b.state_bits()),
        absl::StrCat(b.pairs()), absl::StrCat(b.vocab()),
        b.grows() ? "true" : "false"};
  };
  for (const v1::SweepLayers& l : report.layers()) {
    std::vector<std::string> fields = {
        l.family(),
        l.trained_engine(),
        l.circuit_engine(),
        absl::StrCat(l.train_pairs()),
        CsvNumber(l.val_accuracy()),
        CsvNumber(l.train_seconds()),
        CsvNumber(l.trained_recall_at_train_pairs()),
        CsvNumber(l.circuit_recall_at_train_pairs()),
        absl::StrCat(l.trained_capacity_90()),
        absl::StrCat(l.circuit_capacity_90())};
    for (const std::vector<std::string>& b :
         {bound(l.trained_bound()), bound(l.circuit_bound())}) {
      fields.insert(fields.end(), b.begin(), b.end());
    }
    out += CsvRow(fields);
  }
  return out;
}

}  // namespace trilemma::client
