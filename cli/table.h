// Plain-text tables with aligned columns for explain and demo.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace shannon::cli {

/// A table whose first column is left-aligned and whose other columns are right-aligned.
class text_table {
 public:
  /// A table with these column headers.
  explicit text_table(std::vector<std::string> headers);

  /// Appends a row; it must have one cell per header.
  void add_row(std::vector<std::string> cells);

  /// The table indented by `indent` spaces: headers, a rule, then the rows.
  [[nodiscard]] std::string render(std::size_t indent = 2) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

/// The number of terminal columns `text` occupies (UTF-8 aware; CJK characters count as two).
std::size_t display_width(const std::string& text);

}  // namespace shannon::cli
