#include "engines/tokenizer/sentencepiece_tokenizer.h"

#include <algorithm>
#include <limits>
#include <queue>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace trilemma {
namespace {

constexpr absl::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 "▁"
// The reference's penalty below the lowest piece score for an unknown
// character in the unigram lattice.
constexpr float kUnkPenalty = 10.0F;

// Bytes of the UTF-8 character starting with `lead` (1 for a stray byte;
// Encode has checked the text is valid UTF-8).
size_t CharLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// "<0x4A>" -> 0x4A; -1 when not spelled so.
int ParseBytePiece(absl::string_view piece) {
  if (piece.size() != 6 || !absl::StartsWith(piece, "<0x") ||
      piece.back() != '>') {
    return -1;
  }
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>>
SentencePieceTokenizer::FromModelProto(absl::string_view bytes,
                                       const std::string& file) {
  absl::StatusOr<SentencePieceModel> model =
      ParseSentencePieceModel(bytes, file);
  if (!model.ok()) return model.status();
  std::unique_ptr<SentencePieceTokenizer> tok(new SentencePieceTokenizer());
  tok->file_ = file;
  tok->model_ = *std::move(model);
  if (absl::Status s = tok->Validate(); !s.ok()) return s;
  return tok;
}

absl::Status SentencePieceTokenizer::Validate() {
  const auto invalid = [&](absl::string_view field, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", field, ": ", what));
  };
  const auto unimplemented = [&](absl::string_view field,
                                 absl::string_view what) {
    return absl::UnimplementedError(
        absl::StrCat(file_, ": ", field, ": ", what));
  };
  const SentencePieceModel& m = model_;
  if (m.model_type != SentencePieceModel::kUnigram &&
      m.model_type != SentencePieceModel::kBpe) {
    return unimplemented(
        "trainer_spec.model_type",
        absl::StrCat(
            m.model_type == SentencePieceModel::kWord ? "WORD" : "CHAR",
            " models are not supported (UNIGRAM and BPE are)"));
  }
  if (m.treat_whitespace_as_suffix) {
    return unimplemented("trainer_spec.treat_whitespace_as_suffix",
                         "not supported");
  }
  for (const auto& [where, n] :
       {std::pair<const char*, const SentencePieceModel::Normalizer*>{
            "normalizer_spec", &m.normalizer},
        {"denormalizer_spec", &m.denormalizer}}) {
    if (!n->precompiled_charsmap.empty() && n == &m.denormalizer) {
      return unimplemented(absl::StrCat(where, ".precompiled_charsmap"),
                           "denormalization is not supported");
    }
    if (!n->normalization_rule_tsv.empty()) {
      return unimplemented(absl::StrCat(where, ".normalization_rule_tsv"),
                           "custom normalization rules are not supported");
    }
  }
  if (!m.normalizer.precompiled_charsmap.empty()) {
    absl::StatusOr<PrecompiledCharsMap> charsmap = PrecompiledCharsMap::Parse(
        m.normalizer.precompiled_charsmap, "normalizer_spec");
    if (!charsmap.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_, ": ", charsmap.status().message()));
    }
    charsmap_ = *std::move(charsmap);
  }
  if (m.pieces.empty()) return invalid("pieces", "none");
  const auto n = static_cast<int32_t>(m.pieces.size());
  byte_ids_.fill(-1);
  int unknowns = 0;
  for (int32_t id = 0; id < n; ++id) {
    const SentencePieceModel::Piece& p = m.pieces[id];
    const std::string field = absl::StrCat("pieces[", id, "].piece");
    if (p.piece.empty()) return invalid(field, "empty");
    if (absl::Status s = CheckUtf8(p.piece, field); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file_, ": ", s.message()));
    }
    const bool normal_kind = p.type == SentencePieceModel::kNormal ||
                             p.type == SentencePieceModel::kUserDefined ||
                             p.type == SentencePieceModel::kUnused;
    auto& ids = normal_kind ? piece_ids_ : reserved_ids_;
    if (piece_ids_.contains(p.piece) || reserved_ids_.contains(p.piece)) {
      return invalid(field, absl::StrCat("'", p.piece, "' appears twice"));
    }
    ids.emplace(p.piece, id);
    max_piece_bytes_ = std::max(max_piece_bytes_, p.piece.size());
    switch (p.type) {
      case SentencePieceModel::kNormal:
        break;
      case SentencePieceModel::kUnknown:
        ++unknowns;
        break;
      case SentencePieceModel::kControl:
        added_.push_back({id, p.piece, /*special=*/true});
        break;
      case SentencePieceModel::kUserDefined:
        added_.push_back({id, p.piece, /*special=*/false});
        user_defined_.push_back(p.piece);
        break;
      case SentencePieceModel::kByte: {
        const int b = ParseBytePiece(p.piece);
        if (b < 0) {
          return invalid(field, absl::StrCat("'", p.piece,
                                             "' is a BYTE piece not spelled "
                                             "<0xNN>"));
        }
        byte_ids_[b] = id;
        break;
      }
      case SentencePieceModel::kUnused:
        break;
    }
  }
  // As the reference: min over NORMAL scores from +FLT_MAX, max from
  // FLT_MIN (the smallest positive float, so never below ~0).
  min_score_ = std::numeric_limits<float>::max();
  max_score_ = std::numeric_limits<float>::min();
  for (const SentencePieceModel::Piece& p : m.pieces) {
    if (p.type != SentencePieceModel::kNormal) continue;
    min_score_ = std::min(min_score_, p.score);
    max_score_ = std::max(max_score_, p.score);
  }
  if (m.unk_id < 0 || m.unk_id >= n ||
      m.pieces[m.unk_id].type != SentencePieceModel::kUnknown ||
      unknowns != 1) {
    return invalid("trainer_spec.unk_id",
                   absl::StrCat(m.unk_id,
                                " must name the one UNKNOWN piece (the model "
                                "has ",
                                unknowns, ")"));
  }
  for (const auto& [name, id] :
       {std::pair<const char*, int32_t>{"bos_id", m.bos_id},
        {"eos_id", m.eos_id},
        {"pad_id", m.pad_id}}) {
    if (id < -1 || id >= n) {
      return invalid(absl::StrCat("trainer_spec.", name),
                     absl::StrCat(id, " is outside [-1, ", n, ")"));
    }
  }
  if (m.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      if (byte_ids_[b] < 0) {
        return invalid("trainer_spec.byte_fallback",
                       absl::StrFormat("set, but there is no BYTE piece "
                                       "<0x%02X>",
                                       b));
      }
    }
  }
  std::sort(user_defined_.begin(), user_defined_.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  return absl::OkStatus();
}

