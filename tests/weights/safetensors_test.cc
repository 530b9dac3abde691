// ParseSafetensors and SafetensorsFile: every rule of docs/safetensors.md,
// one malformed file per rule, each expected to fail with INVALID_ARGUMENT
// naming the file and the problem.
#include "engines/weights/safetensors.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/weights/safetensors_writer.h"

namespace trilemma {
namespace {

using testing::F32Bytes;
using ::testing::HasSubstr;
using testing::RawSafetensors;
using testing::SafetensorsBytes;
using ::testing::StartsWith;
using testing::U16Bytes;

constexpr char kPath[] = "dir/test.safetensors";

// The message of the INVALID_ARGUMENT that parsing `bytes` must give.
std::string ErrorOf(const std::string& bytes) {
  absl::StatusOr<std::vector<SafetensorsTensor>> parsed =
      ParseSafetensors(bytes, kPath);
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string{parsed.status().message()},
              StartsWith(absl::StrCat(kPath, ": ")));
  return std::string{parsed.status().message()};
}

// A header with one entry `entry` for tensor "w" over `data`.
std::string OneEntry(const std::string& entry, const std::string& data) {
  return RawSafetensors(absl::StrCat(R"({"w":)", entry, "}"), data);
}

TEST(SafetensorsParse, ValidFileSortedByOffset) {
  const std::string bytes =
      SafetensorsBytes({{"b", "F32", {2, 3}, F32Bytes({1, 2, 3, 4, 5, 6})},
                        {"a", "BF16", {2}, U16Bytes({1, 2})}},
                       R"({"format":"pt"})");
  absl::StatusOr<std::vector<SafetensorsTensor>> parsed =
      ParseSafetensors(bytes, kPath);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].name, "b");
  EXPECT_EQ((*parsed)[0].dtype, "F32");
  EXPECT_EQ((*parsed)[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*parsed)[0].begin, 0);
  EXPECT_EQ((*parsed)[0].end, 24);
  EXPECT_EQ((*parsed)[1].name, "a");
  EXPECT_EQ((*parsed)[1].dtype, "BF16");
  EXPECT_EQ((*parsed)[1].begin, 24);
  EXPECT_EQ((*parsed)[1].end, 28);
}

TEST(SafetensorsParse, EmptyHeaderNoData) {
  absl::StatusOr<std::vector<SafetensorsTensor>> parsed =
      ParseSafetensors(RawSafetensors("{}", ""), kPath);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->empty());
}

TEST(SafetensorsParse, EveryStandardDtypeWithItsSize) {
  const std::vector<std::pair<std::string, int64_t>> dtypes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto& [dtype, size] : dtypes) {
    EXPECT_EQ(SafetensorsDtypeSize(dtype), size) << dtype;
    const std::string bytes =
        SafetensorsBytes({{"t",
                           dtype,
                           {3, 1},
                           std::string(static_cast<size_t>(3 * size), 'x')}});
    absl::StatusOr<std::vector<SafetensorsTensor>> parsed =
        ParseSafetensors(bytes, kPath);
    ASSERT_TRUE(parsed.ok()) << dtype << ": " << parsed.status();
    EXPECT_EQ((*parsed)[0].dtype, dtype);
    // One byte short of numel x size is rejected.
    const std::string short_bytes = SafetensorsBytes(
        {{"t",
          dtype,
          {3, 1},
          std::string(static_cast<size_t>(3 * size - 1), 'x')}});
    EXPECT_THAT(ErrorOf(short_bytes), HasSubstr("tensor 't' is " + dtype));
  }
  EXPECT_EQ(SafetensorsDtypeSize("f32"), 0);
  EXPECT_EQ(SafetensorsDtypeSize("F128"), 0);
}

TEST(SafetensorsParse, ScalarAndZeroSizedTensors) {
  const std::string bytes =
      SafetensorsBytes({{"empty", "F32", {0, 5}, ""},
                        {"scalar", "F32", {}, F32Bytes({7})},
                        {"empty2", "F16", {4, 0}, ""}});
  absl::StatusOr<std::vector<SafetensorsTensor>> parsed =
      ParseSafetensors(bytes, kPath);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), 3u);
}

