// SentencePieceTokenizer against libsentencepiece itself, on models trained
// here (BPE and unigram, with byte fallback) from a licence text, over the
// non-ASCII corpus: the same ids as the library's Encode, the same text as
// its DecodeIds, and streamed pieces that concatenate to the text.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "engines/tokenizer/sentencepiece_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tokenizer/sentencepiece_train.h"

namespace trilemma {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SentencePieceTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SentencePieceTest, MatchesTheLibraryOnTheCorpus) {
  std::string error;
  const std::string model = TrainSentencePiece(
      "/usr/share/common-licenses/GPL-3", GetParam(), 600, &error);
  ASSERT_FALSE(model.empty()) << error;
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tok =
      SentencePieceTokenizer::FromSerialized(model, "DIR/tokenizer.model");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 600);
  EXPECT_EQ((*tok)->kind(), "sentencepiece");
  EXPECT_FALSE((*tok)->added_tokens().empty());  // <unk>, <s>, </s>

  const std::string corpus =
      ReadFile(std::string(TRILEMMA_TOKENIZER_CORPUS) + "/nonascii.lines.txt");
  std::vector<std::string> texts = absl::StrSplit(corpus, '\n');
  texts.push_back(corpus);
  int64_t tokens = 0;
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    tokens += static_cast<int64_t>(ids->size());
    std::vector<int> library_ids;
    ASSERT_TRUE((*tok)->library().Encode(text, &library_ids, &error));
    EXPECT_EQ(*ids,
              std::vector<int32_t>(library_ids.begin(), library_ids.end()));
    EXPECT_EQ(*(*tok)->Decode(*ids), (*tok)->library().Decode(library_ids));
    // The streamed pieces keep the leading space DecodeIds drops.
    StreamingDetokenizer stream(**tok);
    std::string streamed;
    for (int32_t id : *ids) streamed += *stream.Add(id);
    streamed += stream.Flush();
    const std::string decoded = *(*tok)->Decode(*ids);
    EXPECT_TRUE(streamed == decoded || streamed == " " + decoded)
        << "streamed '" << streamed << "'";
  }
  EXPECT_GT(tokens, 1000);
}

INSTANTIATE_TEST_SUITE_P(ModelTypes, SentencePieceTest,
                         ::testing::Values("bpe", "unigram"));

TEST(SentencePiece, NotAModelIsInvalidArgumentNamingTheFile) {
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tok =
      SentencePieceTokenizer::FromSerialized("not a protobuf",
                                             "DIR/tokenizer.model");
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(tok.status().message()),
              ::testing::StartsWith("DIR/tokenizer.model: not a SentencePiece "
                                    "model"));
}

TEST(SentencePiece, InvalidUtf8IsRefused) {
  std::string error;
  const std::string model = TrainSentencePiece(
      "/usr/share/common-licenses/Apache-2.0", "bpe", 300, &error);
  ASSERT_FALSE(model.empty()) << error;
  auto tok = *SentencePieceTokenizer::FromSerialized(model, "m");
  EXPECT_EQ(tok->Encode("a\xC3").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trilemma
