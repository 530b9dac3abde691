#include "engines/weights/checkpoint_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engines/weights/json_util.h"

namespace trilemma {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is used in place");

// config.json is a few KB and an index a few MB even for the largest models;
// this only stops a wrong file from being read into memory whole.
constexpr int64_t kMaxJsonFileBytes = 64'000'000;

std::string Join(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return absl::StrCat(dir, "/", name);
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// The whole of a small regular file.
absl::StatusOr<std::string> ReadJsonFile(const std::string& path) {
  // O_NONBLOCK: a FIFO is refused below instead of blocking the open.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot open: ", strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  if (st.st_size > kMaxJsonFileBytes) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", st.st_size, " bytes is too large for a JSON file (limit ",
        kMaxJsonFileBytes, ")"));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t got = read(fd, text.data() + done, text.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  close(fd);
  text.resize(done);  // a file that shrank meanwhile reads as what is left
  return text;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A shard name as the index gives it: a plain file name inside the directory.
bool PlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Reads "weight_map" of an index file into `weight_map`.
absl::Status ParseIndex(const std::string& index_path,
                        std::map<std::string, std::string>* weight_map) {
  absl::StatusOr<std::string> text = ReadJsonFile(index_path);
  if (!text.ok()) return text.status();
  absl::StatusOr<nlohmann::json> index = ParseJson(*text, index_path);
  if (!index.ok()) return index.status();
  if (!index->is_object() || !index->contains("weight_map") ||
      !(*index)["weight_map"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path,
                     ": expected an object with a \"weight_map\" object "
                     "(tensor name -> shard file)"));
  }
  for (const auto& [name, shard] : (*index)["weight_map"].items()) {
    if (!shard.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": weight_map['", name,
                       "'] must be a file name, got ", JsonForError(shard)));
    }
    const std::string file = shard.get<std::string>();
    if (!PlainFileName(file)) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": weight_map['", name, "'] names ", JsonForError(shard),
          ", which is not a file inside the checkpoint directory"));
    }
    (*weight_map)[name] = file;
  }
  return absl::OkStatus();
}

}  // namespace

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa x 2^-24, exact in f32
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 31) {  // inf, or nan with its payload kept
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) |
                              (mantissa << 13));
}

float Bfloat16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

CheckpointDir::CheckpointDir(
    std::string dir, std::string config_text,
    std::vector<std::unique_ptr<SafetensorsFile>> files)
    : dir_(std::move(dir)),
      config_text_(std::move(config_text)),
      files_(std::move(files)) {
  for (const auto& file : files_) {
    for (const SafetensorsTensor& t : file->tensors()) {
      tensors_[t.name] = Entry{file.get(), &t};
    }
  }
}

absl::StatusOr<std::unique_ptr<CheckpointDir>> CheckpointDir::Open(
    const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(
          absl::StrCat("checkpoint directory ", dir, " does not exist"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot access checkpoint directory ", dir, ": ", strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint directory ", dir, " is not a directory"));
  }
  const std::string config_path = Join(dir, "config.json");
  if (!Exists(config_path)) {
    return absl::NotFoundError(absl::StrCat(dir, " has no config.json"));
  }
  absl::StatusOr<std::string> config_text = ReadJsonFile(config_path);
  if (!config_text.ok()) return config_text.status();

  std::vector<std::unique_ptr<SafetensorsFile>> files;
  const std::string single_path = Join(dir, "model.safetensors");
  const std::string index_path = Join(dir, "model.safetensors.index.json");
  if (Exists(single_path)) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::Open(single_path);
    if (!file.ok()) return file.status();
    files.push_back(*std::move(file));
  } else if (Exists(index_path)) {
    std::map<std::string, std::string> weight_map;
    if (absl::Status s = ParseIndex(index_path, &weight_map); !s.ok()) {
      return s;
    }
    std::map<std::string, const SafetensorsFile*> shards;
    for (const auto& [name, shard] : weight_map) {
      if (shards.contains(shard)) continue;
      const std::string shard_path = Join(dir, shard);
      if (!Exists(shard_path)) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": shard ", shard, " (of tensor '", name,
                         "') does not exist in ", dir));
      }
      absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
          SafetensorsFile::Open(shard_path);
      if (!file.ok()) return file.status();
      shards[shard] = file->get();
      files.push_back(*std::move(file));
    }
    if (absl::Status s = CheckIndex(index_path, weight_map, shards); !s.ok()) {
      return s;
    }
  } else {
    return absl::NotFoundError(
        absl::StrCat(dir,
                     " has neither model.safetensors nor "
                     "model.safetensors.index.json"));
  }
  return std::unique_ptr<CheckpointDir>(
      new CheckpointDir(dir, *std::move(config_text), std::move(files)));
}

