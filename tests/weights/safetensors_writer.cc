#include "tests/weights/safetensors_writer.h"

#include <stdlib.h>

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace trilemma::testing {

std::string RawSafetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(len & 0xff);
    len >>= 8;
  }
  return out + header + data;
}

std::string SafetensorsHeader(const std::vector<TestTensor>& tensors,
                              const std::string& metadata_json) {
  std::vector<std::string> entries;
  if (!metadata_json.empty()) {
    entries.push_back(absl::StrCat("\"__metadata__\":", metadata_json));
  }
  int64_t offset = 0;
  for (const TestTensor& t : tensors) {
    const int64_t end = offset + static_cast<int64_t>(t.bytes.size());
    entries.push_back(
        absl::StrCat("\"", t.name, "\":{\"dtype\":\"", t.dtype,
                     "\",\"shape\":[", absl::StrJoin(t.shape, ","),
                     "],\"data_offsets\":[", offset, ",", end, "]}"));
    offset = end;
  }
  return absl::StrCat("{", absl::StrJoin(entries, ","), "}");
}

std::string SafetensorsBytes(const std::vector<TestTensor>& tensors,
                             const std::string& metadata_json) {
  std::string header = SafetensorsHeader(tensors, metadata_json);
  header.resize((header.size() + 7) / 8 * 8, ' ');
  std::string data;
  for (const TestTensor& t : tensors) data += t.bytes;
  return RawSafetensors(header, data);
}

std::string F32Bytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::string U16Bytes(const std::vector<uint16_t>& bits) {
  std::string out;
  for (uint16_t b : bits) {
    out.push_back(static_cast<char>(b & 0xff));
    out.push_back(static_cast<char>(b >> 8));
  }
  return out;
}

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "weights_test_XXXXXX";
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
  return pattern;
}

void WriteFileOrDie(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

}  // namespace trilemma::testing
