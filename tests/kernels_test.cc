// Every compiled SIMD target against the scalar reference, on lengths that
// exercise the tails, and the ISA switch itself.
#include "kernels/kernels.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "exact.h"
#include "shannon/shannon.h"

namespace shannon {
namespace {

double close(const kernels::dd& a, const kernels::dd& b) {
  return test::relative_error(a.value(), b.value());
}

/// A KL partial's value in nats: its terms less its excess, in double-double (as
/// src/measures.cc finishes it).
double kl_value(const kernels::partial& s) {
  kernels::dd d = s.terms;
  d.add(-s.excess.hi);
  d.lo -= s.excess.lo;
  return d.value();
}

class every_isa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { force_isa(GetParam()); }
  void TearDown() override { force_isa(available_isas().front()); }
};

// The float kernels take float logarithms (within 2 ulp on AVX-512, Highway's within 4
// elsewhere); the reference takes double ones.
template <class T>
constexpr double kLogTolerance = sizeof(T) == 8 ? 1e-14 : 5e-7;

/// kl_divergence_fast against the reference's partial: terms - excess within the
/// kernel's error bound, the same masses and flags.
template <class T>
void expect_fast_kl_matches(const std::vector<T>& p, const std::vector<T>& q, double sp,
                            const kernels::partial& ref, unsigned forgiven = 0) {
  const std::size_t n = p.size();
  const auto kl = kernels::kl_divergence_fast(p.data(), q.data(), n, sp, 1.0);
  EXPECT_EQ(kl.flags & ~forgiven, ref.flags);
  if (ref.flags != 0) return;
  EXPECT_LE(std::fabs(kl_value(kl) - kl_value(ref)),
            kl.error_bound + 1e-15 * (ref.terms.value() + std::fabs(ref.excess.value())));
  EXPECT_LE(close(kl.mass_p, ref.mass_p), 1e-15);
}

template <class T>
void expect_kernels_match_reference() {
  std::mt19937_64 rng(42);
  for (std::size_t n = 0; n < 70; ++n) {
    for (double zeros : {0.0, 0.4}) {
      auto p = test::random_distribution<T>(n, rng, zeros);
      auto q = test::random_distribution<T>(n, rng, zeros);
      if (n > 4) {
        q[2] = p[2];                // identical
        q[3] = p[3] * T(1 + 1e-4);  // near
        q[4] = T(0);                // infinite where p > 0
      }
      for (double divisor : {1.0, 0.75}) {
        SCOPED_TRACE("n = " + std::to_string(n) + ", divisor = " + std::to_string(divisor));
        const auto h = kernels::entropy(p.data(), n, divisor);
        const auto h_ref = kernels::reference::entropy(p.data(), n, divisor);
        EXPECT_LE(close(h.terms, h_ref.terms), kLogTolerance<T>);
        // Float masses are summed in float blocks: they only feed the sum check.
        EXPECT_LE(close(h.mass_p, h_ref.mass_p), sizeof(T) == 8 ? 1e-15 : 1e-6);
        EXPECT_EQ(h.flags, h_ref.flags);

        const auto ce = kernels::cross_entropy(p.data(), q.data(), n, divisor, 1.0);
        const auto ce_ref = kernels::reference::cross_entropy(p.data(), q.data(), n, divisor, 1.0);
        EXPECT_LE(close(ce.terms, ce_ref.terms), kLogTolerance<T>);
        EXPECT_LE(close(ce.mass_q, ce_ref.mass_q), sizeof(T) == 8 ? 1e-15 : 1e-6);
        EXPECT_EQ(ce.flags, ce_ref.flags);

        const auto kl = kernels::kl_divergence(p.data(), q.data(), n, divisor, 1.0);
        const auto kl_ref = kernels::reference::kl_divergence(p.data(), q.data(), n, divisor, 1.0);
        EXPECT_LE(close(kl.terms, kl_ref.terms), 1e-14);
        EXPECT_EQ(kl.excess.value(), kl_ref.excess.value());
        EXPECT_EQ(kl.flags, kl_ref.flags);
        expect_fast_kl_matches(p, q, divisor, kl_ref);

        std::vector<T> info(n);
        std::vector<T> info_ref(n);
        EXPECT_EQ(kernels::information(p.data(), info.data(), n, divisor, 0.7),
                  kernels::reference::information(p.data(), info_ref.data(), n, divisor, 0.7));
        for (std::size_t i = 0; i < n; ++i) {
          EXPECT_LE(test::relative_error(info[i], info_ref[i]), sizeof(T) == 8 ? 1e-15 : 1e-7)
              << i << ": " << info[i] << " vs " << info_ref[i] << " for p = " << p[i];
        }
      }
    }
  }
}

TEST_P(every_isa, is_active) { EXPECT_EQ(active_isa(), GetParam()); }
TEST_P(every_isa, double_kernels_match_the_scalar_reference) {
  expect_kernels_match_reference<double>();
}
TEST_P(every_isa, float_kernels_match_the_scalar_reference) {
  expect_kernels_match_reference<float>();
}

TEST_P(every_isa, flags_bad_values) {
  for (double bad : {-0.5, std::nan(""), HUGE_VAL}) {
    std::vector<double> p(37, 1.0 / 37);
    p[36] = bad;
    EXPECT_EQ(kernels::entropy(p.data(), p.size(), 1.0).flags & kernels::kBadP, kernels::kBadP);
    EXPECT_EQ(kernels::kl_divergence(p.data(), p.data(), p.size(), 1.0, 1.0).flags,
              kernels::reference::kl_divergence(p.data(), p.data(), p.size(), 1.0, 1.0).flags);
  }
}

// The ulp of the float nearest to x.
double float_ulp(long double x) {
  const auto f = static_cast<float>(std::fabs(static_cast<double>(x)));
  return std::nextafter(f, HUGE_VALF) - f;
}

TEST_P(every_isa, float_log_is_within_2_ulp) {
  // Every binade, densely around 1 (where the table's c = 1) and at its ends.
  std::vector<float> x;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-126.0, 128.0);
  for (int i = 0; i < 200000; ++i) x.push_back(static_cast<float>(std::exp2(exponent(rng))));
  for (int i = -20000; i <= 20000; ++i) x.push_back(1.0F + static_cast<float>(i) * 1e-5F);
  for (float v = 0.75F; v < 1.5F; v = std::nextafter(v, 2.0F) + 1e-4F) x.push_back(v);
  // Both sides of each table interval's ends: [0.75, 1) in steps of 1/64, [1, 1.5) of 1/32.
  for (int i = 0; i <= 32; ++i) {
    const float end =
        i <= 16 ? 0.75F + static_cast<float>(i) / 64 : 1.0F + static_cast<float>(i - 16) / 32;
    x.insert(x.end(), {std::nextafter(end, 0.0F), end, std::nextafter(end, 2.0F)});
  }
  x.insert(x.end(), {FLT_MIN, FLT_MAX, 1.0F, 0.375F, 3.0F, std::nextafter(0.375F, 1.0F)});
  std::vector<float> out(x.size());
  kernels::log_normal(x.data(), out.data(), x.size());
  double worst = 0.0;
  float worst_x = 0.0F;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double exact = std::log(static_cast<long double>(x[i]));
    const double err = exact == 0
                           ? std::fabs(out[i])
                           : static_cast<double>(std::fabs(out[i] - exact)) / float_ulp(exact);
    if (err > worst) {
      worst = err;
      worst_x = x[i];
    }
  }
  EXPECT_LE(worst, 2.0) << "at x = " << worst_x;

  // The kernels multiply the log of a zero by that zero, and of a subnormal by a
  // subnormal: both must be finite.
  std::vector<float> small = {0.0F, FLT_TRUE_MIN, FLT_MIN / 3, std::nextafter(FLT_MIN, 0.0F)};
  std::vector<float> small_out(small.size());
  kernels::log_normal(small.data(), small_out.data(), small.size());
  for (std::size_t i = 0; i < small.size(); ++i) {
    EXPECT_TRUE(std::isfinite(small_out[i])) << "ln " << small[i] << " = " << small_out[i];
  }
}

