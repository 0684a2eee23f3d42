// Reading arrays from files, standard input and command-line arguments.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "shannon/error.h"
#include "shannon/io.h"

namespace shannon::io {
namespace {

constexpr std::string_view kNpyMagic{"\x93NUMPY", 6};
constexpr std::string_view kStdinName = "<stdin>";
constexpr std::string_view kArgumentName = "argument";

std::string system_message(int code) { return std::generic_category().message(code); }

/// All bytes of `file` up to end of file; `name` is used in error messages.
std::string read_all(std::FILE* file, std::string_view name) {
  std::string bytes;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) bytes.append(buffer, n);
  if (std::ferror(file)) {
    throw parse_error(std::string(name) + ": cannot read: " + system_message(errno));
  }
  return bytes;
}

std::string read_file(const std::string& path) {
  struct closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::unique_ptr<std::FILE, closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw parse_error(path + ": cannot open: " + system_message(errno));
  return read_all(file.get(), path);
}

bool ends_with_npy(std::string_view spec) {
  if (spec.size() < 4) return false;
  std::string suffix(spec.substr(spec.size() - 4));
  for (char& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return suffix == ".npy";
}

/// Whether `spec` can only be meant as numbers: digits, signs, '.', exponents,
/// separators and the words nan and inf.
bool looks_like_inline_list(std::string_view spec) {
  bool has_digit = false;
  bool has_exponent = false;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    const auto c = static_cast<unsigned char>(spec[i]);
    const auto word_at = [&](std::string_view word) {
      if (spec.size() - i < word.size()) return false;
      for (std::size_t k = 0; k < word.size(); ++k) {
        if (std::tolower(static_cast<unsigned char>(spec[i + k])) != word[k]) return false;
      }
      return true;
    };
    if (std::isdigit(c)) {
      has_digit = true;
    } else if (c == 'e' || c == 'E') {
      has_exponent = true;
    } else if (word_at("nan") || word_at("inf")) {
      has_digit = true;
      i += 2;
    } else if (std::string_view("+-., ;\t\r\n").find(static_cast<char>(c)) ==
               std::string_view::npos) {
      return false;
    }
  }
  return has_digit || !has_exponent;
}

}  // namespace

array read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

array read_text(const std::string& path) { return parse_text(read_file(path), path); }

array read_array(const std::string& spec) {
  if (spec == "-") {
    const std::string bytes = read_all(stdin, kStdinName);
    if (bytes.starts_with(kNpyMagic)) return parse_npy(bytes, kStdinName);
    return parse_text(bytes, kStdinName);
  }
  if (ends_with_npy(spec)) return read_npy(spec);
  std::error_code ec;
  if (std::filesystem::exists(spec, ec)) {
    // A .npy file under another name is still recognised by its magic.
    const std::string bytes = read_file(spec);
    if (bytes.starts_with(kNpyMagic)) return parse_npy(bytes, spec);
    return parse_text(bytes, spec);
  }
  if (looks_like_inline_list(spec)) return parse_text(spec, kArgumentName);
  // Worded as read_file words a missing .npy, and says why it was not read as numbers.
  throw parse_error(spec +
                    ": cannot open: No such file or directory (nor is it a list of numbers)");
}

}  // namespace shannon::io