TEST(SafetensorsParse, ZeroDimMakesHugeShapeEmpty) {
  // 2^62 x 2^62 would overflow, but the 0 makes the tensor empty.
  const std::string bytes = OneEntry(
      R"({"dtype":"F32","shape":[4611686018427387904,4611686018427387904,0],"data_offsets":[0,0]})",
      "");
  absl::StatusOr<std::vector<SafetensorsTensor>> parsed =
      ParseSafetensors(bytes, kPath);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
}

TEST(SafetensorsParse, MetadataObjectOfStringsOrNull) {
  EXPECT_TRUE(
      ParseSafetensors(RawSafetensors(R"({"__metadata__":{}})", ""), kPath)
          .ok());
  EXPECT_TRUE(
      ParseSafetensors(RawSafetensors(R"({"__metadata__":null})", ""), kPath)
          .ok());
  EXPECT_THAT(ErrorOf(RawSafetensors(R"({"__metadata__":["a"]})", "")),
              HasSubstr("'__metadata__' must be an object of strings"));
  EXPECT_THAT(
      ErrorOf(RawSafetensors(R"({"__metadata__":{"format":"pt","n":3}})", "")),
      HasSubstr("'n' is an integer"));
}

TEST(SafetensorsParse, Truncated) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("truncated: the file has 0 bytes"));
  EXPECT_THAT(ErrorOf(std::string("\x02\0\0\0\0", 5)),
              HasSubstr("truncated: the file has 5"));
}

TEST(SafetensorsParse, HeaderLengthBeyondFile) {
  std::string bytes = RawSafetensors("{}", "");
  bytes[0] = 3;  // claims 3 header bytes, 2 present
  EXPECT_THAT(ErrorOf(bytes),
              HasSubstr("header length 3 runs past the end of the file"));
  bytes[7] = 1;  // 2^56 + 3: over the limit too; the limit is reported
  EXPECT_THAT(ErrorOf(bytes), HasSubstr("exceeds the limit"));
}

TEST(SafetensorsParse, HeaderOver100MB) {
  std::string bytes = RawSafetensors("{}", "");
  const uint64_t len = 100'000'001;
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(len >> (8 * i));
  EXPECT_THAT(ErrorOf(bytes), HasSubstr("header length 100000001 exceeds the "
                                        "limit of 100000000 bytes"));
}

TEST(SafetensorsParse, HeaderNotJson) {
  EXPECT_THAT(ErrorOf(RawSafetensors(R"({"w": {)", "")),
              HasSubstr("header: not valid JSON"));
  EXPECT_THAT(ErrorOf(RawSafetensors("", "")),
              HasSubstr("header: not valid JSON"));
  EXPECT_THAT(ErrorOf(RawSafetensors("{\"\xff\":1}", "")),
              HasSubstr("header: not valid JSON"));
  // Trailing bytes after the JSON value are not JSON either.
  EXPECT_THAT(ErrorOf(RawSafetensors("{}x", "")),
              HasSubstr("header: not valid JSON"));
}

TEST(SafetensorsParse, HeaderNotObject) {
  EXPECT_THAT(ErrorOf(RawSafetensors("[1, 2]", "")),
              HasSubstr("header is an array, expected a JSON object"));
  EXPECT_THAT(ErrorOf(RawSafetensors("7", "")),
              HasSubstr("header is an integer"));
}

TEST(SafetensorsParse, EntryNotObject) {
  EXPECT_THAT(ErrorOf(OneEntry("[0, 4]", "abcd")),
              HasSubstr("tensor 'w' is an array, expected an object"));
}

TEST(SafetensorsParse, EntryMissingFields) {
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"shape":[1],"data_offsets":[0,4]})", "abcd")),
      HasSubstr("tensor 'w' has no dtype"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","data_offsets":[0,4]})", "abcd")),
      HasSubstr("tensor 'w' has no shape"));
  EXPECT_THAT(ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1]})", "abcd")),
              HasSubstr("tensor 'w' has no data_offsets"));
}

TEST(SafetensorsParse, EntryWrongTypes) {
  EXPECT_THAT(ErrorOf(OneEntry(
                  R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})", "abcd")),
              HasSubstr("tensor 'w': dtype must be a string, got 4"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":1,"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("shape must be an array of non-negative integers, got 1"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("shape must be an array of non-negative integers"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("shape must be an array of non-negative integers"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":"0,4"})",
                       "abcd")),
      HasSubstr("data_offsets must be two non-negative integers"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,4]})",
                       "abcd")),
      HasSubstr("data_offsets must be two non-negative integers"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":[0.0,4]})",
                       "abcd")),
      HasSubstr("data_offsets must be two non-negative integers"));
}

