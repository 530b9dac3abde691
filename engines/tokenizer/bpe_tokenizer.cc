#include "engines/tokenizer/bpe_tokenizer.h"

#include <queue>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

// One symbol of a word being merged: a doubly linked list over positions.
struct Symbol {
  int32_t id = 0;
  int32_t prev = -1;
  int32_t next = -1;
  bool alive = true;
};

// A candidate merge of the symbols at `left` and its next. The heap pops
// the lowest rank first and, among equal ranks, the leftmost — the order
// the tokenizers library merges in.
struct Candidate {
  int32_t rank = 0;
  int32_t left = 0;
  int32_t left_id = 0;
  int32_t right_id = 0;
  bool operator>(const Candidate& other) const {
    return rank != other.rank ? rank > other.rank : left > other.left;
  }
};

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    // The byte-level alphabet stays below U+0800.
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace

char32_t ByteLevelChar(uint8_t b) {
  const auto printable = [](int c) {
    return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) ||
           (c >= 0xAE && c <= 0xFF);
  };
  if (printable(b)) return b;
  char32_t next = 256;
  for (int c = 0; c < b; ++c) {
    if (!printable(c)) ++next;
  }
  return next;
}

int32_t BpeTokenizer::TokenId(absl::string_view token) const {
  auto it = token_ids_.find(token);
  return it == token_ids_.end() ? -1 : it->second;
}

absl::StatusOr<std::vector<int32_t>> BpeTokenizer::Encode(
    absl::string_view text) const {
  if (absl::Status s = CheckUtf8(text, "text"); !s.ok()) return s;
  std::vector<int32_t> ids;
  size_t segment_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& candidates =
        added_by_first_byte_[static_cast<uint8_t>(text[pos])];
    const AddedToken* found = nullptr;
    for (int32_t index : candidates) {
      if (absl::StartsWith(text.substr(pos), added_[index].content)) {
        found = &added_[index];
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    if (absl::Status s = EncodeSegment(
            text.substr(segment_start, pos - segment_start), &ids);
        !s.ok()) {
      return s;
    }
    ids.push_back(found->id);
    pos += found->content.size();
    segment_start = pos;
  }
  if (absl::Status s = EncodeSegment(text.substr(segment_start), &ids);
      !s.ok()) {
    return s;
  }
  return ids;
}

absl::Status BpeTokenizer::EncodeSegment(absl::string_view segment,
                                         std::vector<int32_t>* ids) const {
  if (segment.empty()) return absl::OkStatus();
  std::string normalized(segment);
  for (const UnicodeNormalizer& normalizer : normalizers_) {
    absl::StatusOr<std::string> next = normalizer.Normalize(normalized);
    if (!next.ok()) return next.status();
    normalized = *std::move(next);
  }
  std::vector<std::string> pieces = {std::move(normalized)};
  for (const PreTokenizerStep& step : pre_tokenizers_) {
    if (absl::Status s = PreTokenize(step, pieces); !s.ok()) return s;
  }
  for (const std::string& piece : pieces) MergeWord(piece, ids);
  return absl::OkStatus();
}

absl::Status BpeTokenizer::PreTokenize(const PreTokenizerStep& step,
                                       std::vector<std::string>& pieces) const {
  std::vector<std::string> out;
  std::vector<Regex::Span> spans;
  for (std::string& piece : pieces) {
    if (step.add_prefix_space && !absl::StartsWith(piece, " ")) {
      piece = absl::StrCat(" ", piece);  // not insert(): GCC 12 -Wrestrict
    }
    if (step.regex == nullptr) {
      out.push_back(std::move(piece));
      continue;
    }
    spans.clear();
    if (absl::Status s = step.regex->FindAll(piece, &spans); !s.ok()) {
      return s;
    }
    // The piece as alternating (text, matched) parts, in order.
    std::vector<std::pair<absl::string_view, bool>> parts;
    const absl::string_view view(piece);
    size_t at = 0;
    for (const Regex::Span& span : spans) {
      if (span.begin > at) {
        parts.emplace_back(view.substr(at, span.begin - at), step.invert);
      }
      parts.emplace_back(view.substr(span.begin, span.end - span.begin),
                         !step.invert);
      at = span.end;
    }
    if (at < view.size()) parts.emplace_back(view.substr(at), step.invert);

    std::vector<std::string> split;
    bool glue_next = false;  // MergedWithNext: the last match waits
    bool last_was_match = false;
    for (const auto& [text, matched] : parts) {
      switch (matched ? step.behavior : SplitBehavior::kIsolated) {
        case SplitBehavior::kIsolated:
          if (glue_next) {
            absl::StrAppend(&split.back(), text);
          } else {
            split.emplace_back(text);
          }
          glue_next = false;
          break;
        case SplitBehavior::kRemoved:
          glue_next = false;
          break;
        case SplitBehavior::kMergedWithPrevious:
          if (split.empty()) {
            split.emplace_back(text);
          } else {
            absl::StrAppend(&split.back(), text);
          }
          glue_next = false;
          break;
        case SplitBehavior::kMergedWithNext:
          if (glue_next) {
            absl::StrAppend(&split.back(), text);
          } else {
            split.emplace_back(text);
          }
          glue_next = true;
          break;
        case SplitBehavior::kContiguous:
          if (last_was_match || glue_next) {
            absl::StrAppend(&split.back(), text);
          } else {
            split.emplace_back(text);
          }
          glue_next = false;
          break;
      }
      last_was_match = matched;
    }
    for (std::string& s : split) out.push_back(std::move(s));
  }
  pieces = std::move(out);
  return absl::OkStatus();
}

void BpeTokenizer::MergeWord(absl::string_view word,
                             std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    std::string mapped;
    for (char c : word)
      AppendUtf8(ByteLevelChar(static_cast<uint8_t>(c)), &mapped);
    if (auto it = token_ids_.find(mapped); it != token_ids_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  std::vector<Symbol> symbols(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    symbols[i].id = byte_ids_[static_cast<uint8_t>(word[i])];
    symbols[i].prev = static_cast<int32_t>(i) - 1;
    symbols[i].next = i + 1 < word.size() ? static_cast<int32_t>(i) + 1 : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    heap.push({it->second.rank, left, symbols[left].id, symbols[right].id});
  };
  for (size_t i = 0; i + 1 < word.size(); ++i) {
    push(static_cast<int32_t>(i));
  }
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = symbols[c.left];
    if (!left.alive || left.id != c.left_id || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != c.right_id) continue;
    left.id = merges_.find(PairKey(c.left_id, c.right_id))->second.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    push(left.prev);
    push(c.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    ids->push_back(symbols[i].id);
  }
}

absl::Status BpeTokenizer::AppendTokenBytes(int32_t id, bool /*at_start*/,
                                            std::string* out) const {
  if (id < 0 || id >= vocab_size() || !tokens_[id].assigned) {
    return absl::InvalidArgumentError(
        absl::StrCat("token ", id, " is not in the vocabulary of ", file_, " (",
                     vocab_size(), " ids)"));
  }
  out->append(tokens_[id].bytes);
  return absl::OkStatus();
}

}  // namespace trilemma
