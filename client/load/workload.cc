#include "client/load/workload.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/common/mqar_workload.h"

namespace trilemma::client {
namespace {

absl::Status Invalid(absl::string_view flag, absl::string_view text,
                     absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' ", why));
}

}  // namespace

double Uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

double StandardNormal(std::mt19937_64& rng) {
  const double u1 = 1.0 - Uniform01(rng);  // (0, 1]
  const double u2 = Uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

const char* WorkloadName(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kMqar:
      return "mqar";
    case WorkloadKind::kNiah:
      return "niah";
    case WorkloadKind::kRandom:
      return "random";
    case WorkloadKind::kPasskey:
      return "passkey";
    case WorkloadKind::kPhonebook:
      return "phonebook";
  }
  return "?";
}

int64_t LengthDistribution::Sample(std::mt19937_64& rng) const {
  double value = a;
  switch (kind) {
    case kFixed:
      break;
    case kUniform: {
      const int64_t low = static_cast<int64_t>(a);
      const int64_t high = static_cast<int64_t>(b);
      value = static_cast<double>(
          low + static_cast<int64_t>(UniformBelow(rng, high - low + 1)));
      break;
    }
    case kNormal:
      value = std::round(a + b * StandardNormal(rng));
      break;
  }
  return std::clamp(static_cast<int64_t>(std::clamp(value, -9e18, 9e18)), min,
                    max);
}

std::string LengthDistribution::ToString() const {
  switch (kind) {
    case kFixed:
      return absl::StrCat("fixed:", static_cast<int64_t>(a));
    case kUniform:
      return absl::StrCat("uniform:", static_cast<int64_t>(a), ":",
                          static_cast<int64_t>(b));
    case kNormal:
      return absl::StrFormat("normal:%g:%g", a, b);
  }
  return "?";
}

absl::StatusOr<LengthDistribution> ParseLengthDistribution(
    absl::string_view flag, absl::string_view text, int64_t min, int64_t max) {
  const std::vector<std::string> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ':');
  LengthDistribution d;
  d.min = min;
  d.max = max;
  std::vector<double> numbers;
  for (size_t i = 1; i < parts.size(); ++i) {
    double x;
    if (!absl::SimpleAtod(parts[i], &x) || !std::isfinite(x)) {
      return Invalid(flag, text,
                     absl::StrCat("has a bad number '", parts[i], "'"));
    }
    numbers.push_back(x);
  }
  const std::string& name = parts[0];
  int64_t plain;
  const std::string range = absl::StrCat("[", min, ", ", max, "]");
  if (parts.size() == 1 && absl::SimpleAtoi(name, &plain)) {
    numbers = {static_cast<double>(plain)};
  } else if (name == "fixed" && numbers.size() == 1) {
  } else if (name == "uniform" && numbers.size() == 2) {
    d.kind = LengthDistribution::kUniform;
  } else if (name == "normal" && numbers.size() == 2) {
    d.kind = LengthDistribution::kNormal;
  } else {
    return Invalid(flag, text,
                   "is not N, fixed:N, uniform:LOW:HIGH or normal:MEAN:STD");
  }
  d.a = numbers[0];
  d.b = numbers.size() > 1 ? numbers[1] : 0;
  switch (d.kind) {
    case LengthDistribution::kFixed:
      if (d.a != std::floor(d.a) || d.a < min || d.a > max) {
        return Invalid(flag, text, absl::StrCat("needs an integer in ", range));
      }
      break;
    case LengthDistribution::kUniform:
      if (d.a != std::floor(d.a) || d.b != std::floor(d.b) || d.a < min ||
          d.b > max || d.a > d.b) {
        return Invalid(flag, text,
                       absl::StrCat("needs integers LOW <= HIGH in ", range));
      }
      break;
    case LengthDistribution::kNormal:
      if (d.a < min || d.a > max || d.b < 0) {
        return Invalid(flag, text,
                       absl::StrCat("needs a mean in ", range,
                                    " and a standard deviation >= 0"));
      }
      break;
  }
  return d;
}

absl::StatusOr<WorkloadMix> ParseWorkloadMix(absl::string_view flag,
                                             absl::string_view text) {
  WorkloadMix mix;
  std::set<WorkloadKind> seen;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    const std::pair<absl::string_view, absl::string_view> name_weight =
        absl::StrSplit(item, absl::MaxSplits(':', 1));
    WorkloadWeight entry{WorkloadKind::kMqar, 1.0};
    if (name_weight.first == "mqar") {
      entry.kind = WorkloadKind::kMqar;
    } else if (name_weight.first == "niah") {
      entry.kind = WorkloadKind::kNiah;
    } else if (name_weight.first == "random") {
      entry.kind = WorkloadKind::kRandom;
    } else if (name_weight.first == "passkey") {
      entry.kind = WorkloadKind::kPasskey;
    } else if (name_weight.first == "phonebook") {
      entry.kind = WorkloadKind::kPhonebook;
    } else {
      return Invalid(flag, item,
                     "is not mqar, niah, random, passkey or phonebook "
                     "(NAME[:WEIGHT])");
    }
    if (!name_weight.second.empty() &&
        (!absl::SimpleAtod(name_weight.second, &entry.weight) ||
         !(entry.weight > 0) || !std::isfinite(entry.weight))) {
      return Invalid(flag, item, "needs a weight > 0 after ':'");
    }
    if (!seen.insert(entry.kind).second) {
      return Invalid(flag, item, "names a workload twice");
    }
    mix.push_back(entry);
  }
  return mix;
}

