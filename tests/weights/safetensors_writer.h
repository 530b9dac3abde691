// A test-only safetensors writer: valid files from a tensor list, and raw
// files from any header text, so tests can build every malformed case byte
// by byte.
//
// Example:
//   std::string bytes = SafetensorsBytes({{"w", "F32", {2}, F32Bytes({1,
//   2})}}); WriteFileOrDie(dir + "/model.safetensors", bytes); std::string bad
//   = RawSafetensors(R"({"w":{"dtype":"F32"}})", "");
#ifndef TRILEMMA_TESTS_WEIGHTS_SAFETENSORS_WRITER_H_
#define TRILEMMA_TESTS_WEIGHTS_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace trilemma::testing {

struct TestTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;  // the data, already encoded
};

// 8-byte little-endian length of `header`, `header`, then `data`: no checks.
std::string RawSafetensors(const std::string& header, const std::string& data);

// A valid file: tensors laid out in the given order with consecutive
// data_offsets, the header padded with spaces to a multiple of 8 bytes (as
// the reference writer does, so the data section starts 8-aligned).
// `metadata_json`, when not empty, is written as "__metadata__".
std::string SafetensorsBytes(const std::vector<TestTensor>& tensors,
                             const std::string& metadata_json = "");

// The header JSON SafetensorsBytes would write (without padding).
std::string SafetensorsHeader(const std::vector<TestTensor>& tensors,
                              const std::string& metadata_json = "");

std::string F32Bytes(const std::vector<float>& values);
// Raw 16-bit patterns (F16 or BF16), little-endian.
std::string U16Bytes(const std::vector<uint16_t>& bits);

// A fresh empty directory under the test temp dir.
std::string MakeTempDir();
// Writes `bytes` to `path` (test failure if it cannot).
void WriteFileOrDie(const std::string& path, const std::string& bytes);

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_WEIGHTS_SAFETENSORS_WRITER_H_
