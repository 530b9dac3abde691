#include "engines/tokenizer/tokenizer.h"

#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The UTF-8 sequence starting at bytes[i]: how many bytes of it are valid
// (at least 1 when the lead is valid, 0 when it is not) and whether they
// form a whole code point. Follows Unicode Table 3-7 (no overlongs, no
// surrogates, nothing above U+10FFFF).
struct Utf8Run {
  size_t valid = 0;
  bool complete = false;
};

Utf8Run ScanUtf8(absl::string_view bytes, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(bytes[k]); };
  const uint8_t lead = b(i);
  if (lead < 0x80) return {1, true};
  size_t need = 0;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return {0, false};
  }
  size_t valid = 1;
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= bytes.size()) return {valid, false};
    const uint8_t c = b(i + k);
    const uint8_t min = k == 1 ? lo : 0x80;
    const uint8_t max = k == 1 ? hi : 0xBF;
    if (c < min || c > max) return {valid, false};
    ++valid;
  }
  return {valid, true};
}

}  // namespace

std::string ToValidUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const Utf8Run run = ScanUtf8(bytes, i);
    if (run.complete) {
      absl::StrAppend(&out, bytes.substr(i, run.valid));
      i += run.valid;
    } else {
      absl::StrAppend(&out, kReplacement);
      i += run.valid == 0 ? 1 : run.valid;
    }
  }
  return out;
}

size_t IncompleteUtf8Suffix(absl::string_view bytes) {
  // A proper prefix of a sequence is at most 3 bytes long; find the last
  // lead byte among them and ask whether it runs to the end unfinished.
  const size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t i = n - back;
    const uint8_t c = static_cast<uint8_t>(bytes[i]);
    if (c >= 0x80 && c <= 0xBF) continue;  // a continuation byte
    const Utf8Run run = ScanUtf8(bytes, i);
    return !run.complete && run.valid == back ? back : 0;
  }
  return 0;
}

absl::Status CheckUtf8(absl::string_view text, absl::string_view field) {
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Run run = ScanUtf8(text, i);
    if (!run.complete) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": not valid UTF-8 at byte ", i));
    }
    i += run.valid;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Tokenizer::Decode(
    absl::Span<const int32_t> ids) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (absl::Status s = AppendTokenBytes(ids[i], bytes.empty(), &bytes);
        !s.ok()) {
      return s;
    }
  }
  return ToValidUtf8(bytes);
}

absl::StatusOr<std::string> StreamingDetokenizer::Add(int32_t id) {
  std::string bytes = pending_;
  if (absl::Status s =
          tokenizer_.AppendTokenBytes(id, /*at_start=*/false, &bytes);
      !s.ok()) {
    return s;
  }
  const size_t keep = IncompleteUtf8Suffix(bytes);
  pending_ = bytes.substr(bytes.size() - keep);
  bytes.resize(bytes.size() - keep);
  return ToValidUtf8(bytes);
}

std::string StreamingDetokenizer::Flush() {
  std::string out = ToValidUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace trilemma
