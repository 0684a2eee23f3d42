// The measures against exact values (quad precision), the seed's identities,
// and the edge cases of the contract.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "exact.h"
#include "kernels/kernels.h"
#include "shannon/shannon.h"

namespace shannon {
namespace {

using test::exact_cross_entropy;
using test::exact_entropy;
using test::exact_kl;
using test::relative_error;

constexpr double kInf = std::numeric_limits<double>::infinity();

template <class T>
constexpr double kBound = sizeof(T) == 8 ? 1e-12 : 1e-6;

template <class T>
class precision : public ::testing::Test {};
using real_types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(precision, real_types);

template <class T>
void expect_all_measures_exact(const std::vector<T>& p, const std::vector<T>& q, const char* what) {
  SCOPED_TRACE(what);
  const options nats_opt{.base = nats};
  EXPECT_LE(relative_error(entropy(std::span<const T>(p), nats_opt), exact_entropy(p)), kBound<T>);
  EXPECT_LE(relative_error(cross_entropy(std::span<const T>(p), std::span<const T>(q), nats_opt),
                           exact_cross_entropy(p, q)),
            kBound<T>);
  EXPECT_LE(relative_error(kl_divergence(std::span<const T>(p), std::span<const T>(q), nats_opt),
                           exact_kl(p, q)),
            kBound<T>);
}

TYPED_TEST(precision, random_inputs_of_many_lengths) {
  using T = TypeParam;
  std::mt19937_64 rng(1);
  for (std::size_t n : {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 1000, 4097}) {
    const auto p = test::random_distribution<T>(n, rng);
    const auto q = test::random_distribution<T>(n, rng);
    expect_all_measures_exact(p, q, "random");
  }
}

TYPED_TEST(precision, long_vectors_spread_over_chunks) {
  using T = TypeParam;
  std::mt19937_64 rng(2);
  const std::size_t n = (std::size_t{1} << 20) + 37;
  const auto p = test::random_distribution<T>(n, rng);
  const auto q = test::random_distribution<T>(n, rng);
  expect_all_measures_exact(p, q, "long");
}

TYPED_TEST(precision, nearly_identical_distributions) {
  using T = TypeParam;
  std::mt19937_64 rng(3);
  // KL about eps^2 / 2: 5e-11, 5e-15 (double) where naive sums keep no digit.
  for (double eps : sizeof(T) == 8 ? std::vector<double>{1e-5, 1e-7} : std::vector<double>{1e-3}) {
    for (std::size_t n : {10, 1000, 100000}) {
      const auto p = test::random_distribution<T>(n, rng);
      const auto q = test::perturbed(p, eps, rng);
      const double exact = exact_kl(p, q);
      ASSERT_GT(exact, 0.0);
      ASSERT_LT(exact, 1e-5);
      const double got =
          kl_divergence(std::span<const T>(p), std::span<const T>(q), {.base = nats});
      EXPECT_LE(relative_error(got, exact), kBound<T>) << "n = " << n << ", eps = " << eps;
    }
  }
}

TYPED_TEST(precision, zeros_tiny_and_subnormal_probabilities) {
  using T = TypeParam;
  std::mt19937_64 rng(4);
  auto p = test::random_distribution<T>(1000, rng, 0.3);
  auto q = test::random_distribution<T>(1000, rng, 0.0);
  const T tiny = sizeof(T) == 8 ? T(1e-300) : T(1e-35);
  const T subnormal = std::numeric_limits<T>::denorm_min() * T(12345);
  // Move the mass of the replaced elements to element 0 so that the sums stay 1.
  const auto replace = [](std::vector<T>& v, std::size_t i, T x) {
    v[0] += v[i] - x;
    v[i] = x;
  };
  replace(p, 3, tiny);
  replace(p, 5, subnormal);
  replace(q, 7, tiny);
  replace(q, 9, subnormal);
  expect_all_measures_exact(p, q, "zeros, tiny, subnormal");
}

TEST(precision, information_is_within_a_few_ulp) {
  std::mt19937_64 rng(5);
  std::vector<double> p = test::random_distribution<double>(999, rng, 0.1);
  p[1] = 1e-310;
  p[2] = 1.0;
  const auto info = information(std::span<const double>(p), {.base = nats});
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(info[i], kInf);
    } else if (p[i] == 1) {
      EXPECT_EQ(info[i], 0.0);
      EXPECT_FALSE(std::signbit(info[i]));
    } else {
      EXPECT_LE(relative_error(info[i], -double(logq(test::quad(p[i])))), 4e-16) << i;
    }
  }
  std::vector<float> pf(p.begin(), p.end());
  const auto info_f = information(std::span<const float>(pf), {.base = bits});
  for (std::size_t i = 0; i < pf.size(); ++i) {
    if (pf[i] > 0) {
      const double exact = -double(log2q(test::quad(pf[i])));
      const float rounded = std::fabs(float(exact));
      const double ulp = double(std::nextafter(rounded, HUGE_VALF)) - double(rounded);
      EXPECT_LE(std::fabs(info_f[i] - exact), 0.51 * ulp) << i;
    }
  }
}