TEST_P(every_isa, double_log_is_within_4_ulp_away_from_one) {
  // Every binade and the subnormals, densely over [0.75, 1.5) and near 1, and both sides
  // of each table interval's ends: [0.75, 1) in steps of 1/32, [1, 1.5) of 1/16.
  std::vector<double> x;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-1074.0, 1024.0);
  for (int i = 0; i < 200000; ++i) x.push_back(std::exp2(exponent(rng)));
  for (int i = -20000; i <= 20000; ++i) x.push_back(1.0 + i * 5e-6);
  for (double v = 0.75; v < 1.5; v = std::nextafter(v, 2.0) + 1e-5) x.push_back(v);
  for (int i = 0; i <= 16; ++i) {
    const double end = i <= 8 ? 0.75 + i / 32.0 : 1.0 + (i - 8) / 16.0;
    x.insert(x.end(), {std::nextafter(end, 0.0), end, std::nextafter(end, 2.0)});
  }
  x.insert(x.end(), {DBL_MIN, DBL_MAX, DBL_TRUE_MIN, DBL_MIN / 3, 1.0, 0.375, 3.0});
  std::vector<double> out(x.size());
  kernels::log_away_from_one(x.data(), out.data(), x.size());
  double worst = 0.0;
  double worst_x = 0.0;
  double worst_near = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double exact = std::log(static_cast<long double>(x[i]));
    const auto abs_err = static_cast<double>(std::fabs(out[i] - exact));
    if (x[i] >= 0.96875 && x[i] < 1.0625) {
      worst_near = std::max(worst_near, abs_err);
      continue;
    }
    const double e = std::fabs(static_cast<double>(exact));
    const double err = abs_err / (std::nextafter(e, HUGE_VAL) - e);
    if (err > worst) {
      worst = err;
      worst_x = x[i];
    }
  }
  EXPECT_LE(worst, 4.0) << "at x = " << worst_x;
  EXPECT_LE(worst_near, 0x1p-56);

  double zero = 0.0;
  double zero_log = 0.0;
  kernels::log_away_from_one(&zero, &zero_log, 1);
  EXPECT_TRUE(std::isfinite(zero_log));
}

