#include "client/load/stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace trilemma::client {
namespace {

// Everything one engine's (or the total's) records add up to.
struct Accumulator {
  int64_t sent = 0;  // from the dispatcher
  int64_t records = 0;
  int64_t succeeded = 0;
  std::map<std::string, int64_t> failed_by_status;
  std::map<std::string, int64_t> finish_reasons;
  std::map<std::string, int64_t> by_workload;
  std::vector<double> ttft, itl, tpot, e2e;
  int64_t prompt_tokens = 0, output_tokens = 0, good = 0;
  int64_t probes = 0, hits = 0;
  std::map<int64_t, std::pair<int64_t, int64_t>> buckets;  // min -> probes,hits
  int64_t peak_state_bytes = 0;
  int64_t preemptions = 0, preempted_requests = 0, recomputed_tokens = 0;
  double state_bytes_sum = 0, flops_sum = 0;

  void Add(const RequestRecord& r, const v1::LoadSlo& slo) {
    ++records;
    ++by_workload[WorkloadName(r.workload)];
    prompt_tokens += r.prompt_tokens;
    output_tokens += static_cast<int64_t>(r.token_seconds.size());
    state_bytes_sum += r.state_bytes_sum;
    flops_sum += r.flops_sum;
    peak_state_bytes = std::max(peak_state_bytes, r.peak_state_bytes);
    preemptions += r.preemptions;
    preempted_requests += r.preemptions > 0 ? 1 : 0;
    recomputed_tokens += r.recomputed_tokens;
    if (r.status != absl::StatusCode::kOk) {
      ++failed_by_status[absl::StatusCodeToString(r.status)];
      return;
    }
    ++succeeded;
    if (MeetsSlo(r, slo)) ++good;
    for (v1::FinishReason reason : r.finish_reasons) {
      ++finish_reasons[v1::FinishReason_Name(reason)];
    }
    e2e.push_back(r.e2e_seconds);
    const std::vector<double>& t = r.token_seconds;
    if (!t.empty()) ttft.push_back(t.front());
    for (size_t i = 1; i < t.size(); ++i) itl.push_back(t[i] - t[i - 1]);
    if (t.size() >= 2) {
      tpot.push_back((r.e2e_seconds - t.front()) /
                     static_cast<double>(t.size() - 1));
    }
    for (const RequestRecord::Probe& probe : r.probes) {
      ++probes;
      hits += probe.hit;
      int64_t min, max;
      RecallBucketBounds(probe.context_tokens, &min, &max);
      auto& bucket = buckets[min];
      ++bucket.first;
      bucket.second += probe.hit;
    }
  }

  v1::LoadEngineResult Result(double duration) const {
    v1::LoadEngineResult out;
    out.set_sent(sent);
    out.set_succeeded(succeeded);
    int64_t failed = 0;
    for (const auto& [code, count] : failed_by_status) {
      (*out.mutable_failed_by_status())[code] = count;
      failed += count;
    }
    out.set_failed(failed);
    for (const auto& [reason, count] : finish_reasons) {
      (*out.mutable_finish_reasons())[reason] = count;
    }
    for (const auto& [name, count] : by_workload) {
      (*out.mutable_sent_by_workload())[name] = count;
    }
    *out.mutable_ttft() = SummarizeLatency(ttft);
    *out.mutable_itl() = SummarizeLatency(itl);
    *out.mutable_tpot() = SummarizeLatency(tpot);
    *out.mutable_e2e() = SummarizeLatency(e2e);
    out.set_prompt_tokens(prompt_tokens);
    out.set_output_tokens(output_tokens);
    if (duration > 0) {
      out.set_output_tokens_per_second(output_tokens / duration);
      out.set_requests_per_second(succeeded / duration);
      out.set_goodput_requests_per_second(good / duration);
    }
    out.set_good_requests(good);
    out.set_slo_attainment(sent > 0 ? static_cast<double>(good) / sent : 0);
    out.set_probes(probes);
    out.set_hits(hits);
    out.set_recall(probes > 0 ? static_cast<double>(hits) / probes : 0);
    for (const auto& [min, counts] : buckets) {
      v1::RecallBucket* bucket = out.add_recall_by_context();
      int64_t lo, hi;
      RecallBucketBounds(min, &lo, &hi);
      bucket->set_min_context_tokens(lo);
      bucket->set_max_context_tokens(hi);
      bucket->set_probes(counts.first);
      bucket->set_hits(counts.second);
      bucket->set_recall(static_cast<double>(counts.second) / counts.first);
    }
    out.set_peak_state_bytes(peak_state_bytes);
    out.set_preemptions(preemptions);
    out.set_preempted_requests(preempted_requests);
    out.set_recomputed_tokens(recomputed_tokens);
    if (output_tokens > 0) {
      out.set_mean_state_bytes(state_bytes_sum / output_tokens);
      out.set_flops_per_token(flops_sum / output_tokens);
    }
    return out;
  }
};

}  // namespace

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 *
                      static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = rank - static_cast<double>(below);
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

v1::LatencySummary SummarizeLatency(std::vector<double> samples) {
  v1::LatencySummary out;
  if (samples.empty()) return out;
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (double s : samples) sum += s;
  out.set_count(static_cast<int64_t>(samples.size()));
  out.set_mean_seconds(sum / static_cast<double>(samples.size()));
  out.set_p50_seconds(Percentile(samples, 50));
  out.set_p90_seconds(Percentile(samples, 90));
  out.set_p99_seconds(Percentile(samples, 99));
  out.set_max_seconds(samples.back());
  return out;
}