TEST(precision, bases_divide_by_ln_b) {
  const std::vector<double> p{0.5, 0.25, 0.25};
  EXPECT_EQ(entropy(p), 1.5);
  EXPECT_DOUBLE_EQ(entropy(p, {.base = nats}), 1.5 * std::numbers::ln2);
  EXPECT_DOUBLE_EQ(entropy(p, {.base = hartleys}), 1.5 * std::log10(2.0));
  EXPECT_DOUBLE_EQ(entropy(p, {.base = log_base(4.0)}), 0.75);
  EXPECT_EQ(information(0.125), 3.0);
  EXPECT_DOUBLE_EQ(information(0.01, hartleys), 2.0);
}

// ---- edge cases of the contract ----------------------------------------------

TEST(edges, zero_log_zero_is_zero) {
  EXPECT_EQ(entropy(std::vector<double>{0.0, 1.0, 0.0}), 0.0);
  EXPECT_FALSE(std::signbit(entropy(std::vector<double>{1.0})));
  EXPECT_EQ(entropy(std::vector<float>{0.0F, 0.5F, 0.5F}), 1.0F);
  EXPECT_EQ(cross_entropy(std::vector<double>{0.0, 1.0}, std::vector<double>{0.0, 1.0}), 0.0);
}

TEST(edges, q_zero_where_p_positive_is_infinite) {
  const std::vector<double> p{0.5, 0.5};
  const std::vector<double> q{1.0, 0.0};
  EXPECT_EQ(cross_entropy(p, q), kInf);
  EXPECT_EQ(kl_divergence(p, q), kInf);
  EXPECT_EQ(kl_divergence(q, p), 1.0);
  EXPECT_EQ(information(0.0), kInf);
  EXPECT_EQ(cross_entropy_loss(std::vector<double>{0.0, 1.0}, 0), kInf);
}

TEST(edges, kl_is_exactly_zero_when_p_equals_q) {
  std::mt19937_64 rng(6);
  for (std::size_t n : {1, 5, 1000, 100001}) {
    const auto p = test::random_distribution<double>(n, rng, 0.2);
    EXPECT_EQ(kl_divergence(p, p), 0.0);
    const auto pf = test::random_distribution<float>(n, rng, 0.2);
    EXPECT_EQ(kl_divergence(pf, pf), 0.0F);
  }
}

TEST(edges, results_do_not_depend_on_the_thread_count) {
  std::mt19937_64 rng(7);
  const auto p = test::random_distribution<double>(3'000'001, rng);
  const auto q = test::random_distribution<double>(3'000'001, rng);
  omp_set_num_threads(1);
  const double h1 = entropy(p);
  const double k1 = kl_divergence(p, q);
  omp_set_num_threads(2);
  EXPECT_EQ(entropy(p), h1);
  EXPECT_EQ(kl_divergence(p, q), k1);
  omp_set_num_threads(7);
  EXPECT_EQ(entropy(p), h1);
  EXPECT_EQ(kl_divergence(p, q), k1);
}

