// Numbers in CSV and whitespace-separated text, one row per line.
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "io/quote.h"
#include "shannon/error.h"
#include "shannon/io.h"

namespace shannon::io {
namespace {

using detail::quoted;

constexpr std::string_view kUtf8Bom{"\xEF\xBB\xBF"};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_delimiter(char c) { return c == ',' || c == ';'; }

class text_parser {
 public:
  text_parser(std::string_view text, std::string_view name) : text_(text), name_(name) {
    if (text_.starts_with(kUtf8Bom)) text_.remove_prefix(kUtf8Bom.size());
  }

  array parse() {
    std::size_t line_number = 0;
    std::size_t first_row_size = 0;
    std::size_t rows = 0;
    while (!text_.empty()) {
      const std::size_t end = text_.find('\n');
      const std::string_view line = text_.substr(0, end);
      text_.remove_prefix(end == std::string_view::npos ? text_.size() : end + 1);
      ++line_number;
      const std::size_t before = values_.size();
      parse_line(line, line_number);
      const std::size_t row_size = values_.size() - before;
      if (row_size == 0) continue;
      if (++rows == 1) {
        first_row_size = row_size;
      } else if (row_size != first_row_size) {
        throw parse_error(location(line_number) + ": row has " + std::to_string(row_size) +
                          " values but row 1 has " + std::to_string(first_row_size));
      }
    }
    if (rows == 0) throw parse_error(std::string(name_) + ": no numbers found");
    array result;
    result.shape = rows == 1 ? std::vector<std::size_t>{first_row_size}
                             : std::vector<std::size_t>{rows, first_row_size};
    result.values = std::move(values_);
    return result;
  }

 private:
  [[nodiscard]] std::string location(std::size_t line) const {
    return std::string(name_) + ":" + std::to_string(line);
  }

  [[nodiscard]] std::string location(std::size_t line, std::size_t index) const {
    return location(line) + ":" + std::to_string(index + 1);
  }

  /// Appends the numbers on `line` to values_; blank and '#' lines add none.
  void parse_line(std::string_view line, std::size_t line_number) {
    std::size_t i = 0;
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size() || line[i] == '#') return;
    // A value is expected at the start of the line and after each ',' or ';'.
    bool need_value = true;
    while (true) {
      while (i < line.size() && is_space(line[i])) ++i;
      if (i == line.size() || is_delimiter(line[i])) {
        if (need_value) throw parse_error(location(line_number, i) + ": empty field");
        if (i == line.size()) return;
        need_value = true;
        ++i;
        continue;
      }
      const std::size_t start = i;
      while (i < line.size() && !is_space(line[i]) && !is_delimiter(line[i])) ++i;
      values_.push_back(parse_number(line.substr(start, i - start), line_number, start));
      need_value = false;
    }
  }

  [[nodiscard]] double parse_number(std::string_view token, std::size_t line_number,
                                    std::size_t column) const {
    std::string_view digits = token;
    // from_chars rejects a leading '+', which people and some tools write.
    if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-' && digits[1] != '+') {
      digits.remove_prefix(1);
    }
    double value = 0;
    const char* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec == std::errc::result_out_of_range && ptr == end) {
      throw parse_error(location(line_number, column) + ": " + quoted(token) +
                        " is out of range for a double");
    }
    if (ec != std::errc() || ptr != end) {
      throw parse_error(location(line_number, column) + ": " + quoted(token) + " is not a number");
    }
    return value;
  }

  std::string_view text_;
  std::string_view name_;
  std::vector<double> values_;
};

}  // namespace

array parse_text(std::string_view text, std::string_view name) {
  return text_parser(text, name).parse();
}

}  // namespace shannon::io
