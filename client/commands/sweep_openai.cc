#include "client/commands/sweep_openai.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/common/engine_selection.h"
#include "client/common/mqar_workload.h"
#include "client/load/text_workload.h"
#include "client/load/workload.h"
#include "client/report/sweep_analysis.h"

// Defined by `trilemma load` (client/commands/load.cc).
ABSL_DECLARE_FLAG(std::string, api);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(int32_t, vocab);

ABSL_FLAG(std::string, openai_targets, "",
          "sweep: OpenAI-compatible models measured beside the engines, "
          "comma-separated URL=MODEL (e.g. "
          "http://10.0.0.5:8000=meta-llama/Llama-3.2-1B); OPENAI_API_KEY is "
          "sent as the bearer token.");
ABSL_FLAG(std::string, sweep_workload, "mqar",
          "sweep: mqar (token IDs; gRPC engines and servers that take token "
          "prompts), phonebook (--pairs entries) or passkey (--contexts "
          "filler words), the last two as text for OpenAI models.");

namespace trilemma::client {
namespace {

std::string ApiKey() {
  const char* key = std::getenv("OPENAI_API_KEY");
  return key == nullptr ? "" : key;
}

// "HOST:PORT" of a base URL, for the report's engine names.
std::string HostPort(const std::string& base_url) {
  absl::string_view rest = base_url;
  if (!absl::ConsumePrefix(&rest, "https://")) {
    absl::ConsumePrefix(&rest, "http://");
  }
  return std::string{rest};
}

absl::StatusOr<SweepWorkload> ParseSweepWorkload(absl::string_view name) {
  if (name == "mqar") return SweepWorkload::kMqar;
  if (name == "phonebook") return SweepWorkload::kPhonebook;
  if (name == "passkey") return SweepWorkload::kPasskey;
  return absl::InvalidArgumentError(absl::StrCat(
      "--sweep_workload: mqar, phonebook or passkey, got '", name, "'"));
}

// The MQAR cell over completions: the context a Session would hold, one
// completion of one token per query.
std::string MeasureMqar(OpenAiConnection& connection, const std::string& model,
                        int32_t vocab, int32_t pairs, int64_t filler,
                        int32_t queries, uint64_t cell_seed,
                        v1::SweepRow& row) {
  absl::StatusOr<MqarWorkload> workload = MakeMqarWorkload(
      {.vocab = vocab, .pairs = pairs, .queries = queries, .seed = cell_seed});
  if (!workload.ok()) {
    return absl::StrCat("workload: ", workload.status().message());
  }
  // The filler the gRPC sweep appends for the same seed.
  std::vector<int32_t> stored = workload->keys;
  stored.insert(stored.end(), workload->values.begin(), workload->values.end());
  std::mt19937_64 rng(DeriveSeed(cell_seed, 1));
  absl::StatusOr<std::vector<int32_t>> filler_tokens =
      MakeFiller(vocab, stored, filler, rng);
  if (!filler_tokens.ok()) {
    return absl::StrCat("workload: ", filler_tokens.status().message());
  }
  std::vector<int32_t> context = workload->context;
  context.insert(context.end(), filler_tokens->begin(), filler_tokens->end());
  row.set_context_tokens(static_cast<int64_t>(context.size()));
  int32_t asked = 0;
  int32_t hits = 0;
  double flops = 0;
  for (const MqarQuery& query : workload->queries) {
    OpenAiRequest request;
    request.model = model;
    request.max_tokens = 1;
    request.token_prompt = context;
    request.token_prompt.push_back(query.key);
    OpenAiCompletion c = connection.Complete(request, nullptr);
    if (!c.status.ok()) {
      row.set_queries(asked);
      row.set_hits(hits);
      return absl::StrCat("query ", asked, ": ",
                          absl::StatusCodeToString(c.status.code()), ": ",
                          c.status.message());
    }
    if (asked == 0) row.set_state_bytes(c.state_bytes);
    flops += static_cast<double>(c.flops);
    const std::vector<int32_t> answer =
        ParseTokenIdText(c.text).value_or(std::vector<int32_t>{});
    ++asked;
    if (!answer.empty() && answer.front() == query.value) ++hits;
    // What a Session holds next: the query and the answer given.
    context = std::move(request.token_prompt);
    context.insert(context.end(), answer.begin(), answer.end());
  }
  row.set_queries(asked);
  row.set_hits(hits);
  row.set_recall(asked > 0 ? static_cast<double>(hits) / asked : 0);
  if (asked > 0 && flops > 0) row.set_flops_per_token(flops / asked);
  return "";
}

// A text cell: `queries` plans, each one completion scored from its text.
std::string MeasureText(OpenAiConnection& connection, const std::string& model,
                        SweepWorkload workload, int32_t pairs, int64_t filler,
                        int32_t queries, uint64_t cell_seed,
                        v1::SweepRow& row) {
  int32_t asked = 0;
  int32_t hits = 0;
  for (int32_t q = 0; q < queries; ++q) {
    const uint64_t seed = DeriveSeed(cell_seed, static_cast<uint64_t>(q) + 2);
    const double depth =
        queries > 1 ? static_cast<double>(q) / (queries - 1) : 0.5;
    const TextPlan plan = workload == SweepWorkload::kPasskey
                              ? MakePasskeyPlan(filler, depth, seed)
                              : MakePhonebookPlan(pairs, seed);
    OpenAiRequest request;
    request.model = model;
    request.text_prompt = plan.prompt;
    request.max_tokens = plan.max_tokens;
    OpenAiCompletion c = connection.Complete(request, nullptr);
    if (!c.status.ok()) {
      row.set_queries(asked);
      row.set_hits(hits);
      return absl::StrCat("query ", asked, ": ",
                          absl::StatusCodeToString(c.status.code()), ": ",
                          c.status.message());
    }
    row.set_context_tokens(std::max(row.context_tokens(), c.prompt_tokens));
    row.set_state_bytes(std::max(row.state_bytes(), c.peak_state_bytes));
    ++asked;
    if (ScoreTextAnswer(c.text, plan.expected)) ++hits;
  }
  row.set_queries(asked);
  row.set_hits(hits);
  row.set_recall(asked > 0 ? static_cast<double>(hits) / asked : 0);
  return "";
}

}  // namespace

bool SweepUsesOpenAi() {
  return absl::GetFlag(FLAGS_api) == "openai" ||
         !absl::GetFlag(FLAGS_openai_targets).empty() ||
         absl::GetFlag(FLAGS_sweep_workload) != "mqar";
}

absl::StatusOr<OpenAiSweepOptions> OpenAiSweepOptionsFromFlags(
    const std::string& target_flag) {
  OpenAiSweepOptions options;
  absl::StatusOr<SweepWorkload> workload =
      ParseSweepWorkload(absl::GetFlag(FLAGS_sweep_workload));
  if (!workload.ok()) return workload.status();
  options.workload = *workload;
  options.vocab = absl::GetFlag(FLAGS_vocab);
  if (options.vocab < 0) {
    return absl::InvalidArgumentError("--vocab: must be >= 0");
  }
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api != "grpc" && api != "openai") {
    return absl::InvalidArgumentError(
        absl::StrCat("--api: grpc or openai, got '", api, "'"));
  }
  const std::string key = ApiKey();
  if (api == "openai") {
    options.only_openai = true;
    absl::StatusOr<OpenAiTarget> target = ParseOpenAiTarget(target_flag, key);
    if (!target.ok()) return target.status();
    for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_model),
                                                 ',', absl::SkipWhitespace())) {
      options.models.push_back(
          {*target, std::string{absl::StripAsciiWhitespace(name)}});
    }
    if (options.models.empty()) {
      return absl::InvalidArgumentError(
          "--model: name the models to sweep with --api=openai "
          "(comma-separated)");
    }
  } else if (options.workload != SweepWorkload::kMqar &&
             absl::GetFlag(FLAGS_openai_targets).empty()) {
    return absl::InvalidArgumentError(
        "--sweep_workload: text workloads run on OpenAI models only "
        "(--api=openai or --openai_targets)");
  }
  for (absl::string_view entry : absl::StrSplit(
           absl::GetFlag(FLAGS_openai_targets), ',', absl::SkipWhitespace())) {
    // The URL has ':' but no '=': split at the first '='.
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos || eq + 1 == entry.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--openai_targets: expected URL=MODEL, got '", entry, "'"));
    }
    absl::StatusOr<OpenAiTarget> target =
        ParseOpenAiTarget(entry.substr(0, eq), key);
    if (!target.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--openai_targets: '", entry, "': ", target.status().message()));
    }
    options.models.push_back({*target, std::string{entry.substr(eq + 1)}});
  }
  return options;
}