TEST(edges, rows_equal_the_vector_results) {
  std::mt19937_64 rng(8);
  for (std::size_t cols : {3, 100, 40000}) {
    const std::size_t rows = cols > 1000 ? 3 : 500;
    std::vector<double> p;
    std::vector<double> q;
    for (std::size_t r = 0; r < rows; ++r) {
      const auto pr = test::random_distribution<double>(cols, rng);
      const auto qr = test::random_distribution<double>(cols, rng);
      p.insert(p.end(), pr.begin(), pr.end());
      q.insert(q.end(), qr.begin(), qr.end());
    }
    const matrix_view<double> mp(p, rows, cols);
    const matrix_view<double> mq(q, rows, cols);
    const auto h = entropy(mp);
    const auto ce = cross_entropy(mp, mq);
    const auto kl = kl_divergence(mp, mq);
    ASSERT_EQ(h.size(), rows);
    // Rows shorter than 256 are summed per row in double, the vector in blocks:
    // they agree to the rounding of cols terms.
    for (std::size_t r = 0; r < rows; ++r) {
      EXPECT_LE(test::relative_error(h[r], entropy(mp.row(r))), 5e-14);
      EXPECT_LE(test::relative_error(ce[r], cross_entropy(mp.row(r), mq.row(r))), 5e-14);
      EXPECT_LE(test::relative_error(kl[r], kl_divergence(mp.row(r), mq.row(r))), 5e-14);
    }
  }
}

// Short rows (fewer than 256 columns) take a tiled path; rows with zeros, subnormals,
// an infinite result or a failed sum check must come out as the 1-D functions say.
template <class T>
void expect_short_rows_with_special_values_match() {
  std::mt19937_64 rng(21);
  const std::size_t rows = 3000;
  const std::size_t cols = 10;
  std::vector<T> p;
  std::vector<T> q;
  for (std::size_t r = 0; r < rows; ++r) {
    auto pr = test::random_distribution<T>(cols, rng, r % 7 == 0 ? 0.3 : 0.0);
    auto qr = test::random_distribution<T>(cols, rng);
    p.insert(p.end(), pr.begin(), pr.end());
    q.insert(q.end(), qr.begin(), qr.end());
  }
  const T tiny = std::numeric_limits<T>::denorm_min() * 5;
  q[17 * cols + 4] += q[17 * cols + 3];  // infinite where p > 0, for cross entropy and KL
  q[17 * cols + 3] = 0;
  p[40 * cols + 1] += p[40 * cols + 2] - tiny;  // a subnormal p
  p[40 * cols + 2] = tiny;
  q[41 * cols + 4] += q[41 * cols + 5] - tiny;  // a subnormal q
  q[41 * cols + 5] = tiny;
  std::copy(p.begin() + 50 * cols, p.begin() + 51 * cols, q.begin() + 50 * cols);  // q = p
  const matrix_view<T> mp(p, rows, cols);
  const matrix_view<T> mq(q, rows, cols);
  const auto h = entropy(mp);
  const auto ce = cross_entropy(mp, mq);
  const auto kl = kl_divergence(mp, mq);
  const double tol = sizeof(T) == 8 ? 1e-14 : 1e-6;
  for (std::size_t r = 0; r < rows; ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    EXPECT_LE(test::relative_error(h[r], entropy(mp.row(r))), tol);
    EXPECT_LE(test::relative_error(ce[r], cross_entropy(mp.row(r), mq.row(r))), tol);
    EXPECT_LE(test::relative_error(kl[r], kl_divergence(mp.row(r), mq.row(r))), tol);
  }
  EXPECT_EQ(ce[17], std::numeric_limits<T>::infinity());
  EXPECT_EQ(kl[17], std::numeric_limits<T>::infinity());
  EXPECT_EQ(kl[50], T(0));
  // unchecked: a row that does not sum to 1 is computed as it is.
  std::vector<T> off(p.begin(), p.begin() + 4 * cols);
  off[2 * cols] += T(0.5);
  options unchecked;
  unchecked.unchecked = true;
  const auto h_off = entropy(matrix_view<T>(off, 4, cols), unchecked);
  EXPECT_LE(test::relative_error(
                h_off[2], entropy(std::span<const T>(off).subspan(2 * cols, cols), unchecked)),
            tol);
}

