// Unit tests of `trilemma load`'s pieces: arrival processes, percentiles,
// the SLO and goodput, the workload generators, the accounting invariant
// and the CSV / JSON / table output.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/common/json_output.h"
#include "client/load/arrivals.h"
#include "client/load/output.h"
#include "client/load/stats.h"
#include "client/load/workload.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/client_load/csv_split.h"

namespace trilemma::client {
namespace {

using ::testing::HasSubstr;

struct GapStats {
  double mean = 0;
  double cv = 0;  // standard deviation / mean
};

GapStats Gaps(ArrivalProcess& arrivals, int n) {
  std::vector<double> gaps(n);
  double sum = 0;
  for (double& g : gaps) {
    g = arrivals.NextGapSeconds();
    EXPECT_GT(g, 0);
    sum += g;
  }
  const double mean = sum / n;
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  return {mean, std::sqrt(var / (n - 1)) / mean};
}

TEST(ArrivalProcessTest, PoissonHasTheMeanRateAndExponentialGaps) {
  ArrivalProcess arrivals(/*rate=*/50, /*burstiness=*/1, /*seed=*/1);
  const GapStats stats = Gaps(arrivals, 40000);
  // Standard error of the mean is 0.5%; 3% is > 5 sigma.
  EXPECT_NEAR(stats.mean, 1.0 / 50, 0.03 / 50);
  EXPECT_NEAR(stats.cv, 1.0, 0.05);
}

TEST(ArrivalProcessTest, BurstinessIsTheGammaShapeAtTheSameMeanRate) {
  ArrivalProcess bursty(/*rate=*/20, /*burstiness=*/0.25, /*seed=*/2);
  const GapStats b = Gaps(bursty, 40000);
  EXPECT_NEAR(b.mean, 1.0 / 20, 0.05 / 20);
  EXPECT_NEAR(b.cv, 2.0, 0.2);  // 1 / sqrt(0.25)

  ArrivalProcess regular(/*rate=*/20, /*burstiness=*/4, /*seed=*/3);
  const GapStats r = Gaps(regular, 40000);
  EXPECT_NEAR(r.mean, 1.0 / 20, 0.03 / 20);
  EXPECT_NEAR(r.cv, 0.5, 0.03);  // 1 / sqrt(4)
}

TEST(ArrivalProcessTest, SameSeedSameGapsOtherSeedOtherGaps) {
  for (double shape : {1.0, 0.5, 3.0}) {
    ArrivalProcess a(10, shape, 42), b(10, shape, 42), c(10, shape, 43);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
      const double ga = a.NextGapSeconds();
      EXPECT_EQ(ga, b.NextGapSeconds()) << "shape " << shape << " gap " << i;
      differs |= ga != c.NextGapSeconds();
    }
    EXPECT_TRUE(differs) << "shape " << shape;
  }
}

TEST(PercentileTest, InterpolatesBetweenClosestRanks) {
  const std::vector<double> four = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(Percentile(four, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(four, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(four, 100), 4);
  std::vector<double> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(ten, 90), 9.1);  // numpy.percentile
  EXPECT_DOUBLE_EQ(Percentile(ten, 99), 9.91);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0);
}

TEST(PercentileTest, SummaryOfUnsortedSamples) {
  const v1::LatencySummary s = SummarizeLatency({0.3, 0.1, 0.2, 0.4});
  EXPECT_EQ(s.count(), 4);
  EXPECT_DOUBLE_EQ(s.mean_seconds(), 0.25);
  EXPECT_DOUBLE_EQ(s.p50_seconds(), 0.25);
  EXPECT_DOUBLE_EQ(s.max_seconds(), 0.4);
  EXPECT_EQ(SummarizeLatency({}).count(), 0);
}

TEST(SloTest, ParsesKeysAndDurations) {
  absl::StatusOr<v1::LoadSlo> slo = ParseSlo("--slo", "ttft:200ms,itl:50ms");
  ASSERT_TRUE(slo.ok()) << slo.status();
  EXPECT_DOUBLE_EQ(slo->ttft_seconds(), 0.2);
  EXPECT_DOUBLE_EQ(slo->itl_seconds(), 0.05);
  EXPECT_EQ(slo->tpot_seconds(), 0);
  EXPECT_EQ(FormatSlo(*slo), "ttft<=200ms itl<=50ms");
  slo = ParseSlo("--slo", "tpot:1.5s, e2e:2s");
  ASSERT_TRUE(slo.ok());
  EXPECT_DOUBLE_EQ(slo->tpot_seconds(), 1.5);
  EXPECT_DOUBLE_EQ(slo->e2e_seconds(), 2);
  EXPECT_EQ(FormatSlo(*ParseSlo("--slo", "none")), "none");
  EXPECT_THAT(ParseSlo("--slo", "ttft:soon").status().message(),
              HasSubstr("--slo"));
  EXPECT_FALSE(ParseSlo("--slo", "latency:1s").ok());
  EXPECT_FALSE(ParseSlo("--slo", "ttft:-1s").ok());
}

RequestRecord Ok(std::vector<double> token_seconds, double e2e) {
  RequestRecord r;
  r.token_seconds = std::move(token_seconds);
  r.e2e_seconds = e2e;
  return r;
}

TEST(SloTest, EveryPartMustHold) {
  v1::LoadSlo slo;
  slo.set_ttft_seconds(0.2);
  slo.set_itl_seconds(0.05);
  EXPECT_TRUE(MeetsSlo(Ok({0.1, 0.14, 0.18}, 0.2), slo));
  EXPECT_FALSE(MeetsSlo(Ok({0.3, 0.31}, 0.4), slo));        // ttft
  EXPECT_FALSE(MeetsSlo(Ok({0.1, 0.14, 0.25}, 0.3), slo));  // one stall
  EXPECT_FALSE(MeetsSlo(Ok({}, 0.1), slo));                 // no token
  RequestRecord failed = Ok({0.1}, 0.1);
  failed.status = absl::StatusCode::kResourceExhausted;
  EXPECT_FALSE(MeetsSlo(failed, slo));
  v1::LoadSlo tpot;
  tpot.set_tpot_seconds(0.01);
  EXPECT_TRUE(MeetsSlo(Ok({1.0, 1.005, 1.01}, 1.015), tpot));
  EXPECT_FALSE(MeetsSlo(Ok({1.0, 1.05}, 1.05), tpot));
  v1::LoadSlo e2e;
  e2e.set_e2e_seconds(1);
  EXPECT_FALSE(MeetsSlo(Ok({0.1}, 1.5), e2e));
  EXPECT_TRUE(MeetsSlo(Ok({}, 0.5), v1::LoadSlo()));
}

v1::EngineInfo Engine(const std::string& name) {
  v1::EngineInfo info;
  info.set_name(name);
  info.set_family(name);
  info.mutable_shape()->set_vocab(512);
  return info;
}

TEST(GoodputTest, CountsSucceededRequestsMeetingTheSlo) {
  v1::LoadSlo slo;
  slo.set_ttft_seconds(0.2);
  std::vector<RequestRecord> records = {Ok({0.1, 0.2}, 0.3), Ok({0.15}, 0.2),
                                        Ok({0.05}, 0.1), Ok({0.5, 0.6}, 0.7)};
  RequestRecord failed = Ok({}, 0.01);
  failed.status = absl::StatusCode::kUnavailable;
  records.push_back(failed);
  absl::StatusOr<v1::LoadReport> report =
      BuildLoadReport({.engines = {Engine("a")},
                       .records = records,
                       .sent = {5},
                       .duration_seconds = 2,
                       .slo = slo});
  ASSERT_TRUE(report.ok()) << report.status();
  const v1::LoadEngineResult& r = report->engines(0);
  EXPECT_EQ(r.good_requests(), 3);
  EXPECT_DOUBLE_EQ(r.goodput_requests_per_second(), 1.5);
  EXPECT_DOUBLE_EQ(r.slo_attainment(), 3.0 / 5);
  EXPECT_DOUBLE_EQ(r.requests_per_second(), 2.0);  // 4 ok / 2 s
  EXPECT_EQ(r.output_tokens(), 6);
  EXPECT_DOUBLE_EQ(r.output_tokens_per_second(), 3.0);
  EXPECT_EQ(r.ttft().count(), 4);
  EXPECT_EQ(r.itl().count(), 2);  // one gap each in two requests
  EXPECT_EQ(r.tpot().count(), 2);
  EXPECT_EQ(r.e2e().count(), 4);  // succeeded only
}

TEST(AccountingTest, SentEqualsSucceededPlusFailedByStatus) {
  std::vector<RequestRecord> records;
  const absl::StatusCode codes[] = {absl::StatusCode::kOk,
                                    absl::StatusCode::kOk,
                                    absl::StatusCode::kResourceExhausted,
                                    absl::StatusCode::kCancelled,
                                    absl::StatusCode::kResourceExhausted,
                                    absl::StatusCode::kOk};
  for (int i = 0; i < 6; ++i) {
    RequestRecord r = Ok({0.1}, 0.2);
    r.engine = i % 2;
    r.status = codes[i];
    records.push_back(r);
  }
  absl::StatusOr<v1::LoadReport> report =
      BuildLoadReport({.engines = {Engine("a"), Engine("b")},
                       .records = records,
                       .sent = {3, 3},
                       .duration_seconds = 1});
  ASSERT_TRUE(report.ok()) << report.status();
  const v1::LoadEngineResult& a = report->engines(0);
  EXPECT_EQ(a.sent(), 3);
  EXPECT_EQ(a.succeeded(), 1);
  EXPECT_EQ(a.failed(), 2);
  EXPECT_EQ(a.failed_by_status().at("RESOURCE_EXHAUSTED"), 2);
  const v1::LoadEngineResult& total = report->total();
  EXPECT_EQ(total.sent(), 6);
  EXPECT_EQ(total.succeeded() + total.failed(), 6);
  EXPECT_EQ(total.failed_by_status().at("CANCELLED"), 1);
  for (const v1::LoadEngineResult& r : report->engines()) {
    EXPECT_TRUE(CheckAccounting(r).ok());
  }
  EXPECT_EQ(AccountingLine(total),
            "sent 6 = 3 ok + 3 failed (CANCELLED 1, RESOURCE_EXHAUSTED 2)");
}

TEST(PreemptionTest, PreemptionsAndRecomputeAddUpPerEngineAndTotal) {
  std::vector<RequestRecord> records(4, Ok({0.1}, 0.2));
  records[0].preemptions = 2;
  records[0].recomputed_tokens = 300;
  records[2].preemptions = 1;
  records[2].recomputed_tokens = 40;
  records[3].engine = 1;
  absl::StatusOr<v1::LoadReport> report =
      BuildLoadReport({.engines = {Engine("a"), Engine("b")},
                       .records = records,
                       .sent = {3, 1},
                       .duration_seconds = 1});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->engines(0).preemptions(), 3);
  EXPECT_EQ(report->engines(0).preempted_requests(), 2);
  EXPECT_EQ(report->engines(0).recomputed_tokens(), 340);
  EXPECT_EQ(report->engines(1).preempted_requests(), 0);
  EXPECT_EQ(report->total().preempted_requests(), 2);
  EXPECT_THAT(FormatLoadTable(*report), HasSubstr("preempted"));
  EXPECT_THAT(FormatLoadCsv(*report), HasSubstr(",3,2,340,"));
}

