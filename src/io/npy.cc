// The NumPy .npy format, versions 1.0 to 3.0:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
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

constexpr std::string_view kMagic{"\x93NUMPY", 6};
constexpr std::size_t kPreludeV1 = 10;  // magic, version, uint16 header length
constexpr std::size_t kPreludeV2 = 12;  // magic, version, uint32 header length
constexpr std::size_t kAlign = 64;
// numpy leaves room for the first axis to grow to this many digits in place.
constexpr std::size_t kGrowthAxisMaxDigits = 21;

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + (shape.size() == 1 ? ",)" : ")");
}

/// Product of `dims`, or nullopt if it does not fit in size_t.
std::optional<std::size_t> checked_product(const std::vector<std::uint64_t>& dims,
                                           std::size_t factor = 1) {
  std::size_t total = factor;
  for (const std::uint64_t d : dims) {
    if (d > std::numeric_limits<std::size_t>::max()) return std::nullopt;
    if (__builtin_mul_overflow(total, static_cast<std::size_t>(d), &total)) return std::nullopt;
  }
  return total;
}

struct npy_header {
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<std::uint64_t>> shape;
};

/// A strict parser for the Python dict literal numpy writes as the header.
class header_parser {
 public:
  header_parser(std::string_view text, std::string_view name, std::size_t file_offset)
      : text_(text), name_(name), file_offset_(file_offset) {}

  npy_header parse() {
    npy_header h;
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (consume('}')) break;
      const std::size_t key_pos = pos_;
      const std::string key = parse_string("a quoted key or '}'");
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (h.descr) fail("duplicate key 'descr'", key_pos);
        if (peek() == '[') {
          throw parse_error(std::string(name_) + ": structured dtypes are not supported");
        }
        h.descr = parse_string("a quoted dtype such as '<f8'");
      } else if (key == "fortran_order") {
        if (h.fortran_order) fail("duplicate key 'fortran_order'", key_pos);
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (h.shape) fail("duplicate key 'shape'", key_pos);
        h.shape = parse_shape();
      } else {
        fail("unexpected key " + quoted(key), key_pos);
      }
      skip_space();
      if (consume(',')) continue;
      expect('}');
      break;
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
    const auto missing = [&](const char* key) {
      return parse_error(std::string(name_) + ": header has no '" + key + "' key");
    };
    if (!h.descr) throw missing("descr");
    if (!h.fortran_order) throw missing("fortran_order");
    if (!h.shape) throw missing("shape");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { fail(problem, pos_); }

  [[noreturn]] void fail(const std::string& problem, std::size_t pos) const {
    throw parse_error(std::string(name_) + ": malformed header at byte " +
                      std::to_string(file_offset_ + pos) + ": " + problem);
  }

  [[nodiscard]] char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }

  std::string parse_string(std::string_view expected) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected " + std::string(expected));
    ++pos_;
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\n') break;
      if (text_[pos_] == '\\') fail("escape sequences are not supported");
      ++pos_;
    }
    if (pos_ == text_.size() || text_[pos_] != quote) fail("unterminated string");
    return std::string(text_.substr(start, pos_++ - start));
  }

  bool parse_bool() {
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    fail("expected True or False");
  }

  std::vector<std::uint64_t> parse_shape() {
    expect('(');
    skip_space();
    std::vector<std::uint64_t> dims;
    if (consume(')')) return dims;
    while (true) {
      dims.push_back(parse_dimension());
      skip_space();
      if (consume(',')) {
        skip_space();
        if (consume(')')) return dims;
        continue;
      }
      expect(')');
      if (dims.size() == 1) fail("a 1-element shape needs a trailing comma, as in (5,)");
      return dims;
    }
  }

  std::uint64_t parse_dimension() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    if (pos_ == start) fail("expected a non-negative integer in the shape");
    const std::string_view digits = text_.substr(start, pos_ - start);
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc()) {
      throw parse_error(std::string(name_) + ": shape dimension " + quoted(digits) +
                        " is too large");
    }
    consume('L');  // Python 2 numpy wrote longs as 3L.
    return value;
  }

  std::string_view text_;
  std::string_view name_;
  std::size_t file_offset_;
  std::size_t pos_ = 0;
};

struct element_type {
  char kind;  // 'f' or 'i'
  std::size_t size;
  bool swap;  // file byte order differs from the host's
  const char* name;
};

