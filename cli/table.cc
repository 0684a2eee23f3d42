#include "table.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace shannon::cli {

text_table::text_table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void text_table::add_row(std::vector<std::string> cells) {
  if (cells.size() != headers_.size()) throw std::logic_error("text_table: wrong number of cells");
  rows_.push_back(std::move(cells));
}

std::size_t display_width(const std::string& text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      width += 1;
      i += 1;
    } else if (c < 0xE0) {
      width += 1;
      i += 2;
    } else if (c < 0xF0) {
      // Three-byte sequences cover the CJK ideographs, which take two columns.
      width += 2;
      i += 3;
    } else {
      width += 2;
      i += 4;
    }
  }
  return width;
}

std::string text_table::render(std::size_t indent) const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t j = 0; j < headers_.size(); ++j) widths[j] = display_width(headers_[j]);
  for (const auto& row : rows_) {
    for (std::size_t j = 0; j < row.size(); ++j) {
      widths[j] = std::max(widths[j], display_width(row[j]));
    }
  }
  const std::string margin(indent, ' ');
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out = margin;
    for (std::size_t j = 0; j < cells.size(); ++j) {
      const std::string pad(widths[j] - display_width(cells[j]), ' ');
      if (j != 0) out += "  ";
      out += j == 0 ? cells[j] + pad : pad + cells[j];
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  std::vector<std::string> rule;
  rule.reserve(widths.size());
  for (const std::size_t w : widths) rule.emplace_back(w, '-');
  out += line(rule);
  for (const auto& row : rows_) out += line(row);
  return out;
}

}  // namespace shannon::cli