absl::Status CheckpointDir::CheckIndex(
    const std::string& index_path,
    const std::map<std::string, std::string>& weight_map,
    const std::map<std::string, const SafetensorsFile*>& shards) {
  std::map<std::string, std::string> found_in;  // tensor -> first shard
  for (const auto& [shard, file] : shards) {
    for (const SafetensorsTensor& t : file->tensors()) {
      auto [it, inserted] = found_in.emplace(t.name, shard);
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": tensor '", t.name, "' is in both ",
                         it->second, " and ", shard));
      }
    }
  }
  for (const auto& [name, shard] : weight_map) {
    if (shards.at(shard)->Find(name) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": maps tensor '", name, "' to ", shard,
                       ", which does not contain it"));
    }
  }
  for (const auto& [name, shard] : found_in) {
    if (!weight_map.contains(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(shards.at(shard)->path(), ": holds tensor '", name,
                       "', which ", index_path, " does not list"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckpointDir::MissingTensor(const std::string& name) const {
  // The checkpoint is there but incomplete for its architecture: a malformed
  // argument, not a missing file (docs/checkpoints.md).
  std::vector<std::string> files;
  for (const auto& file : files_) files.push_back(Basename(file->path()));
  return absl::InvalidArgumentError(
      absl::StrCat(dir_, ": tensor '", name, "' is missing (not in ",
                   absl::StrJoin(files, ", "), ")"));
}

absl::StatusOr<HfConfig> CheckpointDir::Config() const {
  return HfConfig::Parse(config_text_, Join(dir_, "config.json"));
}

absl::StatusOr<std::vector<int64_t>> CheckpointDir::Shape(
    const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return MissingTensor(name);
  return it->second.tensor->shape;
}

absl::StatusOr<const float*> CheckpointDir::Take(
    const std::string& name, const std::vector<int64_t>& shape) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return MissingTensor(name);
  Entry& entry = it->second;
  const SafetensorsTensor& t = *entry.tensor;
  // The dtype first: a tensor we cannot read at all is the deeper problem.
  const bool f32 = t.dtype == "F32";
  const bool f16 = t.dtype == "F16";
  if (!f32 && !f16 && t.dtype != "BF16") {
    return absl::InvalidArgumentError(
        absl::StrCat(entry.file->path(), ": tensor '", name, "' has dtype ",
                     t.dtype, "; supported: F32, F16, BF16"));
  }
  if (t.shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(entry.file->path(), ": tensor '", name, "' has shape ",
                     ShapeText(t.shape), ", expected ", ShapeText(shape)));
  }
  if (entry.data != nullptr) return entry.data;

  const absl::string_view bytes = entry.file->Bytes(t);
  const size_t numel = bytes.size() / (f32 ? 4 : 2);
  if (numel == 0) {
    static const float kNothing = 0.0f;
    entry.data = &kNothing;
    return entry.data;
  }
  if (f32 && reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0) {
    entry.data = reinterpret_cast<const float*>(bytes.data());
    return entry.data;
  }
  std::vector<float>& out = owned_[name];
  out.resize(numel);
  if (f32) {
    std::memcpy(out.data(), bytes.data(), bytes.size());
  } else {
    for (size_t i = 0; i < numel; ++i) {
      uint16_t bits = 0;
      std::memcpy(&bits, bytes.data() + 2 * i, 2);
      out[i] = f16 ? HalfToFloat(bits) : Bfloat16ToFloat(bits);
    }
  }
  converted_bytes_ += static_cast<int64_t>(numel * sizeof(float));
  entry.data = out.data();
  return entry.data;
}

absl::Status CheckpointDir::CheckAllTaken(
    const std::function<bool(const std::string&)>& ignored) const {
  const Entry* first = nullptr;
  std::string first_name;
  int64_t others = 0;
  for (const auto& [name, entry] : tensors_) {
    if (entry.data != nullptr || ignored(name)) continue;
    if (first == nullptr) {
      first = &entry;
      first_name = name;
    } else {
      ++others;
    }
  }
  if (first == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      first->file->path(), ": tensor '", first_name,
      "' is not used by this architecture (an extra tensor)",
      others > 0 ? absl::StrCat("; ", others, " more unused") : ""));
}

int64_t CheckpointDir::mapped_bytes() const {
  int64_t total = 0;
  for (const auto& file : files_) total += file->file_size();
  return total;
}

}  // namespace trilemma
