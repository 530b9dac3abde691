#include "client/commands/load.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>

#include "absl/flags/flag.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/common/channel.h"
#include "client/common/engine_selection.h"
#include "client/common/flag_parsing.h"
#include "client/common/json_output.h"
#include "client/common/shared_flags.h"
#include "client/load/openai_load.h"
#include "client/load/stats.h"

// --engines, --pairs, --queries, --seed, --format, --out, --rate and
// --duration are shared flags (client/common/shared_flags.h).

ABSL_FLAG(int32_t, concurrency, 0,
          "load: closed loop with this many requests in flight (default 8 "
          "when --rate is not given).");
ABSL_FLAG(double, burstiness, 1,
          "load: gamma shape of the open-loop gaps; 1 = Poisson, < 1 burstier, "
          "> 1 more regular.");
ABSL_FLAG(int64_t, requests, 0,
          "load: requests to send (0 = no bound; 100 when --duration is not "
          "given either).");
ABSL_FLAG(std::string, workload, "mqar",
          "load: workload mix, NAME[:WEIGHT],... with names mqar (Session: "
          "store --pairs facts, ask --queries), niah (needle in a "
          "--haystack at --depth) and random (--prompt_tokens, "
          "--output_tokens; no probe), and with --api=openai the text "
          "workloads passkey (--context_words, --depth) and phonebook "
          "(--entries), e.g. mqar:3,random:1.");
ABSL_FLAG(int32_t, noise, 0,
          "load mqar: filler tokens after each stored pair.");
ABSL_FLAG(std::string, query_distance, "uniform",
          "load mqar: which pairs the queries ask: uniform, or "
          "powerlaw[:ALPHA] (the r-th latest pair with weight r^-ALPHA).");
ABSL_FLAG(std::string, haystack, "1024",
          "load niah: haystack length: N, uniform:LOW:HIGH or "
          "normal:MEAN:STD.");
ABSL_FLAG(std::string, depth, "0.5",
          "load niah: needle depths in [0, 1] (0 = start of the haystack), "
          "comma-separated; one is drawn per request.");
ABSL_FLAG(std::string, prompt_tokens, "uniform:16:256",
          "load random: prompt length: N, uniform:LOW:HIGH or "
          "normal:MEAN:STD.");
ABSL_FLAG(std::string, output_tokens, "uniform:16:128",
          "load random: tokens to generate, as --prompt_tokens.");
ABSL_FLAG(std::string, slo, "ttft:200ms,itl:50ms",
          "load: the objective goodput counts, KEY:DURATION,... with keys "
          "ttft, itl (largest gap), tpot, e2e; \"none\" for none.");
ABSL_FLAG(int32_t, max_in_flight, 1024,
          "load open loop: arrivals wait while this many requests run (and "
          "are reported as delayed).");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "load: how long requests in flight may finish after the last is "
          "sent before they are cancelled.");
ABSL_FLAG(std::string, context_words, "1000",
          "load passkey (--api=openai): words of filler around the pass key: "
          "N, uniform:LOW:HIGH or normal:MEAN:STD; its depth is --depth.");
ABSL_FLAG(std::string, entries, "64",
          "load phonebook (--api=openai): phone book entries, "
          "comma-separated; one is drawn per request.");
ABSL_FLAG(std::string, api, "grpc",
          "load, sweep: grpc (this server's API, --target=HOST:PORT) or openai "
          "(any OpenAI-compatible completions server, "
          "--target=http://HOST:PORT --model=NAME; docs/http.md).");
ABSL_FLAG(std::string, model, "",
          "load, sweep --api=openai: comma-separated model names (load's "
          "default: every model the server lists).");
ABSL_FLAG(int32_t, vocab, 0,
          "load, sweep (OpenAI models): vocabulary size for token-ID workloads "
          "when the server does not report it (ours does).");

