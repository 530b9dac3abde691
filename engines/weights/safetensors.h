// Safetensors: the checkpoint file format of Hugging Face models, read and
// validated without trusting a byte of it.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON header,
// then the data section. The header maps each tensor name to
//   {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}
// (byte offsets within the data section) plus an optional "__metadata__"
// object of strings. The rules enforced here are in docs/safetensors.md.
//
// Example:
//   absl::StatusOr<std::unique_ptr<SafetensorsFile>> f =
//       SafetensorsFile::Open("/models/pythia/model.safetensors");
//   if (!f.ok()) return f.status();  // INVALID_ARGUMENT naming the file
//   const SafetensorsTensor* t = (*f)->Find("embed_out.weight");
//   absl::string_view bytes = (*f)->Bytes(*t);  // t->end - t->begin bytes
//
// Thread-safety: a SafetensorsFile is immutable after Open; any number of
// threads may read it.
#ifndef TRILEMMA_ENGINES_WEIGHTS_SAFETENSORS_H_
#define TRILEMMA_ENGINES_WEIGHTS_SAFETENSORS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma {

struct SafetensorsTensor {
  std::string name;
  // As spelled in the file: "F32", "F16", "BF16", "I64", ...
  std::string dtype;
  std::vector<int64_t> shape;
  // Byte offsets within the data section; end - begin == numel * dtype size.
  int64_t begin = 0, end = 0;
};

// Bytes per element of a safetensors dtype string (BOOL, U8, I8, F8_E4M3,
// F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64), or 0 for a
// string that is none of them.
int64_t SafetensorsDtypeSize(absl::string_view dtype);

// Parses and validates a whole safetensors file held in memory; `path` only
// names the file in errors. On success the tensors tile the data section
// exactly (sorted by begin, no gaps, no overlap, none past its end) and each
// one's byte length is numel x dtype size. Every failure is INVALID_ARGUMENT
// "PATH: ..." saying what is wrong: truncated file, header length beyond the
// file or over 100 MB, header not a JSON object, a malformed entry (not an
// object, a missing or mistyped dtype/shape/data_offsets, a negative dim, an
// unknown dtype), offsets out of range, overlap, holes, a byte length that
// disagrees with the shape, a duplicate name, "__metadata__" not an object of
// strings. Returns the tensors sorted by begin (then name). Never crashes on
// any input (tests/fuzz/safetensors_header_fuzz.cc).
absl::StatusOr<std::vector<SafetensorsTensor>> ParseSafetensors(
    absl::string_view file_bytes, const std::string& path);

// One safetensors file mapped read-only into memory and validated at Open.
// The mapping (and every Bytes() view) lives as long as this object.
// REQUIRES: nobody truncates the file while it is open (a mapped page past
// the new end would fault), the usual contract of mmap-based loaders.
class SafetensorsFile {
 public:
  // NOT_FOUND if `path` does not exist; INVALID_ARGUMENT if it is not a
  // regular file or fails ParseSafetensors; INTERNAL if it cannot be read.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Sorted by begin offset, as ParseSafetensors returns them.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // The tensor called `name`, or nullptr.
  const SafetensorsTensor* Find(absl::string_view name) const;
  // The tensor's bytes inside the mapping. REQUIRES: `t` is one of tensors().
  absl::string_view Bytes(const SafetensorsTensor& t) const;
  // Size of the whole file (all of it is mapped).
  int64_t file_size() const { return static_cast<int64_t>(file_size_); }

 private:
  SafetensorsFile(std::string path, const char* base, size_t file_size,
                  size_t data_start, std::vector<SafetensorsTensor> tensors);

  std::string path_;
  const char* base_;  // the read-only mapping of the whole file
  size_t file_size_;
  size_t data_start_;  // 8 + header length
  std::vector<SafetensorsTensor> tensors_;
  absl::flat_hash_map<std::string, size_t> index_;  // name -> tensors_ index
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_WEIGHTS_SAFETENSORS_H_
