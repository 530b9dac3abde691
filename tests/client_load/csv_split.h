// Splits one CSV line (RFC 4180 quoting, no embedded line breaks) into its
// fields, for tests that check the shape of the client's CSV.
//
// Example:
//   SplitCsvLine("a,\"b, \"\"c\"\"\",d");  // {"a", "b, \"c\"", "d"}
#ifndef TRILEMMA_TESTS_CLIENT_LOAD_CSV_SPLIT_H_
#define TRILEMMA_TESTS_CLIENT_LOAD_CSV_SPLIT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trilemma::testing {

inline std::vector<std::string> SplitCsvLine(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_CLIENT_LOAD_CSV_SPLIT_H_
