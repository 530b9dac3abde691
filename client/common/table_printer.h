// An aligned plain-text table for terminals, and the cell formatters the
// client's tables share.
//
// Example:
//   TablePrinter table({{"engine"}, {"recall", TablePrinter::kRight}});
//   table.AddRow({"attention", "1.000"});
//   std::cout << table.ToString();
//   // engine     recall
//   // ---------  ------
//   // attention   1.000
#ifndef TRILEMMA_CLIENT_COMMON_TABLE_PRINTER_H_
#define TRILEMMA_CLIENT_COMMON_TABLE_PRINTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "trilemma/v1/engine_info.pb.h"

namespace trilemma::client {

class TablePrinter {
 public:
  enum Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = kLeft;
  };

  explicit TablePrinter(std::vector<Column> columns);

  // REQUIRES: cells.size() == number of columns.
  void AddRow(std::vector<std::string> cells);

  // Header, a dashed rule, then the rows; columns separated by two spaces,
  // no trailing spaces, each line ending in '\n'.
  std::string ToString() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Bytes with binary units: "512 B", "1.5 KiB", "12.0 MiB", "2.00 GiB".
std::string FormatBytes(int64_t bytes);

// A count with SI suffixes: "950", "12.3 k", "4.19 M", "1.07 G".
std::string FormatCount(double value);

// The corners an engine claims as three letters, '-' for a missing corner:
// "E C -" for efficient and compact, "- - R" for full attention.
std::string FormatCorners(const v1::Corners& corners);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_TABLE_PRINTER_H_
