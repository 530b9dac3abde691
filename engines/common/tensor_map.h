// TensorMap: a model's weights as named float tensors, the form checkpoints
// come in (safetensors / Hugging Face names), so a loader can fill the same
// map a preset builder fills.
//
// Example:
//   TensorMap w;
//   float* e = w.Add("embed", {vocab, d});
//   const Tensor& t = w.Get("embed");
//
// Not thread-safe for mutation; immutable once an engine holds it.
#ifndef TRILEMMA_ENGINES_COMMON_TENSOR_MAP_H_
#define TRILEMMA_ENGINES_COMMON_TENSOR_MAP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace trilemma {

// A named tensor: owned floats (`data`, what preset builders fill) or a view
// of floats owned elsewhere (a checkpoint's mapped file; `data` is empty).
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;      // row-major; empty for a view
  const float* view = nullptr;  // set for a view
  const float* ptr() const { return view != nullptr ? view : data.data(); }
  int64_t size() const;
};

class TensorMap {
 public:
  // Adds a zero tensor and returns its data. REQUIRES: `name` is new.
  float* Add(const std::string& name, std::vector<int64_t> shape);
  // REQUIRES: Has(name).
  const Tensor& Get(const std::string& name) const;
  const float* Data(const std::string& name) const { return Get(name).ptr(); }
  // REQUIRES: `name` is owned, not a view.
  float* Mutable(const std::string& name);
  // Adds a view of `data` (row-major, `shape`), which must stay valid while
  // this map lives: hand its owner to Retain. REQUIRES: `name` is new.
  void AddView(const std::string& name, std::vector<int64_t> shape,
               const float* data);
  // Keeps `owner` (e.g. a mapped checkpoint) alive as long as this map.
  void Retain(std::shared_ptr<const void> owner) {
    owners_.push_back(std::move(owner));
  }
  bool Has(const std::string& name) const { return tensors_.contains(name); }
  const std::map<std::string, Tensor>& all() const { return tensors_; }
  // Sum of all tensor sizes in floats.
  int64_t num_floats() const;

  // Writes every tensor as <dir>/<name>.npy (numpy format, little-endian f32),
  // for the numpy reference tests. Creates `dir` if needed.
  absl::Status WriteNpyDir(const std::string& dir) const;

 private:
  std::map<std::string, Tensor> tensors_;
  std::vector<std::shared_ptr<const void>> owners_;
};

// Writes one float array as a .npy file with the given shape.
absl::Status WriteNpy(const std::string& path,
                      const std::vector<int64_t>& shape, const float* data);
// Same for int32 arrays (token ids).
absl::Status WriteNpyInt32(const std::string& path,
                           const std::vector<int64_t>& shape,
                           const int32_t* data);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_TENSOR_MAP_H_