absl::StatusOr<QueryDistance> ParseQueryDistance(absl::string_view flag,
                                                 absl::string_view text) {
  if (text == "uniform") return QueryDistance{QueryDistance::kUniform, 1.0};
  if (text == "powerlaw") return QueryDistance{QueryDistance::kPowerLaw, 1.0};
  QueryDistance d{QueryDistance::kPowerLaw, 1.0};
  if (absl::ConsumePrefix(&text, "powerlaw:") &&
      absl::SimpleAtod(text, &d.alpha) && d.alpha > 0 &&
      std::isfinite(d.alpha)) {
    return d;
  }
  return Invalid(flag, text,
                 "is not uniform, powerlaw or powerlaw:ALPHA (ALPHA > 0)");
}

absl::StatusOr<std::vector<int32_t>> MakeFiller(
    int32_t vocab, const std::vector<int32_t>& exclude, int64_t count,
    std::mt19937_64& rng) {
  std::vector<bool> excluded(std::max(vocab, 0), false);
  for (int32_t token : exclude) {
    if (token >= 0 && token < vocab) excluded[token] = true;
  }
  std::vector<int32_t> allowed;
  for (int32_t t = 0; t < vocab; ++t) {
    if (!excluded[t]) allowed.push_back(t);
  }
  std::vector<int32_t> filler;
  if (count <= 0) return filler;
  if (allowed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "filler: every token of vocab ", vocab, " is a key or a value"));
  }
  filler.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    filler.push_back(allowed[UniformBelow(rng, allowed.size())]);
  }
  return filler;
}

absl::StatusOr<RequestPlan> MakeMqarPlan(int32_t vocab, int32_t pairs,
                                         int32_t queries, int32_t noise,
                                         const QueryDistance& distance,
                                         uint64_t seed) {
  if (noise < 0) {
    return absl::InvalidArgumentError(absl::StrCat("noise: ", noise, " < 0"));
  }
  absl::StatusOr<MqarWorkload> facts = MakeMqarWorkload(
      {.vocab = vocab, .pairs = pairs, .queries = 0, .seed = seed});
  if (!facts.ok()) return facts.status();
  std::mt19937_64 rng(DeriveSeed(seed, 1));
  std::vector<int32_t> stored = facts->keys;
  stored.insert(stored.end(), facts->values.begin(), facts->values.end());
  absl::StatusOr<std::vector<int32_t>> filler =
      MakeFiller(vocab, stored, static_cast<int64_t>(noise) * pairs, rng);
  if (!filler.ok()) return filler.status();

  RequestPlan plan;
  plan.kind = WorkloadKind::kMqar;
  plan.session = true;
  std::vector<int64_t> value_position(pairs);
  for (int32_t i = 0; i < pairs; ++i) {
    plan.append.push_back(facts->keys[i]);
    value_position[i] = static_cast<int64_t>(plan.append.size());
    plan.append.push_back(facts->values[i]);
    plan.append.insert(plan.append.end(), filler->begin() + i * noise,
                       filler->begin() + (i + 1) * noise);
  }

  // Cumulative weights of "r-th pair from the end", r = 1..pairs.
  std::vector<double> cumulative;
  if (distance.kind == QueryDistance::kPowerLaw) {
    double total = 0;
    for (int32_t r = 1; r <= pairs; ++r) {
      total += std::pow(static_cast<double>(r), -distance.alpha);
      cumulative.push_back(total);
    }
  }
  const int64_t context = static_cast<int64_t>(plan.append.size());
  for (int32_t q = 0; q < queries; ++q) {
    int32_t pair;
    if (distance.kind == QueryDistance::kUniform) {
      pair = static_cast<int32_t>(UniformBelow(rng, pairs));
    } else {
      const double u = Uniform01(rng) * cumulative.back();
      // 0 is the latest pair.
      const int32_t from_end = static_cast<int32_t>(
          std::upper_bound(cumulative.begin(), cumulative.end(), u) -
          cumulative.begin());
      pair = pairs - 1 - std::min(from_end, pairs - 1);
    }
    PlannedTurn turn;
    turn.prompt = {facts->keys[pair]};
    turn.expected = {facts->values[pair]};
    // The key of query q sits at context + 2q.
    turn.distance =
        context + 2 * static_cast<int64_t>(q) - value_position[pair] - 1;
    plan.turns.push_back(std::move(turn));
  }
  return plan;
}

