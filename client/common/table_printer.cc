#include "client/common/table_printer.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trilemma::client {

TablePrinter::TablePrinter(std::vector<Column> columns)
    : columns_(std::move(columns)) {}

void TablePrinter::AddRow(std::vector<std::string> cells) {
  assert(cells.size() == columns_.size());
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string TablePrinter::ToString() const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = columns_[c].header.size();
    for (const auto& row : rows_) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  auto append_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string pad(widths[c] - cells[c].size(), ' ');
      if (c > 0) line += "  ";
      if (columns_[c].align == kRight) {
        absl::StrAppend(&line, pad, cells[c]);
      } else {
        absl::StrAppend(&line, cells[c], pad);
      }
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  };
  std::vector<std::string> headers, rules;
  for (size_t c = 0; c < columns_.size(); ++c) {
    headers.push_back(columns_[c].header);
    rules.push_back(std::string(widths[c], '-'));
  }
  append_line(headers);
  append_line(rules);
  for (const auto& row : rows_) append_line(row);
  return out;
}

namespace {

// Three significant digits: "1.50", "12.0", "123".
std::string ThreeDigits(double value) {
  if (value < 10) return absl::StrFormat("%.2f", value);
  if (value < 100) return absl::StrFormat("%.1f", value);
  return absl::StrFormat("%.0f", value);
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (std::llabs(bytes) < 1024) return absl::StrCat(bytes, " B");
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (std::fabs(value) >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  const std::string digits = ThreeDigits(std::fabs(value));
  return absl::StrCat(value < 0 ? "-" : "", digits, " ", kUnits[unit]);
}

std::string FormatCount(double value) {
  static constexpr const char* kSuffixes[] = {"k", "M", "G", "T", "P"};
  const double magnitude = std::fabs(value);
  if (magnitude < 1000) {
    return magnitude == std::floor(magnitude) ? absl::StrFormat("%.0f", value)
                                              : absl::StrFormat("%.3g", value);
  }
  double scaled = magnitude / 1000;
  int suffix = 0;
  while (scaled >= 1000 && suffix < 4) {
    scaled /= 1000;
    ++suffix;
  }
  return absl::StrCat(value < 0 ? "-" : "", ThreeDigits(scaled), " ",
                      kSuffixes[suffix]);
}

std::string FormatCorners(const v1::Corners& corners) {
  return absl::StrCat(corners.efficient() ? "E" : "-", " ",
                      corners.compact() ? "C" : "-", " ",
                      corners.recall() ? "R" : "-");
}

}  // namespace trilemma::client