/// p ln(p/q) + q - p in long double, for p > 0, q > 0.
long double exact_kl_term(long double p, long double q) {
  const long double diff = q - p;
  const long double s = diff / (q + p);
  if (std::fabs(s) > 0.5L) return diff - p * std::log(q / p);
  long double poly = 0.0L;  // 0.25^60 / 123 is far below long double's epsilon
  for (int k = 60; k >= 0; --k) poly = poly * s * s + 1.0L / (2 * k + 3);
  return s * diff - 2.0L * p * s * s * s * poly;
}

TEST_P(every_isa, float_kl_terms_are_within_their_bound) {
  // q/p log-uniform over 18 decades, densely around 1 and around the ends of the
  // series (1/4 and 4); p and q log-uniform in the fast path's [2^-100, 2^24].
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> p_exponent(-100.0, 24.0);
  std::vector<double> ratios;
  std::uniform_real_distribution<double> r_exponent(-30.0, 30.0);
  for (int i = 0; i < 100000; ++i) ratios.push_back(std::exp2(r_exponent(rng)));
  for (int i = -20000; i <= 20000; ++i) {
    ratios.push_back(1.0 + i * 1e-6);
    ratios.push_back(0.25 * (1.0 + i * 1e-5));
    ratios.push_back(4.0 * (1.0 + i * 1e-5));
    ratios.push_back(1.0 + i * 2e-5);
  }
  std::vector<float> p;
  std::vector<float> q;
  for (const double r : ratios) {
    const auto x = static_cast<float>(std::exp2(p_exponent(rng)));
    const auto y = static_cast<float>(x * r);
    if (!(y >= 0x1p-100F && y <= 0x1p24F)) continue;
    p.push_back(x);
    q.push_back(y);
  }
  std::vector<float> t(p.size());
  if (!kernels::kl_float_terms(p.data(), q.data(), t.data(), p.size())) {
    GTEST_SKIP() << GetParam() << " forms no float KL terms";
  }
  double worst = 0.0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const long double exact = exact_kl_term(p[i], q[i]);
    // Terms below the normal floats carry an absolute error instead.
    const long double beyond = std::fabs(t[i] - exact) - kernels::kKlFloatTermUnderflow;
    const double err = beyond <= 0 ? 0.0 : static_cast<double>(beyond / exact);
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  EXPECT_LE(worst, kernels::kKlFloatTermError)
      << "at p = " << p[at] << ", q/p = " << double(q[at]) / double(p[at]) << ": "
      << worst / 0x1p-24 << " units of 2^-24";
  std::printf("worst float KL term: %.2f units of 2^-24 at q/p = %.9g\n", worst / 0x1p-24,
              double(q[at]) / double(p[at]));
}

