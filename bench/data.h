// Inputs of the benchmarks: deterministic, generated in parallel into big_alloc
// buffers (huge pages, first touch spread over the threads), never timed.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "stream.h"

namespace shannon_bench {

inline std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// A uniform double in (0, 1] from index i of stream `seed`.
inline double uniform(std::uint64_t seed, std::size_t i) {
  return (static_cast<double>(mix(seed * 0x100000001B3ULL ^ i) >> 11) + 1.0) * 0x1p-53;
}

/// rows probability vectors of `cols` values each (rows = 1: one vector), uniform then
/// divided by the row's sum: valid inputs of the measures in checked mode.
template <class T>
big_buffer<T> distributions(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  const std::size_t n = rows * cols;
  auto p = big_alloc<T>(n);
  if (rows == 1) {
    double sum = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) {
      const double u = uniform(seed, static_cast<std::size_t>(i));
      p[i] = static_cast<T>(u);
      sum += u;
    }
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) {
      p[i] = static_cast<T>(uniform(seed, static_cast<std::size_t>(i)) / sum);
    }
    return p;
  }
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t r = 0; r < static_cast<std::ptrdiff_t>(rows); ++r) {
    T* row = p.get() + static_cast<std::size_t>(r) * cols;
    const std::size_t base = static_cast<std::size_t>(r) * cols;
    double sum = 0.0;
    for (std::size_t j = 0; j < cols; ++j) sum += uniform(seed, base + j);
    for (std::size_t j = 0; j < cols; ++j) row[j] = static_cast<T>(uniform(seed, base + j) / sum);
  }
  return p;
}

/// n values of `fn(u)` for u uniform in (0, 1].
template <class T, class Fn>
big_buffer<T> generate(std::size_t n, std::uint64_t seed, Fn fn) {
  auto x = big_alloc<T>(n);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) {
    x[i] = static_cast<T>(fn(uniform(seed, static_cast<std::size_t>(i))));
  }
  return x;
}

/// Logits, roughly normal with standard deviation `scale` (sum of four uniforms).
template <class T>
big_buffer<T> logits(std::size_t n, std::uint64_t seed, double scale = 2.0) {
  auto x = big_alloc<T>(n);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) {
    const auto k = static_cast<std::size_t>(i) * 4;
    const double s =
        uniform(seed, k) + uniform(seed, k + 1) + uniform(seed, k + 2) + uniform(seed, k + 3) - 2.0;
    x[i] = static_cast<T>(s * std::sqrt(3.0) * scale);
  }
  return x;
}

/// n class indices uniform in [0, classes).
inline big_buffer<std::int64_t> class_targets(std::size_t n, std::size_t classes,
                                              std::uint64_t seed) {
  auto t = big_alloc<std::int64_t>(n);
  for (std::size_t i = 0; i < n; ++i) {
    t[i] = static_cast<std::int64_t>(mix(seed ^ (i * 0x2545F4914F6CDD1DULL)) % classes);
  }
  return t;
}

}  // namespace shannon_bench