namespace trilemma::client {
namespace {

constexpr int64_t kMaxTokens = 1 << 20;

absl::StatusOr<std::vector<double>> ParseDepths(absl::string_view text) {
  std::vector<double> depths;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    double depth;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(piece), &depth) ||
        !(depth >= 0 && depth <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--depth[", depths.size(), "]: '", piece, "' is not in [0, 1]"));
    }
    depths.push_back(depth);
  }
  return depths;
}

}  // namespace

absl::StatusOr<LoadCommandOptions> LoadOptionsFromFlags() {
  LoadCommandOptions options;
  LoadRunOptions& run = options.run;
  WorkloadOptions& workload = run.workload;

  absl::StatusOr<std::vector<std::string>> engines = EnginesFlag();
  if (!engines.ok()) return engines.status();
  options.engines = *std::move(engines);

  run.rate = absl::GetFlag(FLAGS_rate);
  run.concurrency = absl::GetFlag(FLAGS_concurrency);
  run.burstiness = absl::GetFlag(FLAGS_burstiness);
  if (!(run.rate >= 0) || !std::isfinite(run.rate)) {
    return absl::InvalidArgumentError("--rate: must be >= 0 requests/s");
  }
  if (run.rate > 0 && run.concurrency != 0) {
    return absl::InvalidArgumentError(
        "--rate and --concurrency: choose open loop (--rate) or closed loop "
        "(--concurrency), not both");
  }
  if (run.rate == 0 && run.concurrency == 0) run.concurrency = 8;
  if (run.rate == 0 && run.concurrency < 1) {
    return absl::InvalidArgumentError("--concurrency: must be >= 1");
  }
  if (!(run.burstiness > 0) || !std::isfinite(run.burstiness)) {
    return absl::InvalidArgumentError("--burstiness: must be > 0");
  }
  run.max_requests = absl::GetFlag(FLAGS_requests);
  run.max_duration = absl::GetFlag(FLAGS_duration);
  if (run.max_requests < 0) {
    return absl::InvalidArgumentError("--requests: must be >= 0");
  }
  if (run.max_duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration: must be >= 0");
  }
  if (run.max_requests == 0 && run.max_duration == absl::ZeroDuration()) {
    run.max_requests = 100;
  }
  run.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  if (run.max_in_flight < 1) {
    return absl::InvalidArgumentError("--max_in_flight: must be >= 1");
  }
  run.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);

  options.workload = absl::GetFlag(FLAGS_workload);
  absl::StatusOr<WorkloadMix> mix =
      ParseWorkloadMix("--workload", options.workload);
  if (!mix.ok()) return mix.status();
  workload.mix = *std::move(mix);
  absl::StatusOr<std::vector<int64_t>> pairs = PairsFlag();
  if (!pairs.ok()) return pairs.status();
  workload.pairs.assign(pairs->begin(), pairs->end());
  absl::StatusOr<int32_t> queries = QueriesFlag();
  if (!queries.ok()) return queries.status();
  workload.queries = *queries;
  workload.noise = absl::GetFlag(FLAGS_noise);
  if (workload.noise < 0 || workload.noise > kMaxTokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--noise: ", workload.noise, " not in [0, ", kMaxTokens, "]"));
  }
  absl::StatusOr<QueryDistance> distance = ParseQueryDistance(
      "--query_distance", absl::GetFlag(FLAGS_query_distance));
  if (!distance.ok()) return distance.status();
  workload.query_distance = *distance;
  absl::StatusOr<LengthDistribution> haystack = ParseLengthDistribution(
      "--haystack", absl::GetFlag(FLAGS_haystack), 0, kMaxTokens);
  if (!haystack.ok()) return haystack.status();
  workload.haystack = *haystack;
  absl::StatusOr<std::vector<double>> depths =
      ParseDepths(absl::GetFlag(FLAGS_depth));
  if (!depths.ok()) return depths.status();
  workload.depths = *std::move(depths);
  absl::StatusOr<LengthDistribution> words = ParseLengthDistribution(
      "--context_words", absl::GetFlag(FLAGS_context_words), 1, 1 << 22);
  if (!words.ok()) return words.status();
  workload.context_words = *words;
  workload.entries.clear();
  for (absl::string_view piece :
       absl::StrSplit(absl::GetFlag(FLAGS_entries), ',')) {
    int64_t entries = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(piece), &entries) ||
        entries < 1 || entries > 100000) {
      return absl::InvalidArgumentError(
          absl::StrCat("--entries[", workload.entries.size(), "]: '", piece,
                       "' is not in [1, 100000]"));
    }
    workload.entries.push_back(entries);
  }
  absl::StatusOr<LengthDistribution> prompt = ParseLengthDistribution(
      "--prompt_tokens", absl::GetFlag(FLAGS_prompt_tokens), 1, kMaxTokens);
  if (!prompt.ok()) return prompt.status();
  workload.prompt_tokens = *prompt;
  absl::StatusOr<LengthDistribution> output = ParseLengthDistribution(
      "--output_tokens", absl::GetFlag(FLAGS_output_tokens), 1, 65536);
  if (!output.ok()) return output.status();
  workload.output_tokens = *output;

  absl::StatusOr<v1::LoadSlo> slo = ParseSlo("--slo", absl::GetFlag(FLAGS_slo));
  if (!slo.ok()) return slo.status();
  options.slo = *slo;
  absl::StatusOr<ReportFormat> format =
      ParseReportFormat("--format", absl::GetFlag(FLAGS_format));
  if (!format.ok()) return format.status();
  options.format = *format;
  options.out_path = absl::GetFlag(FLAGS_out);

  run.seed = WorkloadSeedFlag();
  return options;
}