std::optional<element_type> parse_descr(std::string_view descr) {
  std::endian order = std::endian::native;
  if (!descr.empty() &&
      (descr[0] == '<' || descr[0] == '>' || descr[0] == '=' || descr[0] == '|')) {
    if (descr[0] == '<') order = std::endian::little;
    if (descr[0] == '>') order = std::endian::big;
    descr.remove_prefix(1);
  }
  const bool swap = order != std::endian::native;
  if (descr == "f4") return element_type{'f', 4, swap, "float32"};
  if (descr == "f8") return element_type{'f', 8, swap, "float64"};
  if (descr == "i4") return element_type{'i', 4, swap, "int32"};
  if (descr == "i8") return element_type{'i', 8, swap, "int64"};
  return std::nullopt;
}

template <typename T>
T load(const char* p, bool swap) {
  T raw;
  std::memcpy(&raw, p, sizeof raw);
  if (!swap) return raw;
  if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(raw);
  } else {
    return __builtin_bswap64(raw);
  }
}

template <typename T>
void store(std::string& out, T raw) {
  if constexpr (std::endian::native == std::endian::big && sizeof(T) == 4) {
    raw = __builtin_bswap32(raw);
  } else if constexpr (std::endian::native == std::endian::big) {
    raw = __builtin_bswap64(raw);
  }
  char bytes[sizeof raw];
  std::memcpy(bytes, &raw, sizeof raw);
  out.append(bytes, sizeof raw);
}

template <typename Bits, typename Value>
void decode_as(std::string_view data, bool swap, std::vector<double>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] =
        static_cast<double>(std::bit_cast<Value>(load<Bits>(data.data() + i * sizeof(Bits), swap)));
  }
}

void decode(std::string_view data, const element_type& t, std::vector<double>& values) {
  if (t.kind == 'f' && t.size == 4) {
    decode_as<std::uint32_t, float>(data, t.swap, values);
  } else if (t.kind == 'f') {
    decode_as<std::uint64_t, double>(data, t.swap, values);
  } else if (t.size == 4) {
    decode_as<std::uint32_t, std::int32_t>(data, t.swap, values);
  } else {
    decode_as<std::uint64_t, std::int64_t>(data, t.swap, values);
  }
}

/// The version 1.0 header numpy itself writes for this array, padding included.
std::string make_header(const char* descr, const std::vector<std::size_t>& shape) {
  std::vector<std::uint64_t> dims(shape.begin(), shape.end());
  std::string dict = std::string("{'descr': '") + descr +
                     "', 'fortran_order': False, 'shape': " + shape_text(dims) + ", }";
  const std::size_t digits = std::to_string(shape[0]).size();
  if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  const std::size_t unpadded = kPreludeV1 + dict.size() + 1;
  dict.append((kAlign - unpadded % kAlign) % kAlign, ' ');
  dict += '\n';
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

std::string system_message() { return std::generic_category().message(errno); }

void check_shape(const std::vector<std::size_t>& shape, std::size_t count) {
  if (shape.size() != 1 && shape.size() != 2) {
    throw shape_mismatch("write_npy: shape has " + std::to_string(shape.size()) +
                         " dimensions; expected 1 or 2");
  }
  const std::vector<std::uint64_t> dims(shape.begin(), shape.end());
  const auto expected = checked_product(dims);
  if (!expected || *expected != count) {
    throw shape_mismatch("write_npy: shape " + shape_text(dims) + " does not hold " +
                         std::to_string(count) + " values");
  }
}

/// Writes `header` and then the values encoded by `encode`, in bounded chunks.
template <typename Encode>
void write_file(const std::string& path, const std::string& header, std::size_t count,
                Encode encode) {
  struct closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, closer> file(std::fopen(path.c_str(), "wb"));
  if (!file) throw parse_error(path + ": cannot open for writing: " + system_message());
  const auto put = [&](const std::string& bytes) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size()) {
      throw parse_error(path + ": cannot write: " + system_message());
    }
  };
  put(header);
  constexpr std::size_t kChunk = 8192;
  std::string buffer;
  for (std::size_t i = 0; i < count;) {
    buffer.clear();
    for (const std::size_t end = std::min(count, i + kChunk); i < end; ++i) encode(buffer, i);
    put(buffer);
  }
  if (std::fclose(file.release()) != 0) {
    throw parse_error(path + ": cannot write: " + system_message());
  }
}

}  // namespace