v1::SweepRow MeasureOpenAiSweepCell(OpenAiConnection& connection,
                                    const std::string& model,
                                    const v1::EngineInfo& engine,
                                    SweepWorkload workload, int32_t pairs,
                                    int64_t filler, int32_t repeat,
                                    int32_t queries, uint64_t seed) {
  v1::SweepRow row;
  row.set_engine(engine.name());
  row.set_family(engine.family());
  row.set_pairs(pairs);
  row.set_filler(filler);
  row.set_repeat(repeat);
  const uint64_t cell_seed = SweepCellSeed(seed, pairs, filler, repeat);
  row.set_seed(cell_seed);
  const std::string error =
      workload == SweepWorkload::kMqar
          ? MeasureMqar(connection, model, engine.shape().vocab(), pairs,
                        filler, queries, cell_seed, row)
          : MeasureText(connection, model, workload, pairs, filler, queries,
                        cell_seed, row);
  if (!error.empty()) row.set_error(error);
  return row;
}

absl::StatusOr<v1::SweepReport> RunOpenAiSweep(
    v1::Trilemma::StubInterface* stub, const std::string& target,
    const SweepOptions& options, const OpenAiSweepOptions& openai,
    const SweepProgress& progress) {
  // Every engine of the report: gRPC ones first, then each OpenAI model
  // (model_index >= 0) named MODEL@HOST:PORT.
  std::vector<v1::EngineInfo> engines;
  std::vector<int> model_index;
  if (!openai.only_openai) {
    absl::StatusOr<std::vector<v1::EngineInfo>> listed =
        ListSelectedEngines(*stub, target, options.engines);
    if (!listed.ok()) return listed.status();
    for (v1::EngineInfo& info : *listed) {
      engines.push_back(std::move(info));
      model_index.push_back(-1);
    }
  }
  for (size_t m = 0; m < openai.models.size(); ++m) {
    const OpenAiSweepModel& model = openai.models[m];
    OpenAiConnection connection(model.target);
    absl::StatusOr<std::vector<v1::EngineInfo>> listed =
        connection.Models({model.model}, openai.vocab);
    if (!listed.ok()) return listed.status();
    v1::EngineInfo info = listed->front();
    info.set_name(
        absl::StrCat(model.model, "@", HostPort(model.target.base_url)));
    if (openai.workload == SweepWorkload::kMqar && info.shape().vocab() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("--vocab: ", model.target.base_url,
                       " does not say the vocabulary "
                       "of '",
                       model.model, "'; give --vocab for MQAR"));
    }
    engines.push_back(std::move(info));
    model_index.push_back(static_cast<int>(m));
  }

  // The grid: text workloads use one axis each (see the header).
  std::vector<int32_t> pairs = options.pairs;
  std::vector<int64_t> contexts = options.contexts;
  if (openai.workload == SweepWorkload::kPasskey) pairs = {1};
  if (openai.workload == SweepWorkload::kPhonebook) contexts = {0};
  struct Cell {
    size_t engine;
    int32_t pairs;
    int64_t filler;
    int32_t repeat;
  };
  std::vector<Cell> cells;
  for (size_t e = 0; e < engines.size(); ++e) {
    for (int32_t p : pairs) {
      for (int64_t filler : contexts) {
        for (int32_t r = 0; r < options.repeats; ++r) {
          cells.push_back({e, p, filler, r});
        }
      }
    }
  }
  std::vector<v1::SweepRow> rows(cells.size());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> done{0};
  const int64_t total = static_cast<int64_t>(cells.size());
  auto work = [&] {
    // One keep-alive connection per worker and server.
    std::vector<std::unique_ptr<OpenAiConnection>> connections(
        openai.models.size());
    for (size_t i = next++; i < cells.size(); i = next++) {
      const Cell& c = cells[i];
      const v1::EngineInfo& engine = engines[c.engine];
      const int m = model_index[c.engine];
      if (m < 0 && openai.workload != SweepWorkload::kMqar) {
        rows[i].set_engine(engine.name());
        rows[i].set_family(engine.family());
        rows[i].set_pairs(c.pairs);
        rows[i].set_filler(c.filler);
        rows[i].set_repeat(c.repeat);
        rows[i].set_error(
            "text workloads need a tokenizer: run over --api=openai");
      } else if (m < 0) {
        rows[i] = MeasureSweepCell(*stub, engine, c.pairs, c.filler, c.repeat,
                                   options.queries, options.seed);
      } else {
        auto& connection = connections[static_cast<size_t>(m)];
        if (connection == nullptr) {
          connection =
              std::make_unique<OpenAiConnection>(openai.models[m].target);
        }
        rows[i] = MeasureOpenAiSweepCell(
            *connection, openai.models[m].model, engine, openai.workload,
            c.pairs, c.filler, c.repeat, options.queries, options.seed);
      }
      const int64_t finished = ++done;
      if (progress) progress(finished, total);
    }
  };
  std::vector<std::thread> workers;
  const size_t threads =
      std::min<size_t>(static_cast<size_t>(options.parallel), cells.size());
  for (size_t t = 0; t < threads; ++t) workers.emplace_back(work);
  for (std::thread& worker : workers) worker.join();

  v1::SweepReport report;
  report.set_target(target);
  report.set_seed(options.seed);
  for (int32_t p : pairs) report.add_pairs(p);
  for (int64_t c : contexts) report.add_contexts(c);
  report.set_repeats(options.repeats);
  report.set_queries(options.queries);
  for (const v1::EngineInfo& info : engines) *report.add_engines() = info;
  for (v1::SweepRow& row : rows) *report.add_rows() = std::move(row);
  for (v1::SweepEngineSummary& s : SummarizeSweep(report)) {
    *report.add_summaries() = std::move(s);
  }
  return report;
}

}  // namespace trilemma::client
