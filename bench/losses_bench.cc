// The batched losses of shannon/losses.h, default options (PyTorch's), checked:
// cross_entropy_loss forward (loss only), fused forward+backward (gradient into
// a second buffer) and in place (gradient over the logits), kl_div_loss and
// binary_cross_entropy_with_logits forward and forward+backward. Shapes: a
// language-model vocabulary [4096, 32768], ImageNet-like [65536, 1000] and a
// few long rows [8, 262144]. bytes_per_second counts the logits (and targets)
// read plus the gradient written.
//
// bench/CMakeLists.txt defines SHANNON_BENCH_CE_LOSS, SHANNON_BENCH_KL_DIV_LOSS and
// SHANNON_BENCH_BCE_LOSS when the library's sources define these functions, so this
// file builds (empty) while the loss API is still being written.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "data.h"
#include "shannon/shannon.h"

namespace {

using namespace shannon_bench;

[[maybe_unused]] void set_bytes(benchmark::State& state, std::size_t bytes_per_call,
                                std::size_t elements) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_call));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * elements));
}

template <class T>
[[maybe_unused]] shannon::matrix_view<T> matrix(const big_buffer<T>& b, std::size_t rows,
                                                std::size_t cols) {
  return {std::span<const T>(b.get(), rows * cols), rows, cols};
}

