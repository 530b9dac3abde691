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
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace trilemma {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major
  int64_t size() const { return static_cast<int64_t>(data.size()); }
};

class TensorMap {
 public:
  // Adds a zero tensor and returns its data. REQUIRES: `name` is new.
  float* Add(const std::string& name, std::vector<int64_t> shape);
  // REQUIRES: Has(name).
  const Tensor& Get(const std::string& name) const;
  const float* Data(const std::string& name) const {
    return Get(name).data.data();
  }
  float* Mutable(const std::string& name);
  bool Has(const std::string& name) const { return tensors_.contains(name); }
  const std::map<std::string, Tensor>& all() const { return tensors_; }
  // Sum of all tensor sizes in floats.
  int64_t num_floats() const;

  // Writes every tensor as <dir>/<name>.npy (numpy format, little-endian f32),
  // for the numpy reference tests. Creates `dir` if needed.
  absl::Status WriteNpyDir(const std::string& dir) const;

 private:
  std::map<std::string, Tensor> tensors_;
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
