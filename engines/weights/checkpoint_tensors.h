// CheckpointTensors: what a checkpoint loader takes from a CheckpointDir —
// each tensor checked against the shape the config implies and added to the
// engine's TensorMap as a view of the mapped file (or of its one-time f32
// conversion). Errors are collected like Knobs: Take returns null after the
// first one and Finish reports it, so a loader reads as a plain list of the
// architecture's tensors (docs/checkpoints.md).
//
// Example:
//   CheckpointTensors t(dir);
//   const float* embed = t.Take("model.embed_tokens.weight", {vocab, d});
//   const float* head = t.TakeIf(!tied, "lm_head.weight", {vocab, d});
//   absl::StatusOr<std::shared_ptr<const TensorMap>> weights =
//       t.Finish(IsRotaryBuffer);
//
// Not thread-safe; used once by one loader.
#ifndef TRILEMMA_ENGINES_WEIGHTS_CHECKPOINT_TENSORS_H_
#define TRILEMMA_ENGINES_WEIGHTS_CHECKPOINT_TENSORS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engines/common/tensor_map.h"
#include "engines/engine.h"
#include "engines/weights/checkpoint_dir.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma {

class CheckpointTensors {
 public:
  explicit CheckpointTensors(std::shared_ptr<CheckpointDir> dir);

  // The tensor as f32 with exactly `shape`, or null once any Take failed.
  const float* Take(const std::string& name, std::vector<int64_t> shape);
  // Take when `present`, else null without an error (optional biases, an
  // untied head).
  const float* TakeIf(bool present, const std::string& name,
                      std::vector<int64_t> shape) {
    return present ? Take(name, std::move(shape)) : nullptr;
  }

  // The first Take error; else INVALID_ARGUMENT for a tensor in the files
  // that no Take asked for and `ignored` does not match (an extra tensor);
  // else the weights, which keep the mapped directory alive.
  absl::StatusOr<std::shared_ptr<const TensorMap>> Finish(
      const std::function<bool(const std::string&)>& ignored);

  const CheckpointDir& dir() const { return *dir_; }

 private:
  std::shared_ptr<CheckpointDir> dir_;
  std::shared_ptr<TensorMap> map_;
  absl::Status error_;
};

// "<prefix><layer>.<name>", e.g. LayerName("model.layers.", 3,
// "mlp.up_proj.weight").
std::string LayerName(const std::string& prefix, int layer,
                      const std::string& name);

// The EngineInfo fields every checkpoint engine fills the same way: name,
// family, a description naming the architecture and directory, the shape's
// d_model / layers / vocab (every layer is a real one: circuit_layers = 0).
void FillCheckpointInfo(const EngineSpec& spec, const std::string& hf_name,
                        int d_model, int layers, int vocab,
                        v1::EngineInfo* info);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_WEIGHTS_CHECKPOINT_TENSORS_H_