absl::string_view SentencePieceTokenizer::kind() const {
  return model_.model_type == SentencePieceModel::kBpe
             ? "sentencepiece-bpe"
             : "sentencepiece-unigram";
}

std::pair<absl::string_view, size_t> SentencePieceTokenizer::NormalizePrefix(
    absl::string_view text) const {
  if (const size_t n = MatchUserDefined(text); n > 0) {
    return {text.substr(0, n), n};
  }
  if (charsmap_.has_value()) {
    const auto [replacement, consumed] = charsmap_->LongestPrefix(text);
    if (consumed > 0) return {replacement, consumed};
  }
  const size_t n =
      std::min(CharLength(static_cast<uint8_t>(text[0])), text.size());
  return {text.substr(0, n), n};
}

std::string SentencePieceTokenizer::Normalize(absl::string_view text) const {
  // The reference's Normalizer::Normalize: each prefix replaced, then the
  // whitespace rules applied to what came out (so a rule that maps, e.g.,
  // an ideographic space to ' ' makes it a space here).
  const SentencePieceModel::Normalizer& spec = model_.normalizer;
  const bool remove = spec.remove_extra_whitespaces;
  const absl::string_view space =
      spec.escape_whitespaces ? kSpaceSymbol : absl::string_view(" ");
  if (remove) {
    while (!text.empty()) {
      const auto [replacement, consumed] = NormalizePrefix(text);
      if (replacement != " ") break;
      text.remove_prefix(consumed);
    }
  }
  if (text.empty()) return "";
  std::string out;
  out.reserve(text.size() + text.size() / 2 + 3);
  if (spec.add_dummy_prefix) absl::StrAppend(&out, space);
  bool previous_space = remove;
  while (!text.empty()) {
    auto [replacement, consumed] = NormalizePrefix(text);
    if (remove && previous_space) {
      while (absl::ConsumePrefix(&replacement, " ")) {
      }
    }
    if (!replacement.empty()) {
      for (char c : replacement) {
        if (c == ' ') {
          absl::StrAppend(&out, space);
        } else {
          out.push_back(c);
        }
      }
      previous_space = absl::EndsWith(replacement, " ");
    }
    text.remove_prefix(consumed);
    if (!remove) previous_space = false;
  }
  if (remove) {
    size_t end = out.size();
    while (end >= space.size() &&
           out.compare(end - space.size(), space.size(), space.data(),
                       space.size()) == 0) {
      end -= space.size();
    }
    out.erase(end);
  }
  return out;
}

