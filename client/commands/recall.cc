#include "client/commands/recall.h"

#include <unistd.h>

#include <mutex>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/common/channel.h"
#include "client/common/engine_selection.h"
#include "client/common/json_output.h"
#include "client/common/mqar_workload.h"
#include "client/common/session_stream.h"
#include "client/common/shared_flags.h"
#include "client/common/table_printer.h"

namespace trilemma::client {
namespace {

// What the query turns measured.
struct QueryStats {
  int32_t asked = 0;
  int32_t hits = 0;
  int64_t tokens = 0;
  double flops = 0;
  double step_seconds = 0;
};

std::string FinishText(const v1::Summary& summary) {
  return absl::StrCat(v1::FinishReason_Name(summary.finish_reason()),
                      summary.detail().empty() ? "" : ": ", summary.detail());
}

// Runs the workload's queries; returns why it stopped early ("" when every
// query was answered). `stats` keeps what was measured until then.
std::string AskQueries(SessionStream& session, const MqarWorkload& workload,
                       QueryStats& stats) {
  for (const MqarQuery& query : workload.queries) {
    v1::GenerateTurn turn;
    turn.add_prompt(query.key);
    turn.set_max_new_tokens(1);
    turn.mutable_probe()->add_expected(query.value);
    turn.mutable_probe()->set_distance(query.distance);
    absl::StatusOr<SessionTurn> reply = session.Generate(turn);
    if (!reply.ok()) {
      return absl::StrCat("query ", stats.asked, ": ",
                          StatusText(reply.status()));
    }
    for (const v1::TokenEvent& token : reply->tokens) {
      ++stats.tokens;
      stats.flops += static_cast<double>(token.stats().flops());
      stats.step_seconds += token.stats().step_seconds();
    }
    if (reply->summary.finish_reason() != v1::LENGTH) {
      // A limit ends the turn (the session stays open), but the remaining
      // queries would all hit it too.
      return absl::StrCat("query ", stats.asked, " ended with ",
                          FinishText(reply->summary));
    }
    ++stats.asked;
    if (reply->summary.recall().hit()) ++stats.hits;
  }
  return "";
}

}  // namespace

absl::StatusOr<RecallOptions> RecallOptionsFromFlags() {
  RecallOptions options;
  absl::StatusOr<std::vector<std::string>> engines = EnginesFlag();
  if (!engines.ok()) return engines.status();
  options.engines = *std::move(engines);
  absl::StatusOr<std::vector<int64_t>> pairs = PairsFlag();
  if (!pairs.ok()) return pairs.status();
  options.pairs.assign(pairs->begin(), pairs->end());
  absl::StatusOr<int32_t> queries = QueriesFlag();
  if (!queries.ok()) return queries.status();
  options.queries = *queries;
  options.seed = WorkloadSeedFlag();
  absl::StatusOr<OutputFormat> format = OutputFormatFlag();
  if (!format.ok()) return format.status();
  options.format = *format;
  return options;
}

v1::RecallRow MeasureRecallRow(v1::Trilemma::StubInterface& stub,
                               const v1::EngineInfo& engine, int32_t pairs,
                               int32_t queries, uint64_t seed) {
  v1::RecallRow row;
  row.set_engine(engine.name());
  row.set_family(engine.family());
  row.set_pairs(pairs);
  auto fail = [&row](absl::string_view stage, absl::string_view why) {
    row.set_error(absl::StrCat(stage, ": ", why));
    return row;
  };

  absl::StatusOr<MqarWorkload> workload = MakeMqarWorkload(
      {.vocab = engine.shape().vocab(),
       .pairs = pairs,
       .queries = queries,
       .seed = DeriveSeed(seed, static_cast<uint64_t>(pairs))});
  if (!workload.ok()) return fail("workload", StatusText(workload.status()));

  v1::OpenSession open;
  open.set_engine(engine.name());
  absl::StatusOr<std::unique_ptr<SessionStream>> session =
      SessionStream::Open(stub, open);
  if (!session.ok()) return fail("open", StatusText(session.status()));

  absl::StatusOr<v1::Summary> stored = (*session)->Append(workload->context);
  if (!stored.ok()) return fail("append", StatusText(stored.status()));
  row.set_context_tokens(stored->context_tokens());
  row.set_state_bytes(stored->state_bytes());
  row.set_external_state_bytes(stored->external_state_bytes());
  if (stored->finish_reason() != v1::APPENDED) {
    return fail("append", absl::StrCat("ended with ", FinishText(*stored)));
  }

  QueryStats stats;
  const std::string stopped = AskQueries(**session, *workload, stats);
  row.set_queries(stats.asked);
  row.set_hits(stats.hits);
  row.set_recall(stats.asked > 0 ? static_cast<double>(stats.hits) / stats.asked
                                 : 0);
  if (stats.tokens > 0) {
    row.set_flops_per_token(stats.flops / stats.tokens);
    row.set_ms_per_step(stats.step_seconds * 1e3 / stats.tokens);
  }
  if (!stopped.empty()) return fail("generate", stopped);

  absl::StatusOr<v1::SessionClosed> closed = (*session)->Close();
  if (!closed.ok()) return fail("close", StatusText(closed.status()));
  return row;
}

absl::StatusOr<v1::RecallReport> RunRecall(v1::Trilemma::StubInterface& stub,
                                           const std::string& target,
                                           const RecallOptions& options,
                                           const RecallProgress& progress) {
  absl::StatusOr<std::vector<v1::EngineInfo>> engines =
      ListSelectedEngines(stub, target, options.engines);
  if (!engines.ok()) return engines.status();

  // rows[e][p]: filled by engine e's thread only.
  std::vector<std::vector<v1::RecallRow>> rows(engines->size());
  std::vector<std::thread> threads;
  threads.reserve(engines->size());
  for (size_t e = 0; e < engines->size(); ++e) {
    threads.emplace_back([&, e] {
      for (int32_t pairs : options.pairs) {
        rows[e].push_back(MeasureRecallRow(stub, (*engines)[e], pairs,
                                           options.queries, options.seed));
        if (progress) progress(rows[e].back());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  v1::RecallReport report;
  report.set_target(target);
  report.set_seed(options.seed);
  for (const v1::EngineInfo& info : *engines) *report.add_engines() = info;
  for (auto& engine_rows : rows) {
    for (v1::RecallRow& row : engine_rows) *report.add_rows() = std::move(row);
  }
  return report;
}

std::string FormatRecallTable(const v1::RecallReport& report) {
  bool any_external = false, any_error = false;
  for (const v1::RecallRow& row : report.rows()) {
    any_external |= row.external_state_bytes() != 0;
    any_error |= !row.error().empty();
  }
  using C = TablePrinter;
  std::vector<C::Column> columns = {
      {"engine"},          {"pairs", C::kRight},   {"recall", C::kRight},
      {"hits", C::kRight}, {"context", C::kRight}, {"state", C::kRight}};
  if (any_external) columns.push_back({"external", C::kRight});
  columns.push_back({"flops/token", C::kRight});
  columns.push_back({"ms/token", C::kRight});
  if (any_error) columns.push_back({"error"});
  TablePrinter table(std::move(columns));
  for (const v1::RecallRow& row : report.rows()) {
    const bool measured = row.queries() > 0;
    std::vector<std::string> cells = {
        row.engine(),
        absl::StrCat(row.pairs()),
        measured ? absl::StrFormat("%.3f", row.recall()) : "-",
        absl::StrCat(row.hits(), "/", row.queries()),
        row.context_tokens() > 0 ? absl::StrCat(row.context_tokens()) : "-",
        row.context_tokens() > 0 ? FormatBytes(row.state_bytes()) : "-"};
    if (any_external) cells.push_back(FormatBytes(row.external_state_bytes()));
    cells.push_back(measured ? FormatCount(row.flops_per_token()) : "-");
    cells.push_back(measured ? absl::StrFormat("%.3f", row.ms_per_step())
                             : "-");
    if (any_error) cells.push_back(row.error());
    table.AddRow(std::move(cells));
  }
  return absl::StrCat(
      table.ToString(),
      absl::StrFormat("recall = hits/queries (greedy, scored by the server); "
                      "context and state right after storing the pairs; "
                      "seed %u\n",
                      report.seed()));
}

int RunRecallCommand(const CommandEnv& env) {
  absl::StatusOr<RecallOptions> options = RecallOptionsFromFlags();
  if (!options.ok()) return ReportError(env, "recall", options.status(), true);

  std::mutex progress_mu;
  const bool show_progress = isatty(STDERR_FILENO) == 1;
  RecallProgress progress = [&](const v1::RecallRow& row) {
    if (!show_progress) return;
    std::lock_guard<std::mutex> lock(progress_mu);
    env.err << "recall: " << row.engine() << " N=" << row.pairs() << " "
            << (row.error().empty()
                    ? absl::StrFormat("recall %.3f", row.recall())
                    : absl::StrCat("failed: ", row.error()))
            << "\n";
    env.err.flush();
  };

  std::unique_ptr<v1::Trilemma::Stub> stub = v1::Trilemma::NewStub(env.channel);
  absl::StatusOr<v1::RecallReport> report =
      RunRecall(*stub, env.target, *options, progress);
  if (!report.ok()) {
    const bool usage =
        report.status().code() == absl::StatusCode::kInvalidArgument;
    return ReportError(env, "recall", report.status(), usage);
  }
  if (options->format == OutputFormat::kJson) {
    absl::StatusOr<std::string> json = ToJson(*report);
    if (!json.ok()) return ReportError(env, "recall", json.status());
    env.out << *json;
  } else {
    env.out << FormatRecallTable(*report);
  }
  env.out.flush();

  int failed = 0;
  for (const v1::RecallRow& row : report->rows()) {
    failed += !row.error().empty();
  }
  if (failed > 0) {
    env.err << "trilemma recall: " << failed << " of " << report->rows_size()
            << " rows failed (see their error field)\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace trilemma::client