absl::StatusOr<v1::LoadSlo> ParseSlo(absl::string_view flag,
                                     absl::string_view text) {
  v1::LoadSlo slo;
  text = absl::StripAsciiWhitespace(text);
  if (text.empty() || text == "none") return slo;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    const std::pair<absl::string_view, absl::string_view> key_value =
        absl::StrSplit(part, absl::MaxSplits(':', 1));
    absl::Duration bound;
    if (!absl::ParseDuration(key_value.second, &bound) ||
        bound <= absl::ZeroDuration() || bound == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": '", part, "' needs a positive duration, e.g. ttft:200ms"));
    }
    const double seconds = absl::ToDoubleSeconds(bound);
    if (key_value.first == "ttft") {
      slo.set_ttft_seconds(seconds);
    } else if (key_value.first == "itl") {
      slo.set_itl_seconds(seconds);
    } else if (key_value.first == "tpot") {
      slo.set_tpot_seconds(seconds);
    } else if (key_value.first == "e2e") {
      slo.set_e2e_seconds(seconds);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": '", key_value.first,
                       "' is not one of ttft, itl, tpot, e2e"));
    }
  }
  return slo;
}

std::string FormatSlo(const v1::LoadSlo& slo) {
  std::vector<std::string> parts;
  auto add = [&parts](const char* name, double seconds) {
    if (seconds > 0) {
      parts.push_back(absl::StrCat(
          name, "<=", absl::FormatDuration(absl::Seconds(seconds))));
    }
  };
  add("ttft", slo.ttft_seconds());
  add("itl", slo.itl_seconds());
  add("tpot", slo.tpot_seconds());
  add("e2e", slo.e2e_seconds());
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

bool MeetsSlo(const RequestRecord& record, const v1::LoadSlo& slo) {
  if (record.status != absl::StatusCode::kOk) return false;
  const std::vector<double>& t = record.token_seconds;
  if (slo.ttft_seconds() > 0 && (t.empty() || t.front() > slo.ttft_seconds())) {
    return false;
  }
  if (slo.itl_seconds() > 0) {
    for (size_t i = 1; i < t.size(); ++i) {
      if (t[i] - t[i - 1] > slo.itl_seconds()) return false;
    }
  }
  if (slo.tpot_seconds() > 0 && t.size() >= 2 &&
      (record.e2e_seconds - t.front()) / static_cast<double>(t.size() - 1) >
          slo.tpot_seconds()) {
    return false;
  }
  if (slo.e2e_seconds() > 0 && record.e2e_seconds > slo.e2e_seconds()) {
    return false;
  }
  return true;
}

void RecallBucketBounds(int64_t context_tokens, int64_t* min, int64_t* max) {
  if (context_tokens <= 0) {
    *min = *max = 0;
    return;
  }
  int64_t low = 1;
  while (low <= context_tokens / 2) low *= 2;
  *min = low;
  *max = 2 * low - 1;
}

absl::Status CheckAccounting(const v1::LoadEngineResult& result) {
  int64_t by_status = 0;
  for (const auto& [code, count] : result.failed_by_status()) {
    by_status += count;
  }
  if (result.sent() != result.succeeded() + result.failed() ||
      result.failed() != by_status) {
    return absl::InternalError(absl::StrCat(
        "accounting: engine '", result.engine(), "': sent ", result.sent(),
        " != succeeded ", result.succeeded(), " + failed ", result.failed(),
        " (failed by status sums to ", by_status, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::LoadReport> BuildLoadReport(const LoadAggregation& input) {
  const size_t n = input.engines.size();
  if (input.sent.size() != n) {
    return absl::InternalError(absl::StrCat(
        "accounting: ", input.sent.size(), " sent counts for ", n, " engines"));
  }
  std::vector<Accumulator> per_engine(n);
  Accumulator total;
  for (size_t e = 0; e < n; ++e) {
    per_engine[e].sent = input.sent[e];
    total.sent += input.sent[e];
  }
  for (const RequestRecord& record : input.records) {
    if (record.engine < 0 || static_cast<size_t>(record.engine) >= n) {
      return absl::InternalError(
          absl::StrCat("accounting: a record names engine #", record.engine));
    }
    per_engine[record.engine].Add(record, input.slo);
    total.Add(record, input.slo);
  }

  v1::LoadReport report;
  report.set_duration_seconds(input.duration_seconds);
  for (size_t e = 0; e < n; ++e) {
    v1::LoadEngineResult* result = report.add_engines();
    *result = per_engine[e].Result(input.duration_seconds);
    result->set_engine(input.engines[e].name());
    result->set_family(input.engines[e].family());
    if (per_engine[e].records != per_engine[e].sent) {
      return absl::InternalError(absl::StrCat(
          "accounting: engine '", result->engine(), "': ", per_engine[e].sent,
          " requests sent but ", per_engine[e].records, " finished"));
    }
    if (absl::Status s = CheckAccounting(*result); !s.ok()) return s;
  }
  *report.mutable_total() = total.Result(input.duration_seconds);
  report.mutable_total()->set_engine("all");
  if (absl::Status s = CheckAccounting(report.total()); !s.ok()) return s;
  return report;
}

}  // namespace trilemma::client
