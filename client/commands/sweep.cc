#include "client/commands/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/commands/sweep_openai.h"
#include "client/common/channel.h"
#include "client/common/engine_selection.h"
#include "client/common/flag_parsing.h"
#include "client/common/mqar_session.h"
#include "client/common/mqar_workload.h"
#include "client/common/session_stream.h"
#include "client/common/shared_flags.h"
#include "client/load/workload.h"
#include "client/report/html.h"
#include "client/report/layers.h"
#include "client/report/sweep_analysis.h"
#include "common/checkpoint_manifest.h"

// --engines, --pairs, --queries, --seed, --format, --out, --rate and
// --duration are shared flags (client/common/shared_flags.h).

ABSL_FLAG(std::string, contexts, "0,1024,4096",
          "sweep: filler lengths (tokens between the stored pairs and the "
          "queries), comma-separated.");
ABSL_FLAG(int32_t, repeats, 1,
          "sweep: repetitions of every cell, each with its own seed.");
ABSL_FLAG(std::string, trained_manifest, "",
          "sweep: a checkpoint manifest (JSON; the file the server's "
          "--checkpoint_manifest hosts): compare each trained model with its "
          "circuit and the state's information bound "
          "(docs/trained-vs-circuit.md).");
ABSL_FLAG(int32_t, parallel, 2,
          "sweep: cells measured at once (each one session); 1 gives the "
          "cleanest ms/step.");

namespace trilemma::client {
namespace {

constexpr int64_t kMaxFiller = 1 << 22;

// Appends `tokens` and records the state after; an error text naming
// `what` unless the append completed.
std::string AppendAll(SessionStream& session,
                      const std::vector<int32_t>& tokens, v1::SweepRow& row,
                      absl::string_view what) {
  std::optional<v1::Summary> stored;
  const std::string error = AppendTokens(session, tokens, &stored);
  if (stored.has_value()) {
    row.set_context_tokens(stored->context_tokens());
    row.set_state_bytes(stored->state_bytes());
    row.set_external_state_bytes(stored->external_state_bytes());
  }
  return error.empty() ? "" : absl::StrCat("append ", what, ": ", error);
}

}  // namespace

absl::StatusOr<SweepOptions> SweepOptionsFromFlags() {
  SweepOptions options;
  absl::StatusOr<std::vector<std::string>> engines = EnginesFlag();
  if (!engines.ok()) return engines.status();
  options.engines = *std::move(engines);
  // --pairs is shared with `recall`; at its default the sweep uses its own
  // finer grid.
  if (!PairsFlagIsDefault()) {
    absl::StatusOr<std::vector<int64_t>> pairs = PairsFlag();
    if (!pairs.ok()) return pairs.status();
    options.pairs.assign(pairs->begin(), pairs->end());
  }
  absl::StatusOr<std::vector<int64_t>> contexts =
      ParseIntList("--contexts", absl::GetFlag(FLAGS_contexts), 0, kMaxFiller);
  if (!contexts.ok()) return contexts.status();
  options.contexts = *std::move(contexts);
  options.repeats = absl::GetFlag(FLAGS_repeats);
  if (options.repeats < 1 || options.repeats > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--repeats: ", options.repeats, " not in [1, 1000]"));
  }
  absl::StatusOr<int32_t> queries = QueriesFlag();
  if (!queries.ok()) return queries.status();
  options.queries = *queries;
  options.parallel = absl::GetFlag(FLAGS_parallel);
  if (options.parallel < 1 || options.parallel > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("--parallel: ", options.parallel, " not in [1, 64]"));
  }
  options.seed = WorkloadSeedFlag();
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) options.out_dir = out;
  const std::string manifest_path = absl::GetFlag(FLAGS_trained_manifest);
  if (!manifest_path.empty()) {
    absl::StatusOr<v1::CheckpointManifest> manifest =
        ReadCheckpointManifest(manifest_path);
    if (!manifest.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--trained_manifest: ", manifest.status().message()));
    }
    options.trained.assign(manifest->models().begin(),
                           manifest->models().end());
  }
  return options;
}

std::vector<int32_t> SweepPairsFor(const SweepOptions& options,
                                   const v1::EngineInfo& engine) {
  std::set<int32_t> pairs(options.pairs.begin(), options.pairs.end());
  for (const v1::ManifestModel& model : options.trained) {
    if (model.name() == engine.name() || model.circuit() == engine.name()) {
      pairs.insert(model.train_pairs());
    }
  }
  std::vector<int32_t> held;
  for (int32_t p : pairs) {
    if (p <= engine.shape().vocab() / 2) held.push_back(p);
  }
  return held;
}

