// CheckpointDir over a sharded checkpoint: model.safetensors.index.json and
// its shards must agree exactly; every disagreement is a clear error.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/weights/checkpoint_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/weights/safetensors_writer.h"

namespace trilemma {
namespace {

using testing::F32Bytes;
using ::testing::HasSubstr;
using testing::MakeTempDir;
using testing::SafetensorsBytes;
using testing::U16Bytes;
using testing::WriteFileOrDie;

constexpr char kShard1[] = "model-00001-of-00002.safetensors";
constexpr char kShard2[] = "model-00002-of-00002.safetensors";

// A two-shard checkpoint: "a", "b" in shard 1 and "c" in shard 2; the index
// is `index` (the correct one when empty).
std::string ShardedDir(const std::string& index = "") {
  std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/config.json", "{}");
  WriteFileOrDie(dir + "/" + kShard1,
                 SafetensorsBytes({{"a", "F32", {2}, F32Bytes({1, 2})},
                                   {"b", "BF16", {1}, U16Bytes({0x4040})}}));
  WriteFileOrDie(dir + "/" + kShard2,
                 SafetensorsBytes({{"c", "F32", {1}, F32Bytes({9})}}));
  WriteFileOrDie(
      dir + "/model.safetensors.index.json",
      index.empty()
          ? absl::StrCat(R"({"metadata": {"total_size": 14},)",
                         R"("weight_map": {"a": ")", kShard1, R"(", "b": ")",
                         kShard1, R"(", "c": ")", kShard2, R"("}})")
          : index);
  return dir;
}

// Open must fail with INVALID_ARGUMENT and a message containing `substr`.
void ExpectBadIndex(const std::string& dir, const std::string& substr) {
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument)
      << ckpt.status();
  EXPECT_THAT(std::string{ckpt.status().message()}, HasSubstr(substr));
}

std::string IndexOf(const std::string& weight_map) {
  return absl::StrCat(R"({"weight_map": )", weight_map, "}");
}

TEST(CheckpointShards, OpensAndTakesFromEveryShard) {
  const std::string dir = ShardedDir();
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  absl::StatusOr<const float*> a = (*ckpt)->Take("a", {2});
  absl::StatusOr<const float*> b = (*ckpt)->Take("b", {1});
  absl::StatusOr<const float*> c = (*ckpt)->Take("c", {1});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)[1], 2.0f);
  EXPECT_EQ((*b)[0], 3.0f);  // bf16 0x4040
  EXPECT_EQ((*c)[0], 9.0f);
  EXPECT_TRUE(
      (*ckpt)->CheckAllTaken([](const std::string&) { return false; }).ok());
  // Both shards mapped: two headers plus 14 data bytes at least.
  EXPECT_GT((*ckpt)->mapped_bytes(), 14 + 16);
}

TEST(CheckpointShards, ErrorsNameTheShard) {
  const std::string dir = ShardedDir();
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ((*ckpt)->Take("c", {2}).status().message(),
            absl::StrCat(dir, "/", kShard2,
                         ": tensor 'c' has shape [1], expected [2]"));
  EXPECT_EQ(
      (*ckpt)
          ->CheckAllTaken([](const std::string&) { return false; })
          .message(),
      absl::StrCat(dir, "/", kShard1,
                   ": tensor 'a' is not used by this architecture (an extra "
                   "tensor); 2 more unused"));
}

TEST(CheckpointShards, SingleFileWinsOverIndex) {
  const std::string dir = ShardedDir("not json");
  WriteFileOrDie(dir + "/model.safetensors",
                 SafetensorsBytes({{"only", "F32", {1}, F32Bytes({5})}}));
  absl::StatusOr<std::unique_ptr<CheckpointDir>> ckpt =
      CheckpointDir::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_TRUE((*ckpt)->Has("only"));
  EXPECT_FALSE((*ckpt)->Has("a"));
}

TEST(CheckpointShards, IndexNotJson) {
  const std::string dir = ShardedDir("{\"weight_map\": {");
  ExpectBadIndex(dir, dir + "/model.safetensors.index.json: not valid JSON");
}

