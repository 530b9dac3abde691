#include "tests/engines/conformance_cases.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engines/registry.h"

namespace trilemma::conformance {
namespace {

std::string Sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9');
    out.push_back(ok ? c : '_');
  }
  return out;
}

std::map<std::string, std::string> Shrink() {
  return {{"d_model", absl::StrCat(kDModel)}, {"vocab", absl::StrCat(kVocab)}};
}

// The knobs a case is created with: given ones plus the shrink knobs not
// given and not in `dropped`.
std::map<std::string, std::string> MergedKnobs(
    const ConformanceCase& c, const std::set<std::string>& dropped) {
  std::map<std::string, std::string> knobs = c.knobs;
  for (const auto& [k, v] : c.shrink) {
    if (!dropped.contains(k)) knobs.emplace(k, v);
  }
  return knobs;
}

}  // namespace

std::vector<ConformanceCase> AllConformanceCases() {
  std::vector<ConformanceCase> cases;
  std::set<std::string> names;
  auto add = [&](ConformanceCase c) {
    // Keep names unique whatever the families register.
    std::string name = c.test_name;
    for (int i = 2; !names.insert(name).second; ++i) {
      name = absl::StrCat(c.test_name, "_", i);
    }
    c.test_name = name;
    cases.push_back(std::move(c));
  };
  for (const EngineFamily* family : RegisteredEngineFamilies()) {
    for (const EngineSpec& spec : family->default_specs) {
      ConformanceCase c;
      c.family = family->name;
      c.engine_name = spec.name;
      c.test_name = Sanitize(spec.name);
      c.knobs = spec.knobs;
      // Presets are shrunk even when they set a size themselves.
      c.knobs.erase("d_model");
      c.knobs.erase("vocab");
      c.shrink = Shrink();
      add(std::move(c));
    }
    for (const auto& knobs : family->conformance_knobs) {
      ConformanceCase c;
      c.family = family->name;
      c.test_name = family->name;
      for (const auto& [k, v] : knobs) {
        absl::StrAppend(&c.test_name, "__", k, "_", v);
      }
      c.test_name = Sanitize(c.test_name);
      c.engine_name = c.test_name;
      c.knobs = knobs;
      c.shrink = Shrink();
      add(std::move(c));
    }
  }
  return cases;
}