uint64_t SweepCellSeed(uint64_t seed, int32_t pairs, int64_t filler,
                       int32_t repeat) {
  return DeriveSeed(DeriveSeed(DeriveSeed(seed, static_cast<uint64_t>(pairs)),
                               static_cast<uint64_t>(filler)),
                    static_cast<uint64_t>(repeat));
}

v1::SweepRow MeasureSweepCell(v1::Trilemma::StubInterface& stub,
                              const v1::EngineInfo& engine, int32_t pairs,
                              int64_t filler, int32_t repeat, int32_t queries,
                              uint64_t seed) {
  v1::SweepRow row;
  row.set_engine(engine.name());
  row.set_family(engine.family());
  row.set_pairs(pairs);
  row.set_filler(filler);
  row.set_repeat(repeat);
  const uint64_t cell_seed = SweepCellSeed(seed, pairs, filler, repeat);
  row.set_seed(cell_seed);
  auto fail = [&row](absl::string_view why) {
    row.set_error(std::string{why});
    return row;
  };

  const int32_t vocab = engine.shape().vocab();
  absl::StatusOr<MqarWorkload> workload = MakeMqarWorkload(
      {.vocab = vocab, .pairs = pairs, .queries = queries, .seed = cell_seed});
  if (!workload.ok()) {
    return fail(absl::StrCat("workload: ", StatusText(workload.status())));
  }
  std::vector<int32_t> stored = workload->keys;
  stored.insert(stored.end(), workload->values.begin(), workload->values.end());
  std::mt19937_64 rng(DeriveSeed(cell_seed, 1));
  absl::StatusOr<std::vector<int32_t>> filler_tokens =
      MakeFiller(vocab, stored, filler, rng);
  if (!filler_tokens.ok()) {
    return fail(absl::StrCat("workload: ", StatusText(filler_tokens.status())));
  }

  v1::OpenSession open;
  open.set_engine(engine.name());
  absl::StatusOr<std::unique_ptr<SessionStream>> session =
      SessionStream::Open(stub, open);
  if (!session.ok()) {
    return fail(absl::StrCat("open: ", StatusText(session.status())));
  }
  if (std::string why = AppendAll(**session, workload->context, row, "pairs");
      !why.empty()) {
    return fail(why);
  }
  if (filler > 0) {
    if (std::string why = AppendAll(**session, *filler_tokens, row, "filler");
        !why.empty()) {
      return fail(why);
    }
  }

  MqarQueryStats stats;
  const std::string stopped =
      AskMqarQueries(**session, *workload, /*extra_distance=*/filler, stats);
  SetQueryStats(stats, &row);
  if (!stopped.empty()) return fail(stopped);
  absl::StatusOr<v1::SessionClosed> closed = (*session)->Close();
  if (!closed.ok()) {
    return fail(absl::StrCat("close: ", StatusText(closed.status())));
  }
  return row;
}

