// engine_bench: what each corner of the triangle costs per step, measured.
//
//   build/bin/engine_bench
//   --benchmark_filter='BM_Step/(attention|mamba)/batch:1/context:(256|16384)'
//
// BM_Step/<engine>/batch:<B>/context:<n> — one batched decode step of B
//   sessions that each hold n tokens of context (every default preset, plus
//   attention_f16: full attention with kv_dtype=f16, so
//   --benchmark_filter='BM_Step/attention[_a-z0-9]*/batch:1/context:16384'
//   times each KV dtype in one run). items_per_second = tokens/s;
//   counters: flops_per_token (analytic, from the engine's cost model),
//   gflops (achieved), state_bytes (per session).
// BM_Readout/batch:<B> — the engines' tied readout (RmsNorm + logits matmul
//   against the codebook, [B, d] x [V, d]ᵀ) at d=128, V=8192; BM_PlainMatMul
//   is oneDNN's plain row-major matmul of the same shape: the roofline.
//
// Long contexts are set up once per engine by prefilling one session and
// forking it (Engine::Fork), so B sessions at n = 16384 cost one prefill.
// Each benchmark runs a fixed number of steps, so contexts drift by at most
// that many tokens (≤ 1/8 of n).
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engines/common/lm_frame.h"
#include "engines/engine.h"
#include "engines/ops/matmul.h"
#include "engines/registry.h"

namespace trilemma {
namespace {

constexpr int64_t kContexts[] = {256, 1024, 4096, 16384};
constexpr int kBatches[] = {1, 8, 32};

std::vector<int32_t> RandomTokens(int64_t n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> tokens(n);
  for (int32_t& t : tokens) t = pick(rng);
  return tokens;
}

// One engine and its seed sessions, grown to each context once.
struct EngineFixture {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Session> seed;  // grown in place through kContexts
  std::map<int64_t, std::unique_ptr<Session>> at_context;

