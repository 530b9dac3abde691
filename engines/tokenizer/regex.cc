#include "engines/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

// Far above what a pre-tokenizer pattern needs per match (tens of steps per
// character), low enough that catastrophic backtracking stops in well under
// a second.
constexpr uint32_t kMatchLimit = 10'000'000;
constexpr uint32_t kHeapLimitKib = 64 * 1024;

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (n < 0) return absl::StrCat("PCRE2 error ", code);
  return std::string(reinterpret_cast<const char*>(buffer), n);
}

}  // namespace

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Compiled() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

Regex::Regex(std::unique_ptr<Compiled> compiled)
    : compiled_(std::move(compiled)) {}

Regex::~Regex() = default;

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(
    absl::string_view pattern, bool literal, const std::string& where) {
  auto compiled = std::make_unique<Compiled>();
  int error = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2 refuses UCP beside LITERAL (a literal has no classes anyway).
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  compiled->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                    pattern.size(), options, &error, &offset, nullptr);
  if (compiled->code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": bad regex at offset ", offset, ": ", Pcre2Message(error)));
  }
  compiled->context = pcre2_match_context_create(nullptr);
  if (compiled->context == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(where, ": out of memory for a PCRE2 match context"));
  }
  pcre2_set_match_limit(compiled->context, kMatchLimit);
  pcre2_set_heap_limit(compiled->context, kHeapLimitKib);
  return std::unique_ptr<Regex>(new Regex(std::move(compiled)));
}

absl::Status Regex::FindAll(absl::string_view text,
                            std::vector<Span>* out) const {
  pcre2_match_data* data =
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  if (data == nullptr) {
    return absl::ResourceExhaustedError("out of memory for PCRE2 match data");
  }
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  absl::Status status;
  while (start <= text.size()) {
    // The text was checked as UTF-8 by the caller: skip PCRE2's re-check of
    // the whole subject on every call, which would make this quadratic.
    const int rc = pcre2_match(compiled_->code, subject, text.size(), start,
                               PCRE2_NO_UTF_CHECK, data, compiled_->context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      status = absl::ResourceExhaustedError(absl::StrCat(
          "regex match failed at byte ", start, ": ", Pcre2Message(rc)));
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end > begin) {
      out->push_back({begin, end});
      start = end;
      continue;
    }
    // An empty match: move on by one code point.
    start = begin + 1;
    while (start < text.size() &&
           (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) {
      ++start;
    }
  }
  pcre2_match_data_free(data);
  return status;
}

}  // namespace trilemma
