// Compares the C++ tokenizers with the reference ones (docs/tokenizers.md).
//
//   tokenizer_reference_compare OUT_DIR/reference.json
//
// reference.json is what npm/reference.mjs wrote: for each tokenizer, its
// tokenizer.json and, per text, the ids @huggingface/tokenizers produced
// (and, for GPT-2, gpt-3-encoder's). For every text this loads the same
// tokenizer.json with BpeTokenizer and requires
//   - Encode(text) == the reference ids (and == gpt-3-encoder's),
//   - Decode(ids) == text and the reference decode == text,
//   - the StreamingDetokenizer's pieces, each valid UTF-8, concatenate to
//     text.
// Prints how many texts and tokens were compared; exits 1 on any
// difference, showing where the ids first part.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engines/tokenizer/bpe_tokenizer.h"
#include "nlohmann/json.hpp"

namespace trilemma {
namespace {

std::string Window(const std::vector<int32_t>& ids, size_t at) {
  const size_t begin = at < 3 ? 0 : at - 3;
  const size_t end = std::min(ids.size(), at + 4);
  return absl::StrCat(
      "[... ",
      absl::StrJoin(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                    ids.begin() + static_cast<std::ptrdiff_t>(end), ", "),
      " ...]");
}

// Empty when equal; else where and how they differ.
std::string Difference(const std::vector<int32_t>& ours,
                       const std::vector<int32_t>& theirs) {
  if (ours == theirs) return "";
  size_t at = 0;
  while (at < ours.size() && at < theirs.size() && ours[at] == theirs[at]) {
    ++at;
  }
  return absl::StrCat("ids differ at index ", at, " (ours ", ours.size(),
                      " ids, reference ", theirs.size(), "): ours ",
                      Window(ours, at), ", reference ", Window(theirs, at));
}

int Run(const std::string& reference_path) {
  std::ifstream in(reference_path);
  if (!in) {
    std::cerr << reference_path << ": cannot open\n";
    return 2;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const nlohmann::json reference = nlohmann::json::parse(buffer.str());
  int failures = 0;
  for (const nlohmann::json& entry : reference.at("tokenizers")) {
    const std::string name = entry.at("name");
    const std::string file = entry.at("file");
    std::ifstream tf(file);
    std::stringstream json;
    json << tf.rdbuf();
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> tok =
        BpeTokenizer::FromJson(json.str(), file);
    if (!tok.ok()) {
      std::cerr << name << ": " << tok.status() << "\n";
      return 1;
    }
    int64_t texts = 0;
    int64_t tokens = 0;
    int64_t other_texts = 0;
    for (const nlohmann::json& t : entry.at("texts")) {
      const std::string text_name = t.at("name");
      const std::string text = t.at("text");
      const std::vector<int32_t> expected = t.at("ids");
      const auto fail = [&](const std::string& what) {
        ++failures;
        std::cerr << name << " " << text_name << ": " << what << "\n";
      };
      absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(text);
      if (!ids.ok()) {
        fail(absl::StrCat("Encode failed: ", ids.status().ToString()));
        continue;
      }
      ++texts;
      tokens += static_cast<int64_t>(ids->size());
      if (std::string d = Difference(*ids, expected); !d.empty()) fail(d);
      if (t.contains("other_ids")) {
        const std::vector<int32_t> other = t.at("other_ids");
        ++other_texts;
        if (std::string d = Difference(*ids, other); !d.empty()) {
          fail(absl::StrCat("vs gpt-3-encoder: ", d));
        }
      }
      absl::StatusOr<std::string> decoded = (*tok)->Decode(*ids);
      if (!decoded.ok() || *decoded != text) {
        fail("Decode(Encode(text)) != text");
      }
      if (t.at("decoded") != text) {
        fail("the reference's own decode(encode(text)) != text");
      }
      StreamingDetokenizer stream(**tok);
      std::string streamed;
      for (int32_t id : *ids) {
        absl::StatusOr<std::string> piece = stream.Add(id);
        if (!piece.ok() || ToValidUtf8(*piece) != *piece) {
          fail("a streamed piece is not valid UTF-8");
          break;
        }
        streamed += *piece;
      }
      streamed += stream.Flush();
      if (streamed != text) fail("streamed pieces != text");
    }
    std::cout << name << ": " << texts << " texts, " << tokens
              << " tokens compared with @huggingface/tokenizers"
              << (other_texts > 0 ? absl::StrCat(" and gpt-3-encoder (",
                                                 other_texts, " texts)")
                                  : "")
              << "; decode(encode(x)) == x and streamed == x checked\n";
  }
  if (failures > 0) {
    std::cout << failures << " differences\n";
    return 1;
  }
  std::cout << "all identical\n";
  return 0;
}

}  // namespace
}  // namespace trilemma

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tokenizer_reference_compare REFERENCE_JSON\n";
    return 2;
  }
  return trilemma::Run(argv[1]);
}