array parse_npy(std::string_view bytes, std::string_view name) {
  const std::string file(name);
  if (!bytes.starts_with(kMagic)) {
    if (kMagic.starts_with(bytes)) {
      throw parse_error(file + ": truncated: only " + std::to_string(bytes.size()) +
                        " bytes, too short for a .npy file");
    }
    throw parse_error(file + ": not a .npy file (it does not start with \\x93NUMPY)");
  }
  if (bytes.size() < kPreludeV1) {
    throw parse_error(file + ": truncated: only " + std::to_string(bytes.size()) +
                      " bytes, too short for a .npy file");
  }
  const auto major = static_cast<unsigned char>(bytes[6]);
  const auto minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    throw parse_error(file + ": unsupported .npy format version " + std::to_string(major) + "." +
                      std::to_string(minor) + " (expected 1.0, 2.0 or 3.0)");
  }
  const std::size_t prelude = major == 1 ? kPreludeV1 : kPreludeV2;
  if (bytes.size() < prelude) {
    throw parse_error(file + ": truncated: only " + std::to_string(bytes.size()) +
                      " bytes, too short for a .npy file");
  }
  std::size_t header_size = 0;
  for (std::size_t i = prelude; i-- > 8;) {
    header_size = header_size << 8 | static_cast<unsigned char>(bytes[i]);
  }
  if (header_size > bytes.size() - prelude) {
    throw parse_error(file + ": truncated: header length is " + std::to_string(header_size) +
                      " bytes but only " + std::to_string(bytes.size() - prelude) + " follow");
  }
  const npy_header h = header_parser(bytes.substr(prelude, header_size), name, prelude).parse();

  const auto type = parse_descr(*h.descr);
  if (!type) {
    throw parse_error(file + ": unsupported dtype " + quoted(*h.descr) +
                      " (expected float32 or float64, int32 or int64)");
  }
  if (*h.fortran_order) throw parse_error(file + ": Fortran order is not supported");
  const std::vector<std::uint64_t>& dims = *h.shape;
  if (dims.size() > 2) {
    throw parse_error(file + ": " + std::to_string(dims.size()) + "-D arrays are not supported");
  }
  const auto count = checked_product(dims);
  const auto data_size = checked_product(dims, type->size);
  if (!count || !data_size) {
    throw parse_error(file + ": shape " + shape_text(dims) + " is too large");
  }
  const std::string_view data = bytes.substr(prelude + header_size);
  if (*data_size > data.size()) {
    throw parse_error(file + ": truncated: header says " + std::to_string(*count) + " " +
                      type->name + " values (" + std::to_string(*data_size) + " bytes) but only " +
                      std::to_string(data.size()) + " bytes follow");
  }
  if (*data_size < data.size()) {
    throw parse_error(file + ": " + std::to_string(data.size() - *data_size) +
                      " unexpected bytes after the " + std::to_string(*count) + " " + type->name +
                      " values");
  }

  array result;
  // A 0-d array holds one value; it is read as a 1-D array of length 1.
  result.shape = dims.empty() ? std::vector<std::size_t>{1}
                              : std::vector<std::size_t>(dims.begin(), dims.end());
  result.source = type->kind == 'i' ? dtype::int64
                  : type->size == 4 ? dtype::float32
                                    : dtype::float64;
  result.values.resize(*count);
  decode(data, *type, result.values);
  return result;
}

void write_npy(const std::string& path, const std::vector<double>& values,
               const std::vector<std::size_t>& shape, dtype type) {
  check_shape(shape, values.size());
  switch (type) {
    case dtype::float32:
      write_file(path, make_header("<f4", shape), values.size(),
                 [&](std::string& out, std::size_t i) {
                   store(out, std::bit_cast<std::uint32_t>(static_cast<float>(values[i])));
                 });
      return;
    case dtype::float64:
      write_file(path, make_header("<f8", shape), values.size(),
                 [&](std::string& out, std::size_t i) {
                   store(out, std::bit_cast<std::uint64_t>(values[i]));
                 });
      return;
    case dtype::int64:
      for (std::size_t i = 0; i < values.size(); ++i) {
        // 2^63 is exact as a double; NaN fails both comparisons.
        if (!(values[i] >= -0x1p63 && values[i] < 0x1p63) || std::trunc(values[i]) != values[i]) {
          char text[32];
          const auto end = std::to_chars(text, text + sizeof text, values[i]).ptr;
          throw invalid_option("write_npy: values[" + std::to_string(i) + "] = " +
                               std::string(text, end) + " is not an integer in the int64 range");
        }
      }
      write_file(path, make_header("<i8", shape), values.size(),
                 [&](std::string& out, std::size_t i) {
                   store(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(values[i])));
                 });
      return;
  }
}

void write_npy(const std::string& path, const std::vector<float>& values,
               const std::vector<std::size_t>& shape) {
  check_shape(shape, values.size());
  write_file(path, make_header("<f4", shape), values.size(), [&](std::string& out, std::size_t i) {
    store(out, std::bit_cast<std::uint32_t>(values[i]));
  });
}

}  // namespace shannon::io