namespace {

bool HasTextWorkload(const WorkloadOptions& workload) {
  for (const WorkloadWeight& w : workload.mix) {
    if (w.kind == WorkloadKind::kPasskey ||
        w.kind == WorkloadKind::kPhonebook) {
      return true;
    }
  }
  return false;
}

// The report of a finished run: percentiles, recall and the settings echoed.
absl::StatusOr<v1::LoadReport> FinishReport(
    LoadRun run, const std::vector<v1::EngineInfo>& engines,
    const std::string& target, const LoadCommandOptions& options,
    const LoadRunOptions& run_options) {
  absl::StatusOr<v1::LoadReport> report =
      BuildLoadReport({.engines = engines,
                       .records = std::move(run.records),
                       .sent = run.sent,
                       .duration_seconds = run.duration_seconds,
                       .slo = options.slo});
  if (!report.ok()) return report.status();
  report->set_target(target);
  report->set_seed(run_options.seed);
  v1::LoadSettings* settings = report->mutable_settings();
  const bool open = run_options.rate > 0;
  settings->set_arrivals(open ? "open" : "closed");
  settings->set_concurrency(open ? 0 : run_options.concurrency);
  settings->set_rate(run_options.rate);
  settings->set_burstiness(open ? run_options.burstiness : 0);
  settings->set_max_requests(run_options.max_requests);
  settings->set_max_duration_seconds(
      absl::ToDoubleSeconds(run_options.max_duration));
  settings->set_workload(options.workload);
  *settings->mutable_slo() = options.slo;
  settings->set_delayed_arrivals(run.delayed_arrivals);
  return report;
}

// `trilemma load --api=openai`: the models from --model (or all listed).
absl::StatusOr<v1::LoadReport> RunOpenAiLoadReport(
    const std::string& target_flag, const LoadCommandOptions& options,
    const LoadProgressFn& progress) {
  const char* key = std::getenv("OPENAI_API_KEY");
  absl::StatusOr<OpenAiTarget> target =
      ParseOpenAiTarget(target_flag, key == nullptr ? "" : key);
  if (!target.ok()) return target.status();
  std::vector<std::string> models;
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_model), ',',
                                               absl::SkipWhitespace())) {
    models.emplace_back(absl::StripAsciiWhitespace(name));
  }
  const int32_t vocab = absl::GetFlag(FLAGS_vocab);
  if (vocab < 0) return absl::InvalidArgumentError("--vocab: must be >= 0");
  OpenAiConnection connection(*target);
  absl::StatusOr<std::vector<v1::EngineInfo>> engines =
      connection.Models(models, vocab);
  if (!engines.ok()) return engines.status();
  LoadRunOptions run_options = options.run;
  run_options.engines = *engines;
  absl::StatusOr<LoadRun> run = RunOpenAiLoad(*target, run_options, progress);
  if (!run.ok()) return run.status();
  return FinishReport(*std::move(run), *engines, target_flag, options,
                      run_options);
}

}  // namespace