TEST(CheckpointShards, IndexWithoutWeightMap) {
  for (const std::string& index :
       {std::string(R"({"metadata": {}})"), std::string("[]"),
        std::string(R"({"weight_map": ["a"]})")}) {
    const std::string dir = ShardedDir(index);
    ExpectBadIndex(dir, dir +
                            "/model.safetensors.index.json: expected an object "
                            "with a \"weight_map\" object");
  }
}

TEST(CheckpointShards, ShardNameNotAString) {
  ExpectBadIndex(ShardedDir(IndexOf(R"({"a": 1})")),
                 "weight_map['a'] must be a file name, got 1");
}

TEST(CheckpointShards, ShardOutsideTheDirectory) {
  for (const std::string& shard :
       {std::string("../model.safetensors"), std::string("/etc/passwd"),
        std::string("sub/x.safetensors"), std::string(".."), std::string("")}) {
    ExpectBadIndex(
        ShardedDir(IndexOf(absl::StrCat(R"({"a": ")", shard, R"("})"))),
        "which is not a file inside the checkpoint directory");
  }
  ExpectBadIndex(ShardedDir(IndexOf(R"({"a": "x\u0000/../y"})")),
                 "not a file inside the checkpoint directory");
}

TEST(CheckpointShards, ShardMissing) {
  const std::string dir = ShardedDir(IndexOf(
      absl::StrCat(R"({"a": ")", kShard1, R"(", "z": "gone.safetensors"})")));
  ExpectBadIndex(dir, absl::StrCat(dir,
                                   "/model.safetensors.index.json: shard "
                                   "gone.safetensors (of tensor 'z') does not "
                                   "exist in ",
                                   dir));
}

TEST(CheckpointShards, TensorListedButAbsentFromItsShard) {
  const std::string dir = ShardedDir(IndexOf(
      absl::StrCat(R"({"a": ")", kShard1, R"(", "b": ")", kShard1,
                   R"(", "c": ")", kShard2, R"(", "d": ")", kShard2, R"("})")));
  ExpectBadIndex(dir, absl::StrCat(": maps tensor 'd' to ", kShard2,
                                   ", which does not contain it"));
}

TEST(CheckpointShards, TensorMappedToTheWrongShard) {
  const std::string dir = ShardedDir(
      IndexOf(absl::StrCat(R"({"a": ")", kShard1, R"(", "b": ")", kShard2,
                           R"(", "c": ")", kShard2, R"("})")));
  ExpectBadIndex(dir, absl::StrCat("maps tensor 'b' to ", kShard2,
                                   ", which does not contain it"));
}

TEST(CheckpointShards, TensorInAShardTheIndexDoesNotList) {
  const std::string dir = ShardedDir(IndexOf(
      absl::StrCat(R"({"a": ")", kShard1, R"(", "c": ")", kShard2, R"("})")));
  ExpectBadIndex(
      dir, absl::StrCat(dir, "/", kShard1, ": holds tensor 'b', which ", dir,
                        "/model.safetensors.index.json does not "
                        "list"));
}

TEST(CheckpointShards, SameNameInTwoShards) {
  const std::string dir = ShardedDir();
  WriteFileOrDie(dir + "/" + kShard2,
                 SafetensorsBytes({{"a", "F32", {1}, F32Bytes({9})},
                                   {"c", "F32", {1}, F32Bytes({9})}}));
  ExpectBadIndex(
      dir, absl::StrCat("tensor 'a' is in both ", kShard1, " and ", kShard2));
}

TEST(CheckpointShards, CorruptShardNamed) {
  const std::string dir = ShardedDir();
  WriteFileOrDie(
      dir + "/" + kShard2,
      testing::RawSafetensors(
          R"({"c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "ab"));
  ExpectBadIndex(dir, absl::StrCat(dir, "/", kShard2,
                                   ": tensor 'c' has data_offsets [0, 4], "
                                   "past the end of the 2-byte data section"));
}

}  // namespace
}  // namespace trilemma