  // A session holding `n` tokens, forked from the cached one.
  absl::StatusOr<std::unique_ptr<Session>> SessionAt(int64_t n) {
    auto it = at_context.find(n);
    if (it == at_context.end()) {
      if (seed == nullptr) {
        auto s = engine->NewSession();
        if (!s.ok()) return s.status();
        seed = *std::move(s);
      }
      const int64_t more = n - seed->context_tokens();
      if (more > 0) {
        std::vector<int32_t> tokens = RandomTokens(
            more, engine->info().shape().vocab(), static_cast<uint32_t>(n));
        if (absl::Status s = seed->Reserve(more); !s.ok()) return s;
        if (absl::Status s = engine->Prefill(seed.get(), tokens, nullptr);
            !s.ok()) {
          return s;
        }
      }
      auto copy = engine->Fork(*seed);
      if (!copy.ok()) return copy.status();
      it = at_context.emplace(n, *std::move(copy)).first;
    }
    return engine->Fork(*it->second);
  }
};

std::map<std::string, EngineFixture>& Fixtures() {
  static auto* fixtures = new std::map<std::string, EngineFixture>();
  return *fixtures;
}

void BM_Step(benchmark::State& state, const std::string& name, int batch,
             int64_t context) {
  EngineFixture& fx = Fixtures().at(name);
  const Engine& engine = *fx.engine;
  std::vector<std::unique_ptr<Session>> owned;
  std::vector<Session*> sessions;
  for (int b = 0; b < batch; ++b) {
    auto s = fx.SessionAt(context);
    if (!s.ok()) {
      state.SkipWithError(s.status().ToString().c_str());
      return;
    }
    owned.push_back(*std::move(s));
    sessions.push_back(owned.back().get());
  }
  const int vocab = engine.info().shape().vocab();
  std::vector<float> logits(static_cast<size_t>(batch) * vocab);
  std::vector<int32_t> tokens = RandomTokens(batch, vocab, 99);
  const StepCost cost = engine.NextStepCost(*sessions[0]);
  for (auto _ : state) {
    for (Session* s : sessions) {
      if (absl::Status st = s->Reserve(1); !st.ok()) {
        state.SkipWithError(st.ToString().c_str());
        return;
      }
    }
    absl::Status st = engine.Step(sessions, tokens, logits.data());
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["flops_per_token"] = static_cast<double>(cost.flops);
  state.counters["gflops"] =
      benchmark::Counter(static_cast<double>(cost.flops) * batch * 1e-9 *
                             static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["state_bytes"] = static_cast<double>(
      sessions[0]->state_bytes() + sessions[0]->external_state_bytes());
}

struct ReadoutFixture {
  static constexpr int kD = 128;
  static constexpr int kVocab = 8192;
  TensorMap weights;
  std::vector<float> codebook_t;  // [d, V] row-major, for the plain matmul
  ReadoutFixture() {
    CommonKnobs common;
    common.d_model = kD;
    common.vocab = kVocab;
    AddFrameWeights(common, &weights);
    const float* e = weights.Data("embed");
    codebook_t.resize(size_t{kD} * kVocab);
    for (size_t v = 0; v < kVocab; ++v) {
      for (size_t i = 0; i < kD; ++i) {
        codebook_t[i * kVocab + v] = e[v * kD + i];
      }
    }
  }
};

ReadoutFixture& Readout() {
  static auto* fixture = new ReadoutFixture();
  return *fixture;
}

void SetMatmulCounters(benchmark::State& state, int batch) {
  const double flops =
      2.0 * batch * ReadoutFixture::kD * ReadoutFixture::kVocab;
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["gflops"] =
      benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void BM_Readout(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  ReadoutFixture& fx = Readout();
  LmFrame frame(fx.weights);
  std::vector<float> h = [&] {
    std::vector<float> x(static_cast<size_t>(batch) * fx.kD);
    std::mt19937 rng(1);
    std::normal_distribution<float> n;
    for (float& v : x) v = n(rng);
    return x;
  }();
  std::vector<float> normed(h.size()),
      logits(static_cast<size_t>(batch) * fx.kVocab);
  for (auto _ : state) {
    frame.Readout(h.data(), batch, normed.data(), logits.data());
    benchmark::DoNotOptimize(logits.data());
  }
  SetMatmulCounters(state, batch);
}

void BM_PlainMatMul(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  ReadoutFixture& fx = Readout();
  std::vector<float> a(static_cast<size_t>(batch) * fx.kD, 0.5f);
  std::vector<float> c(static_cast<size_t>(batch) * fx.kVocab);
  for (auto _ : state) {
    ops::MatMul(a.data(), fx.codebook_t.data(), c.data(), batch, fx.kD,
                fx.kVocab);
    benchmark::DoNotOptimize(c.data());
  }
  SetMatmulCounters(state, batch);
}

BENCHMARK(BM_Readout)->ArgName("batch")->Arg(1)->Arg(8)->Arg(32)->UseRealTime();
BENCHMARK(BM_PlainMatMul)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(8)
    ->Arg(32)
    ->UseRealTime();

void RegisterStepBenchmarks() {
  std::vector<EngineSpec> specs = DefaultEngineSpecs();
  // The fourth kv_dtype beside attention (f32), attention_int8 and
  // attention_int4, so one filter times every KV format (README).
  specs.push_back({.name = "attention_f16",
                   .family = "attention",
                   .knobs = {{"kv_dtype", "f16"}}});
  for (const EngineSpec& spec : specs) {
    auto engine = CreateEngine(spec);
    if (!engine.ok()) {
      std::fprintf(stderr, "skipping %s: %s\n", spec.name.c_str(),
                   engine.status().ToString().c_str());
      continue;
    }
    Fixtures()[spec.name].engine = *std::move(engine);
    for (int batch : kBatches) {
      for (int64_t context : kContexts) {
        const std::string name = absl::StrCat(
            "BM_Step/", spec.name, "/batch:", batch, "/context:", context);
        benchmark::RegisterBenchmark(name.c_str(), BM_Step, spec.name, batch,
                                     context)
            ->Iterations(std::clamp<int64_t>(context / 8, 16, 128))
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace

// checkpoint_bench.cc: only when TRILEMMA_BENCH_CHECKPOINTS names some.
void RegisterCheckpointBenchmarks();

}  // namespace trilemma

int main(int argc, char** argv) {
  trilemma::RegisterStepBenchmarks();
  trilemma::RegisterCheckpointBenchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