TEST(AccountingTest, AMissingOrExtraRecordIsAnInternalError) {
  std::vector<RequestRecord> two = {Ok({0.1}, 0.1), Ok({0.1}, 0.1)};
  absl::StatusOr<v1::LoadReport> missing =
      BuildLoadReport({.engines = {Engine("a")}, .records = two, .sent = {3}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(missing.status().message(), HasSubstr("3 requests sent"));
  absl::StatusOr<v1::LoadReport> extra =
      BuildLoadReport({.engines = {Engine("a")}, .records = two, .sent = {1}});
  EXPECT_EQ(extra.status().code(), absl::StatusCode::kInternal);
  RequestRecord stray = Ok({}, 0);
  stray.engine = 5;
  EXPECT_EQ(BuildLoadReport(
                {.engines = {Engine("a")}, .records = {stray}, .sent = {1}})
                .status()
                .code(),
            absl::StatusCode::kInternal);

  v1::LoadEngineResult tampered;
  tampered.set_sent(4);
  tampered.set_succeeded(2);
  tampered.set_failed(2);
  (*tampered.mutable_failed_by_status())["UNAVAILABLE"] = 1;
  EXPECT_EQ(CheckAccounting(tampered).code(), absl::StatusCode::kInternal);
}

TEST(RecallBucketTest, PowerOfTwoBucketsByContext) {
  int64_t lo, hi;
  RecallBucketBounds(0, &lo, &hi);
  EXPECT_EQ(std::make_pair(lo, hi), std::make_pair(int64_t{0}, int64_t{0}));
  RecallBucketBounds(1, &lo, &hi);
  EXPECT_EQ(std::make_pair(lo, hi), std::make_pair(int64_t{1}, int64_t{1}));
  RecallBucketBounds(5, &lo, &hi);
  EXPECT_EQ(std::make_pair(lo, hi), std::make_pair(int64_t{4}, int64_t{7}));
  RecallBucketBounds(1024, &lo, &hi);
  EXPECT_EQ(std::make_pair(lo, hi),
            std::make_pair(int64_t{1024}, int64_t{2047}));

  RequestRecord r = Ok({0.1, 0.2, 0.3}, 0.3);
  r.probes = {{100, true}, {120, false}, {300, true}};
  absl::StatusOr<v1::LoadReport> report =
      BuildLoadReport({.engines = {Engine("a")}, .records = {r}, .sent = {1}});
  ASSERT_TRUE(report.ok());
  const v1::LoadEngineResult& e = report->engines(0);
  EXPECT_EQ(e.probes(), 3);
  EXPECT_EQ(e.hits(), 2);
  ASSERT_EQ(e.recall_by_context_size(), 2);
  EXPECT_EQ(e.recall_by_context(0).min_context_tokens(), 64);
  EXPECT_EQ(e.recall_by_context(0).max_context_tokens(), 127);
  EXPECT_DOUBLE_EQ(e.recall_by_context(0).recall(), 0.5);
  EXPECT_EQ(e.recall_by_context(1).min_context_tokens(), 256);
  EXPECT_DOUBLE_EQ(e.recall_by_context(1).recall(), 1.0);
}

TEST(NiahTest, NeedleSitsAtItsDepthAndTheQueryEndsThePrompt) {
  for (const auto& [depth, at] :
       std::vector<std::pair<double, int>>{{0.25, 25}, {0, 0}, {1, 100}}) {
    absl::StatusOr<RequestPlan> plan = MakeNiahPlan(512, 100, depth, 9);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_FALSE(plan->session);
    ASSERT_EQ(plan->turns.size(), 1u);
    const PlannedTurn& t = plan->turns[0];
    ASSERT_EQ(t.prompt.size(), 103u);
    ASSERT_EQ(t.expected.size(), 1u);
    const int32_t key = t.prompt.back(), value = t.expected[0];
    EXPECT_LT(key, 256);
    EXPECT_GE(value, 256);
    EXPECT_EQ(t.prompt[at], key) << "depth " << depth;
    EXPECT_EQ(t.prompt[at + 1], value);
    EXPECT_EQ(t.distance, 100 - at);
    // The needle is the only occurrence of its key and value.
    int keys = 0, values = 0;
    for (int32_t token : t.prompt) {
      keys += token == key;
      values += token == value;
      EXPECT_GE(token, 0);
      EXPECT_LT(token, 512);
    }
    EXPECT_EQ(keys, 2);  // needle and query
    EXPECT_EQ(values, 1);
  }
  EXPECT_FALSE(MakeNiahPlan(512, 100, 1.5, 9).ok());
  EXPECT_EQ(MakeNiahPlan(512, 100, 0.5, 9)->turns[0].prompt,
            MakeNiahPlan(512, 100, 0.5, 9)->turns[0].prompt);
}

// The position of the value answering `key`'s query in the appended facts.
int64_t ValuePosition(const RequestPlan& plan, int32_t value) {
  for (size_t i = 0; i < plan.append.size(); ++i) {
    if (plan.append[i] == value) return static_cast<int64_t>(i);
  }
  return -1;
}

TEST(MqarPlanTest, DistancesCountTokensBetweenValueAndQuery) {
  for (int32_t noise : {0, 3}) {
    absl::StatusOr<RequestPlan> plan =
        MakeMqarPlan(512, 16, 40, noise, {QueryDistance::kUniform, 1}, 5);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_TRUE(plan->session);
    EXPECT_EQ(plan->append.size(), 16u * (2 + noise));
    ASSERT_EQ(plan->turns.size(), 40u);
    std::set<int32_t> stored(plan->append.begin(), plan->append.end());
    for (size_t q = 0; q < plan->turns.size(); ++q) {
      const PlannedTurn& t = plan->turns[q];
      ASSERT_EQ(t.prompt.size(), 1u);
      const int64_t at = ValuePosition(*plan, t.expected[0]);
      ASSERT_GE(at, 1);
      EXPECT_EQ(plan->append[at - 1], t.prompt[0]) << "key precedes value";
      EXPECT_EQ(t.distance,
                static_cast<int64_t>(plan->append.size()) + 2 * q - at - 1);
    }
    if (noise == 0) {
      // The Zoology convention of MqarWorkload: 2 (N - 1 - i) + 2 q.
      const PlannedTurn& first = plan->turns[0];
      const int64_t pair = ValuePosition(*plan, first.expected[0]) / 2;
      EXPECT_EQ(first.distance, 2 * (16 - 1 - pair));
    } else {
      // Noise never repeats a stored key or value.
      for (int32_t i = 0; i < 16; ++i) {
        const int32_t key = plan->append[i * 5],
                      value = plan->append[i * 5 + 1];
        for (int j = 0; j < 3; ++j) {
          const int32_t n = plan->append[i * 5 + 2 + j];
          EXPECT_NE(n, key);
          EXPECT_NE(n, value);
          EXPECT_LT(n, 512);
        }
      }
    }
  }
}

TEST(MqarPlanTest, PowerLawAsksRecentPairsMoreThanUniform) {
  constexpr int kPairs = 32, kQueries = 4000;
  auto counts_by_age = [&](QueryDistance d) {
    absl::StatusOr<RequestPlan> plan =
        MakeMqarPlan(512, kPairs, kQueries, 0, d, 11);
    EXPECT_TRUE(plan.ok());
    std::vector<int> counts(kPairs, 0);
    for (const PlannedTurn& t : plan->turns) {
      const int64_t pair = ValuePosition(*plan, t.expected[0]) / 2;
      ++counts[kPairs - 1 - pair];  // 0 = the latest pair
    }
    return counts;
  };
  const std::vector<int> uniform = counts_by_age({QueryDistance::kUniform, 1});
  for (int c : uniform) {
    EXPECT_GT(c, kQueries / kPairs / 2);
    EXPECT_LT(c, kQueries / kPairs * 2);
  }
  const std::vector<int> power = counts_by_age({QueryDistance::kPowerLaw, 1.5});
  // P(latest) / P(oldest) = 32^1.5 ~ 181.
  EXPECT_GT(power[0], 20 * std::max(power[kPairs - 1], 1));
  EXPECT_GT(power[0], power[1]);
  EXPECT_GT(power[1], power[3]);
  EXPECT_TRUE(ParseQueryDistance("--query_distance", "powerlaw:2").ok());
  EXPECT_EQ(ParseQueryDistance("--query_distance", "powerlaw:2")->alpha, 2);
  EXPECT_FALSE(ParseQueryDistance("--query_distance", "zipf").ok());
  EXPECT_FALSE(ParseQueryDistance("--query_distance", "powerlaw:-1").ok());
}

TEST(LengthDistributionTest, ParsesAndSamplesWithinBounds) {
  absl::StatusOr<LengthDistribution> fixed =
      ParseLengthDistribution("--x", "64", 1, 1000);
  ASSERT_TRUE(fixed.ok());
  std::mt19937_64 rng(1);
  EXPECT_EQ(fixed->Sample(rng), 64);
  EXPECT_EQ(fixed->ToString(), "fixed:64");

  absl::StatusOr<LengthDistribution> uniform =
      ParseLengthDistribution("--x", "uniform:16:20", 1, 1000);
  ASSERT_TRUE(uniform.ok());
  std::set<int64_t> seen;
  for (int i = 0; i < 500; ++i) seen.insert(uniform->Sample(rng));
  EXPECT_EQ(seen, (std::set<int64_t>{16, 17, 18, 19, 20}));

  absl::StatusOr<LengthDistribution> normal =
      ParseLengthDistribution("--x", "normal:100:10", 1, 1000);
  ASSERT_TRUE(normal.ok());
  double sum = 0;
  for (int i = 0; i < 4000; ++i) {
    sum += static_cast<double>(normal->Sample(rng));
  }
  EXPECT_NEAR(sum / 4000, 100, 1.0);
  // Clamped to the bounds.
  absl::StatusOr<LengthDistribution> wide =
      ParseLengthDistribution("--x", "normal:2:50", 1, 1000);
  for (int i = 0; i < 200; ++i) EXPECT_GE(wide->Sample(rng), 1);

  for (const char* bad :
       {"uniform:5:2", "normal:1", "abc", "0", "fixed:2000", "uniform:1:x"}) {
    EXPECT_FALSE(ParseLengthDistribution("--x", bad, 1, 1000).ok()) << bad;
  }
}

TEST(WorkloadMixTest, WeightsPickWorkloadsInProportion) {
  absl::StatusOr<WorkloadMix> mix =
      ParseWorkloadMix("--workload", "mqar:3,random:1");
  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 2u);
  EXPECT_FALSE(ParseWorkloadMix("--workload", "mqar,mqar").ok());
  EXPECT_FALSE(ParseWorkloadMix("--workload", "mqar:0").ok());
  EXPECT_FALSE(ParseWorkloadMix("--workload", "chat").ok());

  WorkloadOptions options;
  options.mix = *mix;
  options.pairs = {4};
  options.queries = 2;
  options.prompt_tokens = *ParseLengthDistribution("--p", "8", 1, 100);
  options.output_tokens = *ParseLengthDistribution("--o", "3", 1, 100);
  std::map<WorkloadKind, int> counts;
  for (uint64_t seed = 0; seed < 4000; ++seed) {
    absl::StatusOr<RequestPlan> plan = PlanRequest(options, 512, seed);
    ASSERT_TRUE(plan.ok());
    ++counts[plan->kind];
    if (plan->kind == WorkloadKind::kRandom) {
      ASSERT_EQ(plan->turns.size(), 1u);
      EXPECT_EQ(plan->turns[0].prompt.size(), 8u);
      EXPECT_EQ(plan->turns[0].max_new_tokens, 3);
      EXPECT_TRUE(plan->turns[0].expected.empty());
    }
  }
  EXPECT_NEAR(counts[WorkloadKind::kMqar] / 4000.0, 0.75, 0.03);
  EXPECT_EQ(counts[WorkloadKind::kNiah], 0);
}

v1::LoadReport SampleReport() {
  RequestRecord a = Ok({0.01, 0.02, 0.03}, 0.04);
  a.probes = {{70, true}};
  a.finish_reasons = {v1::LENGTH};
  RequestRecord b = Ok({}, 0.01);
  b.engine = 1;
  b.status = absl::StatusCode::kResourceExhausted;
  absl::StatusOr<v1::LoadReport> report =
      BuildLoadReport({.engines = {Engine("attention"), Engine("mamba")},
                       .records = {a, b},
                       .sent = {1, 1},
                       .duration_seconds = 1});
  EXPECT_TRUE(report.ok());
  report->set_seed(7);
  report->mutable_settings()->set_arrivals("closed");
  report->mutable_settings()->set_concurrency(2);
  report->mutable_settings()->set_workload("mqar");
  return *report;
}

// The load CSV's columns, written out: a renamed, dropped or reordered
// column changes what spreadsheets and scripts read, so it must fail here.
constexpr const char* kLoadCsvHeader =
    "engine,family,sent,succeeded,failed,failed_by_status,finish_reasons,"
    "prompt_tokens,output_tokens,requests_per_second,output_tokens_per_second,"
    "good_requests,goodput_requests_per_second,slo_attainment,probes,hits,"
    "recall,recall_by_context,peak_state_bytes,mean_state_bytes,"
    "flops_per_token,preemptions,preempted_requests,recomputed_tokens,"
    "ttft_count,ttft_mean_s,ttft_p50_s,ttft_p90_s,ttft_p99_s,ttft_max_s,"
    "itl_count,itl_mean_s,itl_p50_s,itl_p90_s,itl_p99_s,itl_max_s,"
    "tpot_count,tpot_mean_s,tpot_p50_s,tpot_p90_s,tpot_p99_s,tpot_max_s,"
    "e2e_count,e2e_mean_s,e2e_p50_s,e2e_p90_s,e2e_p99_s,e2e_max_s";

// Each data line of `csv` as column name -> field, by the header's names.
std::vector<std::map<std::string, std::string>> CsvRecords(
    const std::string& csv) {
  const std::vector<std::string> lines =
      absl::StrSplit(csv, '\n', absl::SkipEmpty());
  std::vector<std::map<std::string, std::string>> records;
  if (lines.empty()) return records;
  const std::vector<std::string> header = testing::SplitCsvLine(lines[0]);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> fields = testing::SplitCsvLine(lines[i]);
    EXPECT_EQ(fields.size(), header.size()) << lines[i];
    std::map<std::string, std::string> record;
    for (size_t c = 0; c < std::min(fields.size(), header.size()); ++c) {
      record[header[c]] = fields[c];
    }
    records.push_back(std::move(record));
  }
  return records;
}

