// Arbitrary bytes as CSV text: a parse_error or a rectangular array, nothing else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shannon/error.h"
#include "shannon/io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto a = shannon::io::parse_text(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv");
    if (a.rows() * a.cols() != a.values.size()) __builtin_trap();
  } catch (const shannon::parse_error&) {
  }
  return 0;
}
