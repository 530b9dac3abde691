// CheckpointDir: directory layout, index/shard agreement, f32 handout (in
// place, copied, converted) and the extra-tensor check. Checkpoints are
// written byte by byte by tests/weights/safetensors_writer.h.
#include "engines/weights/checkpoint_dir.h"

#include <sys/stat.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/weights/safetensors_writer.h"

namespace trilemma {
namespace {

using testing::F32Bytes;
using ::testing::HasSubstr;
using testing::MakeTempDir;
using testing::SafetensorsBytes;
using testing::TestTensor;
using testing::U16Bytes;
using testing::WriteFileOrDie;

constexpr char kConfig[] = R"({"architectures": ["LlamaForCausalLM"],
                                "hidden_size": 4})";

// The file mapped at address `p` according to /proc/self/maps, or "".
std::string MappedFileAt(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, file;
    fields >> range >> perms >> offset >> dev >> inode >> file;
    std::vector<std::string> ends = absl::StrSplit(range, '-');
    if (ends.size() != 2) continue;
    const uintptr_t lo = std::stoull(ends[0], nullptr, 16);
    const uintptr_t hi = std::stoull(ends[1], nullptr, 16);
    if (address >= lo && address < hi) return file;
  }
  return "";
}

// A directory with config.json and model.safetensors holding `tensors`.
std::string SingleFileDir(const std::vector<TestTensor>& tensors) {
  std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/config.json", kConfig);
  WriteFileOrDie(dir + "/model.safetensors", SafetensorsBytes(tensors));
  return dir;
}

std::unique_ptr<CheckpointDir> OpenOrDie(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  EXPECT_TRUE(ckpt.ok()) << ckpt.status();
  return ckpt.ok() ? *std::move(ckpt) : nullptr;
}

// Open must fail with `code` and a message containing `substr`.
void ExpectOpenError(const std::string& dir, absl::StatusCode code,
                     const std::string& substr) {
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), code) << ckpt.status();
  EXPECT_THAT(std::string{ckpt.status().message()}, HasSubstr(substr));
}

TEST(CheckpointDirLayout, MissingDirectory) {
  const std::string dir = MakeTempDir() + "/nope";
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ckpt.status().message(),
            absl::StrCat("checkpoint directory ", dir, " does not exist"));
}

TEST(CheckpointDirLayout, NotADirectory) {
  const std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/file", "x");
  ExpectOpenError(dir + "/file", absl::StatusCode::kInvalidArgument,
                  "is not a directory");
}

TEST(CheckpointDirLayout, NoConfig) {
  const std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/model.safetensors", SafetensorsBytes({}));
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ckpt.status().message(), dir + " has no config.json");
}

TEST(CheckpointDirLayout, NoWeights) {
  const std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/config.json", kConfig);
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ckpt.status().message(), dir +
                                         " has neither model.safetensors nor "
                                         "model.safetensors.index.json");
}

TEST(CheckpointDirLayout, FifosAreRefusedWithoutBlocking) {
  // Opening a FIFO for reading would wait for a writer forever.
  const std::string dir = MakeTempDir();
  ASSERT_EQ(mkfifo((dir + "/config.json").c_str(), 0600), 0);
  ExpectOpenError(dir, absl::StatusCode::kInvalidArgument,
                  dir + "/config.json: not a regular file");
  const std::string dir2 = MakeTempDir();
  WriteFileOrDie(dir2 + "/config.json", kConfig);
  ASSERT_EQ(mkfifo((dir2 + "/model.safetensors").c_str(), 0600), 0);
  ExpectOpenError(dir2, absl::StatusCode::kInvalidArgument,
                  dir2 + "/model.safetensors: not a regular file");
}

TEST(CheckpointDirLayout, CorruptFileNamed) {
  const std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/config.json", kConfig);
  WriteFileOrDie(dir + "/model.safetensors", std::string("\x10\0\0", 3));
  ExpectOpenError(dir, absl::StatusCode::kInvalidArgument,
                  dir + "/model.safetensors: truncated");
}

TEST(CheckpointDirLayout, ConfigParsedAndErrorsNamed) {
  std::unique_ptr<CheckpointDir> ckpt = OpenOrDie(SingleFileDir({}));
  ASSERT_NE(ckpt, nullptr);
  absl::StatusOr<HfConfig> config = ckpt->Config();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Int("hidden_size", 1, 8), 4);
  EXPECT_EQ(config->path(), ckpt->dir() + "/config.json");

  const std::string dir = SingleFileDir({});
  WriteFileOrDie(dir + "/config.json", "{\"hidden_size\": ");
  std::unique_ptr<CheckpointDir> bad = OpenOrDie(dir);
  ASSERT_NE(bad, nullptr);
  absl::StatusOr<HfConfig> bad_config = bad->Config();
  EXPECT_EQ(bad_config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string{bad_config.status().message()},
              HasSubstr(dir + "/config.json: not valid JSON"));
}