size_t SentencePieceTokenizer::MatchUserDefined(absl::string_view text) const {
  for (const std::string& piece : user_defined_) {
    if (absl::StartsWith(text, piece)) return piece.size();
  }
  return 0;
}

int32_t SentencePieceTokenizer::PieceId(absl::string_view piece) const {
  const auto it = piece_ids_.find(piece);
  return it == piece_ids_.end() ? -1 : it->second;
}

void SentencePieceTokenizer::EncodeUnigram(
    absl::string_view normalized,
    std::vector<std::pair<absl::string_view, int32_t>>* out) const {
  // The reference's optimized Viterbi: scores are floats, a user-defined
  // piece scores length * max_score - 0.1 (in double, as there), and a
  // character no piece covers alone gets an unknown node.
  struct Node {
    int32_t id = -1;
    float best = 0;
    int64_t starts_at = -1;
  };
  const size_t size = normalized.size();
  std::vector<Node> nodes(size + 1);
  const float unk_score = min_score_ - kUnkPenalty;
  size_t start = 0;
  while (start < size) {
    const float best_here = nodes[start].best;
    const size_t char_len = std::min(
        CharLength(static_cast<uint8_t>(normalized[start])), size - start);
    bool has_single = false;
    const size_t longest = std::min(max_piece_bytes_, size - start);
    for (size_t len = 1; len <= longest; ++len) {
      const int32_t id = PieceId(normalized.substr(start, len));
      if (id < 0) continue;
      const SentencePieceModel::Piece& p = model_.pieces[id];
      if (p.type == SentencePieceModel::kUnused) continue;
      const double score =
          p.type == SentencePieceModel::kUserDefined
              ? static_cast<double>(static_cast<float>(len) * max_score_) - 0.1
              : static_cast<double>(p.score);
      const double candidate = score + best_here;
      Node& target = nodes[start + len];
      if (target.starts_at == -1 || candidate > target.best) {
        target = {id, static_cast<float>(candidate),
                  static_cast<int64_t>(start)};
      }
      has_single |= len == char_len;
    }
    if (!has_single) {
      Node& target = nodes[start + char_len];
      const float candidate = unk_score + best_here;
      if (target.starts_at == -1 || candidate > target.best) {
        target = {model_.unk_id, candidate, static_cast<int64_t>(start)};
      }
    }
    start += char_len;
  }
  const size_t first = out->size();
  size_t end = size;
  while (end > 0) {
    const Node& node = nodes[end];
    const auto begin = static_cast<size_t>(node.starts_at);
    out->emplace_back(normalized.substr(begin, end - begin), node.id);
    end = begin;
  }
  std::reverse(out->begin() + static_cast<std::ptrdiff_t>(first), out->end());
}