// Values that the fast path of a block cannot take, alone in one block of many:
// the block is redone exactly, and the flags are those of the reference.
template <class T>
void expect_special_values_handled_in_long_inputs() {
  std::mt19937_64 rng(11);
  const std::size_t n = 5013;
  const T subnormal = std::numeric_limits<T>::denorm_min() * 3;
  for (const auto& [p_value, q_value] : std::vector<std::pair<T, T>>{{subnormal, T(1e-4)},
                                                                     {T(0), T(1e-4)},
                                                                     {T(1e-4), T(0)},
                                                                     {T(0), T(0)},
                                                                     {T(1e-4), subnormal},
                                                                     {T(-0.0), T(1e-4)},
                                                                     {T(1e-4), T(-0.0)},
                                                                     {T(0.99), T(0.999)},
                                                                     {std::nan(""), T(1e-4)},
                                                                     {HUGE_VAL, T(1e-4)},
                                                                     {-HUGE_VAL, T(1e-4)},
                                                                     {T(1e-4), HUGE_VAL},
                                                                     {T(-1e-4), T(1e-4)}}) {
    auto p = test::random_distribution<T>(n, rng, 0.0);
    auto q = test::random_distribution<T>(n, rng, 0.0);
    p[3001] = p_value;
    q[3001] = q_value;
    SCOPED_TRACE("p = " + std::to_string(p_value) + ", q = " + std::to_string(q_value));
    // -0.0 may be flagged: the caller's rescan forgives it.
    const auto negative_zero = [](T v) { return v == 0 && std::signbit(v); };
    const unsigned forgiven = (negative_zero(p_value) ? kernels::kBadP : 0U) |
                              (negative_zero(q_value) ? kernels::kBadQ : 0U);
    const auto h = kernels::entropy(p.data(), n, 1.0);
    const auto h_ref = kernels::reference::entropy(p.data(), n, 1.0);
    EXPECT_EQ(h.flags & ~forgiven, h_ref.flags);
    if (h_ref.flags == 0) EXPECT_LE(close(h.terms, h_ref.terms), kLogTolerance<T>);
    const auto ce = kernels::cross_entropy(p.data(), q.data(), n, 1.0, 1.0);
    const auto ce_ref = kernels::reference::cross_entropy(p.data(), q.data(), n, 1.0, 1.0);
    EXPECT_EQ(ce.flags & ~forgiven, ce_ref.flags);
    if (ce_ref.flags == 0) {
      EXPECT_LE(close(ce.terms, ce_ref.terms), kLogTolerance<T>);
      EXPECT_LE(close(ce.mass_q, ce_ref.mass_q), sizeof(T) == 8 ? 1e-15 : 1e-6);
    }
    const auto kl = kernels::kl_divergence(p.data(), q.data(), n, 1.0, 1.0);
    const auto kl_ref = kernels::reference::kl_divergence(p.data(), q.data(), n, 1.0, 1.0);
    EXPECT_EQ(kl.flags & ~forgiven, kl_ref.flags);
    if (kl_ref.flags == 0) {
      EXPECT_LE(close(kl.terms, kl_ref.terms), 1e-14);
      EXPECT_EQ(kl.excess.value(), kl_ref.excess.value());
    }
    expect_fast_kl_matches(p, q, 1.0, kl_ref, forgiven);
  }
}