std::vector<ConformanceCase> CheckpointConformanceCases() {
  std::vector<ConformanceCase> cases;
  for (absl::string_view name :
       absl::StrSplit(TRILEMMA_CHECKPOINT_CASES, ',', absl::SkipEmpty())) {
    ConformanceCase c;
    // The family each architecture's loader reports (EngineInfo.family).
    c.family = absl::StartsWith(name, "neox")      ? "gpt_neox"
               : absl::StartsWith(name, "llama")   ? "llama"
               : absl::StartsWith(name, "mistral") ? "llama"
               : absl::StartsWith(name, "mamba2")  ? "mamba2"
               : absl::StartsWith(name, "mamba")   ? "mamba"
               : absl::StartsWith(name, "gdn")     ? "gated_deltanet"
               : absl::StartsWith(name, "rwkv7")   ? "rwkv7"
                                                   : "unknown";
    c.test_name = Sanitize(std::string{name});
    c.engine_name = c.test_name;
    c.checkpoint = std::string{name};
    cases.push_back(c);
    // The kv_dtype knob through the checkpoint path (docs/kv_compression.md):
    // int8 on GPT-NeoX, int4 on grouped-query Llama.
    const std::string dtype = name == "neox"        ? "int8"
                              : name == "llama_gqa" ? "int4"
                                                    : "";
    if (!dtype.empty()) {
      c.test_name = absl::StrCat(c.test_name, "_", dtype);
      c.engine_name = c.test_name;
      c.knobs = {{"kv_dtype", dtype}};
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

std::string ConformanceCaseName(
    const ::testing::TestParamInfo<ConformanceCase>& info) {
  return info.param.test_name;
}

std::string DescribeCase(const ConformanceCase& c) {
  return absl::StrCat(
      c.family, " {",
      absl::StrJoin(MergedKnobs(c, {}), ", ", absl::PairFormatter("=")), "}");
}

void PrintTo(const ConformanceCase& c, std::ostream* os) {
  *os << DescribeCase(c);
}

EngineSpec CaseSpec(const ConformanceCase& c) {
  EngineSpec spec;
  spec.name = c.engine_name;
  spec.knobs = c.knobs;
  if (c.checkpoint.empty()) {
    spec.family = c.family;
    return spec;
  }
  // Unset (outside ctest), the path is relative and the load fails with
  // NOT_FOUND naming it.
  const char* root = std::getenv("TRILEMMA_TEST_CHECKPOINTS");
  spec.checkpoint =
      absl::StrCat(root != nullptr ? root : "TRILEMMA_TEST_CHECKPOINTS-unset",
                   "/", c.checkpoint);
  return spec;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateCaseEngine(
    const ConformanceCase& c, int64_t budget, const std::string& name_suffix) {
  EngineSpec spec = CaseSpec(c);
  spec.name = c.engine_name + name_suffix;
  spec.state_budget_bytes = budget;
  if (!c.checkpoint.empty()) return CreateEngine(spec);
  std::set<std::string> dropped;
  while (true) {
    spec.knobs = MergedKnobs(c, dropped);
    absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(spec);
    if (engine.ok() || !absl::IsInvalidArgument(engine.status())) return engine;
    // Knobs::Finish reports an unknown knob as "knobs.<name>: unknown knob".
    bool retry = false;
    for (const auto& [k, v] : c.shrink) {
      if (c.knobs.contains(k) || dropped.contains(k)) continue;
      if (absl::StrContains(engine.status().message(),
                            absl::StrCat("knobs.", k, ": unknown knob"))) {
        dropped.insert(k);
        retry = true;
      }
    }
    if (!retry) return engine;
  }
}

std::vector<int32_t> RandomTokens(int64_t n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> tokens(n);
  for (int32_t& t : tokens) t = pick(rng);
  return tokens;
}

absl::Status StepOne(const Engine& engine, Session* session, int32_t token,
                     float* logits) {
  if (absl::Status s = session->Reserve(1); !s.ok()) return s;
  Session* batch[] = {session};
  return engine.Step(batch, {&token, 1}, logits);
}

absl::Status StepAll(const Engine& engine, Session* session,
                     absl::Span<const int32_t> tokens,
                     std::vector<float>* logits) {
  const int64_t vocab = engine.info().shape().vocab();
  std::vector<float> scratch(vocab);
  if (logits != nullptr) logits->assign(tokens.size() * vocab, 0.0f);
  for (size_t i = 0; i < tokens.size(); ++i) {
    float* out =
        logits != nullptr ? logits->data() + i * vocab : scratch.data();
    if (absl::Status s = StepOne(engine, session, tokens[i], out); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PrefillChunked(const Engine& engine, Session* session,
                            absl::Span<const int32_t> tokens, int64_t chunk,
                            float* logits) {
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    absl::Span<const int32_t> part = tokens.subspan(start, chunk);
    if (absl::Status s = session->Reserve(part.size()); !s.ok()) return s;
    if (absl::Status s = engine.Prefill(session, part, logits); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

double RelativeDiff(const float* a, const float* b, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    diff = std::max(diff, std::fabs(double{a[i]} - b[i]));
    scale = std::max({scale, std::fabs(double{a[i]}), std::fabs(double{b[i]})});
  }
  if (diff == 0) return 0;
  return scale > 0 ? diff / scale : INFINITY;
}

int64_t StateBytesFromInfo(const v1::EngineInfo& info, int64_t tokens) {
  int64_t bytes = info.state_bytes_fixed();
  if (info.block_tokens() > 0) {
    const int64_t blocks =
        (tokens + info.block_tokens() - 1) / info.block_tokens();
    bytes += blocks * info.block_bytes();
  } else {
    bytes += tokens * info.state_bytes_per_token();
  }
  if (info.state_bytes_cap() > 0) {
    bytes = std::min(bytes, info.state_bytes_cap());
  }
  return bytes;
}

}  // namespace trilemma::conformance