TEST(edges, short_rows_with_special_values_double) {
  expect_short_rows_with_special_values_match<double>();
}
TEST(edges, short_rows_with_special_values_float) {
  expect_short_rows_with_special_values_match<float>();
}

TEST(edges, normalize_divides_by_the_sum) {
  const std::vector<double> counts{2, 1, 1};
  EXPECT_EQ(entropy(counts, {.normalize = true}), 1.5);
  EXPECT_EQ(entropy(std::vector<double>{5.0}, {.normalize = true}), 0.0);
  EXPECT_DOUBLE_EQ(
      kl_divergence(counts, std::vector<double>{1, 1, 2}, {.normalize = true}),
      kl_divergence(std::vector<double>{0.5, 0.25, 0.25}, std::vector<double>{0.25, 0.25, 0.5}));
  EXPECT_EQ(information(std::vector<double>{3, 1}, {.normalize = true})[1], 2.0);
  EXPECT_EQ(cross_entropy_loss(std::vector<double>{3, 1}, 1, {.normalize = true}), 2.0);
}

// ---- the seed's identities -----------------------------------------------------

TEST(identities, information_of_independent_events_adds) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(1e-6, 1.0);
  for (int i = 0; i < 1000; ++i) {
    const double a = u(rng);
    const double b = u(rng);
    const double ab = a * b;  // rounded: compare with the information of the rounded product
    EXPECT_NEAR(information(ab), information(a) + information(b),
                1e-15 * (information(a) + information(b)) + 2.3e-16 / std::numbers::ln2);
  }
  EXPECT_EQ(information(0.5 * 0.25), information(0.5) + information(0.25));
}

TEST(identities, entropy_is_cross_entropy_with_itself) {
  std::mt19937_64 rng(10);
  for (std::size_t n : {2, 17, 1000}) {
    const auto p = test::random_distribution<double>(n, rng, 0.1);
    EXPECT_LE(relative_error(cross_entropy(p, p), entropy(p)), 1e-14);
  }
}

TEST(identities, kl_is_cross_entropy_less_entropy_and_gibbs_holds) {
  std::mt19937_64 rng(11);
  for (std::size_t n : {2, 3, 50, 2000}) {
    const auto p = test::random_distribution<double>(n, rng, 0.1);
    const auto q = test::random_distribution<double>(n, rng);
    const double h = entropy(p);
    const double ce = cross_entropy(p, q);
    const double kl = kl_divergence(p, q);
    EXPECT_LE(h, ce);
    EXPECT_GE(kl, 0.0);
    EXPECT_NEAR(kl, ce - h, 1e-12 * ce);
    EXPECT_NE(kl, kl_divergence(q, p));
  }
}

TEST(identities, kl_is_not_symmetric) {
  const std::vector<double> p{0.5, 0.5};
  const std::vector<double> q{0.25, 0.75};
  // D(p||q) = 1 - (1/2) log2 3 and D(q||p) = (3/4) log2 3 - 1.
  const test::quad log2_3 = log2q(test::quad(3));
  EXPECT_LE(relative_error(kl_divergence(p, q), double(1 - log2_3 / 2)), 1e-15);
  EXPECT_LE(relative_error(kl_divergence(q, p), double(log2_3 * 3 / 4 - 1)), 1e-15);
  EXPECT_LT(kl_divergence(q, p), kl_divergence(p, q));
}