/// A long input of subnormals but one 1: their terms are the whole entropy, so the
/// fast path must not take them.
template <class T>
void expect_subnormal_terms_exact() {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> multiple(1, 1 << 20);
  std::vector<T> p(4099);
  for (auto& v : p) v = std::numeric_limits<T>::denorm_min() * static_cast<T>(multiple(rng));
  p[17] = T(1);
  const auto h = kernels::entropy(p.data(), p.size(), 1.0);
  const auto h_ref = kernels::reference::entropy(p.data(), p.size(), 1.0);
  EXPECT_EQ(h.flags, h_ref.flags);
  EXPECT_GT(std::fabs(h_ref.terms.value()), 0.0);
  EXPECT_LE(close(h.terms, h_ref.terms), kLogTolerance<T>);
  const auto ce = kernels::cross_entropy(p.data(), p.data(), p.size(), 1.0, 1.0);
  EXPECT_LE(close(ce.terms, h_ref.terms), kLogTolerance<T>);
}
// A distribution with one value near 1 (where the double table log has only absolute
// precision) and the rest tiny, so that the near-1 term weighs in the entropy; and
// values just above 1.
template <class T>
void expect_near_one_terms_exact() {
  const std::size_t n = 4099;
  for (const T top : {T(1) - std::numeric_limits<T>::epsilon() * 64, T(1.03), T(0.97)}) {
    std::vector<T> p(n, (T(1) - top) / T(n - 1));
    if (top > 1) std::fill(p.begin(), p.end(), T(1e-9));
    p[2050] = top;
    SCOPED_TRACE("top = " + std::to_string(top));
    const auto h = kernels::entropy(p.data(), n, 1.0);
    const auto h_ref = kernels::reference::entropy(p.data(), n, 1.0);
    EXPECT_EQ(h.flags, h_ref.flags);
    EXPECT_LE(close(h.terms, h_ref.terms), kLogTolerance<T>);
    // Cross entropy takes ln q from the same logs.
    const auto c = kernels::cross_entropy(p.data(), p.data(), n, 1.0, 1.0);
    const auto c_ref = kernels::reference::cross_entropy(p.data(), p.data(), n, 1.0, 1.0);
    EXPECT_EQ(c.flags, c_ref.flags);
    EXPECT_LE(close(c.terms, c_ref.terms), kLogTolerance<T>);
  }
}
TEST_P(every_isa, near_one_double_terms_are_exact) { expect_near_one_terms_exact<double>(); }
TEST_P(every_isa, near_one_float_terms_are_exact) { expect_near_one_terms_exact<float>(); }

TEST_P(every_isa, subnormal_double_terms_are_exact) { expect_subnormal_terms_exact<double>(); }
TEST_P(every_isa, subnormal_float_terms_are_exact) { expect_subnormal_terms_exact<float>(); }

TEST_P(every_isa, special_values_in_long_double_inputs) {
  expect_special_values_handled_in_long_inputs<double>();
}
TEST_P(every_isa, special_values_in_long_float_inputs) {
  expect_special_values_handled_in_long_inputs<float>();
}

/// The float of a KL partial's value in nats.
float kl_float(const kernels::partial& s) { return static_cast<float>(kl_value(s)); }

TEST_P(every_isa, float_kl_takes_float_terms_only_within_their_bound) {
  const options nats_opt{.base = nats};
  std::mt19937_64 rng(5);
  const std::size_t n = 4096;
  // Different distributions: the terms' bound is far below the result.
  const auto p = test::random_distribution<float>(n, rng);
  const auto q = test::random_distribution<float>(n, rng);
  const auto fast = kernels::kl_divergence_fast(p.data(), q.data(), n, 1.0, 1.0);
  const float kl = kl_divergence(std::span<const float>(p), std::span<const float>(q), nats_opt);
  EXPECT_EQ(kl, kl_float(fast));
  EXPECT_LE(test::relative_error(kl, test::exact_kl(p, q)), 1e-6);

  // Measures that nearly agree but in every fourth element, a tiny p with q = 2p (so that
  // every vector takes the float terms), with masses that differ (within the sum check):
  // the terms sum to 1e4 D, so that their float bound would far exceed the contract and
  // the double kernel must decide; the float terms alone are off by more than 1e-6 here.
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> w(n);
  double sum_w = 0;
  for (std::size_t i = 0; i < n; ++i) sum_w += (w[i] = i % 4 == 1 ? 2e-7 : double(p[i]));
  std::vector<float> a(n);
  std::vector<float> b(n);
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(w[i] / sum_w * (1 - 2.2e-4));
    b[i] = static_cast<float>(i % 4 == 1 ? 2.0 * a[i] : a[i] * (1 + 1e-3 * z(rng)));
  }
  for (int pass = 0; pass < 4; ++pass) {
    long double terms = 0;
    long double excess = 0;
    for (std::size_t i = 0; i < n; ++i) {
      terms += exact_kl_term(a[i], b[i]);
      excess += static_cast<long double>(b[i]) - a[i];
    }
    const long double scale = 1 + ((1 - 1e-4L) * terms - excess) / (1 + excess);
    for (auto& v : b) v = static_cast<float>(v * scale);
  }
  const auto fast_b = kernels::kl_divergence_fast(a.data(), b.data(), n, 1.0, 1.0);
  const auto exact_b = kernels::kl_divergence(a.data(), b.data(), n, 1.0, 1.0);
  const float kl_b = kl_divergence(std::span<const float>(a), std::span<const float>(b), nats_opt);
  const double truth = test::exact_kl(a, b);
  ASSERT_GT(truth, 0.0);
  EXPECT_LT(truth, 2e-4 * fast_b.terms.value());
  EXPECT_EQ(kl_b, kl_float(exact_b));
  EXPECT_LE(test::relative_error(kl_b, truth), 1e-6);
  if (fast_b.error_bound > 0) EXPECT_GT(test::relative_error(kl_float(fast_b), truth), 1e-6);

  // Nearly equal everywhere: the exact series in double, in the fast kernel too.
  const auto c = test::perturbed(p, 1e-6, rng);
  const auto fast_c = kernels::kl_divergence_fast(p.data(), c.data(), n, 1.0, 1.0);
  EXPECT_EQ(fast_c.error_bound, 0.0);
  EXPECT_LE(test::relative_error(
                kl_divergence(std::span<const float>(p), std::span<const float>(c), nats_opt),
                test::exact_kl(p, c)),
            1e-6);
}

