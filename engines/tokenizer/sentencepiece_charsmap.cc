#include "engines/tokenizer/sentencepiece_charsmap.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

// darts-clone's unit layout (darts.h, DoubleArrayUnit).
bool HasLeaf(uint32_t unit) { return ((unit >> 8) & 1) == 1; }
uint32_t Value(uint32_t unit) { return unit & ((1U << 31) - 1); }
uint32_t Label(uint32_t unit) { return unit & ((1U << 31) | 0xFF); }
uint32_t Offset(uint32_t unit) {
  return (unit >> 10) << ((unit & (1U << 9)) >> 6);
}

}  // namespace

absl::StatusOr<PrecompiledCharsMap> PrecompiledCharsMap::Parse(
    absl::string_view blob, absl::string_view where) {
  auto broken = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".precompiled_charsmap: ", why));
  };
  if (blob.size() <= 4) {
    return broken(absl::StrCat("truncated: ", blob.size(),
                               " bytes, no room for the trie size"));
  }
  const auto* b = reinterpret_cast<const uint8_t*>(blob.data());
  const uint32_t trie_bytes = uint32_t{b[0]} | (uint32_t{b[1]} << 8) |
                              (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
  if (trie_bytes > blob.size() - 4 || trie_bytes == 0 || trie_bytes % 4 != 0) {
    return broken(absl::StrCat("trie size ", trie_bytes,
                               " is not a positive multiple of 4 within the ",
                               blob.size() - 4, " bytes that follow"));
  }
  PrecompiledCharsMap map;
  map.units_.resize(trie_bytes / 4);
  for (size_t i = 0; i < map.units_.size(); ++i) {
    const uint8_t* u = b + 4 + 4 * i;
    map.units_[i] = uint32_t{u[0]} | (uint32_t{u[1]} << 8) |
                    (uint32_t{u[2]} << 16) | (uint32_t{u[3]} << 24);
  }
  map.normalized_ = std::string{blob.substr(4 + trie_bytes)};
  if (map.normalized_.empty() || map.normalized_.back() != '\0') {
    return broken("the normalized strings do not end with '\\0'");
  }

  // Every node a search can reach, each once (darts-clone shares the
  // subtrees of equal suffixes, so nodes have several parents): each unit
  // reached must be in the array and each leaf's value inside the strings.
  // A node's children are node ^ c, in its 256-unit block, so a node past
  // the last block has none.
  const size_t n = map.units_.size();
  const size_t blocks_end = (n + 255) / 256 * 256;
  std::vector<bool> seen(blocks_end, false);
  std::vector<size_t> stack = {Offset(map.units_[0])};
  while (!stack.empty()) {
    const size_t node = stack.back();
    stack.pop_back();
    if (node >= blocks_end || seen[node]) continue;
    seen[node] = true;
    for (uint32_t c = 1; c < 256; ++c) {
      const size_t child = node ^ c;
      if (child >= n || Label(map.units_[child]) != c) continue;
      const size_t next = child ^ Offset(map.units_[child]);
      if (HasLeaf(map.units_[child])) {
        if (next >= n) {
          return broken(absl::StrCat("unit ", child, " points at unit ", next,
                                     " past the trie's ", n));
        }
        const uint32_t value = Value(map.units_[next]);
        if (value >= map.normalized_.size()) {
          return broken(absl::StrCat("rule value ", value,
                                     " is past the normalized strings (",
                                     map.normalized_.size(), " bytes)"));
        }
        ++map.rules_;
      }
      stack.push_back(next);
    }
  }
  if (map.rules_ == 0) return broken("the trie holds no rule");
  return map;
}

std::pair<absl::string_view, size_t> PrecompiledCharsMap::LongestPrefix(
    absl::string_view text) const {
  // darts-clone's commonPrefixSearch, keeping the longest match. Parse
  // checked every index a search can reach; the checks here keep a miss
  // (never a read out of bounds) if that ever changed.
  const size_t n = units_.size();
  size_t node = Offset(units_[0]);
  size_t longest = 0;
  uint32_t value = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    node ^= c;
    if (node >= n) break;
    const uint32_t unit = units_[node];
    if (Label(unit) != c) break;
    node ^= Offset(unit);
    if (HasLeaf(unit) && node < n && Value(units_[node]) < normalized_.size()) {
      longest = i + 1;
      value = Value(units_[node]);
    }
  }
  if (longest == 0) return {absl::string_view(), 0};
  const char* replacement = normalized_.data() + value;
  return {absl::string_view(replacement, std::strlen(replacement)), longest};
}

}  // namespace trilemma
