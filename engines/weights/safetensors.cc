#include "engines/weights/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engines/weights/json_util.h"
#include "engines/weights/safetensors_header.h"

namespace trilemma {
namespace {

// The limit of the reference implementation (safetensors' MAX_HEADER_SIZE):
// a real header is a few hundred bytes per tensor.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  const char* name;
  int64_t size;
};
constexpr std::array<DtypeInfo, 15> kDtypes = {{
    {"BOOL", 1},
    {"U8", 1},
    {"I8", 1},
    {"F8_E4M3", 1},
    {"F8_E5M2", 1},
    {"I16", 2},
    {"U16", 2},
    {"F16", 2},
    {"BF16", 2},
    {"I32", 4},
    {"U32", 4},
    {"F32", 4},
    {"F64", 8},
    {"I64", 8},
    {"U64", 8},
}};

// The little-endian u64 the file starts with. REQUIRES: 8 readable bytes.
uint64_t HeaderLength(const char* file_start) {
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) {
    len = (len << 8) | static_cast<uint8_t>(file_start[i]);
  }
  return len;
}

absl::Status Invalid(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// The tensors, sorted by begin, must tile [0, data_len) exactly.
absl::Status CheckTiling(const std::string& path,
                         const std::vector<SafetensorsTensor>& sorted,
                         int64_t data_len) {
  int64_t covered = 0;  // bytes [0, covered) belong to a tensor
  const SafetensorsTensor* last = nullptr;
  for (const SafetensorsTensor& t : sorted) {
    if (t.begin < covered) {
      return Invalid(
          path, absl::StrCat("tensors '", last->name, "' [", last->begin, ", ",
                             last->end, "] and '", t.name, "' [", t.begin, ", ",
                             t.end, "] overlap"));
    }
    if (t.begin > covered) {
      return Invalid(path, absl::StrCat("bytes [", covered, ", ", t.begin,
                                        ") of the data section belong to no "
                                        "tensor (a hole before ",
                                        NameForError(t.name), ")"));
    }
    if (t.end > covered || last == nullptr) last = &t;
    covered = std::max(covered, t.end);
  }
  if (covered != data_len) {
    return Invalid(path, absl::StrCat("bytes [", covered, ", ", data_len,
                                      ") at the end of the data section "
                                      "belong to no tensor"));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t SafetensorsDtypeSize(absl::string_view dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (dtype == d.name) return d.size;
  }
  return 0;
}

absl::StatusOr<std::vector<SafetensorsTensor>> ParseSafetensors(
    absl::string_view file_bytes, const std::string& path) {
  if (file_bytes.size() < 8) {
    return Invalid(path,
                   absl::StrCat("truncated: the file has ", file_bytes.size(),
                                " bytes; a safetensors file starts with "
                                "an 8-byte header length"));
  }
  const uint64_t header_len = HeaderLength(file_bytes.data());
  if (header_len > kMaxHeaderBytes) {
    return Invalid(path, absl::StrCat("header length ", header_len,
                                      " exceeds the limit of ", kMaxHeaderBytes,
                                      " bytes (100 MB)"));
  }
  if (header_len > file_bytes.size() - 8) {
    return Invalid(path, absl::StrCat("truncated: header length ", header_len,
                                      " runs past the end of the file (",
                                      file_bytes.size(), " bytes)"));
  }
  const int64_t data_len =
      static_cast<int64_t>(file_bytes.size() - 8 - header_len);

  std::vector<SafetensorsTensor> tensors;
  if (absl::Status s = ParseSafetensorsHeader(file_bytes.substr(8, header_len),
                                              data_len, path, &tensors);
      !s.ok()) {
    return s;
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
              return std::tie(a.begin, a.end, a.name) <
                     std::tie(b.begin, b.end, b.name);
            });
  if (absl::Status s = CheckTiling(path, tensors, data_len); !s.ok()) {
    return s;
  }
  return tensors;
}

SafetensorsFile::SafetensorsFile(std::string path, const char* base,
                                 size_t file_size, size_t data_start,
                                 std::vector<SafetensorsTensor> tensors)
    : path_(std::move(path)),
      base_(base),
      file_size_(file_size),
      data_start_(data_start),
      tensors_(std::move(tensors)) {
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
  munmap(const_cast<char*>(base_), file_size_);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
  // refused as not a regular file); no effect on regular files.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    std::string message = absl::StrCat(path, ": cannot open: ", strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    return absl::InvalidArgumentError(message);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Invalid(path, "not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    // Too short to hold the header length (mmap cannot map 0 bytes): the
    // parser's message depends on the size alone.
    close(fd);
    return ParseSafetensors(std::string(size, '\0'), path).status();
  }
  void* base = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  close(fd);  // the mapping keeps the file open
  if (base == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat(path, ": mmap failed: ", strerror(mmap_errno)));
  }
  const char* bytes = static_cast<const char*>(base);
  absl::StatusOr<std::vector<SafetensorsTensor>> tensors =
      ParseSafetensors(absl::string_view(bytes, size), path);
  if (!tensors.ok()) {
    munmap(base, size);
    return tensors.status();
  }
  return std::unique_ptr<SafetensorsFile>(new SafetensorsFile(
      path, bytes, size, 8 + HeaderLength(bytes), *std::move(tensors)));
}

const SafetensorsTensor* SafetensorsFile::Find(absl::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::string_view SafetensorsFile::Bytes(const SafetensorsTensor& t) const {
  return absl::string_view(base_ + data_start_ + t.begin, t.end - t.begin);
}

}  // namespace trilemma
