// The byte histogram of byte_entropy. Not a Highway kernel: counting is a scatter of
// increments, which x86 vectors could only do with conflict detection, gathers and
// scatters (and gathers alone measured slower than scalar code on this CPU). Scalar
// increments run at about one store per cycle: 0.28 ns per byte on one Zen 4 core, for
// random bytes and for a constant run alike (docs/performance.md). Data of few distinct
// values is counted a pair of bytes per increment instead: 0.205 ns per byte on C++
// headers, half the time on a constant run, and no slower on 64 to 128 values in uniform
// random order; random bytes would take 0.309 (their pairs spread over the whole 256 KiB
// table), so each block of 1 MiB picks its way from a sample of its first 4 KiB. On the
// Intel host singles take 0.30 ns a byte on random bytes and pairs 0.47, and Intel cores
// lack Zen 4's fast repeated increment of one counter (see count_by_pairs).
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>

#include "kernels/kernels.h"

namespace shannon::kernels {
namespace {

// Eight tables: consecutive equal bytes increment different counters, so a run of one
// value does not serialize on a single store-to-load chain. 8 KiB of tables stay in L1.
constexpr std::size_t kTables = 8;
using tables = std::array<std::array<std::uint32_t, 256>, kTables>;
// Bytes per pass over the 32-bit counters, so that none can overflow.
constexpr std::size_t kPass = std::size_t{1} << 31;
// Each block of this many bytes is counted by singles or by pairs, as its first kSample
// bytes suggest: pairs where they hold at most kPairMaxDistinct distinct values and none
// fills half of them (count_by_pairs).
constexpr std::size_t kBlock = std::size_t{1} << 20;
constexpr std::size_t kSample = 4096;
constexpr int kPairMaxDistinct = 128;

// The hardware prefetcher alone leaves a core that counts waiting on memory: counting
// 4e8 bytes took 0.51 ns a byte on one core of the Intel host, 4e6 in cache 0.30.
void prefetch_line_ahead(const unsigned char* p) { __builtin_prefetch(p + kPrefetchAhead); }

void count_singles(const unsigned char* p, std::size_t n, tables& t) {
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    prefetch_line_ahead(p + i);
#pragma GCC unroll 64
    for (std::size_t k = 0; k < 64; ++k) ++t[k % kTables][p[i + k]];
  }
  for (; i < n; ++i) ++t[0][p[i]];
}

/// Counts the pairs (p[2i], p[2i + 1]) of n bytes, n a multiple of 8, in pairs[p[2i] +
/// 256 p[2i + 1]] (the 16 bits of the pair as a little-endian index).
void count_pairs(const unsigned char* p, std::size_t n, std::uint32_t* pairs) {
  for (std::size_t i = 0; i < n; i += 8) {
    if (i % 64 == 0) prefetch_line_ahead(p + i);
    std::uint64_t a = 0;
    std::memcpy(&a, p + i, 8);
    if constexpr (std::endian::native == std::endian::big) a = __builtin_bswap64(a);
    ++pairs[a & 0xFFFFU];
    ++pairs[(a >> 16U) & 0xFFFFU];
    ++pairs[(a >> 32U) & 0xFFFFU];
    ++pairs[a >> 48U];
  }
}

struct sample_stats {
  int distinct = 0;
  std::size_t most_frequent = 0;  // count of the most frequent value
};

sample_stats sample(const unsigned char* p, std::size_t n) {
  std::array<std::uint32_t, 256> counts{};
  for (std::size_t i = 0; i < n; ++i) ++counts[p[i]];
  sample_stats s;
  for (const std::uint32_t c : counts) {
    s.distinct += c != 0 ? 1 : 0;
    s.most_frequent = std::max<std::size_t>(s.most_frequent, c);
  }
  return s;
}

// Pairs where few distinct values occur and none fills half the sample. A dominant value
// sends most pairs to one counter, each increment waiting for the last one's store: on the
// Intel host, on 40 values with a share f of zeros, the CLI took 0.29, 0.43, 0.59 and 0.84
// ns a byte by pairs at f = 0.45, 0.6, 0.75 and 0.9, and 0.39, 0.41, 0.43 and 0.44 by
// singles; on a constant run, 0.95 by pairs and 0.40 by singles.
bool count_by_pairs(const unsigned char* p) {
  const sample_stats s = sample(p, kSample);
  return s.distinct <= kPairMaxDistinct && 2 * s.most_frequent <= kSample;
}

void count_pass(const unsigned char* p, std::size_t n, std::uint64_t* counts) {
  tables t{};
  std::unique_ptr<std::uint32_t[]> pairs;  // 256 KiB, made for the first block of pairs
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t length = n - begin < kBlock ? n - begin : kBlock;
    if (length == kBlock && count_by_pairs(p + begin)) {
      if (!pairs) pairs = std::make_unique<std::uint32_t[]>(256 * 256);
      count_pairs(p + begin, length, pairs.get());
    } else {
      count_singles(p + begin, length, t);
    }
  }
  for (std::size_t v = 0; v < 256; ++v) {
    std::uint64_t sum = 0;
    for (const auto& table : t) sum += table[v];
    counts[v] += sum;
  }
  if (pairs) {
    for (std::size_t i = 0; i < 256 * 256; ++i) {
      counts[i & 0xFFU] += pairs[i];
      counts[i >> 8U] += pairs[i];
    }
  }
}

}  // namespace

void byte_counts(const unsigned char* p, std::size_t n, std::uint64_t* counts) {
  for (std::size_t begin = 0; begin < n; begin += kPass) {
    count_pass(p + begin, n - begin < kPass ? n - begin : kPass, counts);
  }
}

}  // namespace shannon::kernels
