// UTF-8 helpers and StreamingDetokenizer (engines/tokenizer/tokenizer.h).
#include <string>
#include <vector>

#include "engines/tokenizer/bpe_tokenizer.h"
#include "engines/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/tokenizer/test_tokenizers.h"

namespace trilemma {
namespace {

TEST(Utf8, ValidTextIsUnchanged) {
  const std::string text = "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80";  // aé日😀
  EXPECT_EQ(ToValidUtf8(text), text);
  EXPECT_TRUE(CheckUtf8(text, "text").ok());
  EXPECT_EQ(IncompleteUtf8Suffix(text), 0u);
}

TEST(Utf8, InvalidSequencesBecomeOneReplacementPerMaximalSubpart) {
  // A lone continuation byte, a truncated 3-byte sequence followed by
  // ASCII, an overlong lead (C0), a surrogate (ED A0 80).
  EXPECT_EQ(ToValidUtf8("\x80"), "\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xE6\x97x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8, IncompleteSuffixCountsOnlyAProperPrefix) {
  EXPECT_EQ(IncompleteUtf8Suffix("ab\xE6"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("ab\xE6\x97"), 2u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\x80"), 0u);      // can never complete
  EXPECT_EQ(IncompleteUtf8Suffix("a\xE0\x80"), 0u);  // overlong: invalid
}

TEST(Utf8, CheckNamesFieldAndOffset) {
  absl::Status s = CheckUtf8("abc\xFF", "text");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "text: not valid UTF-8 at byte 3");
}

class StreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = *BpeTokenizer::FromJson(TinyByteLevelJson(), "tiny.json");
  }
  std::unique_ptr<BpeTokenizer> tok_;
};

TEST_F(StreamingTest, HoldsSplitCodePointsUntilWhole) {
  // "é" is bytes C3 A9: byte-level tokens 0xC3 and 0xA9 (ids = bytes).
  StreamingDetokenizer stream(*tok_);
  EXPECT_EQ(*stream.Add('a'), "a");
  EXPECT_EQ(*stream.Add(0xC3), "");
  EXPECT_EQ(*stream.Add(0xA9), "\xC3\xA9");
  EXPECT_EQ(*stream.Add(0xF0), "");
  EXPECT_EQ(*stream.Add(0x9F), "");
  EXPECT_EQ(*stream.Add(0x98), "");
  EXPECT_EQ(*stream.Add(0x80), "\xF0\x9F\x98\x80");
  EXPECT_EQ(stream.Flush(), "");
}

TEST_F(StreamingTest, BytesThatCannotCompleteBecomeReplacement) {
  StreamingDetokenizer stream(*tok_);
  EXPECT_EQ(*stream.Add(0xE6), "");
  // 'x' breaks the sequence: U+FFFD for E6, then x.
  EXPECT_EQ(*stream.Add('x'), "\xEF\xBF\xBDx");
  EXPECT_EQ(*stream.Add(0xE6), "");
  EXPECT_EQ(stream.Flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.Flush(), "");
}

TEST_F(StreamingTest, ConcatenationEqualsDecodeForEveryByteSplit) {
  const std::string text = "h\xC3\xA9llo \xE6\x97\xA5\xF0\x9F\x98\x80 x";
  std::vector<int32_t> ids;
  for (char c : text) ids.push_back(static_cast<uint8_t>(c));
  StreamingDetokenizer stream(*tok_);
  std::string streamed;
  for (int32_t id : ids) {
    std::string piece = *stream.Add(id);
    EXPECT_EQ(ToValidUtf8(piece), piece);
    streamed += piece;
  }
  streamed += stream.Flush();
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(*tok_->Decode(ids), text);
}

TEST_F(StreamingTest, UnknownIdIsInvalidArgumentAndChangesNothing) {
  StreamingDetokenizer stream(*tok_);
  EXPECT_EQ(*stream.Add(0xC3), "");
  absl::StatusOr<std::string> bad = stream.Add(100000);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("100000"), std::string::npos);
  EXPECT_EQ(*stream.Add(0xA9), "\xC3\xA9");
}

}  // namespace
}  // namespace trilemma