TEST(LoadOutputTest, CsvHasTheHeaderAndOneRowPerEngineAndTotal) {
  const v1::LoadReport report = SampleReport();
  const std::string csv = FormatLoadCsv(report);
  ASSERT_EQ(csv.substr(0, csv.find('\n')), kLoadCsvHeader);
  std::vector<std::map<std::string, std::string>> rows = CsvRecords(csv);
  ASSERT_EQ(rows.size(), 3u);  // attention, mamba, all
  const v1::LoadEngineResult* results[] = {&report.engines(0),
                                           &report.engines(1), &report.total()};
  for (size_t i = 0; i < rows.size(); ++i) {
    const v1::LoadEngineResult& want = *results[i];
    std::map<std::string, std::string> row = rows[i];
    SCOPED_TRACE(want.engine());
    EXPECT_EQ(row["engine"], want.engine());
    EXPECT_EQ(row["family"], want.family());
    EXPECT_EQ(row["sent"], absl::StrCat(want.sent()));
    EXPECT_EQ(row["succeeded"], absl::StrCat(want.succeeded()));
    EXPECT_EQ(row["failed"], absl::StrCat(want.failed()));
    EXPECT_EQ(row["probes"], absl::StrCat(want.probes()));
    EXPECT_EQ(row["hits"], absl::StrCat(want.hits()));
    EXPECT_EQ(row["output_tokens"], absl::StrCat(want.output_tokens()));
    EXPECT_EQ(row["peak_state_bytes"], absl::StrCat(want.peak_state_bytes()));
    EXPECT_EQ(row["ttft_count"], absl::StrCat(want.ttft().count()));
    EXPECT_EQ(row["itl_count"], absl::StrCat(want.itl().count()));
    EXPECT_EQ(row["e2e_count"], absl::StrCat(want.e2e().count()));
    double max_ttft = -1;
    ASSERT_TRUE(absl::SimpleAtod(row["ttft_max_s"], &max_ttft))
        << row["ttft_max_s"];
    EXPECT_NEAR(max_ttft, want.ttft().max_seconds(), 1e-9);
  }
  EXPECT_EQ(rows[0]["engine"], "attention");
  EXPECT_EQ(rows[0]["recall_by_context"], "64-127:1/1");
  EXPECT_EQ(rows[0]["failed_by_status"], "");
  EXPECT_EQ(rows[1]["engine"], "mamba");
  EXPECT_EQ(rows[1]["failed_by_status"], "RESOURCE_EXHAUSTED:1");
  EXPECT_EQ(rows[2]["engine"], "all");
  EXPECT_EQ(rows[2]["sent"], "2");
  EXPECT_EQ(rows[2]["failed"], "1");
}

