// CSV (RFC 4180) rows for the client's reports.
//
// Example:
//   CsvRow({"engine", "note"});          // "engine,note\n"
//   CsvRow({"attention", "a, \"b\""});   // "attention,\"a, \"\"b\"\"\"\n"
#ifndef TRILEMMA_CLIENT_REPORT_CSV_H_
#define TRILEMMA_CLIENT_REPORT_CSV_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trilemma::client {

// `field` quoted (inner quotes doubled) when it holds a comma, a quote or a
// line break; unchanged otherwise.
std::string CsvField(absl::string_view field);

// The fields joined by commas, ending in "\n".
std::string CsvRow(const std::vector<std::string>& fields);

// A number with up to 10 significant digits: "0.125", "1e-06", "12345".
std::string CsvNumber(double value);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_REPORT_CSV_H_
