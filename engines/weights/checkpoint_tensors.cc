#include "engines/weights/checkpoint_tensors.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace trilemma {

CheckpointTensors::CheckpointTensors(std::shared_ptr<CheckpointDir> dir)
    : dir_(std::move(dir)), map_(std::make_shared<TensorMap>()) {}

const float* CheckpointTensors::Take(const std::string& name,
                                     std::vector<int64_t> shape) {
  if (!error_.ok()) return nullptr;
  absl::StatusOr<const float*> data = dir_->Take(name, shape);
  if (!data.ok()) {
    error_ = data.status();
    return nullptr;
  }
  map_->AddView(name, std::move(shape), *data);
  return *data;
}

absl::StatusOr<std::shared_ptr<const TensorMap>> CheckpointTensors::Finish(
    const std::function<bool(const std::string&)>& ignored) {
  if (!error_.ok()) return error_;
  if (absl::Status s = dir_->CheckAllTaken(ignored); !s.ok()) return s;
  map_->Retain(dir_);
  return std::shared_ptr<const TensorMap>(std::move(map_));
}

std::string LayerName(const std::string& prefix, int layer,
                      const std::string& name) {
  return absl::StrCat(prefix, layer, ".", name);
}

void FillCheckpointInfo(const EngineSpec& spec, const std::string& hf_name,
                        int d_model, int layers, int vocab,
                        v1::EngineInfo* info) {
  info->set_name(spec.name);
  info->set_family(spec.family);
  info->set_description(
      absl::StrCat(hf_name, " checkpoint from ", spec.checkpoint));
  v1::EngineShape* shape = info->mutable_shape();
  shape->set_d_model(d_model);
  shape->set_layers(layers);
  shape->set_circuit_layers(0);
  shape->set_vocab(vocab);
  info->set_checkpoint(spec.checkpoint);
}

}  // namespace trilemma
