// Checkpoint benchmarks in engine_bench: prefill and decode speed of engines
// loaded from Hugging Face model directories, at 1 and 2 threads, for the
// side-by-side comparison with other runtimes (README, Performance).
//
//   export TRILEMMA_BENCH_CHECKPOINTS=pythia=/ckpt/p160m,mamba=/ckpt/m130m
//   build/bin/engine_bench --benchmark_filter='BM_Checkpoint'
//
// An entry may add the family's knobs after the directory, each as
// `:knob=value` — e.g. `pythia_f16kv=/ckpt/p160m:kv_dtype=f16` stores the KV
// cache in f16 (llama.cpp's default cache type).
//
// BM_CheckpointPrefill/<name>/threads:<T> — one Prefill of a 512-token prompt
//   into a fresh session; items_per_second = prompt tokens/s.
// BM_CheckpointDecode/<name>/streams:<S>/threads:<T> — one batched Step of S
//   sessions that each hold a 128-token prompt (prefilled once, then forked);
//   items_per_second = generated tokens/s over all streams. Runs 64 steps, so
//   contexts grow from 128 to 192 as in a 128-token prompt + generation run.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "engines/engine.h"
#include "engines/registry.h"

namespace trilemma {
namespace {

constexpr int64_t kPrefillTokens = 512;
constexpr int64_t kDecodePrompt = 128;
constexpr int64_t kDecodeSteps = 64;

std::vector<int32_t> PromptTokens(int64_t n, int vocab) {
  std::mt19937 rng(17);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> tokens(n);
  for (int32_t& t : tokens) t = pick(rng);
  return tokens;
}

void BM_CheckpointPrefill(benchmark::State& state, const Engine* engine,
                          int threads) {
  SetStepThreads(threads);
  const std::vector<int32_t> prompt =
      PromptTokens(kPrefillTokens, engine->info().shape().vocab());
  std::vector<float> logits(engine->info().shape().vocab());
  for (auto _ : state) {
    auto session = engine->NewSession();
    if (!session.ok() || !(*session)->Reserve(kPrefillTokens).ok() ||
        !engine->Prefill(session->get(), prompt, logits.data()).ok()) {
      state.SkipWithError("prefill failed");
      break;
    }
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations() * kPrefillTokens);
  SetStepThreads(1);
}

void BM_CheckpointDecode(benchmark::State& state, const Engine* engine,
                         int streams, int threads) {
  SetStepThreads(threads);
  const int vocab = engine->info().shape().vocab();
  const std::vector<int32_t> prompt = PromptTokens(kDecodePrompt, vocab);
  auto seed = engine->NewSession();
  if (!seed.ok() || !(*seed)->Reserve(kDecodePrompt).ok() ||
      !engine->Prefill(seed->get(), prompt, nullptr).ok()) {
    state.SkipWithError("prompt prefill failed");
    return;
  }
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<Session*> batch;
  for (int s = 0; s < streams; ++s) {
    auto fork = engine->Fork(**seed);
    if (!fork.ok()) {
      state.SkipWithError("fork failed");
      return;
    }
    batch.push_back(fork->get());
    sessions.push_back(*std::move(fork));
  }
  std::vector<int32_t> tokens(streams, prompt.back());
  std::vector<float> logits(static_cast<size_t>(streams) * vocab);
  for (auto _ : state) {
    for (Session* s : batch) {
      if (!s->Reserve(1).ok()) state.SkipWithError("reserve failed");
    }
    if (!engine->Step(batch, tokens, logits.data()).ok()) {
      state.SkipWithError("step failed");
      break;
    }
    for (int s = 0; s < streams; ++s) {  // feed back a varying token
      tokens[s] = static_cast<int32_t>((tokens[s] * 31 + s + 7) % vocab);
    }
  }
  state.SetItemsProcessed(state.iterations() * streams);
  SetStepThreads(1);
}

std::vector<std::unique_ptr<Engine>>& Engines() {
  static auto* engines = new std::vector<std::unique_ptr<Engine>>();
  return *engines;
}

}  // namespace

void RegisterCheckpointBenchmarks() {
  const char* env = std::getenv("TRILEMMA_BENCH_CHECKPOINTS");
  if (env == nullptr) return;
  for (absl::string_view item : absl::StrSplit(env, ',', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> name_rest =
        absl::StrSplit(item, absl::MaxSplits('=', 1));
    const std::vector<std::string> parts =
        absl::StrSplit(name_rest.second, ':');
    EngineSpec spec;
    spec.name = name_rest.first;
    spec.checkpoint = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::pair<std::string, std::string> knob =
          absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
      spec.knobs[knob.first] = knob.second;
    }
    auto engine = CreateEngine(spec);
    if (!engine.ok()) {
      std::fprintf(stderr, "skipping checkpoint %s: %s\n", spec.name.c_str(),
                   engine.status().ToString().c_str());
      continue;
    }
    const Engine* e = Engines().emplace_back(*std::move(engine)).get();
    for (int threads : {1, 2}) {
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_CheckpointPrefill/", spec.name, "/threads:", threads)
              .c_str(),
          BM_CheckpointPrefill, e, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(5.0);
      for (int streams : {1, 32}) {
        benchmark::RegisterBenchmark(
            absl::StrCat("BM_CheckpointDecode/", spec.name,
                         "/streams:", streams, "/threads:", threads)
                .c_str(),
            BM_CheckpointDecode, e, streams, threads)
            ->Iterations(kDecodeSteps)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace trilemma
