// The memory-bandwidth floor of this machine: streaming read and read-modify-write
// over a float buffer, on all cores (OpenMP), vectorized for the best ISA of the
// CPU (GCC target_clones: AVX-512, AVX2 or SSE2). `unroll` is the number of
// independent 64-byte vectors each thread keeps in flight; the floor is reached
// when a larger unroll is no faster (shannon_bandwidth --sweep shows it).
#pragma once

#include <cstddef>
#include <memory>

namespace shannon_bench {

/// Unroll factors the stream kernels are compiled for.
inline constexpr int kUnrolls[] = {1, 2, 4, 8, 16};

/// Sums n floats, reading each once, on all threads; returns the sum (a checksum
/// that keeps the compiler from dropping the loads).
float stream_read(const float* p, std::size_t n, int unroll);

/// p[i] = -p[i] for n floats on all threads: reads and writes each byte once.
void stream_rmw(float* p, std::size_t n, int unroll);

/// dst[i] = -src[i]: reads src, writes dst (another buffer; counts the write allocate).
void stream_copy(const float* src, float* dst, std::size_t n, int unroll);

/// Frees what big_alloc returned.
struct free_deleter {
  void operator()(void* p) const;
};
template <class T>
using big_buffer = std::unique_ptr<T[], free_deleter>;

/// 2 MiB-aligned memory for `bytes` with transparent huge pages requested
/// (as NumPy does for large arrays), every page first touched by the thread
/// that later streams it (static OpenMP split), filled with zeros.
void* big_alloc_bytes(std::size_t bytes);

template <class T>
big_buffer<T> big_alloc(std::size_t n) {
  return big_buffer<T>(static_cast<T*>(big_alloc_bytes(n * sizeof(T))));
}

/// Wall-clock seconds of a monotonic clock.
double now_seconds();

}  // namespace shannon_bench
