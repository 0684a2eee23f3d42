#include "stream.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

namespace shannon_bench {
namespace {

// A 64-byte vector of floats (GCC vector extension): one zmm register with AVX-512,
// two ymm with AVX2, four xmm otherwise.
using v16f = float __attribute__((vector_size(64)));
constexpr std::size_t kLanes = 16;

inline v16f load(const float* p) {
  v16f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, v16f v) { std::memcpy(p, &v, sizeof v); }

template <int U>
[[gnu::always_inline]] inline float read_u(const float* p, std::size_t n) {
  v16f acc[U] = {};
  constexpr std::size_t step = U * kLanes;
  std::size_t i = 0;
  for (; i + step <= n; i += step) {
    for (int u = 0; u < U; ++u) acc[u] += load(p + i + u * kLanes);
  }
  for (int u = 1; u < U; ++u) acc[0] += acc[u];
  float s = 0.0F;
  for (std::size_t l = 0; l < kLanes; ++l) s += acc[0][l];
  for (; i < n; ++i) s += p[i];
  return s;
}

template <int U>
[[gnu::always_inline]] inline void rmw_u(float* p, std::size_t n) {
  constexpr std::size_t step = U * kLanes;
  std::size_t i = 0;
  for (; i + step <= n; i += step) {
    v16f v[U];
    for (int u = 0; u < U; ++u) v[u] = load(p + i + u * kLanes);
    for (int u = 0; u < U; ++u) store(p + i + u * kLanes, -v[u]);
  }
  for (; i < n; ++i) p[i] = -p[i];
}

template <int U>
[[gnu::always_inline]] inline void copy_u(const float* src, float* dst, std::size_t n) {
  constexpr std::size_t step = U * kLanes;
  std::size_t i = 0;
  for (; i + step <= n; i += step) {
    v16f v[U];
    for (int u = 0; u < U; ++u) v[u] = load(src + i + u * kLanes);
    for (int u = 0; u < U; ++u) store(dst + i + u * kLanes, -v[u]);
  }
  for (; i < n; ++i) dst[i] = -src[i];
}

#define SHANNON_BENCH_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), noinline))

SHANNON_BENCH_CLONES float read_chunk(const float* p, std::size_t n, int unroll) {
  switch (unroll) {
    case 1:
      return read_u<1>(p, n);
    case 2:
      return read_u<2>(p, n);
    case 4:
      return read_u<4>(p, n);
    case 8:
      return read_u<8>(p, n);
    default:
      return read_u<16>(p, n);
  }
}

SHANNON_BENCH_CLONES void rmw_chunk(float* p, std::size_t n, int unroll) {
  switch (unroll) {
    case 1:
      return rmw_u<1>(p, n);
    case 2:
      return rmw_u<2>(p, n);
    case 4:
      return rmw_u<4>(p, n);
    case 8:
      return rmw_u<8>(p, n);
    default:
      return rmw_u<16>(p, n);
  }
}

SHANNON_BENCH_CLONES void copy_chunk(const float* src, float* dst, std::size_t n, int unroll) {
  switch (unroll) {
    case 1:
      return copy_u<1>(src, dst, n);
    case 2:
      return copy_u<2>(src, dst, n);
    case 4:
      return copy_u<4>(src, dst, n);
    case 8:
      return copy_u<8>(src, dst, n);
    default:
      return copy_u<16>(src, dst, n);
  }
}

/// [begin, end) of thread t of nt over n elements, split on 64-byte boundaries.
struct range {
  std::size_t begin, end;
};
range split(std::size_t n, int t, int nt) {
  const std::size_t per = (n / static_cast<std::size_t>(nt) + kLanes - 1) / kLanes * kLanes;
  const std::size_t b = std::min(n, per * static_cast<std::size_t>(t));
  return {b, t == nt - 1 ? n : std::min(n, b + per)};
}

constexpr std::size_t kHuge = std::size_t{2} << 20;

}  // namespace

float stream_read(const float* p, std::size_t n, int unroll) {
  float total = 0.0F;
#pragma omp parallel reduction(+ : total)
  {
    const range r = split(n, omp_get_thread_num(), omp_get_num_threads());
    total += read_chunk(p + r.begin, r.end - r.begin, unroll);
  }
  return total;
}

void stream_rmw(float* p, std::size_t n, int unroll) {
#pragma omp parallel
  {
    const range r = split(n, omp_get_thread_num(), omp_get_num_threads());
    rmw_chunk(p + r.begin, r.end - r.begin, unroll);
  }
}

void stream_copy(const float* src, float* dst, std::size_t n, int unroll) {
#pragma omp parallel
  {
    const range r = split(n, omp_get_thread_num(), omp_get_num_threads());
    copy_chunk(src + r.begin, dst + r.begin, r.end - r.begin, unroll);
  }
}

void free_deleter::operator()(void* p) const { std::free(p); }

void* big_alloc_bytes(std::size_t bytes) {
  const std::size_t rounded = std::max(kHuge, (bytes + kHuge - 1) / kHuge * kHuge);
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p == nullptr) throw std::bad_alloc();
  madvise(p, rounded, MADV_HUGEPAGE);  // advisory: ignored where THP is off
  auto* c = static_cast<char*>(p);
#pragma omp parallel
  {
    const int nt = omp_get_num_threads();
    const std::size_t per = (rounded / static_cast<std::size_t>(nt) + 4095) / 4096 * 4096;
    const std::size_t b = std::min(rounded, per * static_cast<std::size_t>(omp_get_thread_num()));
    const std::size_t e = std::min(rounded, b + per);
    if (b < e) std::memset(c + b, 0, e - b);
  }
  return p;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace shannon_bench
