// Arbitrary bytes as a .npy file: a parse_error or an array, nothing else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shannon/error.h"
#include "shannon/io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto a = shannon::io::parse_npy(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy");
    std::size_t count = 1;
    for (const std::size_t extent : a.shape) count *= extent;
    if (count != a.values.size()) __builtin_trap();
  } catch (const shannon::parse_error&) {
  }
  return 0;
}
