// One benchmark per public measure and dtype, in checked mode (the default),
// base 2: 1-D vectors from 1e3 elements (L1) to 1e8 float / 5e7 double (400 MB
// per array, far beyond L3), and row-wise calls on short rows. bytes_per_second
// counts every input byte read and output byte written once.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "data.h"
#include "shannon/shannon.h"

namespace {

using namespace shannon_bench;

template <class T>
std::span<const T> view(const big_buffer<T>& b, std::size_t n) {
  return {b.get(), n};
}

void set_bytes(benchmark::State& state, std::size_t bytes_per_call, std::size_t elements) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_call));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * elements));
}

// ---- 1-D -------------------------------------------------------------------------

void BM_information_scalar(benchmark::State& state) {
  double p = 0.3;
  for (auto _ : state) {
    benchmark::DoNotOptimize(p);
    benchmark::DoNotOptimize(shannon::information(p));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <class T>
void BM_information(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto p = distributions<T>(1, n, 1);
  auto out = big_alloc<T>(n);
  for (auto _ : state) {
    shannon::information(view(p, n), std::span<T>(out.get(), n));
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2 * n * sizeof(T), n);
}

template <class T>
void BM_entropy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto p = distributions<T>(1, n, 1);
  for (auto _ : state) benchmark::DoNotOptimize(shannon::entropy(view(p, n)));
  set_bytes(state, n * sizeof(T), n);
}

template <class T>
void BM_cross_entropy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto p = distributions<T>(1, n, 1);
  const auto q = distributions<T>(1, n, 2);
  for (auto _ : state) benchmark::DoNotOptimize(shannon::cross_entropy(view(p, n), view(q, n)));
  set_bytes(state, 2 * n * sizeof(T), n);
}

template <class T>
void BM_kl_divergence(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto p = distributions<T>(1, n, 1);
  const auto q = distributions<T>(1, n, 2);
  for (auto _ : state) benchmark::DoNotOptimize(shannon::kl_divergence(view(p, n), view(q, n)));
  set_bytes(state, 2 * n * sizeof(T), n);
}

/// The seed's one-hot loss -log q[class]: validates (sums) all of q.
template <class T>
void BM_cross_entropy_loss_one_hot(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto q = distributions<T>(1, n, 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(shannon::cross_entropy_loss(view(q, n), n / 2));
  }
  set_bytes(state, n * sizeof(T), n);
}

// ---- row-wise --------------------------------------------------------------------

template <class T>
shannon::matrix_view<T> matrix(const big_buffer<T>& b, std::size_t rows, std::size_t cols) {
  return {std::span<const T>(b.get(), rows * cols), rows, cols};
}

template <class T>
void BM_entropy_rows(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  const auto p = distributions<T>(rows, cols, 1);
  auto out = big_alloc<T>(rows);
  for (auto _ : state) {
    shannon::entropy(matrix(p, rows, cols), std::span<T>(out.get(), rows));
    benchmark::ClobberMemory();
  }
  set_bytes(state, (rows * cols + rows) * sizeof(T), rows * cols);
}

template <class T>
void BM_cross_entropy_rows(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  const auto p = distributions<T>(rows, cols, 1);
  const auto q = distributions<T>(rows, cols, 2);
  auto out = big_alloc<T>(rows);
  for (auto _ : state) {
    shannon::cross_entropy(matrix(p, rows, cols), matrix(q, rows, cols),
                           std::span<T>(out.get(), rows));
    benchmark::ClobberMemory();
  }
  set_bytes(state, (2 * rows * cols + rows) * sizeof(T), rows * cols);
}

template <class T>
void BM_kl_divergence_rows(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  const auto p = distributions<T>(rows, cols, 1);
  const auto q = distributions<T>(rows, cols, 2);
  auto out = big_alloc<T>(rows);
  for (auto _ : state) {
    shannon::kl_divergence(matrix(p, rows, cols), matrix(q, rows, cols),
                           std::span<T>(out.get(), rows));
    benchmark::ClobberMemory();
  }
  set_bytes(state, (2 * rows * cols + rows) * sizeof(T), rows * cols);
}

// Byte entropy of random bytes (arg 0) or of a constant run (arg 1): the histogram's
// best and worst case for its tables are both covered.
void BM_byte_entropy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto data = big_alloc<std::byte>(n);
  for (std::size_t i = 0; i < n; ++i) {
    data.get()[i] = static_cast<std::byte>(state.range(1) == 0 ? mix(i) : 0x41);
  }
  const std::span<const std::byte> bytes(data.get(), n);
  for (auto _ : state) benchmark::DoNotOptimize(shannon::byte_entropy(bytes));
  set_bytes(state, n, n);
}

// ---- sizes -----------------------------------------------------------------------

// 4 KB / 400 KB (L2) / 4 MB (L3) / 40 MB / 400 MB per float array; the double sizes
// stop at 5e7 (400 MB), the size of compare.py.
void sizes_f32(benchmark::internal::Benchmark* b) {
  b->ArgName("n");
  for (const std::int64_t n : {1000, 100000, 1000000, 10000000, 100000000}) b->Arg(n);
  b->UseRealTime();
}
void sizes_f64(benchmark::internal::Benchmark* b) {
  b->ArgName("n");
  for (const std::int64_t n : {1000, 100000, 1000000, 10000000, 50000000}) b->Arg(n);
  b->UseRealTime();
}
// 1e7 values in rows of 10, 100 and 1000.
void row_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols"});
  b->Args({1000000, 10})->Args({100000, 100})->Args({10000, 1000});
  b->UseRealTime();
}

BENCHMARK(BM_information_scalar);
BENCHMARK(BM_information<float>)->Apply(sizes_f32);
BENCHMARK(BM_information<double>)->Apply(sizes_f64);
BENCHMARK(BM_entropy<float>)->Apply(sizes_f32);
BENCHMARK(BM_entropy<double>)->Apply(sizes_f64);
BENCHMARK(BM_cross_entropy<float>)->Apply(sizes_f32);
BENCHMARK(BM_cross_entropy<double>)->Apply(sizes_f64);
BENCHMARK(BM_kl_divergence<float>)->Apply(sizes_f32);
BENCHMARK(BM_kl_divergence<double>)->Apply(sizes_f64);
BENCHMARK(BM_cross_entropy_loss_one_hot<float>)->Apply(sizes_f32);
BENCHMARK(BM_cross_entropy_loss_one_hot<double>)->Apply(sizes_f64);
BENCHMARK(BM_byte_entropy)
    ->ArgNames({"n", "constant"})
    ->ArgsProduct({{1000, 100000, 4000000, 400000000}, {0, 1}})
    ->UseRealTime();
BENCHMARK(BM_entropy_rows<float>)->Apply(row_shapes);
BENCHMARK(BM_entropy_rows<double>)->Apply(row_shapes);
BENCHMARK(BM_cross_entropy_rows<float>)->Apply(row_shapes);
BENCHMARK(BM_cross_entropy_rows<double>)->Apply(row_shapes);
BENCHMARK(BM_kl_divergence_rows<float>)->Apply(row_shapes);
BENCHMARK(BM_kl_divergence_rows<double>)->Apply(row_shapes);

}  // namespace