absl::StatusOr<v1::SweepReport> RunSweep(v1::Trilemma::StubInterface& stub,
                                         const std::string& target,
                                         const SweepOptions& options,
                                         const SweepProgress& progress) {
  absl::StatusOr<v1::ListEnginesResponse> hosted = ListEngines(stub, target);
  if (!hosted.ok()) return hosted.status();
  std::vector<std::string> names = options.engines;
  for (int i = 0; i < static_cast<int>(options.trained.size()); ++i) {
    const v1::ManifestModel& model = options.trained[i];
    for (const auto& [field, name] :
         {std::pair<const char*, const std::string&>{"name", model.name()},
          {"circuit", model.circuit()}}) {
      const bool served = std::any_of(
          hosted->engines().begin(), hosted->engines().end(),
          [&](const v1::EngineInfo& e) { return e.name() == name; });
      if (!served) {
        return absl::FailedPreconditionError(absl::StrCat(
            "--trained_manifest: models[", i, "].", field, ": the server at ",
            target, " hosts no engine '", name,
            "' (start trilemma-server with --checkpoint_manifest=<the same "
            "file>)"));
      }
      if (!names.empty() &&
          std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
      }
    }
  }
  absl::StatusOr<std::vector<v1::EngineInfo>> engines =
      SelectEngines(*hosted, names);
  if (!engines.ok()) return engines.status();

  struct Cell {
    size_t engine;
    int32_t pairs;
    int64_t filler;
    int32_t repeat;
  };
  std::vector<Cell> cells;
  int32_t skipped = 0;
  const int64_t per_engine =
      static_cast<int64_t>(options.contexts.size()) * options.repeats;
  for (size_t e = 0; e < engines->size(); ++e) {
    const std::vector<int32_t> held = SweepPairsFor(options, (*engines)[e]);
    for (int32_t pairs : options.pairs) {
      if (std::find(held.begin(), held.end(), pairs) == held.end()) {
        skipped += static_cast<int32_t>(per_engine);
      }
    }
    const int32_t half = (*engines)[e].shape().vocab() / 2;
    for (int32_t pairs : held) {
      for (int64_t filler : options.contexts) {
        // Every token is a key or a value: no filler can be drawn.
        if (filler > 0 && pairs == half) {
          skipped += options.repeats;
          continue;
        }
        for (int32_t r = 0; r < options.repeats; ++r) {
          cells.push_back({e, pairs, filler, r});
        }
      }
    }
  }
  std::vector<v1::SweepRow> rows(cells.size());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> done{0};
  const int64_t total = static_cast<int64_t>(cells.size());
  auto work = [&] {
    for (size_t i = next++; i < cells.size(); i = next++) {
      const Cell& c = cells[i];
      rows[i] = MeasureSweepCell(stub, (*engines)[c.engine], c.pairs, c.filler,
                                 c.repeat, options.queries, options.seed);
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
  for (int32_t p : options.pairs) report.add_pairs(p);
  for (int64_t c : options.contexts) report.add_contexts(c);
  report.set_repeats(options.repeats);
  report.set_queries(options.queries);
  for (const v1::EngineInfo& info : *engines) *report.add_engines() = info;
  for (v1::SweepRow& row : rows) *report.add_rows() = std::move(row);
  report.set_skipped_cells(skipped);
  for (v1::SweepEngineSummary& s : SummarizeSweep(report)) {
    *report.add_summaries() = std::move(s);
  }
  for (const v1::ManifestModel& model : options.trained) {
    *report.add_trained() = model;
  }
  for (v1::SweepLayers& layers : SweepLayersOf(report)) {
    *report.add_layers() = std::move(layers);
  }
  return report;
}

int RunSweepCommand(const CommandEnv& env) {
  absl::StatusOr<SweepOptions> options = SweepOptionsFromFlags();
  if (!options.ok()) return ReportError(env, "sweep", options.status(), true);

  SweepProgress progress;
  std::mutex progress_mu;
  if (isatty(STDERR_FILENO) == 1) {
    progress = [&env, &progress_mu](int64_t done, int64_t total) {
      std::lock_guard<std::mutex> lock(progress_mu);
      constexpr int kWidth = 24;
      const int filled =
          static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
      env.err << "\rsweep [" << std::string(filled, '#')
              << std::string(kWidth - filled, '.') << "] " << done << "/"
              << total << " cells\033[K";
      env.err.flush();
    };
  }
  std::unique_ptr<v1::Trilemma::Stub> stub = v1::Trilemma::NewStub(env.channel);
  absl::StatusOr<v1::SweepReport> report;
  if (SweepUsesOpenAi()) {  // --api=openai, --openai_targets (sweep_openai.h)
    absl::StatusOr<OpenAiSweepOptions> openai =
        OpenAiSweepOptionsFromFlags(env.target);
    if (!openai.ok()) return ReportError(env, "sweep", openai.status(), true);
    report =
        RunOpenAiSweep(stub.get(), env.target, *options, *openai, progress);
  } else {
    report = RunSweep(*stub, env.target, *options, progress);
  }
  if (progress) env.err << "\n";
  if (!report.ok()) return ReportRunError(env, "sweep", report.status());
  absl::StatusOr<std::string> html =
      WriteSweepReport(*report, options->out_dir);
  if (!html.ok()) return ReportError(env, "sweep", html.status());
  env.out << FormatSweepSummaryTable(*report);
  if (!report->layers().empty()) env.out << "\n" << FormatLayersTable(*report);
  env.out << "report: " << *html << "\n";
  env.out.flush();

  int failed = 0;
  for (const v1::SweepRow& row : report->rows()) failed += !row.error().empty();
  if (failed > 0) {
    env.err << "trilemma sweep: " << failed << " of " << report->rows_size()
            << " cells failed (see the error column of sweep.csv)\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace trilemma::client