TEST(identities, uniform_distribution_has_the_largest_entropy) {
  std::mt19937_64 rng(12);
  for (std::size_t n : {2, 4, 10, 1024, 100000}) {
    const std::vector<double> uniform(n, 1.0 / double(n));
    const double h = entropy(uniform);
    EXPECT_LE(relative_error(h, std::log2(double(n))), 1e-14) << n;
    EXPECT_LE(relative_error(entropy(uniform, {.base = log_base(double(n))}), 1.0), 1e-14);
    for (int trial = 0; trial < 5; ++trial) {
      EXPECT_LT(entropy(test::random_distribution<double>(n, rng)), h);
    }
  }
}

TEST(identities, one_hot_loss_is_kl_and_cross_entropy) {
  const std::vector<double> p{0, 0, 1, 0};
  const std::vector<double> q{0.1, 0.2, 0.6, 0.1};
  EXPECT_EQ(entropy(p), 0.0);
  EXPECT_EQ(cross_entropy_loss(q, 2), -std::log2(0.6));
  EXPECT_DOUBLE_EQ(cross_entropy_loss(q, 2), cross_entropy(p, q));
  EXPECT_DOUBLE_EQ(cross_entropy_loss(q, 2), kl_divergence(p, q));
  EXPECT_DOUBLE_EQ(cross_entropy_loss(q, 2, {.base = nats}), -std::log(0.6));
}

// ---- byte entropy ------------------------------------------------------------------

/// -sum (c/N) ln(c/N) in quad precision, in nats.
double exact_entropy_of_counts(std::span<const std::uint64_t> counts) {
  test::quad total = 0;
  for (const std::uint64_t c : counts) total += test::quad(c);
  test::quad sum = 0;
  for (const std::uint64_t c : counts) {
    if (c != 0) sum -= test::quad(c) / total * logq(test::quad(c) / total);
  }
  return double(sum);
}

std::vector<std::byte> random_bytes(std::size_t n, std::mt19937_64& rng, unsigned values = 256) {
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() % values);
  return out;
}

TEST(byte_entropy, counts_match_the_reference_at_every_length_and_offset) {
  std::mt19937_64 rng(31);
  const auto data = random_bytes(200, rng);
  const std::vector<std::byte> run(200, std::byte{0xAB});
  for (const auto* bytes : {&data, &run}) {
    for (std::size_t offset = 0; offset < 8; ++offset) {
      for (std::size_t n = 0; n + offset <= 120; ++n) {
        const std::span<const std::byte> part(bytes->data() + offset, n);
        byte_histogram expected{};
        kernels::reference::byte_counts(reinterpret_cast<const unsigned char*>(part.data()), n,
                                        expected.data());
        EXPECT_EQ(byte_counts(part), expected) << "offset " << offset << ", n " << n;
      }
    }
  }
}

TEST(byte_entropy, counts_do_not_depend_on_the_thread_count_and_add_up) {
  std::mt19937_64 rng(32);
  auto data = random_bytes(5'000'003, rng);
  // A long run of one value in the middle, where the tables share one counter.
  std::fill(data.begin() + 1'000'000, data.begin() + 3'000'000, std::byte{7});
  byte_histogram expected{};
  kernels::reference::byte_counts(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                  expected.data());
  const int initial = omp_get_max_threads();
  for (int threads : {1, 2, 7}) {
    omp_set_num_threads(threads);
    EXPECT_EQ(byte_counts(data), expected) << threads << " threads";
  }
  omp_set_num_threads(initial);
  byte_histogram pieces{};
  add_byte_counts(std::span(data).first(12345), pieces);
  add_byte_counts(std::span(data).subspan(12345), pieces);
  EXPECT_EQ(pieces, expected);
}