TEST_P(every_isa, double_kl_takes_the_fast_terms_only_within_their_bound) {
  const options nats_opt{.base = nats};
  std::mt19937_64 rng(6);
  const std::size_t n = 4096;
  // Different distributions: the fast kernel's bound is far below the result.
  const auto p = test::random_distribution<double>(n, rng);
  const auto q = test::random_distribution<double>(n, rng);
  const double kl = kl_divergence(p, q, nats_opt);
  EXPECT_EQ(kl, kl_value(kernels::kl_divergence_fast(p.data(), q.data(), n, 1.0, 1.0)));
  EXPECT_LE(test::relative_error(kl, test::exact_kl(p, q)), 1e-13);

  // Nearly equal distributions (D about 4e-13): every vector takes the exact series,
  // and the fast kernel states no error.
  const auto r = test::perturbed(p, 1e-6, rng);
  const auto near = kernels::kl_divergence_fast(p.data(), r.data(), n, 1.0, 1.0);
  EXPECT_EQ(near.error_bound, 0.0);
  EXPECT_EQ(kl_divergence(p, r, nats_opt), kl_value(near));
  EXPECT_LE(test::relative_error(kl_value(near), test::exact_kl(p, r)), 1e-13);

  // The same but in every fourth element, a tiny p with q = 2p: D is about 4e-10, every
  // vector of 2 lanes or more is mixed and takes (q - p) - p ln(q/p), whose bound
  // exceeds the contract; the exact kernel decides, and the fast terms alone are off.
  // (One lane is never mixed: there the fast kernel is exact but for the excess.)
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> a(n);
  std::vector<double> b(n);
  double sum_a = 0;
  double sum_b = 0;
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = i % 4 == 1 ? 1e-12 : p[i];
    b[i] = i % 4 == 1 ? 2e-12 : p[i] * (1 + 1e-6 * z(rng));
    sum_a += a[i];
    sum_b += b[i];
  }
  for (std::size_t i = 0; i < n; ++i) {
    a[i] /= sum_a;
    b[i] /= sum_b;
  }
  const auto fast = kernels::kl_divergence_fast(a.data(), b.data(), n, 1.0, 1.0);
  const auto exact = kernels::kl_divergence(a.data(), b.data(), n, 1.0, 1.0);
  const double kl_mixed = kl_divergence(a, b, nats_opt);
  const double truth = test::exact_kl(a, b);
  EXPECT_LE(test::relative_error(kl_mixed, truth), 1e-13);
  if (GetParam() == "scalar") {
    EXPECT_EQ(kl_mixed, kl_value(fast));
  } else {
    EXPECT_EQ(kl_mixed, kl_value(exact));
    EXPECT_GT(test::relative_error(kl_value(fast), truth), 1e-12);
  }
}

INSTANTIATE_TEST_SUITE_P(isa, every_isa, ::testing::ValuesIn(available_isas()));

TEST(isa, unknown_names_are_refused_with_the_list) {
  try {
    force_isa("mmx");
    FAIL();
  } catch (const invalid_option& e) {
    EXPECT_NE(std::string(e.what()).find("'mmx' is not available here; available: "),
              std::string::npos);
  }
}

TEST(isa, scalar_and_the_best_target_are_compiled) {
  const auto isas = available_isas();
  EXPECT_EQ(isas.back(), "scalar");
  EXPECT_GE(isas.size(), 2U);
}

}  // namespace
}  // namespace shannon
