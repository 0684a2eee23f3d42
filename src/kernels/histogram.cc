// The byte histogram of byte_entropy. Not a Highway kernel: counting is a scatter of
// increments, which x86 vectors could only do with conflict detection, gathers and
// scatters (and gathers alone measured slower than scalar code on this CPU). Scalar
// increments run at the core's one store per cycle: 0.274 ns per byte on Zen 4, the same
// for random bytes and for a constant run (docs/performance.md).
#include <array>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"

namespace shannon::kernels {
namespace {

// Eight tables: consecutive equal bytes increment different counters, so a run of one
// value does not serialize on a single store-to-load chain. 8 KiB of tables stay in L1.
constexpr std::size_t kTables = 8;
// Bytes per pass over the 32-bit tables, so that no counter can overflow.
constexpr std::size_t kPass = std::size_t{1} << 31;

void count_pass(const unsigned char* p, std::size_t n, std::uint64_t* counts) {
  std::array<std::array<std::uint32_t, 256>, kTables> t{};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, p + i, 8);
    std::memcpy(&b, p + i + 8, 8);
    for (std::size_t k = 0; k < 8; ++k) ++t[k][(a >> (8 * k)) & 0xFFU];
    for (std::size_t k = 0; k < 8; ++k) ++t[k][(b >> (8 * k)) & 0xFFU];
  }
  for (; i < n; ++i) ++t[0][p[i]];
  for (std::size_t v = 0; v < 256; ++v) {
    std::uint64_t sum = 0;
    for (const auto& table : t) sum += table[v];
    counts[v] += sum;
  }
}

}  // namespace

void byte_counts(const unsigned char* p, std::size_t n, std::uint64_t* counts) {
  for (std::size_t begin = 0; begin < n; begin += kPass) {
    count_pass(p + begin, n - begin < kPass ? n - begin : kPass, counts);
  }
}

}  // namespace shannon::kernels