void SentencePieceTokenizer::EncodeBpe(
    absl::string_view normalized,
    std::vector<std::pair<absl::string_view, int32_t>>* out) const {
  // The reference's BPE: characters (user-defined pieces frozen whole),
  // then repeatedly merge the adjacent pair whose concatenation is the
  // best-scoring piece (leftmost among equal scores).
  struct Symbol {
    int64_t prev = -1;
    int64_t next = -1;
    bool freeze = false;
    absl::string_view piece;
  };
  struct Pair {
    float score = 0;
    int64_t left = 0;
    int64_t right = 0;
    size_t size = 0;
  };
  const auto worse = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
  absl::flat_hash_map<absl::string_view,
                      std::pair<absl::string_view, absl::string_view>>
      rev_merge;
  std::vector<Symbol> symbols;
  absl::string_view rest = normalized;
  while (!rest.empty()) {
    Symbol s;
    size_t len = MatchUserDefined(rest);
    s.freeze = len > 0;
    if (len == 0) {
      len = std::min(CharLength(static_cast<uint8_t>(rest[0])), rest.size());
    }
    s.piece = rest.substr(0, len);
    rest.remove_prefix(len);
    const auto index = static_cast<int64_t>(symbols.size());
    s.prev = index - 1;
    s.next = rest.empty() ? -1 : index + 1;
    symbols.push_back(s);
  }
  const auto maybe_add_pair = [&](int64_t left, int64_t right) {
    if (left == -1 || right == -1 || symbols[left].freeze ||
        symbols[right].freeze) {
      return;
    }
    const absl::string_view piece(
        symbols[left].piece.data(),
        symbols[left].piece.size() + symbols[right].piece.size());
    const int32_t id = PieceId(piece);
    if (id < 0) return;
    agenda.push({model_.pieces[id].score, left, right, piece.size()});
    if (model_.pieces[id].type == SentencePieceModel::kUnused) {
      rev_merge[piece] = {symbols[left].piece, symbols[right].piece};
    }
  };
  for (size_t i = 1; i < symbols.size(); ++i) {
    maybe_add_pair(static_cast<int64_t>(i) - 1, static_cast<int64_t>(i));
  }
  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.piece.empty() || right.piece.empty() ||
        left.piece.size() + right.piece.size() != top.size) {
      continue;  // stale: one side was merged since
    }
    left.piece = absl::string_view(left.piece.data(), top.size);
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.piece = absl::string_view();
    maybe_add_pair(left.prev, top.left);
    maybe_add_pair(top.left, left.next);
  }
  // An UNUSED piece is split back into the pieces it was merged from.
  const auto resegment = [&](absl::string_view w, auto&& self) -> void {
    int32_t id = -1;
    if (auto it = reserved_ids_.find(w); it != reserved_ids_.end()) {
      id = it->second;
    } else {
      id = PieceId(w);
    }
    if (id < 0 || model_.pieces[id].type != SentencePieceModel::kUnused) {
      out->emplace_back(w, id < 0 ? model_.unk_id : id);
      return;
    }
    const auto it = rev_merge.find(w);
    if (it == rev_merge.end()) {
      out->emplace_back(w, id);
      return;
    }
    self(it->second.first, self);
    self(it->second.second, self);
  };
  for (int64_t i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
    resegment(symbols[i].piece, resegment);
  }
}

absl::StatusOr<std::vector<int32_t>> SentencePieceTokenizer::Encode(
    absl::string_view text) const {
  if (absl::Status s = CheckUtf8(text, "text"); !s.ok()) return s;
  const std::string normalized = Normalize(text);
  std::vector<std::pair<absl::string_view, int32_t>> pieces;
  if (model_.model_type == SentencePieceModel::kBpe) {
    EncodeBpe(normalized, &pieces);
  } else {
    EncodeUnigram(normalized, &pieces);
  }
  std::vector<int32_t> ids;
  ids.reserve(pieces.size());
  bool previous_unknown = false;
  for (const auto& [piece, id] : pieces) {
    const bool unknown = id == model_.unk_id;
    if (unknown && model_.byte_fallback) {
      for (char c : piece) ids.push_back(byte_ids_[static_cast<uint8_t>(c)]);
    } else if (!(unknown && previous_unknown)) {
      // As the reference, a run of unknown pieces is one unk id.
      ids.push_back(id);
    }
    previous_unknown = unknown && !model_.byte_fallback;
  }
  return ids;
}

absl::Status SentencePieceTokenizer::AppendTokenBytes(int32_t id, bool at_start,
                                                      std::string* out) const {
  if (id < 0 || id >= vocab_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token id ", id, " is outside the vocabulary [0, ", vocab_size(), ")"));
  }
  const SentencePieceModel::Piece& p = model_.pieces[id];
  switch (p.type) {
    case SentencePieceModel::kControl:
      return absl::OkStatus();
    case SentencePieceModel::kUnknown:
      absl::StrAppend(out, model_.unk_surface);
      return absl::OkStatus();
    case SentencePieceModel::kByte:
      out->push_back(static_cast<char>(ParseBytePiece(p.piece)));
      return absl::OkStatus();
    default:
      break;
  }
  absl::string_view piece = p.piece;
  if (at_start && (model_.normalizer.add_dummy_prefix ||
                   model_.normalizer.remove_extra_whitespaces)) {
    absl::ConsumePrefix(&piece, kSpaceSymbol);
  }
  absl::StrAppend(out, absl::StrReplaceAll(piece, {{kSpaceSymbol, " "}}));
  return absl::OkStatus();
}

absl::StatusOr<std::string> SentencePieceTokenizer::Decode(
    absl::Span<const int32_t> ids) const {
  std::string bytes;
  bool at_start = true;
  for (int32_t id : ids) {
    if (absl::Status s = AppendTokenBytes(id, at_start, &bytes); !s.ok()) {
      return s;
    }
    at_start =
        at_start && model_.pieces[id].type == SentencePieceModel::kControl;
  }
  return ToValidUtf8(bytes);
}

}  // namespace trilemma
