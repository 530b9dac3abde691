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
#include "absl/strings/str_join.h"
#include "engines/weights/json_util.h"

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

std::string KnownDtypes() {
  std::vector<std::string> names;
  for (const DtypeInfo& d : kDtypes) names.emplace_back(d.name);
  return absl::StrJoin(names, ", ");
}

absl::Status Invalid(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// A JSON integer that fits int64 and is >= 0 (floats, even integral ones,
// are not: the format stores offsets and dims as integers).
bool NonNegativeInt(const nlohmann::json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return *out >= 0;
  }
  return false;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Validates one header entry (everything but its place among the others).
absl::Status ParseEntry(const std::string& path, const std::string& name,
                        const nlohmann::json& entry, int64_t data_len,
                        SafetensorsTensor* t) {
  const std::string what = absl::StrCat("tensor '", name, "'");
  if (!entry.is_object()) {
    return Invalid(path, absl::StrCat(what, " is ", JsonTypeName(entry),
                                      ", expected an object with dtype, shape "
                                      "and data_offsets"));
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) {
      return Invalid(path, absl::StrCat(what, " has no ", field));
    }
  }
  t->name = name;

  const nlohmann::json& dtype = entry["dtype"];
  if (!dtype.is_string()) {
    return Invalid(path, absl::StrCat(what, ": dtype must be a string, got ",
                                      JsonForError(dtype)));
  }
  t->dtype = dtype.get<std::string>();
  const int64_t elem_size = SafetensorsDtypeSize(t->dtype);
  if (elem_size == 0) {
    return Invalid(
        path, absl::StrCat(what, " has unknown dtype ", JsonForError(dtype),
                           " (known: ", KnownDtypes(), ")"));
  }

  const nlohmann::json& shape = entry["shape"];
  bool shape_ok = shape.is_array();
  for (size_t i = 0; shape_ok && i < shape.size(); ++i) {
    int64_t dim = 0;
    shape_ok = NonNegativeInt(shape[i], &dim);
    t->shape.push_back(dim);
  }
  if (!shape_ok) {
    return Invalid(path,
                   absl::StrCat(what,
                                ": shape must be an array of non-negative "
                                "integers, got ",
                                JsonForError(shape)));
  }

  const nlohmann::json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 ||
      !NonNegativeInt(offsets[0], &t->begin) ||
      !NonNegativeInt(offsets[1], &t->end)) {
    return Invalid(path, absl::StrCat(what,
                                      ": data_offsets must be two "
                                      "non-negative integers [begin, end], "
                                      "got ",
                                      JsonForError(offsets)));
  }
  const std::string range = absl::StrCat("[", t->begin, ", ", t->end, "]");
  if (t->begin > t->end) {
    return Invalid(path, absl::StrCat(what, " has data_offsets ", range,
                                      ": begin is after end"));
  }
  if (t->end > data_len) {
    return Invalid(path, absl::StrCat(what, " has data_offsets ", range,
                                      ", past the end of the ", data_len,
                                      "-byte data section"));
  }

  // numel x size without overflow; any zero dim makes it 0 whatever the rest.
  int64_t bytes = elem_size;
  bool overflow = false;
  for (int64_t dim : t->shape) {
    if (dim == 0) {
      bytes = 0;
      overflow = false;
      break;
    }
    overflow = overflow || __builtin_mul_overflow(bytes, dim, &bytes);
  }
  if (overflow) {
    return Invalid(path,
                   absl::StrCat(what, ": shape ", ShapeText(t->shape), " of ",
                                t->dtype, " is larger than 2^63 bytes"));
  }
  if (bytes != t->end - t->begin) {
    return Invalid(
        path, absl::StrCat(what, " is ", t->dtype, " ", ShapeText(t->shape),
                           " = ", bytes, " bytes, but its data_offsets ", range,
                           " span ", t->end - t->begin));
  }
  return absl::OkStatus();
}

absl::Status CheckMetadata(const std::string& path,
                           const nlohmann::json& metadata) {
  if (metadata.is_null()) return absl::OkStatus();  // as the reference reads
  if (!metadata.is_object()) {
    return Invalid(path, absl::StrCat("'__metadata__' must be an object of "
                                      "strings, got ",
                                      JsonTypeName(metadata)));
  }
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string()) {
      return Invalid(path, absl::StrCat("'__metadata__' must be an object of "
                                        "strings; '",
                                        key, "' is ", JsonTypeName(value)));
    }
  }
  return absl::OkStatus();
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
                                        "tensor (a hole before '",
                                        t.name, "')"));
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

  absl::StatusOr<nlohmann::json> header = ParseJson(
      file_bytes.substr(8, header_len), absl::StrCat(path, ": header"));
  if (!header.ok()) return header.status();
  if (!header->is_object()) {
    return Invalid(path, absl::StrCat("header is ", JsonTypeName(*header),
                                      ", expected a JSON object"));
  }

  std::vector<SafetensorsTensor> tensors;
  for (const auto& [name, entry] : header->items()) {
    if (name == "__metadata__") {
      if (absl::Status s = CheckMetadata(path, entry); !s.ok()) return s;
      continue;
    }
    SafetensorsTensor t;
    if (absl::Status s = ParseEntry(path, name, entry, data_len, &t); !s.ok()) {
      return s;
    }
    tensors.push_back(std::move(t));
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
