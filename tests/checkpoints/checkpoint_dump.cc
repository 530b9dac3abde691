// checkpoint_dump: loads a Hugging Face model directory as a Trilemma engine
// and writes what tests/checkpoints/check_checkpoints.py compares with the
// independent PyTorch reference:
//   <out>/step_logits.npy    [T, V] f32  logits after each prompt token,
//                                         stepping one token at a time
//   <out>/prefill_logits.npy [T, V] f32  row t: one Prefill call of tokens
//                                         [0, t] on a fresh session
//   <out>/greedy.npy         [G] int32    greedy continuation after the
//                                         prompt, by stepping
//
//   checkpoint_dump --checkpoint=DIR --tokens=3,1,4 --greedy=32 --out=OUT
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engines/common/tensor_map.h"
#include "engines/ops/vector_ops.h"
#include "engines/registry.h"

ABSL_FLAG(std::string, checkpoint, "", "model directory");
ABSL_FLAG(std::string, tokens, "", "comma-separated prompt token ids");
ABSL_FLAG(int, greedy, 32, "greedy tokens to generate after the prompt");
ABSL_FLAG(std::string, out, "", "output directory (must exist)");

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "checkpoint_dump: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  trilemma::EngineSpec spec;
  spec.name = "checkpoint";
  spec.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  absl::StatusOr<std::unique_ptr<trilemma::Engine>> engine =
      trilemma::CreateEngine(spec);
  if (!engine.ok()) return Fail(engine.status());
  const trilemma::Engine& e = **engine;
  const int64_t vocab = e.info().shape().vocab();
  std::vector<int32_t> prompt;
  for (absl::string_view t :
       absl::StrSplit(absl::GetFlag(FLAGS_tokens), ',', absl::SkipEmpty())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(t, &id) || id < 0 || id >= vocab) {
      return Fail(absl::InvalidArgumentError("--tokens: bad token id"));
    }
    prompt.push_back(id);
  }
  const int64_t n = static_cast<int64_t>(prompt.size());
  if (n == 0) return Fail(absl::InvalidArgumentError("--tokens: empty"));
  const std::string out = absl::GetFlag(FLAGS_out);

  // Token by token, then greedy continuation on the same session.
  std::vector<float> step_logits(n * vocab);
  std::vector<int32_t> greedy;
  {
    absl::StatusOr<std::unique_ptr<trilemma::Session>> s = e.NewSession();
    if (!s.ok()) return Fail(s.status());
    trilemma::Session* batch[] = {s->get()};
    std::vector<float> logits(vocab);
    for (int64_t t = 0; t < n + absl::GetFlag(FLAGS_greedy); ++t) {
      int32_t token = t < n ? prompt[t] : greedy.back();
      if (absl::Status st = (*s)->Reserve(1); !st.ok()) return Fail(st);
      if (absl::Status st = e.Step(batch, {&token, 1}, logits.data());
          !st.ok()) {
        return Fail(st);
      }
      if (t < n) {
        std::copy(logits.begin(), logits.end(), &step_logits[t * vocab]);
      }
      if (t + 1 >= n) {
        greedy.push_back(
            static_cast<int32_t>(trilemma::ops::Argmax(logits.data(), vocab)));
      }
    }
    greedy.resize(absl::GetFlag(FLAGS_greedy));
  }
  // Prefill of every prefix on a fresh session.
  std::vector<float> prefill_logits(n * vocab);
  for (int64_t t = 0; t < n; ++t) {
    absl::StatusOr<std::unique_ptr<trilemma::Session>> s = e.NewSession();
    if (!s.ok()) return Fail(s.status());
    if (absl::Status st = (*s)->Reserve(t + 1); !st.ok()) return Fail(st);
    if (absl::Status st =
            e.Prefill(s->get(), {prompt.data(), static_cast<size_t>(t + 1)},
                      &prefill_logits[t * vocab]);
        !st.ok()) {
      return Fail(st);
    }
  }
  const std::vector<int64_t> shape = {n, vocab};
  for (const auto& [name, data] :
       {std::pair<const char*, const std::vector<float>*>{"step_logits",
                                                          &step_logits},
        {"prefill_logits", &prefill_logits}}) {
    if (absl::Status st =
            trilemma::WriteNpy(out + "/" + name + ".npy", shape, data->data());
        !st.ok()) {
      return Fail(st);
    }
  }
  if (absl::Status st = trilemma::WriteNpyInt32(
          out + "/greedy.npy", {static_cast<int64_t>(greedy.size())},
          greedy.data());
      !st.ok()) {
    return Fail(st);
  }
  return 0;
}