TEST(CheckpointDirTake, F32InPlaceInsideTheMapping) {
  const std::string dir =
      SingleFileDir({{"w", "F32", {2, 2}, F32Bytes({1, -2, 3.5f, 1e-40f})}});
  std::unique_ptr<CheckpointDir> ckpt = OpenOrDie(dir + "/");
  ASSERT_NE(ckpt, nullptr);
  absl::StatusOr<const float*> w = ckpt->Take("w", {2, 2});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)[0], 1.0f);
  EXPECT_EQ((*w)[1], -2.0f);
  EXPECT_EQ((*w)[2], 3.5f);
  EXPECT_EQ((*w)[3], 1e-40f);
  EXPECT_EQ(ckpt->converted_bytes(), 0);
  EXPECT_THAT(MappedFileAt(*w), HasSubstr("/model.safetensors"));
  EXPECT_EQ(*ckpt->Take("w", {2, 2}), *w);  // same pointer again
  EXPECT_GT(ckpt->mapped_bytes(), 16);
}

TEST(CheckpointDirTake, MisalignedF32IsCopied) {
  // A 2-byte tensor first puts "w" at data offset 2: not 4-byte aligned.
  const std::string dir =
      SingleFileDir({{"pad", "F16", {1}, U16Bytes({0x3c00})},
                     {"w", "F32", {3}, F32Bytes({1.25f, -0.0f, 7})}});
  std::unique_ptr<CheckpointDir> ckpt = OpenOrDie(dir);
  ASSERT_NE(ckpt, nullptr);
  absl::StatusOr<const float*> w = ckpt->Take("w", {3});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*w) % alignof(float), 0u);
  EXPECT_EQ(MappedFileAt(*w).find("model.safetensors"), std::string::npos);
  EXPECT_EQ((*w)[0], 1.25f);
  EXPECT_TRUE(std::signbit((*w)[1]));
  EXPECT_EQ((*w)[2], 7.0f);
  EXPECT_EQ(ckpt->converted_bytes(), 12);
}

TEST(CheckpointDirTake, F16AndBf16Values) {
  const std::vector<uint16_t> f16 = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400,
                                     0x3c00, 0xc000, 0x7bff, 0x7c00, 0xfc00,
                                     0x7e00, 0x3555, 0x8001};
  const std::vector<uint16_t> bf16 = {0x3f80, 0x0001, 0x8000, 0x7f80,
                                      0xff80, 0x7fc0, 0xc049, 0x0080};
  const std::string dir = SingleFileDir(
      {{"h", "F16", {13}, U16Bytes(f16)}, {"b", "BF16", {8}, U16Bytes(bf16)}});
  std::unique_ptr<CheckpointDir> ckpt = OpenOrDie(dir);
  ASSERT_NE(ckpt, nullptr);
  absl::StatusOr<const float*> h = ckpt->Take("h", {13});
  ASSERT_TRUE(h.ok()) << h.status();
  const float* v = *h;
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_FALSE(std::signbit(v[0]));
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_TRUE(std::signbit(v[1]));            // -0 kept
  EXPECT_EQ(v[2], std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(v[3], std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(v[4], std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(v[5], 1.0f);
  EXPECT_EQ(v[6], -2.0f);
  EXPECT_EQ(v[7], 65504.0f);  // largest finite
  EXPECT_EQ(v[8], INFINITY);
  EXPECT_EQ(v[9], -INFINITY);
  EXPECT_TRUE(std::isnan(v[10]));
  EXPECT_EQ(v[11], 0.333251953125f);
  EXPECT_EQ(v[12], -std::ldexp(1.0f, -24));

  absl::StatusOr<const float*> b = ckpt->Take("b", {8});
  ASSERT_TRUE(b.ok()) << b.status();
  v = *b;
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], std::ldexp(1.0f, -133));  // bf16 subnormal
  EXPECT_TRUE(std::signbit(v[2]));
  EXPECT_EQ(v[2], 0.0f);
  EXPECT_EQ(v[3], INFINITY);
  EXPECT_EQ(v[4], -INFINITY);
  EXPECT_TRUE(std::isnan(v[5]));
  EXPECT_EQ(v[6], -3.140625f);
  EXPECT_EQ(v[7], std::ldexp(1.0f, -126));  // smallest normal
  EXPECT_EQ(ckpt->converted_bytes(), (13 + 8) * 4);
}

