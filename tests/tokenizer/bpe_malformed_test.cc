// Every way a tokenizer.json can be unusable gives INVALID_ARGUMENT naming
// the file and the key (the fuzz target tokenizer_json_fuzz checks the same
// on arbitrary bytes).
#include <string>

#include "engines/tokenizer/bpe_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tokenizer/test_tokenizers.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Status Refusal(const std::string& text) {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tok =
      BpeTokenizer::FromJson(text, "DIR/tokenizer.json");
  EXPECT_FALSE(tok.ok());
  return tok.status();
}

absl::Status Refusal(const nlohmann::json& json) {
  return Refusal(json.dump());
}

void ExpectRefused(const absl::Status& s, const std::string& part,
                   absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith("DIR/tokenizer.json: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr(part));
}

TEST(BpeMalformed, NotJson) {
  ExpectRefused(Refusal(std::string("{\"model\": ")), "not valid JSON");
  ExpectRefused(Refusal(std::string("[1, 2]")), "must be a JSON object");
}

TEST(BpeMalformed, UnknownModelTypeIsUnimplemented) {
  nlohmann::json j = TinyByteLevel();
  j["model"]["type"] = "WordPiece";
  ExpectRefused(Refusal(j),
                "model.type: model type \"WordPiece\" not supported",
                absl::StatusCode::kUnimplemented);
}

TEST(BpeMalformed, MissingModelOrVocabOrMerges) {
  nlohmann::json j = TinyByteLevel();
  j.erase("model");
  ExpectRefused(Refusal(j), "model: missing");
  j = TinyByteLevel();
  j["model"].erase("vocab");
  ExpectRefused(Refusal(j), "model.vocab: missing");
  j = TinyByteLevel();
  j["model"].erase("merges");
  ExpectRefused(Refusal(j), "model.merges: missing");
  j = TinyByteLevel();
  j["model"]["vocab"] = {1, 2};
  ExpectRefused(Refusal(j), "model.vocab: must be an object");
}

TEST(BpeMalformed, VocabIdsMustBeIntegersInRangeAndUnique) {
  nlohmann::json j = TinyByteLevel();
  j["model"]["vocab"]["zz"] = "7";
  ExpectRefused(Refusal(j), "id must be an integer");
  j = TinyByteLevel();
  j["model"]["vocab"]["zz"] = -1;
  ExpectRefused(Refusal(j), "outside [0, 16777216)");
  j = TinyByteLevel();
  j["model"]["vocab"]["zz"] = 256;  // "he" has it
  ExpectRefused(Refusal(j), "id 256 is used twice");
}

TEST(BpeMalformed, MergesReferringToUnknownTokens) {
  nlohmann::json j = TinyByteLevel();
  j["model"]["merges"].push_back("he zz");
  ExpectRefused(Refusal(j),
                "model.merges[5]: refers to 'zz', which is not "
                "in model.vocab");
  j = TinyByteLevel();
  j["model"]["merges"].push_back("o w");  // "ow" is not in the vocab
  ExpectRefused(Refusal(j), "refers to 'ow'");
  j = TinyByteLevel();
  j["model"]["merges"].push_back("a b c");
  ExpectRefused(Refusal(j), "model.merges[5]: must be \"left right\"");
  j = TinyByteLevel();
  j["model"]["merges"].push_back(7);
  ExpectRefused(Refusal(j), "model.merges[5]: must be");
}

TEST(BpeMalformed, VocabWithoutAllBytes) {
  nlohmann::json j = TinyByteLevel();
  j["model"]["vocab"].erase("a");
  j["model"]["vocab"]["zz"] = 'a';
  ExpectRefused(Refusal(j), "model.vocab: has no token for byte 97");
}

TEST(BpeMalformed, BadRegex) {
  nlohmann::json j = TinyByteLevel();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", "(unclosed"}}},
                           {"behavior", "Isolated"}},
                          {{"type", "ByteLevel"}, {"use_regex", false}}}}};
  ExpectRefused(Refusal(j),
                "pre_tokenizer.pretokenizers[0].pattern: bad regex at offset");
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Glob", "*"}};
  ExpectRefused(Refusal(j), "must be {\"Regex\"");
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"String", "x"}};
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
  ExpectRefused(Refusal(j), "unknown split behavior \"Sideways\"");
}

// Well-formed files of a kind not implemented are UNIMPLEMENTED: the engine
// is then served on ids alone (docs/tokenizers.md).
TEST(BpeMalformed, UnsupportedPartsAreUnimplemented) {
  const auto ExpectUnsupported = [](const absl::Status& s,
                                    const std::string& part) {
    ExpectRefused(s, part, absl::StatusCode::kUnimplemented);
  };
  nlohmann::json j = TinyByteLevel();
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  ExpectUnsupported(Refusal(j), "pre-tokenizer 'Metaspace' not supported");
  j = TinyByteLevel();
  j["pre_tokenizer"] = nullptr;
  ExpectUnsupported(Refusal(j), "has no ByteLevel step");
  j = TinyByteLevel();
  j["normalizer"] = {{"type", "Lowercase"}};
  ExpectUnsupported(Refusal(j), "normalizer 'Lowercase' not supported");
  j = TinyByteLevel();
  j["decoder"] = {{"type", "WordPiece"}};
  ExpectUnsupported(Refusal(j), "decoder 'WordPiece' not supported");
  j = TinyByteLevel();
  j["model"]["dropout"] = 0.1;
  ExpectUnsupported(Refusal(j), "model.dropout: not supported");
  j = TinyByteLevel();
  j["model"]["byte_fallback"] = true;
  ExpectUnsupported(Refusal(j), "model.byte_fallback");
  j = TinyByteLevel();
  j["model"]["continuing_subword_prefix"] = "##";
  ExpectUnsupported(Refusal(j),
                    "model.continuing_subword_prefix: not supported");
}

TEST(BpeMalformed, BadAddedTokens) {
  nlohmann::json j = TinyByteLevel();
  j["added_tokens"] = {{{"id", 5}, {"content", "<x>"}}};  // id 5 is a byte
  ExpectRefused(Refusal(j), "added_tokens[0]: id 5 already belongs");
  j["added_tokens"] = {{{"id", 300}, {"content", ""}}};
  ExpectRefused(Refusal(j), "added_tokens[0].content: must be a non-empty");
  j["added_tokens"] = {{{"content", "<x>"}}};
  ExpectRefused(Refusal(j), "added_tokens[0].id: must be an integer");
  j["added_tokens"] = "none";
  ExpectRefused(Refusal(j), "added_tokens: must be an array");
}

}  // namespace
}  // namespace trilemma
