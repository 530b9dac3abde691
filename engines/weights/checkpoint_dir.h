// CheckpointDir: a Hugging Face model directory — config.json plus either
// model.safetensors, or model.safetensors.index.json ({"weight_map": {tensor
// name: shard file}}) and the shards it names — opened, mapped and validated
// as a whole, then handed out tensor by tensor as row-major f32.
//
// Example:
//   absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
//       CheckpointDir::Open("/models/pythia-160m");
//   if (!ckpt.ok()) return ckpt.status();
//   absl::StatusOr<HfConfig> config = (*ckpt)->Config();
//   absl::StatusOr<const float*> wte =
//       (*ckpt)->Take("gpt_neox.embed_in.weight", {vocab, d});
//   ...
//   absl::Status extra = (*ckpt)->CheckAllTaken([](const std::string& name) {
//     return absl::EndsWith(name, ".rotary_emb.inv_freq");
//   });
//
// Tensors of every file are validated at Open (docs/safetensors.md); the
// index must agree with the shards exactly. When both model.safetensors and
// an index exist, model.safetensors is used, as transformers does. Shard
// names must be plain file names inside the directory (no '/', not "." or
// ".."); symlinks are followed, so a Hugging Face cache snapshot directory
// works.
//
// Ownership: the returned pointers point into the mappings or into buffers
// this object owns; they live as long as it does. Not thread-safe: Take marks
// tensors and fills conversion buffers.
#ifndef TRILEMMA_ENGINES_WEIGHTS_CHECKPOINT_DIR_H_
#define TRILEMMA_ENGINES_WEIGHTS_CHECKPOINT_DIR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engines/weights/hf_config.h"
#include "engines/weights/safetensors.h"

namespace trilemma {

class CheckpointDir {
 public:
  // NOT_FOUND: "checkpoint directory DIR does not exist", "DIR has no
  // config.json", "DIR has neither model.safetensors nor
  // model.safetensors.index.json". INVALID_ARGUMENT: DIR is not a directory;
  // any safetensors file fails validation (the file's own message); the
  // index is not JSON, has no "weight_map" object of strings, names a shard
  // that is missing or outside DIR, maps a tensor to a shard that lacks it,
  // or a shard holds a tensor the index does not list, or the same name is in
  // two shards. config.json is read here but parsed by Config().
  static absl::StatusOr<std::unique_ptr<CheckpointDir>> Open(
      const std::string& dir);

  const std::string& dir() const { return dir_; }
  // config.json parsed (INVALID_ARGUMENT if it is not a JSON object).
  absl::StatusOr<HfConfig> Config() const;

  bool Has(const std::string& name) const { return tensors_.contains(name); }
  // INVALID_ARGUMENT "DIR: tensor 'X' is missing (not in FILE, ...)".
  absl::StatusOr<std::vector<int64_t>> Shape(const std::string& name) const;

  // The tensor as row-major f32 with exactly `shape`, and marks it taken.
  // F32 whose start is 4-byte aligned is used in place in the mapping (else
  // copied once); F16 and BF16 are converted once (exactly: subnormals, inf,
  // nan and -0 kept). Taking a tensor again returns the same pointer; a
  // tensor with no elements gives a non-null pointer to nothing.
  // INVALID_ARGUMENT "DIR: tensor 'X' is missing (not in FILE, ...)",
  // "FILE: tensor
  // 'X' has shape [a, b], expected [c, d]" or "FILE: tensor 'X' has dtype
  // I64; supported: F32, F16, BF16".
  absl::StatusOr<const float*> Take(const std::string& name,
                                    const std::vector<int64_t>& shape);

  // OK if every tensor was taken or is `ignored` (e.g. rotary inv_freq and
  // attention bias/masked_bias buffers old checkpoints carry); else
  // INVALID_ARGUMENT naming the first such tensor (by name order) and its
  // file, and how many others there are.
  absl::Status CheckAllTaken(
      const std::function<bool(const std::string&)>& ignored) const;

  // Bytes of all mapped files; bytes of f32 buffers owned (conversions and
  // copies of misaligned F32).
  int64_t mapped_bytes() const;
  int64_t converted_bytes() const { return converted_bytes_; }

 private:
  struct Entry {
    const SafetensorsFile* file;
    const SafetensorsTensor* tensor;
    const float* data = nullptr;  // set by the first Take
  };

  CheckpointDir(std::string dir, std::string config_text,
                std::vector<std::unique_ptr<SafetensorsFile>> files);
  // Validates that `files` hold exactly the tensors `weight_map` says.
  static absl::Status CheckIndex(
      const std::string& index_path,
      const std::map<std::string, std::string>& weight_map,
      const std::map<std::string, const SafetensorsFile*>& shards);
  // INVALID_ARGUMENT naming `name`, the directory and its weights files.
  absl::Status MissingTensor(const std::string& name) const;

  std::string dir_;
  std::string config_text_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> tensors_;             // name -> where it lives
  std::map<std::string, std::vector<float>> owned_;  // converted / copied
  int64_t converted_bytes_ = 0;
};

// Exact conversions of one IEEE half / bfloat16 value to float.
float HalfToFloat(uint16_t bits);
float Bfloat16ToFloat(uint16_t bits);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_WEIGHTS_CHECKPOINT_DIR_H_
