// Fixed chunking for reductions: chunk boundaries depend on the length only,
// so a result is the same for every number of threads.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstddef>

#include "kernels/kernels.h"

namespace shannon::detail {

inline constexpr std::size_t kMinChunk = std::size_t{1} << 15;
inline constexpr std::size_t kMaxChunks = 256;

/// Runs chunk(begin, count) over [0, n) in fixed chunks, on all cores, and merges in order.
template <class Chunk>
kernels::partial reduce_chunks(std::size_t n, Chunk&& chunk) {
  const std::size_t per_chunk =
      std::max(kMinChunk, ((n + kMaxChunks - 1) / kMaxChunks + 63) / 64 * 64);
  const std::size_t count = (n + per_chunk - 1) / per_chunk;
  if (count <= 1) return chunk(std::size_t{0}, n);
  std::array<kernels::partial, kMaxChunks> parts;
  const auto chunks = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t begin = static_cast<std::size_t>(c) * per_chunk;
    parts[c] = chunk(begin, std::min(n, begin + per_chunk) - begin);
  }
  kernels::partial total = parts[0];
  for (std::size_t c = 1; c < count; ++c) total.merge(parts[c]);
  return total;
}

/// Whether a row-wise call should spread rows over threads (short rows, enough work).
inline bool rows_in_parallel(std::size_t rows, std::size_t cols) {
  return rows > 1 && cols < kMinChunk && rows * cols >= kMinChunk && !omp_in_parallel();
}

}  // namespace shannon::detail