absl::StatusOr<RequestPlan> MakeNiahPlan(int32_t vocab, int64_t haystack,
                                         double depth, uint64_t seed) {
  if (haystack < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("haystack: ", haystack, " < 0"));
  }
  if (!(depth >= 0 && depth <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("depth: ", depth, " not in [0, 1]"));
  }
  absl::StatusOr<MqarWorkload> needle = MakeMqarWorkload(
      {.vocab = vocab, .pairs = 1, .queries = 0, .seed = seed});
  if (!needle.ok()) return needle.status();
  const int32_t key = needle->keys[0], value = needle->values[0];
  std::mt19937_64 rng(DeriveSeed(seed, 1));
  absl::StatusOr<std::vector<int32_t>> hay =
      MakeFiller(vocab, {key, value}, haystack, rng);
  if (!hay.ok()) return hay.status();
  const int64_t at =
      std::clamp<int64_t>(std::llround(depth * haystack), 0, haystack);

  PlannedTurn turn;
  turn.prompt.reserve(haystack + 3);
  turn.prompt.insert(turn.prompt.end(), hay->begin(), hay->begin() + at);
  turn.prompt.push_back(key);
  turn.prompt.push_back(value);
  turn.prompt.insert(turn.prompt.end(), hay->begin() + at, hay->end());
  turn.prompt.push_back(key);
  turn.expected = {value};
  turn.distance = haystack - at;
  RequestPlan plan;
  plan.kind = WorkloadKind::kNiah;
  plan.turns.push_back(std::move(turn));
  return plan;
}

absl::StatusOr<RequestPlan> MakeRandomPlan(
    int32_t vocab, const LengthDistribution& prompt_tokens,
    const LengthDistribution& output_tokens, uint64_t seed) {
  if (vocab < 1) {
    return absl::InvalidArgumentError(absl::StrCat("vocab: ", vocab, " < 1"));
  }
  std::mt19937_64 rng(seed);
  const int64_t length = std::max<int64_t>(1, prompt_tokens.Sample(rng));
  PlannedTurn turn;
  turn.max_new_tokens = static_cast<int32_t>(
      std::clamp<int64_t>(output_tokens.Sample(rng), 1, 65536));
  turn.prompt.reserve(length);
  for (int64_t i = 0; i < length; ++i) {
    turn.prompt.push_back(static_cast<int32_t>(UniformBelow(rng, vocab)));
  }
  RequestPlan plan;
  plan.kind = WorkloadKind::kRandom;
  plan.turns.push_back(std::move(turn));
  return plan;
}

absl::StatusOr<RequestPlan> PlanRequest(const WorkloadOptions& options,
                                        int32_t vocab, uint64_t seed) {
  if (options.mix.empty()) {
    return absl::InvalidArgumentError("workload: empty mix");
  }
  std::mt19937_64 rng(DeriveSeed(seed, 0));
  double total = 0;
  for (const WorkloadWeight& w : options.mix) total += w.weight;
  const double pick = Uniform01(rng) * total;
  WorkloadKind kind = options.mix.back().kind;
  double sum = 0;
  for (const WorkloadWeight& w : options.mix) {
    sum += w.weight;
    if (pick < sum) {
      kind = w.kind;
      break;
    }
  }
  const uint64_t plan_seed = DeriveSeed(seed, 2);
  switch (kind) {
    case WorkloadKind::kMqar: {
      if (options.pairs.empty()) {
        return absl::InvalidArgumentError("pairs: empty list");
      }
      const int32_t pairs =
          options.pairs[UniformBelow(rng, options.pairs.size())];
      return MakeMqarPlan(vocab, pairs, options.queries, options.noise,
                          options.query_distance, plan_seed);
    }
    case WorkloadKind::kNiah: {
      if (options.depths.empty()) {
        return absl::InvalidArgumentError("depth: empty list");
      }
      const int64_t haystack = options.haystack.Sample(rng);
      const double depth =
          options.depths[UniformBelow(rng, options.depths.size())];
      return MakeNiahPlan(vocab, haystack, depth, plan_seed);
    }
    case WorkloadKind::kRandom:
      return MakeRandomPlan(vocab, options.prompt_tokens, options.output_tokens,
                            plan_seed);
    case WorkloadKind::kPasskey:
    case WorkloadKind::kPhonebook: {
      RequestPlan plan;
      plan.kind = kind;
      if (kind == WorkloadKind::kPasskey) {
        if (options.depths.empty()) {
          return absl::InvalidArgumentError("depth: empty list");
        }
        const int64_t words = options.context_words.Sample(rng);
        const double depth =
            options.depths[UniformBelow(rng, options.depths.size())];
        plan.text = MakePasskeyPlan(words, depth, plan_seed);
      } else {
        if (options.entries.empty()) {
          return absl::InvalidArgumentError("entries: empty list");
        }
        plan.text = MakePhonebookPlan(
            options.entries[UniformBelow(rng, options.entries.size())],
            plan_seed);
      }
      PlannedTurn turn;
      turn.max_new_tokens = plan.text->max_tokens;
      plan.turns.push_back(std::move(turn));
      return plan;
    }
  }
  return absl::InternalError("workload: unknown kind");
}

}  // namespace trilemma::client