TEST(CheckpointDirTake, HalfToFloatMatchesTheFormulaOnEveryPattern) {
  // IEEE binary16 by its definition, in double arithmetic (exact here):
  // (-1)^s x 2^(e-15) x (1 + m/1024), subnormals 2^-14 x m/1024, e = 31 is
  // inf (m = 0) or nan. A reference sharing nothing with the bit shuffling of
  // HalfToFloat, checked on all 65536 patterns.
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const int sign = (bits >> 15) != 0 ? -1 : 1;
    const int e = static_cast<int>((bits >> 10) & 31);
    const int m = static_cast<int>(bits & 1023);
    const float got = HalfToFloat(static_cast<uint16_t>(bits));
    if (e == 31 && m != 0) {
      EXPECT_TRUE(std::isnan(got)) << bits;
      continue;
    }
    double expected = 0;
    if (e == 31) {
      expected = sign * HUGE_VAL;
    } else if (e == 0) {
      expected = sign * std::ldexp(m / 1024.0, -14);
    } else {
      expected = sign * std::ldexp(1 + m / 1024.0, e - 15);
    }
    EXPECT_EQ(std::bit_cast<uint32_t>(got),
              std::bit_cast<uint32_t>(static_cast<float>(expected)))
        << bits;
  }
}

TEST(CheckpointDirTake, ErrorsNameTensorAndFile) {
  const std::string dir =
      SingleFileDir({{"w", "F32", {2, 3}, F32Bytes({1, 2, 3, 4, 5, 6})},
                     {"ids", "I64", {1}, std::string(8, '\0')}});
  std::unique_ptr<CheckpointDir> ckpt = OpenOrDie(dir);
  ASSERT_NE(ckpt, nullptr);

  absl::StatusOr<const float*> missing = ckpt->Take("nope", {1});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(),
            dir + ": tensor 'nope' is missing (not in model.safetensors)");
  EXPECT_EQ(ckpt->Shape("nope").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ckpt->Shape("nope").status().message(),
            dir + ": tensor 'nope' is missing (not in model.safetensors)");

  absl::StatusOr<const float*> shape = ckpt->Take("w", {3, 2});
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shape.status().message(),
            dir +
                "/model.safetensors: tensor 'w' has shape [2, 3], expected "
                "[3, 2]");

  absl::StatusOr<const float*> dtype = ckpt->Take("ids", {1});
  EXPECT_EQ(dtype.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dtype.status().message(),
            dir +
                "/model.safetensors: tensor 'ids' has dtype I64; supported: "
                "F32, F16, BF16");

  EXPECT_TRUE(ckpt->Has("w"));
  EXPECT_FALSE(ckpt->Has("nope"));
  EXPECT_EQ(*ckpt->Shape("w"), (std::vector<int64_t>{2, 3}));
}

TEST(CheckpointDirTake, EmptyTensorGivesNonNullPointer) {
  std::unique_ptr<CheckpointDir> ckpt =
      OpenOrDie(SingleFileDir({{"e", "F16", {0, 4}, ""}}));
  ASSERT_NE(ckpt, nullptr);
  absl::StatusOr<const float*> e = ckpt->Take("e", {0, 4});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_NE(*e, nullptr);
  EXPECT_TRUE(
      ckpt->CheckAllTaken([](const std::string&) { return false; }).ok());
}

TEST(CheckpointDirTake, CheckAllTakenReportsExtraTensor) {
  const std::string dir =
      SingleFileDir({{"a", "F32", {1}, F32Bytes({1})},
                     {"layers.0.inv_freq", "F32", {1}, F32Bytes({2})},
                     {"x", "F32", {1}, F32Bytes({3})},
                     {"y", "F32", {1}, F32Bytes({4})}});
  std::unique_ptr<CheckpointDir> ckpt = OpenOrDie(dir);
  ASSERT_NE(ckpt, nullptr);
  ASSERT_TRUE(ckpt->Take("a", {1}).ok());
  const auto inv_freq = [](const std::string& name) {
    return name.ends_with(".inv_freq");
  };
  absl::Status extra = ckpt->CheckAllTaken(inv_freq);
  EXPECT_EQ(extra.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(extra.message(),
            dir +
                "/model.safetensors: tensor 'x' is not used by this "
                "architecture (an extra tensor); 1 more unused");
  ASSERT_TRUE(ckpt->Take("x", {1}).ok());
  ASSERT_TRUE(ckpt->Take("y", {1}).ok());
  EXPECT_TRUE(ckpt->CheckAllTaken(inv_freq).ok());
  EXPECT_THAT(
      std::string(ckpt->CheckAllTaken([](const std::string&) { return false; })
                      .message()),
      HasSubstr("'layers.0.inv_freq' is not used"));
}

TEST(CheckpointDirTake, FailedTakeDoesNotMarkTaken) {
  std::unique_ptr<CheckpointDir> ckpt =
      OpenOrDie(SingleFileDir({{"a", "F32", {2}, F32Bytes({1, 2})}}));
  ASSERT_NE(ckpt, nullptr);
  EXPECT_FALSE(ckpt->Take("a", {1}).ok());
  EXPECT_FALSE(
      ckpt->CheckAllTaken([](const std::string&) { return false; }).ok());
}

}  // namespace
}  // namespace trilemma