TEST(SafetensorsParse, NegativeOrHugeDims) {
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("shape must be an array of non-negative integers, got "
                "element -1"));
  EXPECT_THAT(
      ErrorOf(OneEntry(
          R"({"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,4]})",
          "abcd")),
      HasSubstr("shape must be an array of non-negative integers"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})",
                       "abcd")),
      HasSubstr("data_offsets must be two non-negative integers"));
}

TEST(SafetensorsParse, UnknownDtype) {
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F128","shape":[1],"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("tensor 'w' has unknown dtype \"F128\" (known: BOOL, U8"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("unknown dtype \"f32\""));
}

TEST(SafetensorsParse, OffsetsOutOfRange) {
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})",
                       "abcd")),
      HasSubstr("data_offsets [0, 8], past the end of the 4-byte data "
                "section"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})",
                       "abcd")),
      HasSubstr("data_offsets [4, 0]: begin is after end"));
  EXPECT_THAT(
      ErrorOf(OneEntry(
          R"({"dtype":"U8","shape":[1],"data_offsets":[0,9223372036854775807]})",
          "abcd")),
      HasSubstr("past the end of the 4-byte data section"));
}

TEST(SafetensorsParse, ByteLengthNotNumelTimesSize) {
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("tensor 'w' is F32 [2] = 8 bytes, but its data_offsets "
                "[0, 4] span 4"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"BF16","shape":[1,1],"data_offsets":[0,4]})",
                       "abcd")),
      HasSubstr("is BF16 [1, 1] = 2 bytes"));
}

TEST(SafetensorsParse, ShapeProductOverflows) {
  // 2^31 x 2^31 x 4 bytes = 2^64: overflows int64 without the check.
  EXPECT_THAT(
      ErrorOf(OneEntry(
          R"({"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,4]})",
          "abcd")),
      HasSubstr("is larger than 2^63 bytes"));
  // Wraps to exactly 0 in 64-bit arithmetic: must not pass as empty.
  EXPECT_THAT(
      ErrorOf(OneEntry(
          R"({"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]})",
          "")),
      HasSubstr("is larger than 2^63 bytes"));
}

TEST(SafetensorsParse, OverlappingTensors) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_THAT(ErrorOf(RawSafetensors(header, std::string(12, 'x'))),
              HasSubstr("tensors 'a' [0, 8] and 'b' [4, 12] overlap"));
  // Two tensors over the same bytes.
  const std::string same =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_THAT(ErrorOf(RawSafetensors(same, std::string(4, 'x'))),
              HasSubstr("overlap"));
  // An empty tensor placed inside another one.
  const std::string inside =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})";
  EXPECT_THAT(ErrorOf(RawSafetensors(inside, std::string(8, 'x'))),
              HasSubstr("tensors 'a' [0, 8] and 'z' [4, 4] overlap"));
}

TEST(SafetensorsParse, Holes) {
  const std::string gap =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  EXPECT_THAT(ErrorOf(RawSafetensors(gap, std::string(12, 'x'))),
              HasSubstr("bytes [4, 8) of the data section belong to no tensor "
                        "(a hole before 'b')"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})",
                       std::string(8, 'x'))),
      HasSubstr("bytes [0, 4) of the data section belong to no tensor"));
  EXPECT_THAT(
      ErrorOf(OneEntry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})",
                       std::string(6, 'x'))),
      HasSubstr("bytes [4, 6) at the end of the data section belong to no "
                "tensor"));
  EXPECT_THAT(ErrorOf(RawSafetensors("{}", "xy")),
              HasSubstr("bytes [0, 2) at the end of the data section"));
}

TEST(SafetensorsParse, DuplicateTensorNames) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_THAT(ErrorOf(RawSafetensors(header, std::string(8, 'x'))),
              HasSubstr("duplicate key 'a'"));
  // A repeated field inside one entry is as ambiguous.
  EXPECT_THAT(
      ErrorOf(OneEntry(
          R"({"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]})",
          "abcd")),
      HasSubstr("duplicate key 'dtype'"));
}

