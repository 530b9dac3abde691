#include "engines/common/tensor_map.h"

#include <cstdio>
#include <filesystem>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace trilemma {

float* TensorMap::Add(const std::string& name, std::vector<int64_t> shape) {
  const int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t{1},
                                    std::multiplies<int64_t>());
  Tensor& t = tensors_[name];
  t.shape = std::move(shape);
  t.data.assign(n, 0.0f);
  return t.data.data();
}

int64_t Tensor::size() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

void TensorMap::AddView(const std::string& name, std::vector<int64_t> shape,
                        const float* data) {
  Tensor& t = tensors_[name];
  t.shape = std::move(shape);
  t.view = data;
}

const Tensor& TensorMap::Get(const std::string& name) const {
  return tensors_.at(name);
}

float* TensorMap::Mutable(const std::string& name) {
  return tensors_.at(name).data.data();
}

int64_t TensorMap::num_floats() const {
  int64_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.size();
  return n;
}

namespace {

absl::Status WriteNpyRaw(const std::string& path,
                         const std::vector<int64_t>& shape, const char* descr,
                         const void* data, int64_t bytes) {
  std::string shape_str = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) shape_str += ",";
  std::string header =
      absl::StrCat("{'descr': '", descr,
                   "', 'fortran_order': False, 'shape': (", shape_str, "), }");
  // Magic (6) + version (2) + header length (2) + header, padded to 64.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  const unsigned char prefix[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const uint16_t len = static_cast<uint16_t>(header.size());
  bool ok = std::fwrite(prefix, 1, sizeof(prefix), f) == sizeof(prefix) &&
            std::fwrite(&len, 2, 1, f) == 1 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            (bytes == 0 ||
             std::fwrite(data, 1, bytes, f) == static_cast<size_t>(bytes));
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return absl::InternalError(absl::StrCat("short write to ", path));
  return absl::OkStatus();
}

int64_t Count(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

}  // namespace

absl::Status WriteNpy(const std::string& path,
                      const std::vector<int64_t>& shape, const float* data) {
  return WriteNpyRaw(path, shape, "<f4", data, Count(shape) * 4);
}

absl::Status WriteNpyInt32(const std::string& path,
                           const std::vector<int64_t>& shape,
                           const int32_t* data) {
  return WriteNpyRaw(path, shape, "<i4", data, Count(shape) * 4);
}

absl::Status TensorMap::WriteNpyDir(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir));
  for (const auto& [name, t] : tensors_) {
    absl::Status s =
        WriteNpy(absl::StrCat(dir, "/", name, ".npy"), t.shape, t.ptr());
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace trilemma
