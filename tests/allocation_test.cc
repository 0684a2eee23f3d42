// The measures and the cross-entropy loss allocate nothing proportional to their input
// (issue 5): every operator new of this program is counted around each call.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <span>
#include <vector>

#include "exact.h"
#include "shannon/shannon.h"

namespace {

std::atomic<std::size_t> allocated_bytes{0};
std::atomic<std::size_t> largest_allocation{0};

void count(std::size_t size) {
  allocated_bytes.fetch_add(size, std::memory_order_relaxed);
  std::size_t seen = largest_allocation.load(std::memory_order_relaxed);
  while (size > seen && !largest_allocation.compare_exchange_weak(seen, size)) {
  }
}

}  // namespace

// The array and nothrow forms of libstdc++ call these two.
void* operator new(std::size_t size) {
  count(size);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align) {
  count(size);
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (std::max<std::size_t>(size, 1) + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t /*align*/) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/, std::align_val_t /*align*/) noexcept {
  std::free(p);
}

namespace shannon {
namespace {

// Per-thread scratch of the short rows (2048 doubles, twice for KL) and the like, whatever
// the input's size; the inputs below are 8 MiB (float) and 16 MiB (double) per array.
constexpr std::size_t kAllowedBytes = std::size_t{256} << 10;
constexpr std::size_t kElements = std::size_t{1} << 21;

struct allocation {
  std::size_t total;
  std::size_t largest;
};

template <class F>
allocation allocated_by(F&& call) {
  allocated_bytes = 0;
  largest_allocation = 0;
  call();
  return {allocated_bytes.load(), largest_allocation.load()};
}

template <class T>
class allocations : public ::testing::Test {};
using real_types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(allocations, real_types);

TYPED_TEST(allocations, measures_allocate_nothing_proportional_to_the_input) {
  using T = TypeParam;
  std::mt19937_64 rng(1);
  const auto p = test::random_distribution<T>(kElements, rng);
  const auto q = test::random_distribution<T>(kElements, rng);
  const std::span<const T> ps(p);
  const std::span<const T> qs(q);
  const std::vector<allocation> calls = {
      allocated_by([&] { (void)entropy(ps); }),
      allocated_by([&] { (void)cross_entropy(ps, qs); }),
      allocated_by([&] { (void)kl_divergence(ps, qs); }),
      allocated_by([&] { (void)entropy(ps, {.normalize = true}); }),
      allocated_by([&] { (void)kl_divergence(ps, qs, {.base = nats, .normalize = true}); }),
  };
  for (const allocation& a : calls) EXPECT_LE(a.total, kAllowedBytes);
}

TYPED_TEST(allocations, row_wise_measures_allocate_only_their_results) {
  using T = TypeParam;
  std::mt19937_64 rng(3);
  const auto p = test::random_distribution<T>(kElements, rng);
  const auto q = test::random_distribution<T>(kElements, rng);
  // Short rows (summed per tile) and long rows (the vector kernels, row by row).
  for (const std::size_t cols : {std::size_t{8}, std::size_t{100}, std::size_t{4096}}) {
    SCOPED_TRACE(cols);
    const std::size_t rows = kElements / cols;
    const matrix_view<T> pm(std::span<const T>(p).first(rows * cols), rows, cols);
    const matrix_view<T> qm(std::span<const T>(q).first(rows * cols), rows, cols);
    std::vector<T> out(rows);
    const std::span<T> os(out);
    // The rows are not distributions on their own: unchecked, as the caller promises.
    const options opt{.unchecked = true};
    EXPECT_LE(allocated_by([&] { entropy(pm, os, opt); }).total, kAllowedBytes);
    EXPECT_LE(allocated_by([&] { cross_entropy(pm, qm, os, opt); }).total, kAllowedBytes);
    EXPECT_LE(allocated_by([&] { kl_divergence(pm, qm, os, opt); }).total, kAllowedBytes);
    // The overload that returns its results allocates them, and little more.
    EXPECT_LE(allocated_by([&] { (void)entropy(pm, opt); }).total,
              rows * sizeof(T) + kAllowedBytes);
  }
}

TYPED_TEST(allocations, information_into_a_buffer_allocates_nothing_proportional) {
  using T = TypeParam;
  std::mt19937_64 rng(5);
  const auto p = test::random_distribution<T>(kElements, rng);
  std::vector<T> out(kElements);
  EXPECT_LE(allocated_by([&] { information(std::span<const T>(p), std::span<T>(out)); }).total,
            kAllowedBytes);
}

TEST(allocations, byte_entropy_allocates_nothing_proportional_to_the_data) {
  std::vector<std::byte> data(std::size_t{16} << 20);
  std::mt19937_64 rng(6);
  for (std::byte& b : data) b = std::byte(rng() & 0xFFU);
  // Per-thread histograms, and the 256 KiB table of pairs where a block counts by pairs.
  const allocation a = allocated_by([&] { (void)byte_entropy(data); });
  EXPECT_LE(a.total, kAllowedBytes + 4 * (std::size_t{256} << 10));
}

TYPED_TEST(allocations, cross_entropy_loss_allocates_nothing_proportional_to_the_logits) {
  using T = TypeParam;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 2.0);
  // Short rows, and rows long enough to be split into slices across the threads.
  for (const auto& [rows, cols] : {std::pair<std::size_t, std::size_t>{2048, 1000},
                                   std::pair<std::size_t, std::size_t>{4, 1 << 19}}) {
    SCOPED_TRACE(cols);
    std::vector<T> x(rows * cols);
    for (T& v : x) v = T(normal(rng));
    std::vector<std::int64_t> target(rows);
    for (auto& t : target) t = static_cast<std::int64_t>(rng() % cols);
    std::vector<T> grad(x.size());
    T loss = 0;
    const matrix_view<T> logits(std::span<const T>(x), rows, cols);
    const cross_entropy_options<T> opt;
    EXPECT_LE(allocated_by([&] {
                cross_entropy_loss(logits, target, opt, {std::span<T>(&loss, 1), {}, {}});
              }).total,
              kAllowedBytes);
    EXPECT_LE(
        allocated_by([&] {
          cross_entropy_loss(logits, target, opt, {std::span<T>(&loss, 1), std::span<T>(grad), {}});
        }).total,
        kAllowedBytes);
    EXPECT_LE(allocated_by([&] {
                cross_entropy_loss_in_place(std::span<T>(x), rows, cols, target, opt,
                                            std::span<T>(&loss, 1));
              }).total,
              kAllowedBytes);
  }
}

// The counter itself: a test that could not fail would prove nothing.
TEST(allocations, the_counter_sees_an_allocation) {
  const allocation a = allocated_by([] {
    std::vector<double> v(kElements);
    v[0] = 1;
    EXPECT_EQ(v[0], 1);
  });
  EXPECT_GE(a.total, kElements * sizeof(double));
  EXPECT_GE(a.largest, kElements * sizeof(double));
}

}  // namespace
}  // namespace shannon