TEST(SafetensorsParse, UnknownEntryFieldsAreIgnored) {
  EXPECT_TRUE(
      ParseSafetensors(
          OneEntry(
              R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":[1]})",
              "abcd"),
          kPath)
          .ok());
}

TEST(SafetensorsParse, DeepNestingDoesNotCrash) {
  const std::string deep =
      absl::StrCat(R"({"__metadata__":)", std::string(100000, '['),
                   std::string(100000, ']'), "}");
  EXPECT_THAT(ErrorOf(RawSafetensors(deep, "")),
              HasSubstr("'__metadata__' must be an object of strings, got an "
                        "array"));
  // Deep nesting inside an ignored field is skipped, not stored.
  std::string nested;
  for (int i = 0; i < 100000; ++i) nested += R"({"a":[)";
  for (int i = 0; i < 100000; ++i) nested += "]}";
  const std::string bytes = OneEntry(
      absl::StrCat(R"({"x":)", nested,
                   R"(,"dtype":"U8","shape":[2],"data_offsets":[0,2]})"),
      "ab");
  absl::StatusOr<std::vector<SafetensorsTensor>> parsed =
      ParseSafetensors(bytes, kPath);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].shape, std::vector<int64_t>{2});
}

TEST(SafetensorsParse, StopsAtTheFirstWrongValue) {
  // A wrong type early in a long header is reported without parsing the
  // rest (which here is not even valid JSON).
  const std::string bytes =
      RawSafetensors(absl::StrCat(R"({"w":{"dtype":"F32","shape":[1,true)",
                                  std::string(1 << 20, '['), "xx"),
                     "");
  EXPECT_THAT(ErrorOf(bytes), HasSubstr("got element true"));
}

TEST(SafetensorsParse, NamesInMessagesAreCleanedAndCut) {
  const std::string name = std::string(R"(a\n\u0001)") + std::string(500, 'b');
  const std::string header = absl::StrCat(
      R"({")", name, R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,5]}})");
  const std::string message = ErrorOf(RawSafetensors(header, "abcde"));
  EXPECT_THAT(message, HasSubstr("tensor 'a??bbb"));
  EXPECT_THAT(message, HasSubstr("bbb...' is F32 [1] = 4 bytes"));
  EXPECT_LT(message.size(), 400u);
}

TEST(SafetensorsFile, OpensMapsAndFinds) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/m.safetensors";
  testing::WriteFileOrDie(
      path, SafetensorsBytes({{"x", "F32", {2}, F32Bytes({1.5f, -2.0f})},
                              {"y", "U8", {3}, "abc"}}));
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->path(), path);
  EXPECT_EQ((*file)->tensors().size(), 2u);
  const SafetensorsTensor* y = (*file)->Find("y");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ((*file)->Bytes(*y), "abc");
  const SafetensorsTensor* x = (*file)->Find("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ((*file)->Bytes(*x), F32Bytes({1.5f, -2.0f}));
  EXPECT_EQ((*file)->Find("z"), nullptr);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ((*file)->file_size(), st.st_size);
}

TEST(SafetensorsFile, OpenErrors) {
  const std::string dir = testing::MakeTempDir();
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> missing =
      SafetensorsFile::Open(dir + "/none.safetensors");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string{missing.status().message()},
              HasSubstr(dir + "/none.safetensors: cannot open"));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> directory =
      SafetensorsFile::Open(dir);
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string{directory.status().message()},
              HasSubstr("not a regular file"));

  for (const std::string& bytes : {std::string(), std::string("\x01\x02")}) {
    testing::WriteFileOrDie(dir + "/short.safetensors", bytes);
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> short_file =
        SafetensorsFile::Open(dir + "/short.safetensors");
    EXPECT_EQ(short_file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string{short_file.status().message()},
                HasSubstr(absl::StrCat(dir,
                                       "/short.safetensors: truncated: "
                                       "the file has ",
                                       bytes.size(), " bytes")));
  }

  testing::WriteFileOrDie(dir + "/bad.safetensors",
                          RawSafetensors("{\"w\":3}", ""));
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> bad =
      SafetensorsFile::Open(dir + "/bad.safetensors");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string{bad.status().message()},
              HasSubstr(dir + "/bad.safetensors: tensor 'w' is an integer"));
}

}  // namespace
}  // namespace trilemma
