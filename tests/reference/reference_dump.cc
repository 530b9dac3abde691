// reference_dump: builds one engine, steps a seeded random token sequence
// through it one token at a time, and writes what an independent numpy model
// needs to check it: every weight tensor, the tokens and the logits after
// each token, plus the effective knobs the engine reports (which
// check_reference.py compares with the requested ones; the numpy models never
// read them).
//
//   reference_dump --family=attention --knobs=init=random,d_model=32
//       --tokens=40 --out=/tmp/dump
//
// Output: <out>/weights/<name>.npy, <out>/tokens.npy [T] int32,
// <out>/logits.npy [T, V] float32, <out>/knobs.json (effective knobs).
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engines/common/tensor_map.h"
#include "engines/registry.h"

ABSL_FLAG(std::string, family, "", "engine family to dump");
ABSL_FLAG(std::string, knobs, "", "comma-separated key=value knobs");
ABSL_FLAG(int, tokens, 40, "tokens to step");
ABSL_FLAG(int, token_seed, 7, "seed of the token sequence");
ABSL_FLAG(std::string, out, "", "output directory");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  trilemma::EngineSpec spec;
  spec.family = absl::GetFlag(FLAGS_family);
  spec.name = spec.family;
  for (absl::string_view kv :
       absl::StrSplit(absl::GetFlag(FLAGS_knobs), ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
    spec.knobs[p.first] = p.second;
  }
  auto engine = trilemma::CreateEngine(spec);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  if (absl::Status s = (*engine)->weights().WriteNpyDir(out + "/weights");
      !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  const int vocab = (*engine)->info().shape().vocab();
  const int n = absl::GetFlag(FLAGS_tokens);
  std::mt19937 rng(absl::GetFlag(FLAGS_token_seed));
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> tokens(n);
  for (int32_t& t : tokens) t = pick(rng);

  auto session = (*engine)->NewSession();
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  std::vector<float> logits(static_cast<size_t>(n) * vocab);
  trilemma::Session* batch[] = {session->get()};
  for (int i = 0; i < n; ++i) {
    absl::Status s = (*session)->Reserve(1);
    if (s.ok())
      s = (*engine)->Step(batch, {&tokens[i], 1}, &logits[size_t(i) * vocab]);
    if (!s.ok()) {
      std::fprintf(stderr, "step %d: %s\n", i, s.ToString().c_str());
      return 1;
    }
  }
  absl::Status s =
      trilemma::WriteNpyInt32(out + "/tokens.npy", {n}, tokens.data());
  if (s.ok())
    s = trilemma::WriteNpy(out + "/logits.npy", {n, vocab}, logits.data());
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::ofstream knobs(out + "/knobs.json");
  knobs << "{";
  bool first = true;
  for (const auto& [k, v] : (*engine)->info().knobs()) {
    knobs << (first ? "" : ", ") << "\"" << k << "\": \"" << v << "\"";
    first = false;
  }
  knobs << "}\n";
  return knobs.good() ? 0 : 1;
}
