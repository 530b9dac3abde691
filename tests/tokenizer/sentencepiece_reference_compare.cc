// Compares our SentencePiece reader with the reference library
// (docs/tokenizers.md).
//
//   sentencepiece_reference_compare OUT_DIR/reference.json
//
// reference.json is what spm_reference.py wrote: models trained by Debian's
// spm_train and, per text, the ids and decode of python3-sentencepiece. For
// each model this loads DIR/tokenizer.model through LoadTokenizerFromDir
// and requires, for every text,
//   - Encode(text) == the reference ids,
//   - Decode(ids) == the reference decode, and == text for the models whose
//     normalizer keeps spaces as typed,
//   - the StreamingDetokenizer's pieces, each valid UTF-8, concatenate to
//     the tokens' bytes.
// The nmt_nfkc and nfkc_bpe models normalize through their
// precompiled_charsmap. Prints how many texts and tokens were compared;
// exits 1 on any difference.
#include <cstdint>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engines/tokenizer/load.h"
#include "nlohmann/json.hpp"

namespace trilemma {
namespace {

// Empty when equal; else where and how they differ.
std::string Difference(const std::vector<int32_t>& ours,
                       const std::vector<int32_t>& theirs) {
  if (ours == theirs) return "";
  size_t at = 0;
  while (at < ours.size() && at < theirs.size() && ours[at] == theirs[at]) {
    ++at;
  }
  const auto window = [&](const std::vector<int32_t>& ids) {
    const size_t begin = at < 3 ? 0 : at - 3;
    const size_t end = std::min(ids.size(), at + 4);
    return absl::StrJoin(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                         ids.begin() + static_cast<std::ptrdiff_t>(end), ", ");
  };
  return absl::StrCat("ids differ at index ", at, " (ours ", ours.size(),
                      ", reference ", theirs.size(), "): ours [... ",
                      window(ours), " ...], reference [... ", window(theirs),
                      " ...]");
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
  int models = 0;
  for (const nlohmann::json& entry : reference.at("models")) {
    const std::string name = entry.at("name");
    const std::string dir = entry.at("dir");
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = LoadTokenizerFromDir(dir);
    if (!tok.ok() || *tok == nullptr) {
      std::cerr << name << ": "
                << (tok.ok() ? "no tokenizer" : tok.status().ToString())
                << "\n";
      return 1;
    }
    ++models;
    const bool round_trip = entry.at("round_trip");
    int64_t texts = 0;
    int64_t tokens = 0;
    for (const nlohmann::json& t : entry.at("texts")) {
      const std::string text_name = t.at("name");
      const std::string text = t.at("text");
      const std::string expected_text = t.at("decoded");
      const std::vector<int32_t> expected = t.at("ids");
      const auto fail = [&](const std::string& what) {
        ++failures;
        if (failures < 30) {
          std::cerr << name << " " << text_name << ": " << what << "\n";
        }
      };
      absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(text);
      if (!ids.ok()) {
        fail(absl::StrCat("Encode failed: ", ids.status().ToString()));
        continue;
      }
      ++texts;
      tokens += static_cast<int64_t>(ids->size());
      if (std::string d = Difference(*ids, expected); !d.empty()) fail(d);
      absl::StatusOr<std::string> decoded = (*tok)->Decode(*ids);
      if (!decoded.ok() || *decoded != expected_text) {
        fail("Decode(Encode(text)) != the reference's decode");
      }
      if (round_trip && expected_text != text) {
        fail("decode(encode(text)) != text");
      }
      // A stream continues a prompt, so it keeps the dummy-prefix space
      // (at_start is false throughout): its pieces, each valid UTF-8, must
      // add up to the tokens' bytes made valid.
      StreamingDetokenizer stream(**tok);
      std::string streamed;
      std::string bytes;
      for (int32_t id : *ids) {
        absl::StatusOr<std::string> piece = stream.Add(id);
        if (!piece.ok() || ToValidUtf8(*piece) != *piece ||
            !(*tok)->AppendTokenBytes(id, /*at_start=*/false, &bytes).ok()) {
          fail("a streamed piece is not valid UTF-8");
          break;
        }
        streamed += *piece;
      }
      streamed += stream.Flush();
      if (streamed != ToValidUtf8(bytes)) fail("streamed pieces != bytes");
    }
    std::cout << name << " (" << (*tok)->kind() << ", " << (*tok)->vocab_size()
              << " pieces): " << texts << " texts, " << tokens
              << " tokens compared with python3-sentencepiece; decode "
              << (round_trip ? "== text" : "== the reference's decode")
              << " checked\n";
  }
  if (models < 6) {
    std::cout << "only " << models << " models compared\n";
    return 1;
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
    std::cerr << "usage: sentencepiece_reference_compare REFERENCE_JSON\n";
    return 2;
  }
  try {
    return trilemma::Run(argv[1]);
  } catch (const std::exception& e) {  // a malformed reference.json
    std::cerr << argv[1] << ": " << e.what() << "\n";
    return 2;
  }
}
