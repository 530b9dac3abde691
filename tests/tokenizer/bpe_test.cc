// BpeTokenizer on small tokenizer.json files: merges by rank, added tokens,
// ignore_merges, Split patterns and normalizers. The real vocabularies are
// compared with the reference implementation by tokenizer.reference_compare.
#include <string>
#include <vector>

#include "engines/tokenizer/bpe_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tokenizer/test_tokenizers.h"

namespace trilemma {
namespace {

using ::testing::ElementsAre;

std::unique_ptr<BpeTokenizer> Load(const nlohmann::json& json) {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tok =
      BpeTokenizer::FromJson(json.dump(), "t.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

TEST(Bpe, MergesByRankAndSplitsLikeGpt2) {
  auto tok = Load(TinyByteLevel());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 262);
  EXPECT_EQ(tok->kind(), "bpe");
  // "hello" merges all the way; " world" only "Ġ w".
  EXPECT_THAT(*tok->Encode("hello world"),
              ElementsAre(259, 260, 'o', 'r', 'l', 'd'));
  EXPECT_EQ(*tok->Decode(*tok->Encode("hello world")), "hello world");
  // "hhello": the pre-token is one word; h+e merges before anything else.
  EXPECT_THAT(*tok->Encode("hhello"), ElementsAre('h', 259));
}

TEST(Bpe, AddedTokensAreCutOutFirst) {
  auto tok = Load(TinyByteLevel());
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(*tok->Encode("hello<|end|>hello"), ElementsAre(259, 261, 259));
  EXPECT_THAT(*tok->Encode("<|end|><|end|>"), ElementsAre(261, 261));
  EXPECT_EQ(*tok->Decode({259, 261}), "hello<|end|>");
  ASSERT_EQ(tok->added_tokens().size(), 1u);
  EXPECT_TRUE(tok->added_tokens()[0].special);
  // A prefix of an added token is plain text.
  EXPECT_EQ(tok->Encode("<|end")->size(), 5u);
}

TEST(Bpe, IgnoreMergesTakesWholeWordsFromTheVocab) {
  nlohmann::json json = TinyByteLevel();
  json["model"]["vocab"]["xyz"] = 262;
  EXPECT_EQ(Load(json)->Encode("xyz")->size(), 3u);
  json["model"]["ignore_merges"] = true;
  EXPECT_THAT(*Load(json)->Encode("xyz"), ElementsAre(262));
}

TEST(Bpe, SplitPatternWithLookaheadAndDigitGroups) {
  nlohmann::json json = TinyByteLevel();
  json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", R"(\p{N}{1,3}|\s+(?!\S)|\s+|[^\s\p{N}]+)"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"},
         {"add_prefix_space", false},
         {"use_regex", false}}}}};
  json["model"]["vocab"]["123"] = 262;
  json["model"]["vocab"]["12"] = 263;
  json["model"]["merges"].push_back("1 2");
  json["model"]["merges"].push_back("12 3");
  auto tok = Load(json);
  ASSERT_NE(tok, nullptr);
  // 1234567 -> "123" "456" "7"; only 123 has merges.
  EXPECT_THAT(*tok->Encode("1234567"), ElementsAre(262, '4', '5', '6', '7'));
}

TEST(Bpe, SplitBehaviours) {
  const auto split = [](const char* behavior, bool invert) {
    nlohmann::json json = TinyByteLevel();
    json["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              {{{"type", "Split"},
                                {"pattern", {{"String", "-"}}},
                                {"behavior", behavior},
                                {"invert", invert}},
                               {{"type", "ByteLevel"},
                                {"add_prefix_space", false},
                                {"use_regex", false}}}}};
    json["model"]["vocab"]["a-"] = 262;
    json["model"]["vocab"]["-b"] = 263;
    json["model"]["merges"].push_back("a -");
    json["model"]["merges"].push_back("- b");
    return *Load(json)->Encode("a-b");
  };
  EXPECT_THAT(split("Isolated", false), ElementsAre('a', '-', 'b'));
  EXPECT_THAT(split("Removed", false), ElementsAre('a', 'b'));
  EXPECT_THAT(split("MergedWithPrevious", false), ElementsAre(262, 'b'));
  EXPECT_THAT(split("MergedWithNext", false), ElementsAre('a', 263));
}

TEST(Bpe, NfcNormalizerComposes) {
  nlohmann::json json = TinyByteLevel();
  const std::string decomposed = "e\xCC\x81";  // e + U+0301
  EXPECT_THAT(*Load(json)->Encode(decomposed), ElementsAre('e', 0xCC, 0x81));
  json["normalizer"] = {{"type", "NFC"}};
  EXPECT_THAT(*Load(json)->Encode(decomposed), ElementsAre(0xC3, 0xA9));
}

TEST(Bpe, AddPrefixSpace) {
  nlohmann::json json = TinyByteLevel();
  json["pre_tokenizer"]["add_prefix_space"] = true;
  EXPECT_THAT(*Load(json)->Encode("w"), ElementsAre(260));
}

TEST(Bpe, InvalidUtf8TextIsRefused) {
  auto tok = Load(TinyByteLevel());
  absl::StatusOr<std::vector<int32_t>> ids = tok->Encode("ok\xFF");
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "text: not valid UTF-8 at byte 2");
}

TEST(Bpe, EveryByteSequenceRoundTripsThroughDecode) {
  auto tok = Load(TinyByteLevel());
  std::string text;
  for (int c = 0x20; c < 0x7F; ++c) text.push_back(static_cast<char>(c));
  text += "\t\n\r \xC2\xA0\xE3\x80\x80";
  EXPECT_EQ(*tok->Decode(*tok->Encode(text)), text);
}

}  // namespace
}  // namespace trilemma