// Arguments: rows, cols.
[[maybe_unused]] void shapes_f32(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols"});
  b->Args({4096, 32768})->Args({65536, 1000})->Args({8, 262144});
  b->Args({8388608, 10})->Args({1048576, 100});
  b->Args({2048, 1000});  // short rows in the L3 cache
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}
[[maybe_unused]] void shapes_f64(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols"});
  b->Args({65536, 1000})->Args({8, 262144});
  b->Args({8388608, 10})->Args({1048576, 100});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

#ifdef SHANNON_BENCH_CE_LOSS

template <class T>
void BM_ce_loss_forward(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  const auto x = logits<T>(rows * cols, 1);
  const auto t = class_targets(rows, cols, 2);
  const shannon::cross_entropy_options<T> opt;
  T loss = 0;
  for (auto _ : state) {
    shannon::cross_entropy_loss(matrix(x, rows, cols), std::span<const std::int64_t>(t.get(), rows),
                                opt, {std::span<T>(&loss, 1), {}, {}});
    benchmark::DoNotOptimize(loss);
  }
  set_bytes(state, rows * cols * sizeof(T) + rows * sizeof(std::int64_t), rows * cols);
}

template <class T>
void BM_ce_loss_forward_backward(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  const auto x = logits<T>(rows * cols, 1);
  const auto t = class_targets(rows, cols, 2);
  auto grad = big_alloc<T>(rows * cols);
  const shannon::cross_entropy_options<T> opt;
  T loss = 0;
  for (auto _ : state) {
    shannon::cross_entropy_loss(
        matrix(x, rows, cols), std::span<const std::int64_t>(t.get(), rows), opt,
        {std::span<T>(&loss, 1), std::span<T>(grad.get(), rows * cols), {}});
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2 * rows * cols * sizeof(T) + rows * sizeof(std::int64_t), rows * cols);
}

/// The gradient overwrites the logits: each iteration runs on the previous gradient,
/// finite values of the same shape, so the work is the same.
template <class T>
void BM_ce_loss_in_place(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  auto x = logits<T>(rows * cols, 1);
  const auto t = class_targets(rows, cols, 2);
  const shannon::cross_entropy_options<T> opt;
  T loss = 0;
  for (auto _ : state) {
    shannon::cross_entropy_loss_in_place(std::span<T>(x.get(), rows * cols), rows, cols,
                                         std::span<const std::int64_t>(t.get(), rows), opt,
                                         std::span<T>(&loss, 1));
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2 * rows * cols * sizeof(T) + rows * sizeof(std::int64_t), rows * cols);
}

BENCHMARK(BM_ce_loss_forward<float>)->Apply(shapes_f32);
BENCHMARK(BM_ce_loss_forward<double>)->Apply(shapes_f64);
BENCHMARK(BM_ce_loss_forward_backward<float>)->Apply(shapes_f32);
BENCHMARK(BM_ce_loss_forward_backward<double>)->Apply(shapes_f64);
BENCHMARK(BM_ce_loss_in_place<float>)->Apply(shapes_f32);
BENCHMARK(BM_ce_loss_in_place<double>)->Apply(shapes_f64);

#endif  // SHANNON_BENCH_CE_LOSS

#ifdef SHANNON_BENCH_KL_DIV_LOSS

/// kl_div_loss(input = log q, target = p), reduction mean; with_grad adds the gradient.
template <class T, bool with_grad>
void BM_kl_div_loss(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  const std::size_t n = rows * cols;
  const auto input = generate<T>(n, 1, [](double u) { return std::log(u); });
  const auto target = distributions<T>(rows, cols, 2);
  auto grad = big_alloc<T>(with_grad ? n : 0);
  const shannon::kl_div_options opt;
  T loss = 0;
  for (auto _ : state) {
    shannon::kl_div_loss(matrix(input, rows, cols), matrix(target, rows, cols), opt,
                         {std::span<T>(&loss, 1), std::span<T>(grad.get(), with_grad ? n : 0), {}});
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  set_bytes(state, (with_grad ? 3 : 2) * n * sizeof(T), n);
}

BENCHMARK(BM_kl_div_loss<float, false>)->Name("BM_kl_div_loss_forward<float>")->Apply(shapes_f32);
BENCHMARK(BM_kl_div_loss<double, false>)->Name("BM_kl_div_loss_forward<double>")->Apply(shapes_f64);
BENCHMARK(BM_kl_div_loss<float, true>)
    ->Name("BM_kl_div_loss_forward_backward<float>")
    ->Apply(shapes_f32);
BENCHMARK(BM_kl_div_loss<double, true>)
    ->Name("BM_kl_div_loss_forward_backward<double>")
    ->Apply(shapes_f64);

#endif  // SHANNON_BENCH_KL_DIV_LOSS

#ifdef SHANNON_BENCH_BCE_LOSS

/// binary_cross_entropy_with_logits with soft targets in (0, 1], reduction mean.
template <class T, bool with_grad>
void BM_bce_with_logits(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto cols = static_cast<std::size_t>(state.range(1));
  const std::size_t n = rows * cols;
  const auto x = logits<T>(n, 1);
  const auto y = generate<T>(n, 2, [](double u) { return u; });
  auto grad = big_alloc<T>(with_grad ? n : 0);
  const shannon::bce_options<T> opt;
  T loss = 0;
  for (auto _ : state) {
    shannon::binary_cross_entropy_with_logits(
        matrix(x, rows, cols), matrix(y, rows, cols), opt,
        {std::span<T>(&loss, 1), std::span<T>(grad.get(), with_grad ? n : 0), {}});
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  set_bytes(state, (with_grad ? 3 : 2) * n * sizeof(T), n);
}

BENCHMARK(BM_bce_with_logits<float, false>)
    ->Name("BM_bce_with_logits_forward<float>")
    ->Apply(shapes_f32);
BENCHMARK(BM_bce_with_logits<double, false>)
    ->Name("BM_bce_with_logits_forward<double>")
    ->Apply(shapes_f64);
BENCHMARK(BM_bce_with_logits<float, true>)
    ->Name("BM_bce_with_logits_forward_backward<float>")
    ->Apply(shapes_f32);
BENCHMARK(BM_bce_with_logits<double, true>)
    ->Name("BM_bce_with_logits_forward_backward<double>")
    ->Apply(shapes_f64);

#endif  // SHANNON_BENCH_BCE_LOSS

}  // namespace