TEST(LoadOutputTest, JsonIsTheLoadReportMessage) {
  const v1::LoadReport report = SampleReport();
  absl::StatusOr<std::string> json = ToJson(report);
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr("\"p99Seconds\""));
  EXPECT_THAT(*json, HasSubstr("\"failedByStatus\""));
  v1::LoadReport parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_EQ(parsed.engines_size(), 2);
  EXPECT_EQ(parsed.total().sent(), 2);
  EXPECT_EQ(parsed.engines(0).ttft().count(), 1);
}

TEST(LoadOutputTest, TableAccountsForEveryRequest) {
  const std::string table = FormatLoadTable(SampleReport());
  EXPECT_THAT(table, HasSubstr("attention"));
  EXPECT_THAT(table, HasSubstr("p99"));
  EXPECT_THAT(table, HasSubstr("64-127"));
  EXPECT_THAT(table, HasSubstr("closed loop, concurrency 2"));
  EXPECT_THAT(table,
              HasSubstr("all requests accounted for: sent 2 = 1 ok + 1 failed "
                        "(RESOURCE_EXHAUSTED 1)"));
  EXPECT_TRUE(ParseReportFormat("--format", "csv").ok());
  EXPECT_FALSE(ParseReportFormat("--format", "xml").ok());
}

TEST(LoadOutputTest, ProgressLine) {
  const std::string line = FormatLoadProgress({.sent = 40,
                                               .finished = 32,
                                               .failed = 1,
                                               .in_flight = 8,
                                               .elapsed_seconds = 4.1},
                                              64, 0);
  EXPECT_EQ(line,
            "[############............] 40/64 sent  32 done  1 failed  8 in "
            "flight  4.1 s");
}

}  // namespace
}  // namespace trilemma::client
