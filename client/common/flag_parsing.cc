#include "client/common/flag_parsing.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace trilemma::client {

absl::StatusOr<std::vector<int32_t>> ParseTokenList(absl::string_view flag,
                                                    absl::string_view text) {
  std::vector<int32_t> tokens;
  for (absl::string_view piece :
       absl::StrSplit(text, absl::ByAnyChar(" ,\t\n"), absl::SkipEmpty())) {
    int32_t token;
    if (!absl::SimpleAtoi(piece, &token)) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, "[", tokens.size(), "]: '", piece, "' is not a token id"));
    }
    if (token < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, "[", tokens.size(), "]: token ", token, " is negative"));
    }
    tokens.push_back(token);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": no token ids given (e.g. \"3 17 42\")"));
  }
  return tokens;
}

absl::StatusOr<std::vector<int64_t>> ParseIntList(absl::string_view flag,
                                                  absl::string_view text,
                                                  int64_t min, int64_t max) {
  std::vector<int64_t> values;
  std::set<int64_t> seen;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    piece = absl::StripAsciiWhitespace(piece);
    int64_t value;
    if (!absl::SimpleAtoi(piece, &value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, "[", values.size(), "]: '", piece, "' is not an integer"));
    }
    if (value < min || value > max) {
      return absl::InvalidArgumentError(absl::StrCat(flag, "[", values.size(),
                                                     "]: ", value, " not in [",
                                                     min, ", ", max, "]"));
    }
    if (!seen.insert(value).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, "[", values.size(), "]: ", value, " is listed twice"));
    }
    values.push_back(value);
  }
  return values;
}

absl::StatusOr<std::vector<std::string>> ParseNameList(absl::string_view flag,
                                                       absl::string_view text) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    piece = absl::StripAsciiWhitespace(piece);
    if (piece.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, "[", names.size(), "]: empty name"));
    }
    if (!seen.emplace(piece).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, "[", names.size(), "]: '", piece, "' is listed twice"));
    }
    names.emplace_back(piece);
  }
  return names;
}

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view flag,
                                               absl::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", text, "' is not one of table|json"));
}

}  // namespace trilemma::client