TEST(byte_entropy, counts_of_few_distinct_values_match_the_reference) {
  // Blocks of few distinct values are counted by pairs of bytes, others by single bytes:
  // text-like bytes (pairs), a run of one value and random bytes (singles) between them,
  // an odd length and an odd start.
  std::mt19937_64 rng(34);
  std::vector<std::byte> data(7'340'045);
  std::geometric_distribution<unsigned> letter(0.15);
  for (auto& b : data) b = static_cast<std::byte>(32 + std::min(letter(rng), 90U));
  std::fill(data.begin() + 2'500'000, data.begin() + 3'700'000, std::byte{0});
  for (std::size_t i = 5'000'000; i < 6'200'000; ++i) data[i] = static_cast<std::byte>(rng());
  const std::span<const std::byte> part = std::span(data).subspan(3);
  byte_histogram expected{};
  kernels::reference::byte_counts(reinterpret_cast<const unsigned char*>(part.data()), part.size(),
                                  expected.data());
  const int initial = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    EXPECT_EQ(byte_counts(part), expected) << threads << " threads";
  }
  omp_set_num_threads(initial);
}

TEST(byte_entropy, is_within_its_bound_of_the_exact_value) {
  std::mt19937_64 rng(33);
  const std::vector<std::vector<std::uint64_t>> cases{
      {1, 1},                                  // 1 bit
      {1, 2, 3, 4, 5},                         //
      {999'999'999'999, 1},                    // one value dominates: ln(N/c) is tiny
      {(1ULL << 62) + 1, 3, 1ULL << 40, 5},    // beyond 2^53
      {0, 0, 17, 0},                           // zeros add nothing
      std::vector<std::uint64_t>(256, 1000),   // uniform: 8 bits
      std::vector<std::uint64_t>(100000, 1)};  // many terms
  for (const auto& counts : cases) {
    const double exact = exact_entropy_of_counts(counts);
    EXPECT_LE(test::relative_error(entropy_of_counts(counts, nats), exact), 4e-15) << counts.size();
    EXPECT_LE(test::relative_error(entropy_of_counts(counts), exact / std::numbers::ln2), 4e-15);
  }
  for (unsigned values : {1U, 2U, 3U, 17U, 256U}) {
    const auto data = random_bytes(300'001, rng, values);
    const byte_histogram counts = byte_counts(data);
    const double exact = exact_entropy_of_counts(counts);
    const double h = byte_entropy(data, nats);
    if (values == 1) {
      EXPECT_EQ(h, 0.0);
    } else {
      EXPECT_LE(test::relative_error(h, exact), 4e-15) << values;
    }
    // The same number as the entropy of the normalized counts, within that measure's bound.
    std::vector<double> p(counts.begin(), counts.end());
    EXPECT_NEAR(byte_entropy(data), entropy(p, {.normalize = true}), 1e-12 * 8) << values;
  }
  EXPECT_LE(test::relative_error(entropy_of_counts(std::vector<std::uint64_t>(256, 3)), 8.0),
            4e-15);
  EXPECT_EQ(entropy_of_counts(std::vector<std::uint64_t>{0, 9, 0}), 0.0);
}

TEST(byte_entropy, bad_input_names_the_problem) {
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const invalid_distribution& e) {
      return std::string(e.what());
    }
    return std::string("no invalid_distribution thrown");
  };
  EXPECT_EQ(message([] { (void)byte_entropy({}); }),
            "data is empty: byte entropy needs at least one byte");
  EXPECT_EQ(message([] { (void)entropy_of_counts({}); }),
            "counts is empty: the entropy needs at least one count");
  EXPECT_EQ(message([] {
              (void)entropy_of_counts(std::vector<std::uint64_t>{0, 0});
            }),
            "counts are all 0: the entropy needs at least one occurrence");
  EXPECT_EQ(message([] {
              (void)entropy_of_counts(std::vector<std::uint64_t>{1, ~0ULL, 2});
            }),
            "counts sum past 2^64 - 1 at counts[1] = 18446744073709551615");
}

}  // namespace
}  // namespace shannon
