// Unit tests of the SentencePiece reader (engines/tokenizer/
// sentencepiece_tokenizer.h): hand-built models with known encodings, and
// every malformed or unsupported case refused naming file and field. The
// comparison with the reference library is sentencepiece_reference_compare.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engines/tokenizer/load.h"
#include "engines/tokenizer/sentencepiece_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using google::protobuf::internal::WireFormatLite;
using ::testing::HasSubstr;

constexpr char kFile[] = "/m/tokenizer.model";
constexpr char kSpace[] = "\xE2\x96\x81";  // ▁

// Protobuf wire bytes, written by protobuf's CodedOutputStream.
class Wire {
 public:
  template <typename Write>
  Wire& Append(Write write) {
    std::string chunk;
    {
      google::protobuf::io::StringOutputStream stream(&chunk);
      google::protobuf::io::CodedOutputStream out(&stream);
      write(&out);
    }
    bytes_ += chunk;
    return *this;
  }
  Wire& Str(int field, const std::string& v) {
    return Append(
        [&](auto* out) { WireFormatLite::WriteString(field, v, out); });
  }
  Wire& Float(int field, float v) {
    return Append(
        [&](auto* out) { WireFormatLite::WriteFloat(field, v, out); });
  }
  Wire& Int(int field, int32_t v) {
    return Append(
        [&](auto* out) { WireFormatLite::WriteInt32(field, v, out); });
  }
  Wire& Msg(int field, const Wire& m) { return Str(field, m.bytes()); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

Wire Piece(const std::string& piece, float score, int type = 1) {
  return Wire().Str(1, piece).Float(2, score).Int(3, type);
}

// <unk> <s> </s>, then `normal` pieces with the given scores, then
// optionally all 256 byte pieces.
Wire Model(const std::vector<std::pair<std::string, float>>& normal,
           int model_type, bool byte_fallback = false) {
  Wire m;
  m.Msg(1, Piece("<unk>", 0, 2)).Msg(1, Piece("<s>", 0, 3));
  m.Msg(1, Piece("</s>", 0, 3));
  for (const auto& [p, s] : normal) m.Msg(1, Piece(p, s));
  if (byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      m.Msg(1, Piece(absl::StrFormat("<0x%02X>", b), 0, 6));
    }
  }
  Wire trainer;
  trainer.Int(3, model_type).Int(35, byte_fallback ? 1 : 0);
  m.Msg(2, trainer);
  m.Msg(3, Wire().Str(1, "identity").Int(4, 0));  // spaces kept as typed
  return m;
}

std::string Le32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

// A precompiled_charsmap built by hand in darts-clone's layout with one
// rule, "a" -> `replacement`: the root (unit 0, offset 0) has the child 'a'
// at unit 0 ^ 'a' = 97, whose offset 1 puts its leaf at 97 ^ 1 = 96, whose
// value is the replacement's offset among the strings (`value`, 0 = the
// real one). `leaf_offset` replaces 1 to point the leaf elsewhere.
std::string OneRuleCharsMap(const std::string& replacement, uint32_t value = 0,
                            uint32_t leaf_offset = 1) {
  std::vector<uint32_t> units(98, 0);
  units[97] = 'a' | (1U << 8) | (leaf_offset << 10);
  units[96] = (1U << 31) | value;
  std::string blob = Le32(static_cast<uint32_t>(units.size() * 4));
  for (uint32_t u : units) blob += Le32(u);
  return blob + replacement + std::string(1, '\0');
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(const Wire& m) {
  return SentencePieceTokenizer::FromModelProto(m.bytes(), kFile);
}

std::vector<int32_t> Ids(const SentencePieceTokenizer& tok,
                         const std::string& text) {
  absl::StatusOr<std::vector<int32_t>> ids = tok.Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(SentencePieceTest, BpeMergesHighestScoreFirst) {
  // ids 3.. : ▁ a b c ab bc ▁a
  auto tok = Load(Model({{kSpace, -1},
                         {"a", -1},
                         {"b", -1},
                         {"c", -1},
                         {"ab", -5},
                         {"bc", -2},
                         {std::string(kSpace) + "a", -3}},
                        2));
  ASSERT_TRUE(tok.ok()) << tok.status();
  // "▁abc": bc (-2) beats ▁a (-3) beats ab (-5): ▁a + bc.
  EXPECT_EQ(Ids(**tok, "abc"), (std::vector<int32_t>{9, 8}));
  EXPECT_EQ((*tok)->Decode({9, 8}).value(), "abc");
  // Spaces kept as typed: "▁▁c" -> ▁ ▁ c; decoding drops the dummy prefix.
  EXPECT_EQ(Ids(**tok, " c"), (std::vector<int32_t>{3, 3, 6}));
  EXPECT_EQ((*tok)->Decode({1, 3, 3, 6, 2}).value(), " c");
  // Unknown character without byte fallback: the unk id.
  EXPECT_EQ(Ids(**tok, "z"), (std::vector<int32_t>{3, 0}));
  EXPECT_EQ((*tok)->kind(), "sentencepiece-bpe");
}

TEST(SentencePieceTest, UnigramTakesTheBestPath) {
  auto tok = Load(Model({{kSpace, -1},
                         {"a", -2},
                         {"b", -2},
                         {"ab", -3.5},
                         {std::string(kSpace) + "ab", -6}},
                        1));
  ASSERT_TRUE(tok.ok()) << tok.status();
  // ▁+ab = -4.5 beats ▁ab = -6 and ▁+a+b = -5.
  EXPECT_EQ(Ids(**tok, "ab"), (std::vector<int32_t>{3, 6}));
  // "z" has no piece: an unknown node (min score - 10).
  EXPECT_EQ(Ids(**tok, "az"), (std::vector<int32_t>{3, 4, 0}));
  // A run of unknown characters is one unk id, as in the reference.
  EXPECT_EQ(Ids(**tok, "azzz"), (std::vector<int32_t>{3, 4, 0}));
  EXPECT_EQ((*tok)->Decode({0}).value(), " \xE2\x81\x87 ");
  EXPECT_EQ((*tok)->kind(), "sentencepiece-unigram");
}

TEST(SentencePieceTest, ByteFallbackSpellsUnknownCharactersAsBytes) {
  auto tok = Load(Model({{kSpace, -1}, {"a", -1}}, 2, true));
  ASSERT_TRUE(tok.ok()) << tok.status();
  // é = C3 A9; byte pieces start at id 5.
  EXPECT_EQ(Ids(**tok, "a\xC3\xA9"),
            (std::vector<int32_t>{3, 4, 5 + 0xC3, 5 + 0xA9}));
  EXPECT_EQ((*tok)->Decode({3, 4, 5 + 0xC3, 5 + 0xA9}).value(), "a\xC3\xA9");
  EXPECT_EQ((*tok)->Decode({5 + 0xC3}).value(), "\xEF\xBF\xBD");
}

TEST(SentencePieceTest, UserDefinedPiecesStayWhole) {
  Wire m = Model({{kSpace, -1}, {"a", -1}, {"<", -1}, {">", -1}}, 2);
  m.Msg(1, Piece("<a>", 0, 4));  // id 7
  auto tok = Load(m);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(Ids(**tok, "a<a>"), (std::vector<int32_t>{3, 4, 7}));
  // Control pieces are not matched in text.
  EXPECT_EQ(Ids(**tok, "<s>"), (std::vector<int32_t>{3, 5, 0, 6}));
  ASSERT_EQ((*tok)->added_tokens().size(), 3);
  EXPECT_TRUE((*tok)->added_tokens()[0].special);
  EXPECT_FALSE((*tok)->added_tokens()[2].special);
}

TEST(SentencePieceTest, InvalidUtf8TextIsRefused) {
  auto tok = Load(Model({{kSpace, -1}}, 2));
  ASSERT_TRUE(tok.ok());
  EXPECT_THAT((*tok)->Encode("a\xFF").status().message(),
              HasSubstr("text: not valid UTF-8 at byte 1"));
  EXPECT_EQ((*tok)->Decode({99}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

struct BadCase {
  std::string name;
  std::string bytes;
  absl::StatusCode code;
  std::string message;  // after "FILE: "
};

std::vector<BadCase> BadCases() {
  const Wire good = Model({{kSpace, -1}, {"a", -1}}, 2);
  std::vector<BadCase> cases;
  const auto add = [&](std::string name, const Wire& w, absl::StatusCode code,
                       std::string message) {
    cases.push_back({std::move(name), w.bytes(), code, std::move(message)});
  };
  const auto invalid = absl::StatusCode::kInvalidArgument;
  const auto unimplemented = absl::StatusCode::kUnimplemented;
  cases.push_back({"truncated", good.bytes().substr(0, 20), invalid,
                   "pieces[1]: truncated"});
  cases.push_back({"zero_tag", std::string("\0", 1), invalid,
                   "ModelProto: malformed field tag"});
  add("wrong_wire_type", Wire().Int(1, 5), invalid,
      "pieces[0]: wire type 0, expected 2");
  add("score_as_varint", Wire().Msg(1, Wire().Str(1, "a").Int(2, 1)), invalid,
      "pieces[0].score: wire type 0, expected 5");
  add("no_pieces", Wire().Msg(2, Wire().Int(3, 2)), invalid, "pieces: none");
  add("empty_piece", Wire(good).Msg(1, Piece("", 0)), invalid,
      "pieces[5].piece: empty");
  add("duplicate_piece", Wire(good).Msg(1, Piece("a", 0)), invalid,
      "pieces[5].piece: 'a' appears twice");
  add("piece_not_utf8", Wire(good).Msg(1, Piece("\xC3", 0)), invalid,
      "pieces[5].piece: not valid UTF-8 at byte 0");
  add("bad_type", Wire(good).Msg(1, Piece("q", 0, 9)), invalid,
      "pieces[5].type: 9 is not a type");
  add("bad_model_type", Wire(good).Msg(2, Wire().Int(3, 7)), invalid,
      "trainer_spec.model_type: 7 is not a model type");
  add("unk_id_not_unknown", Wire(good).Msg(2, Wire().Int(40, 3)), invalid,
      "trainer_spec.unk_id: 3 must name the one UNKNOWN piece");
  add("two_unknowns", Wire(good).Msg(1, Piece("<unk2>", 0, 2)), invalid,
      "trainer_spec.unk_id: 0 must name the one UNKNOWN piece (the model has "
      "2)");
  add("eos_out_of_range", Wire(good).Msg(2, Wire().Int(42, 5)), invalid,
      "trainer_spec.eos_id: 5 is outside [-1, 5)");
  add("byte_misspelled", Wire(good).Msg(1, Piece("<0xZZ>", 0, 6)), invalid,
      "pieces[5].piece: '<0xZZ>' is a BYTE piece not spelled <0xNN>");
  add("byte_fallback_without_bytes", Wire(good).Msg(2, Wire().Int(35, 1)),
      invalid,
      "trainer_spec.byte_fallback: set, but there is no BYTE piece "
      "<0x00>");
  add("word_model", Wire(good).Msg(2, Wire().Int(3, 3)), unimplemented,
      "trainer_spec.model_type: WORD models are not supported");
  // Malformed precompiled_charsmap blobs (the layout is in
  // sentencepiece_charsmap.h).
  auto charsmap = [&](const std::string& blob) {
    return Wire(good).Msg(3, Wire().Str(1, "nmt_nfkc").Str(2, blob));
  };
  add("charsmap_truncated", charsmap("\x01"), invalid,
      "normalizer_spec.precompiled_charsmap: truncated: 1 bytes");
  add("charsmap_trie_past_blob", charsmap(Le32(4000) + std::string(12, 'x')),
      invalid, "normalizer_spec.precompiled_charsmap: trie size 4000");
  add("charsmap_trie_not_units", charsmap(Le32(6) + std::string(12, 'x')),
      invalid, "normalizer_spec.precompiled_charsmap: trie size 6");
  {
    std::string no_nul = OneRuleCharsMap("b");
    no_nul.back() = 'x';
    add("charsmap_strings_without_nul", charsmap(no_nul), invalid,
        "normalizer_spec.precompiled_charsmap: the normalized strings do not "
        "end with '\\0'");
  }
  add("charsmap_value_out_of_range", charsmap(OneRuleCharsMap("b", 50)),
      invalid, "normalizer_spec.precompiled_charsmap: rule value 50 is past");
  add("charsmap_leaf_out_of_range",
      charsmap(OneRuleCharsMap("b", 0, /*leaf_offset=*/200)), invalid,
      "normalizer_spec.precompiled_charsmap: unit 97 points at unit");
  add("charsmap_no_rule", charsmap(Le32(4) + Le32(0) + std::string(1, '\0')),
      invalid, "normalizer_spec.precompiled_charsmap: the trie holds no rule");
  add("rule_tsv", Wire(good).Msg(3, Wire().Str(6, "41\t61\n")), unimplemented,
      "normalizer_spec.normalization_rule_tsv: custom normalization rules");
  add("denormalizer", Wire(good).Msg(5, Wire().Str(2, "\x01")), unimplemented,
      "denormalizer_spec.precompiled_charsmap");
  add("whitespace_suffix", Wire(good).Msg(2, Wire().Int(24, 1)), unimplemented,
      "trainer_spec.treat_whitespace_as_suffix: not supported");
  return cases;
}

TEST(SentencePieceTest, MalformedAndUnsupportedModelsNameFileAndField) {
  ASSERT_TRUE(Load(Model({{kSpace, -1}, {"a", -1}}, 2)).ok());
  for (const BadCase& c : BadCases()) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tok =
        SentencePieceTokenizer::FromModelProto(c.bytes, kFile);
    ASSERT_FALSE(tok.ok());
    EXPECT_EQ(tok.status().code(), c.code) << tok.status();
    EXPECT_THAT(tok.status().message(),
                HasSubstr(absl::StrCat(kFile, ": ", c.message)));
  }
}

TEST(SentencePieceTest, PrecompiledCharsMapReplacesTheLongestRule) {
  // "a" -> "b" (one byte for one), then "a" -> "" (deleted), "a" -> "  c"
  // (spaces come out of a rule and meet the whitespace rules).
  absl::StatusOr<PrecompiledCharsMap> map =
      PrecompiledCharsMap::Parse(OneRuleCharsMap("bc"), "spec");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->rules(), 1);
  EXPECT_EQ(map->LongestPrefix("axy"),
            (std::pair<absl::string_view, size_t>{"bc", 1}));
  EXPECT_EQ(map->LongestPrefix("xa").second, 0u);
  EXPECT_EQ(map->LongestPrefix("").second, 0u);

  auto with_rule = [](const std::string& replacement) {
    Wire m = Model({{kSpace, -1}, {"a", -1}, {"b", -1}, {"c", -1}}, 2);
    // remove_extra_whitespaces (4) on, add_dummy_prefix (3) off.
    m.Msg(3, Wire()
                 .Str(1, "test")
                 .Str(2, OneRuleCharsMap(replacement))
                 .Int(3, 0)
                 .Int(4, 1));
    return Load(m);
  };
  auto b = with_rule("b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->Normalize("cac"), "cbc");
  EXPECT_EQ(Ids(**b, "aa"), (std::vector<int32_t>{5, 5}));
  auto gone = with_rule("");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ((*gone)->Normalize("cac"), "cc");
  auto spaced = with_rule("  c");
  ASSERT_TRUE(spaced.ok()) << spaced.status();
  // As the reference: a rule's leading spaces are dropped after a space
  // (or at the start), kept otherwise, each as a "▁"; trailing ones go.
  EXPECT_EQ((*spaced)->Normalize("ab a"), absl::StrCat("cb", kSpace, "c"));
  EXPECT_EQ((*spaced)->Normalize("ba"), absl::StrCat("b", kSpace, kSpace, "c"));
  EXPECT_EQ((*spaced)->Normalize("a b "), absl::StrCat("c", kSpace, "b"));
}

TEST(SentencePieceTest, LoadsFromADirectory) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "spm_load_test";
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "tokenizer.model").string();
  {
    std::ofstream out(file, std::ios::binary);
    out << Model({{kSpace, -1}, {"a", -1}}, 2).bytes();
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      LoadTokenizerFromDir(dir.string());
  ASSERT_TRUE(tok.ok()) << tok.status();
  ASSERT_NE(*tok, nullptr);
  EXPECT_EQ((*tok)->file(), file);
  EXPECT_EQ((*tok)->Encode("a").value(), (std::vector<int32_t>{3, 4}));
  {
    std::ofstream out(file, std::ios::binary);
    out << Wire().Int(1, 5).bytes();
  }
  tok = LoadTokenizerFromDir(dir.string());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tok.status().message(), HasSubstr(file + ": pieces[0]"));
  std::filesystem::remove_all(dir);
}

TEST(SentencePieceTest, LlamaTwoStyleDirectoryFallsBackToTheModel) {
  // Both files, the tokenizer.json of a kind not implemented: the
  // tokenizer.model is used.
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "spm_fallback_test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream json(dir / "tokenizer.json");
    json << R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})";
    std::ofstream model(dir / "tokenizer.model", std::ios::binary);
    model << Model({{kSpace, -1}, {"a", -1}}, 2).bytes();
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      LoadTokenizerFromDir(dir.string());
  ASSERT_TRUE(tok.ok()) << tok.status();
  ASSERT_NE(*tok, nullptr);
  EXPECT_EQ((*tok)->kind(), "sentencepiece-bpe");
  std::filesystem::remove(dir / "tokenizer.model");
  tok = LoadTokenizerFromDir(dir.string());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kUnimplemented);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace trilemma