absl::StatusOr<v1::LoadReport> RunLoadReport(v1::Trilemma::StubInterface& stub,
                                             const std::string& target,
                                             const LoadCommandOptions& options,
                                             const LoadProgressFn& progress) {
  absl::StatusOr<std::vector<v1::EngineInfo>> engines =
      ListSelectedEngines(stub, target, options.engines);
  if (!engines.ok()) return engines.status();
  LoadRunOptions run_options = options.run;
  run_options.engines = *engines;

  absl::StatusOr<LoadRun> run = RunLoad(stub, run_options, progress);
  if (!run.ok()) return run.status();
  return FinishReport(*std::move(run), *engines, target, options, run_options);
}

int RunLoadCommand(const CommandEnv& env) {
  absl::StatusOr<LoadCommandOptions> options = LoadOptionsFromFlags();
  if (!options.ok()) return ReportError(env, "load", options.status(), true);

  LoadProgressFn progress;
  std::mutex progress_mu;
  if (isatty(STDERR_FILENO) == 1) {
    const int64_t max_requests = options->run.max_requests;
    const double max_seconds = absl::ToDoubleSeconds(options->run.max_duration);
    progress = [&env, &progress_mu, max_requests,
                max_seconds](const LoadProgress& p) {
      std::lock_guard<std::mutex> lock(progress_mu);
      env.err << "\r" << FormatLoadProgress(p, max_requests, max_seconds)
              << "\033[K";
      env.err.flush();
    };
  }

  const std::string api = absl::GetFlag(FLAGS_api);
  absl::StatusOr<v1::LoadReport> report;
  if (api == "openai") {
    report = RunOpenAiLoadReport(env.target, *options, progress);
  } else if (api == "grpc" && HasTextWorkload(options->run.workload)) {
    report = absl::InvalidArgumentError(
        "--workload: passkey and phonebook are text prompts; run them with "
        "--api=openai against a model with a tokenizer");
  } else if (api == "grpc") {
    std::unique_ptr<v1::Trilemma::Stub> stub =
        v1::Trilemma::NewStub(env.channel);
    report = RunLoadReport(*stub, env.target, *options, progress);
  } else {
    report = absl::InvalidArgumentError(
        absl::StrCat("--api: grpc or openai, got '", api, "'"));
  }
  if (progress) env.err << "\n";
  if (!report.ok()) return ReportRunError(env, "load", report.status());

  std::string text;
  switch (options->format) {
    case ReportFormat::kTable:
      text = FormatLoadTable(*report);
      break;
    case ReportFormat::kCsv:
      text = FormatLoadCsv(*report);
      break;
    case ReportFormat::kJson: {
      absl::StatusOr<std::string> json = ToJson(*report);
      if (!json.ok()) return ReportError(env, "load", json.status());
      text = *std::move(json);
      break;
    }
  }
  if (options->out_path.empty()) {
    env.out << text;
  } else {
    std::ofstream file(options->out_path, std::ios::trunc);
    file << text;
    file.close();
    if (!file) {
      return ReportError(env, "load",
                         absl::PermissionDeniedError(absl::StrCat(
                             "--out: cannot write '", options->out_path, "'")));
    }
    if (options->format != ReportFormat::kTable) {
      env.out << FormatLoadTable(*report);
    }
    env.out << "report written to " << options->out_path << "\n";
  }
  env.out.flush();
  if (report->total().failed() > 0) {
    env.err << "trilemma load: " << report->total().failed() << " of "
            << report->total().sent()
            << " requests failed (counted by status in the report)\n";
  }
  return kExitOk;
}

}  // namespace trilemma::client
