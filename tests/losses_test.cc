// The losses: every SIMD target against the scalar reference, the library
// against exact quad-precision values for every combination of options,
// gradients against finite differences, the edge cases (all ignored, -inf,
// huge logits, long rows, in place, thread counts) and every error message.
#include <gtest/gtest.h>
#include <omp.h>
#include <quadmath.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "exact.h"
#include "kernels/loss_kernels.h"
#include "shannon/shannon.h"

namespace shannon {
namespace {

using test::quad;
constexpr double kInf = HUGE_VAL;
constexpr std::int64_t kIgnore = -100;

// ---- inputs ------------------------------------------------------------------------

template <class T>
std::vector<T> random_logits(std::size_t n, std::mt19937_64& rng, double scale = 3.0,
                             double offset = 0.0) {
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<T> x(n);
  for (auto& v : x) v = T(offset + scale * z(rng));
  return x;
}

template <class T>
std::vector<T> random_probs(std::size_t rows, std::size_t cols, std::mt19937_64& rng,
                            double zeros = 0.0) {
  std::vector<T> p;
  for (std::size_t r = 0; r < rows; ++r) {
    const auto row = test::random_distribution<T>(cols, rng, zeros);
    p.insert(p.end(), row.begin(), row.end());
  }
  return p;
}

template <class T>
std::vector<T> random_weights(std::size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.1, 2.0);
  std::vector<T> w(n);
  for (auto& v : w) v = T(u(rng));
  return w;
}

std::vector<std::int64_t> random_targets(std::size_t rows, std::size_t cols, std::mt19937_64& rng,
                                         double ignored_share = 0.0) {
  std::uniform_int_distribution<std::int64_t> c(0, static_cast<std::int64_t>(cols) - 1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::int64_t> t(rows);
  for (auto& v : t) v = u(rng) < ignored_share ? kIgnore : c(rng);
  return t;
}

// ---- exact cross entropy in quad precision ---------------------------------------------

struct exact_loss {
  std::vector<double> loss;  // 1 value, or one per row for reduction none
  std::vector<double> grad;  // d loss / d logits
  std::vector<double> lse;
};

/// The loss, gradient and logsumexp from the definitions (log_softmax, weighted NLL, smoothing,
/// z-loss, softcap) in quad precision, with the library's conventions (0 inf = 0, empty mean = 0).
template <class T>
exact_loss exact_cross_entropy(const std::vector<T>& x, std::size_t rows, std::size_t cols,
                               const std::vector<std::int64_t>* target, const std::vector<T>* probs,
                               const cross_entropy_options<T>& opt) {
  const quad inf = HUGE_VAL;
  const quad eps = opt.label_smoothing;
  const quad eps_c = eps / quad(cols);
  const quad cap = opt.softcap;
  const quad zl = opt.z_loss;
  std::vector<quad> w(cols, 1);
  for (std::size_t j = 0; j < opt.weight.size(); ++j) w[j] = opt.weight[j];
  quad w_sum = 0;
  for (const quad v : w) w_sum += v;

  std::vector<quad> ce(rows, 0), zrow(rows, 0);
  std::vector<quad> gce(rows * cols, 0), gz(rows * cols, 0);
  exact_loss out;
  out.lse.resize(rows);
  quad denominator = rows;
  quad z_denominator = rows;
  if (target != nullptr) {
    denominator = z_denominator = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      if ((*target)[r] == opt.ignore_index) continue;
      denominator += w[(*target)[r]];
      z_denominator += 1;
    }
  }
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<quad> z(cols), dz(cols, 1), lp(cols), s(cols);
    quad m = -inf;
    for (std::size_t j = 0; j < cols; ++j) {
      const quad xj = x[r * cols + j];
      z[j] = cap > 0 && xj > -inf ? cap * tanhq(xj / cap) : xj;  // -inf stays masked
      if (cap > 0) dz[j] = 1 / (coshq(xj / cap) * coshq(xj / cap));
      m = fmaxq(m, z[j]);
    }
    quad sum = 0;
    for (std::size_t j = 0; j < cols; ++j) sum += z[j] > -inf ? expq(z[j] - m) : 0;
    const quad log_sum = m > -inf ? logq(sum) : 0;
    out.lse[r] = double(m + log_sum);
    for (std::size_t j = 0; j < cols; ++j) {
      lp[j] = z[j] > -inf ? (z[j] - m) - log_sum : -inf;
      s[j] = z[j] > -inf ? expq(lp[j]) : 0;
    }
    const bool ignored = target != nullptr && (*target)[r] == opt.ignore_index;
    if (ignored) continue;
    quad a = 0;
    std::vector<quad> b(cols, 0);
    // The target's -lp_t as log1p of the others relative to it: a loss far below the quad
    // epsilon (a target far ahead) keeps its digits, and s_t - 1 = expm1(lp_t).
    quad s_t_minus_1 = 0;
    if (target != nullptr && !ignored && z[(*target)[r]] > -inf && z[(*target)[r]] >= m - 1) {
      const std::size_t t = (*target)[r];
      quad others = 0;
      for (std::size_t j = 0; j < cols; ++j) {
        if (j != t && z[j] > -inf) others += expq(z[j] - z[t]);
      }
      lp[t] = -log1pq(others);
      s[t] = expq(lp[t]);
      s_t_minus_1 = expm1q(lp[t]);
    } else if (target != nullptr && !ignored) {
      s_t_minus_1 = s[(*target)[r]] - 1;  // s_t <= 1/2: no cancellation
    }
    if (target != nullptr) {
      const std::size_t t = (*target)[r];
      const quad nll_coef = (1 - eps) * w[t];
      if (nll_coef != 0) ce[r] = nll_coef * -lp[t];
      if (eps > 0) {
        for (std::size_t j = 0; j < cols; ++j) {
          if (w[j] != 0) ce[r] += eps_c * w[j] * -lp[j];
        }
      }
      a = nll_coef + eps_c * w_sum;
      for (std::size_t j = 0; j < cols; ++j) b[j] = eps_c * w[j];
      b[t] += nll_coef;
    } else {
      for (std::size_t j = 0; j < cols; ++j) {
        const quad c = w[j] * ((1 - eps) * quad((*probs)[r * cols + j]) + eps_c);
        if (c != 0) ce[r] += c * -lp[j];
        a += c;
        b[j] = c;
      }
    }
    const quad lse = m + log_sum;
    if (zl > 0) zrow[r] = zl * lse * lse;
    for (std::size_t j = 0; j < cols; ++j) {
      gce[r * cols + j] = (a * s[j] - b[j]) * dz[j];
      if (target != nullptr && j == std::size_t((*target)[r])) {
        // a s_t - b_t = nll_coef (s_t - 1) + (eps / C) (W s_t - w_t), without cancellation.
        gce[r * cols + j] =
            ((1 - eps) * w[j] * s_t_minus_1 + eps_c * (w_sum * s[j] - w[j])) * dz[j];
      }
      if (zl > 0 && m > -inf) gz[r * cols + j] = 2 * zl * lse * s[j] * dz[j];
    }
  }
  const quad unit = opt.base.ln();
  quad ce_scale = 1;
  quad z_scale = 1;
  if (opt.reduce == reduction::mean) {
    ce_scale = denominator > 0 ? 1 / denominator : 0;
    z_scale = z_denominator > 0 ? 1 / z_denominator : 0;
  }
  if (opt.reduce == reduction::none) {
    for (std::size_t r = 0; r < rows; ++r) out.loss.push_back(double((ce[r] + zrow[r]) / unit));
  } else {
    quad ce_total = 0;
    quad z_total = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      ce_total += ce[r];
      z_total += zrow[r];
    }
    out.loss.push_back(double((ce_total * ce_scale + z_total * z_scale) / unit));
  }
  out.grad.resize(rows * cols);
  for (std::size_t i = 0; i < rows * cols; ++i) {
    out.grad[i] = double((ce_scale * gce[i] + z_scale * gz[i]) / unit);
  }
  return out;
}

// ---- comparisons -----------------------------------------------------------------------

/// The largest errors seen, reported at the end (docs/losses.md quotes them).
struct worst_errors {
  double loss_f = 0;
  double loss_d = 0;
  double grad_f_ulp = 0;
  double grad_d = 0;
  double loss_fast = 0;      // float fast path (class indices, no smoothing, softcap, z_loss)
  double grad_fast_ulp = 0;  // the same
  bool fast = false;         // whether the current comparison runs the fast path
};
worst_errors& worst() {
  static worst_errors w;
  return w;
}

template <class T>
constexpr double kLossTolerance = sizeof(T) == 4 ? 2e-6 : 1e-12;

template <class T>
void expect_loss_near(double got, double exact) {
  if (std::isnan(exact) || std::isinf(exact) || exact == 0.0) {
    EXPECT_EQ(got, exact);
    return;
  }
  const double err = test::relative_error(got, exact);
  EXPECT_LE(err, kLossTolerance<T>) << got << " vs exact " << exact;
  double& w = sizeof(T) == 4 ? worst().loss_f : worst().loss_d;
  w = std::max(w, err);
  if (worst().fast) worst().loss_fast = std::max(worst().loss_fast, err);
}

/// Float: within 2 ulp of the exact value (plus 1e-15 of the row's largest gradient for values
/// that cancel); double: within 1e-12 relative, plus 1e-15 of the row's largest.
template <class T>
void expect_grad_near(const std::vector<T>& got, const std::vector<double>& exact,
                      std::size_t cols) {
  ASSERT_EQ(got.size(), exact.size());
  for (std::size_t r = 0; cols > 0 && r < got.size() / cols; ++r) {
    double scale = 0;
    for (std::size_t j = 0; j < cols; ++j) scale = std::max(scale, std::fabs(exact[r * cols + j]));
    for (std::size_t j = 0; j < cols; ++j) {
      const std::size_t i = r * cols + j;
      const double e = exact[i];
      const double err = std::fabs(double(got[i]) - e);
      if (sizeof(T) == 4) {
        const double ulp = std::max(std::fabs(e) * 0x1p-23, double(FLT_TRUE_MIN));
        EXPECT_LE(err, 2 * ulp + 1e-15 * scale)
            << "[" << r << "][" << j << "] " << got[i] << " vs exact " << e;
        if (err > 1e-15 * scale) worst().grad_f_ulp = std::max(worst().grad_f_ulp, err / ulp);
        if (err > 1e-15 * scale && worst().fast) {
          worst().grad_fast_ulp = std::max(worst().grad_fast_ulp, err / ulp);
        }
      } else {
        EXPECT_LE(err, 1e-12 * std::fabs(e) + 1e-15 * scale)
            << "[" << r << "][" << j << "] " << got[i] << " vs exact " << e;
        if (err > 1e-15 * scale) worst().grad_d = std::max(worst().grad_d, err / std::fabs(e));
      }
    }
  }
}

template <class T>
std::string describe(const cross_entropy_options<T>& opt, bool probs) {
  return std::string(sizeof(T) == 4 ? "float" : "double") + (probs ? " probs" : " index") +
         " weight=" + std::to_string(!opt.weight.empty()) +
         " ignore=" + std::to_string(opt.ignore_index) +
         " reduction=" + std::string(reduction_name(opt.reduce)) +
         " eps=" + std::to_string(opt.label_smoothing) + " z=" + std::to_string(opt.z_loss) +
         " cap=" + std::to_string(opt.softcap) + " base=" + opt.base.unit_name();
}

struct ce_run_result {
  std::vector<double> loss;
  std::vector<double> lse;
};

/// Runs the library with loss, grad and lse outputs.
template <class T>
void run_ce(const std::vector<T>& x, std::size_t rows, std::size_t cols,
            const std::vector<std::int64_t>* target, const std::vector<T>* probs,
            const cross_entropy_options<T>& opt, std::vector<T>& loss, std::vector<T>& grad,
            std::vector<T>& lse) {
  loss.assign(opt.reduce == reduction::none ? rows : 1, T(-1));
  grad.assign(rows * cols, T(-1));
  lse.assign(rows, T(-1));
  const matrix_view<T> logits(x, rows, cols);
  if (target != nullptr) {
    cross_entropy_loss(logits, *target, opt, {loss, grad, lse});
  } else {
    cross_entropy_loss(logits, matrix_view<T>(*probs, rows, cols), opt, {loss, grad, lse});
  }
}

template <class T>
void expect_ce_matches_exact(const std::vector<T>& x, std::size_t rows, std::size_t cols,
                             const std::vector<std::int64_t>* target,
                             const std::vector<std::type_identity_t<T>>* probs,
                             const cross_entropy_options<std::type_identity_t<T>>& opt) {
  SCOPED_TRACE(describe(opt, probs != nullptr) + " shape " + std::to_string(rows) + " x " +
               std::to_string(cols));
  std::vector<T> loss, grad, lse;
  run_ce(x, rows, cols, target, probs, opt, loss, grad, lse);
  const exact_loss ex = exact_cross_entropy(x, rows, cols, target, probs, opt);
  worst().fast = sizeof(T) == 4 && target != nullptr && opt.label_smoothing == 0.0 &&
                 opt.softcap == 0.0 && opt.z_loss == 0.0;
  ASSERT_EQ(loss.size(), ex.loss.size());
  for (std::size_t i = 0; i < loss.size(); ++i) expect_loss_near<T>(loss[i], ex.loss[i]);
  expect_grad_near(grad, ex.grad, cols);
  for (std::size_t r = 0; r < rows; ++r) {
    EXPECT_LE(test::relative_error(lse[r], ex.lse[r]), sizeof(T) == 4 ? 1e-7 : 1e-14) << r;
  }
}

// ---- kernels against the scalar reference, on every target ------------------------------

class every_isa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { force_isa(GetParam()); }
  void TearDown() override { force_isa(available_isas().front()); }
};

double rel(double a, double b) { return test::relative_error(a, b); }

template <class T>
void expect_ce_kernels_match_reference() {
  std::mt19937_64 rng(7);
  const std::size_t lengths[] = {0,  1,  2,  3,  4,  5,  7,  8,   9,  15,
                                 16, 17, 31, 32, 33, 63, 65, 100, 257};
  for (const std::size_t n : lengths) {
    for (int variant = 0; variant < 6; ++variant) {
      auto x = random_logits<T>(n, rng, variant == 4 ? 1e4 : 3.0);
      auto w = random_weights<T>(n, rng);
      auto p = random_probs<T>(1, n, rng, 0.3);
      if (variant == 3 && n > 3) {
        x[1] = -INFINITY;
        x[n - 1] = -INFINITY;
      }
      if (variant == 5) std::fill(x.begin(), x.end(), T(-INFINITY));
      kernels::ce_slice<T> s{x.data(), variant % 2 == 1 ? w.data() : nullptr,
                             variant >= 2 ? p.data() : nullptr, n, variant == 2 ? 20.0 : 0.0};
      for (const auto& [u, v] : {std::pair{0.0, 0.0}, {1.0, 0.0}, {0.01, 0.9}}) {
        for (const std::size_t skip : {std::size_t(-1), std::size_t(0), n / 2, n - 1}) {
          SCOPED_TRACE("n = " + std::to_string(n) + ", variant " + std::to_string(variant) +
                       ", u = " + std::to_string(u) + ", skip = " + std::to_string(skip));
          const auto k = kernels::ce_forward(s, u, v, skip);
          const auto r = kernels::reference::ce_forward(s, u, v, skip);
          EXPECT_LE(rel(k.max, r.max), 1e-15);
          EXPECT_LE(rel(k.sum, r.sum), 1e-14);
          EXPECT_LE(std::fabs(k.spread - r.spread), 1e-14 * (std::fabs(r.spread) + 1e-300));
          EXPECT_LE(rel(k.coef_finite, r.coef_finite), 1e-14);
          EXPECT_LE(rel(k.coef, r.coef), 1e-14);
          EXPECT_LE(rel(k.mass.value(), r.mass.value()), 1e-15);
          EXPECT_EQ(k.flags, r.flags);
          EXPECT_EQ(k.has_skipped, r.has_skipped);
          EXPECT_LE(rel(k.skipped, r.skipped), 1e-15);

          const double log_sum = r.sum > 0 ? std::log(r.sum + 0.5) : 0.0;
          std::vector<T> g(n, T(7));
          std::vector<T> g_ref(n, T(7));
          kernels::ce_backward(s, g.data(), r.max, log_sum, 0.7, 0.01, 0.5);
          kernels::reference::ce_backward(s, g_ref.data(), r.max, log_sum, 0.7, 0.01, 0.5);
          for (std::size_t j = 0; j < n; ++j) {
            const double e = g_ref[j];
            const double tol = sizeof(T) == 4 ? std::max(std::fabs(e) * 0x1p-23, 1e-15)
                                              : 1e-14 * std::max(std::fabs(e), 1e-2);
            EXPECT_LE(std::fabs(double(g[j]) - e), tol) << j << ": " << g[j] << " vs " << e;
          }
        }
      }
    }
  }
}

template <class T>
void expect_elementwise_kernels_match_reference() {
  std::mt19937_64 rng(11);
  for (std::size_t n = 0; n < 40; ++n) {
    for (int variant = 0; variant < 3; ++variant) {
      const double scale = variant == 2 ? 1e3 : 3.0;
      const auto x = random_logits<T>(n, rng, scale);
      auto log_q = random_logits<T>(n, rng, 2.0, -3.0);
      const auto p = random_probs<T>(1, n, rng, 0.3);
      std::vector<T> y(n), w = random_weights<T>(n, rng), pw = random_weights<T>(n, rng);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      for (auto& v : y) v = T(variant == 1 ? std::round(u(rng)) : u(rng));
      SCOPED_TRACE("n = " + std::to_string(n) + ", variant " + std::to_string(variant));
      const double tol = sizeof(T) == 4 ? 0x1p-23 : 1e-14;

      for (const bool log_target : {false, true}) {
        std::vector<T> t = p;
        if (log_target) t = random_logits<T>(n, rng, 2.0, -3.0);
        std::vector<T> l(n), g(n), l_ref(n), g_ref(n);
        const auto k =
            kernels::kl_div(log_q.data(), t.data(), n, log_target, l.data(), g.data(), 0.3);
        const auto r = kernels::reference::kl_div(log_q.data(), t.data(), n, log_target,
                                                  l_ref.data(), g_ref.data(), 0.3);
        EXPECT_LE(rel(k.value(), r.value()), 1e-13);
        EXPECT_EQ(k.flags, r.flags);
        for (std::size_t i = 0; i < n; ++i) {
          const double pi = log_target ? std::exp(double(t[i])) : double(t[i]);
          const double bound =
              pi == 0 ? 0.0 : pi * (std::fabs(std::log(pi)) + std::fabs(double(log_q[i])));
          EXPECT_LE(std::fabs(double(l[i]) - double(l_ref[i])), tol * bound) << i;
          EXPECT_LE(rel(g[i], g_ref[i]), tol) << i;
        }
      }
      for (int weights = 0; weights < 3; ++weights) {
        kernels::bce_slice<T> s{x.data(), y.data(), n};
        if (weights == 1) {
          s.weight = w.data();
          s.pos_weight = pw.data();
        } else if (weights == 2) {
          s.weight = w.data();
          s.weight_broadcast = true;
          s.pos_weight = pw.data();
          s.pos_weight_broadcast = true;
        }
        std::vector<T> l(n), g(n), l_ref(n), g_ref(n);
        const auto k = kernels::bce(s, l.data(), g.data(), 0.25);
        const auto r = kernels::reference::bce(s, l_ref.data(), g_ref.data(), 0.25);
        EXPECT_LE(rel(k.value(), r.value()), 1e-13);
        EXPECT_EQ(k.flags, r.flags);
        for (std::size_t i = 0; i < n; ++i) {
          EXPECT_LE(rel(l[i], l_ref[i]), 4 * tol) << i << ": x = " << x[i] << ", y = " << y[i];
          // The gradient cancels near y = sigmoid(x): compare with its terms' size.
          EXPECT_LE(std::fabs(double(g[i]) - double(g_ref[i])),
                    4 * tol * std::max(std::fabs(double(g_ref[i])), 1e-3))
              << i;
        }
      }
    }
  }
}

TEST_P(every_isa, cross_entropy_kernels_match_the_scalar_reference_double) {
  expect_ce_kernels_match_reference<double>();
}
TEST_P(every_isa, cross_entropy_kernels_match_the_scalar_reference_float) {
  expect_ce_kernels_match_reference<float>();
}
TEST_P(every_isa, elementwise_kernels_match_the_scalar_reference_double) {
  expect_elementwise_kernels_match_reference<double>();
}
TEST_P(every_isa, elementwise_kernels_match_the_scalar_reference_float) {
  expect_elementwise_kernels_match_reference<float>();
}

TEST_P(every_isa, kernels_flag_bad_values_as_the_reference_does) {
  for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL, -0.5}) {
    std::vector<double> x(37, 0.25), p(37, 1.0 / 37);
    x[20] = bad;
    p[30] = bad;
    const kernels::ce_slice<double> s{x.data(), nullptr, p.data(), x.size(), 0.0};
    EXPECT_EQ(kernels::ce_forward(s, 0.1, 0.9, 3).flags,
              kernels::reference::ce_forward(s, 0.1, 0.9, 3).flags);
    std::vector<double> y(37, 0.5);
    y[5] = bad;
    const kernels::bce_slice<double> b{x.data(), y.data(), x.size()};
    EXPECT_EQ(kernels::bce(b, nullptr, nullptr, 1.0).flags,
              kernels::reference::bce(b, nullptr, nullptr, 1.0).flags);
    EXPECT_EQ(
        kernels::kl_div(x.data(), p.data(), 37, false, nullptr, nullptr, 1.0).flags,
        kernels::reference::kl_div(x.data(), p.data(), 37, false, nullptr, nullptr, 1.0).flags);
  }
}

TEST_P(every_isa, float_outputs_keep_infinities) {
  // DemoteTo saturates to FLT_MAX on some targets: an infinite loss must stay infinite.
  const std::vector<float> x = {INFINITY, -INFINITY, 1e30F, 0.0F};
  const std::vector<float> y = {0.0F, 1.0F, 0.0F, 1.0F};
  std::vector<float> l(4);
  kernels::bce(kernels::bce_slice<float>{x.data(), y.data(), 4}, l.data(), nullptr, 1.0);
  EXPECT_EQ(l[0], INFINITY);
  EXPECT_EQ(l[1], INFINITY);
  EXPECT_EQ(l[2], 1e30F);
  const std::vector<float> log_q = {-INFINITY, -1.0F};
  const std::vector<float> p = {0.5F, 0.5F};
  kernels::kl_div(log_q.data(), p.data(), 2, false, l.data(), nullptr, 1.0);
  EXPECT_EQ(l[0], INFINITY);
}

TEST_P(every_isa, library_matches_exact_values) {
  std::mt19937_64 rng(3);
  const std::size_t rows = 9;
  const std::size_t cols = 37;
  const auto xf = random_logits<float>(rows * cols, rng);
  const auto xd = random_logits<double>(rows * cols, rng);
  const auto t = random_targets(rows, cols, rng, 0.2);
  const auto wf = random_weights<float>(cols, rng);
  const auto wd = random_weights<double>(cols, rng);
  const auto pf = random_probs<float>(rows, cols, rng);
  const auto pd = random_probs<double>(rows, cols, rng);
  cross_entropy_options<float> of;
  of.weight = wf;
  of.label_smoothing = 0.1;
  of.z_loss = 1e-3;
  of.softcap = 5.0;
  cross_entropy_options<double> od;
  od.weight = wd;
  od.label_smoothing = 0.1;
  od.z_loss = 1e-3;
  od.softcap = 5.0;
  expect_ce_matches_exact(xf, rows, cols, &t, nullptr, of);
  expect_ce_matches_exact(xd, rows, cols, &t, nullptr, od);
  expect_ce_matches_exact(xf, rows, cols, nullptr, &pf, of);
  expect_ce_matches_exact(xd, rows, cols, nullptr, &pd, od);
}

/// Rows that exercise the fast path's kernels: its running max (raised often, or past the
/// capacity of its event list), masked classes, huge and deep logits, tiny losses.
std::vector<float> fast_path_row(std::size_t n, int variant, std::mt19937_64& rng) {
  auto x = random_logits<float>(n, rng, 3.0);
  switch (variant) {
    case 1:  // increasing: the max is raised by every block
      for (std::size_t j = 0; j < n; ++j) x[j] = 0.37F * float(j) - 30.0F;
      break;
    case 2:  // masked classes
      for (std::size_t j = 0; j < n; j += 3) x[j] = -INFINITY;
      break;
    case 3:  // every class masked
      std::fill(x.begin(), x.end(), -INFINITY);
      break;
    case 4:  // huge logits: x - max is 0 or below -1e23
      x = random_logits<float>(n, rng, 1e30);
      break;
    case 5:  // near -FLT_MAX, with masked classes: no float lies 135 below the max
      for (std::size_t j = 0; j < n; ++j) x[j] = j % 4 == 1 ? -INFINITY : -FLT_MAX;
      if (n > 2) x[2] = -FLT_MAX * 0.9999999F;
      break;
    case 6:  // the first class far ahead: its loss is tiny, the others' terms near 2^-126
      for (std::size_t j = 0; j < n; ++j) x[j] = -80.0F + 0.01F * float(j % 97);
      if (n > 0) x[0] = 7.77F;
      break;
    case 7:  // a tie at the max, offset by 1e4
      for (auto& v : x) v = 1e4F + std::round(v);
      break;
    case 8:  // far below a moderate max, where the exponential's reduction no longer holds
      for (std::size_t j = 2; j < n; j += 5) {
        const float far[] = {-150.0F, -3e5F, -1e7F, -1e30F, -FLT_MAX, -1.5e37F};
        x[j] = far[(j / 5) % 6];
      }
      break;
    default:
      break;
  }
  return x;
}

TEST_P(every_isa, fast_cross_entropy_kernels_match_the_scalar_reference) {
  std::mt19937_64 rng(29);
  // The warm-up max covers 4096 logits: longer slices may raise the max.
  const std::size_t lengths[] = {0,  1,   2,   3,    5,    15,   16,   17,   63,   64,
                                 65, 100, 257, 1023, 1024, 3000, 4095, 4096, 4097, 6000};
  for (const std::size_t n : lengths) {
    for (int variant = 0; variant < 9; ++variant) {
      const auto x = fast_path_row(n, variant, rng);
      const kernels::ce_slice<float> s{x.data(), nullptr, nullptr, n, 0.0};
      for (const std::size_t skip : {std::size_t(-1), std::size_t(0), n / 2, n - 1}) {
        SCOPED_TRACE("n = " + std::to_string(n) + ", variant " + std::to_string(variant) +
                     ", skip = " + std::to_string(skip));
        const auto r = kernels::reference::ce_forward(s, 0.0, 0.0, skip);
        std::vector<float> e(n, 7.0F);
        auto in_place = x;
        const auto k = kernels::ce_fast_forward(x.data(), n, skip, nullptr);
        const auto ke = kernels::ce_fast_forward(x.data(), n, skip, e.data());
        const auto ki = kernels::ce_fast_forward(in_place.data(), n, skip, in_place.data());
        for (const auto* part : {&k, &ke, &ki}) {
          // The shift is the smallest multiple of ln 2 at or above the max where |max| <= 2048;
          // with AVX-512, whose blocks are checked by their sums, it may stay up to ln 16 below.
          const double ln2 = std::log(2.0);
          if (std::fabs(r.max) <= 2048.0 && GetParam() == "avx512") {
            EXPECT_EQ(part->max, std::round(part->max / ln2) * ln2);
            EXPECT_LE(part->max, std::ceil(r.max / ln2) * ln2);
            EXPECT_GE(part->max, r.max - std::log(16.0));
          } else if (std::fabs(r.max) <= 2048.0) {
            EXPECT_EQ(part->max, std::ceil(r.max / ln2) * ln2);
          } else {
            EXPECT_EQ(part->max, r.max);
          }
          // Each exponential within 1.05 ulp, block sums of 8 in float: 3.0e-7 relative.
          const double sum = r.max == -HUGE_VAL ? r.sum : r.sum * std::exp(r.max - part->max);
          EXPECT_LE(std::fabs(part->sum - sum), 3.1e-7 * sum) << part->sum << " vs " << sum;
          EXPECT_EQ(part->flags, r.flags);
        }
        EXPECT_EQ(ke.events.count, ki.events.count);
        if (r.max == -HUGE_VAL) continue;
        // Pass 2 from what pass 1 stored, against the reference's exp(x - max - log_sum) a.
        const double log_sum = std::log(r.sum + 0.5);
        std::vector<float> g_ref(n);
        kernels::reference::ce_backward(s, g_ref.data(), r.max, log_sum, 0.7, 0.0, 0.0);
        // The same log-sum-exp from the kernels' shift.
        const double k_log_sum = log_sum + (r.max - ke.max);
        kernels::ce_fast_backward(e.data(), n, ke.events, ke.max, k_log_sum, 0.7);
        kernels::ce_fast_backward(in_place.data(), n, ki.events, ki.max, k_log_sum, 0.7);
        for (std::size_t j = 0; j < n; ++j) {
          // The reference is within 0.5 ulp of exact, the kernels within 1.25.
          const double tol = 1.75 * std::fabs(double(g_ref[j])) * 0x1p-23 + 2.0 * FLT_TRUE_MIN;
          EXPECT_LE(std::fabs(double(e[j]) - double(g_ref[j])), tol)
              << j << ": " << e[j] << " vs " << g_ref[j];
          EXPECT_EQ(in_place[j], e[j]) << j;
        }
      }
    }
  }
}

TEST_P(every_isa, fast_exponentials_are_within_their_bound) {
  // Pass 1 stores exp(x_j - m) 2^64 (m: the ln 2 shift, or the max beyond +-2048): each within
  // 1.05 ulp of the exact value (units of 2^-23 of the value's binade), down to the subnormals,
  // and 0 for -inf.
  std::mt19937_64 rng(31);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double worst = 0.0;
  // Row maxima around 0, at and between multiples of ln 2, large (logits near 0 then meet a
  // large K), at the edge of the ln 2 shifts and beyond it (the TwoSum path).
  const float maxima[] = {0.0F,    0.3F,    0.6931472F, 7.77F,   -3.1F, 100.0F,
                          2047.9F, 2048.0F, -2048.0F,   2048.5F, -3e4F, 1e6F};
  for (const float top : maxima) {
    for (const double spread : {0.25, 8.0, 131.5, 160.0}) {
      const std::size_t n = 4096;
      std::vector<float> x(n);
      for (auto& v : x) v = float(double(top) - spread * unit(rng));
      // Logits near 0 where the max is large: the inexact inner difference.
      for (std::size_t j = 0; j < n; j += 7) {
        if (double(top) - spread <= 0.0 && top > 0.0F) x[j] = float(0.25 * (2.0 * unit(rng) - 1.0));
      }
      // -inf: masked classes (the fast path of AVX-512 then clamps the rest of the row).
      if (spread == 160.0) {
        for (std::size_t j = 5; j < n; j += 61) x[j] = -INFINITY;
      }
      x[n / 2] = top;
      std::vector<float> e(n);
      const auto part = kernels::ce_fast_forward(x.data(), n, std::size_t(-1), e.data());
      ASSERT_EQ(part.flags, 0U);
      SCOPED_TRACE("max " + std::to_string(top) + ", spread " + std::to_string(spread));
      for (std::size_t j = 0; j < n; ++j) {
        if (x[j] == -INFINITY) {
          EXPECT_EQ(e[j], 0.0F);
          continue;
        }
        const long double d = (long double)x[j] - (long double)part.max;
        // Flushed to 0 below 2^-190 once scaled back (no float gradient is that small), from d
        // <= -132.04 on, without AVX-512 and beyond the ln 2 shifts (the TwoSum path).
        const bool flushes = GetParam() != "avx512" || std::fabs(top) > 2048.0F;
        if (d <= -132.04L && e[j] == 0.0F && flushes) continue;
        const long double exact = std::exp(d) * 0x1p64L;
        int binade = 0;
        std::frexp(double(exact), &binade);
        const double ulp = std::max(std::ldexp(1.0, binade - 24), double(FLT_TRUE_MIN));
        const double err = double(std::fabs((long double)e[j] - exact)) / ulp;
        EXPECT_LE(err, 1.05) << "x = " << x[j] << ", e = " << e[j];
        worst = std::max(worst, err);
      }
    }
  }
  std::printf("[ accuracy ] %s: fast path exponentials within %.3g ulp\n", GetParam().c_str(),
              worst);
}

TEST_P(every_isa, fast_cross_entropy_kernels_flag_bad_logits) {
  for (const std::size_t n : {std::size_t{5}, std::size_t{37}, std::size_t{2000}}) {
    for (const float bad : {NAN, -NAN, INFINITY}) {
      for (const std::size_t at : {std::size_t{0}, std::size_t{3}, n - 1}) {
        for (const std::size_t skip : {std::size_t(-1), std::size_t{1}, at}) {
          std::vector<float> x(n, 0.25F);
          x[at] = bad;
          std::vector<float> e(n);
          SCOPED_TRACE("n = " + std::to_string(n) + ", at " + std::to_string(at));
          EXPECT_EQ(kernels::ce_fast_forward(x.data(), n, skip, nullptr).flags |
                        (skip == at && std::isnan(bad) ? kernels::kBadLogit : 0U),
                    unsigned(kernels::kBadLogit));
          EXPECT_EQ(kernels::ce_fast_forward(x.data(), n, skip, e.data()).flags |
                        (skip == at && std::isnan(bad) ? kernels::kBadLogit : 0U),
                    unsigned(kernels::kBadLogit));
        }
      }
    }
  }
}

TEST_P(every_isa, fast_cross_entropy_matches_exact_values) {
  std::mt19937_64 rng(31);
  // Rows up to 4096 run in batches, longer rows one by one.
  for (const std::size_t cols :
       {std::size_t{1}, std::size_t{10}, std::size_t{333}, std::size_t{2500}, std::size_t{5000}}) {
    for (int variant = 0; variant < 9; ++variant) {
      if (variant == 3 || variant == 5) continue;  // +inf losses: edge cases tested apart
      const std::size_t rows = cols > 4096 ? 3 : 9;
      std::vector<float> x;
      for (std::size_t r = 0; r < rows; ++r) {
        const auto row = fast_path_row(cols, variant, rng);
        x.insert(x.end(), row.begin(), row.end());
      }
      auto t = random_targets(rows, cols, rng, 0.2);
      if (variant == 2) {
        for (auto& v : t) {
          if (v >= 0 && v % 3 == 0) v = (v + 1) % std::int64_t(cols);  // targets not masked
        }
      }
      if (variant == 6) t[0] = 0;
      const auto w = random_weights<float>(cols, rng);
      for (const reduction red : {reduction::none, reduction::mean}) {
        cross_entropy_options<float> opt;
        opt.reduce = red;
        if (variant % 2 == 1) opt.weight = w;
        if (variant == 7) opt.base = bits;
        expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
      }
    }
  }
}

/// Short rows as the tiles see them (one row per lane, a partial last tile): masked classes,
/// a row of -inf only, a masked target, huge logits and a target far ahead (a tiny loss).
template <class T>
void expect_short_rows_match_exact() {
  std::mt19937_64 rng(41);
  const T inf = std::numeric_limits<T>::infinity();
  for (const std::size_t cols :
       {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{10}, std::size_t{15},
        std::size_t{16}, std::size_t{17}, std::size_t{32}, std::size_t{33}, std::size_t{100},
        std::size_t{256}, std::size_t{257}}) {
    const std::size_t rows = 37;
    auto x = random_logits<T>(rows * cols, rng);
    auto t = random_targets(rows, cols, rng, 0.2);
    for (std::size_t j = 0; j < cols; ++j) {
      if (j % 3 == 1) x[2 * cols + j] = -inf;       // masked classes
      x[5 * cols + j] = T(1e30) * x[5 * cols + j];  // huge logits
      x[6 * cols + j] = T(-80) + T(0.01) * T(j);    // the target far ahead
    }
    t[2] = 0;
    t[6] = 0;
    x[6 * cols] = T(7.77);
    if (cols > 1) {
      x[3 * cols + 1] = -inf;  // a masked target: loss +inf (weighted rows mix it into mean)
      t[3] = 1;
    }
    const auto w = random_weights<T>(cols, rng);
    for (const bool weighted : {false, true}) {
      for (const reduction red : {reduction::none, reduction::mean, reduction::sum}) {
        cross_entropy_options<T> opt;
        if (weighted) opt.weight = w;
        opt.reduce = red;
        if (red == reduction::sum) opt.base = bits;
        if (red != reduction::none && cols > 1) {
          // Reduced with a masked target the loss is +inf: that row is tested with none.
          auto t2 = t;
          t2[3] = kIgnore;
          expect_ce_matches_exact(x, rows, cols, &t2, nullptr, opt);
        } else {
          expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
        }
      }
    }
    // A row of -inf only: loss +inf, lse -inf, gradient -a at the target and 0 elsewhere.
    std::vector<T> y(3 * cols, T(0.5));
    std::fill(y.begin() + long(cols), y.begin() + long(2 * cols), -inf);
    cross_entropy_options<T> opt;
    opt.reduce = reduction::none;
    std::vector<T> loss(3), grad(3 * cols), lse(3);
    const std::vector<std::int64_t> ty = {0, std::int64_t(cols - 1), kIgnore};
    cross_entropy_loss(matrix_view<T>(y, 3, cols), ty, opt, {loss, grad, lse});
    EXPECT_EQ(loss[1], inf);
    EXPECT_EQ(lse[1], -inf);
    EXPECT_EQ(loss[2], T(0));
    for (std::size_t j = 0; j < cols; ++j) {
      EXPECT_EQ(grad[cols + j], j == cols - 1 ? T(-1) : T(0)) << j;
      EXPECT_EQ(grad[2 * cols + j], T(0)) << j;
    }
    EXPECT_NEAR(double(loss[0]), std::log(double(cols)), 1e-6);
    // In place, and with another number of threads, the same bits.
    std::vector<T> loss2(3), lse2(3);
    auto buffer = y;
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    cross_entropy_loss_in_place(std::span<T>(buffer), 3, cols, ty, opt, loss2, lse2);
    omp_set_num_threads(threads);
    EXPECT_EQ(buffer, grad);
    EXPECT_EQ(loss, loss2);
    EXPECT_EQ(lse, lse2);
  }
}

TEST_P(every_isa, short_rows_match_exact_values) {
  expect_short_rows_match_exact<float>();
  expect_short_rows_match_exact<double>();
}

INSTANTIATE_TEST_SUITE_P(isa, every_isa, ::testing::ValuesIn(available_isas()));

// ---- every combination of options against exact values ---------------------------------

template <class T>
void expect_every_combination_matches_exact() {
  std::mt19937_64 rng(42);
  for (const std::size_t cols : {std::size_t{1}, std::size_t{5}, std::size_t{37}}) {
    const std::size_t rows = 7;
    auto x = random_logits<T>(rows * cols, rng);
    if (cols > 5) {
      for (std::size_t r = 0; r < 3; ++r) x[r * cols + 5] = -INFINITY;  // masked classes
    }
    const auto w = random_weights<T>(cols, rng);
    const auto p = random_probs<T>(rows, cols, rng, 0.2);
    auto t = random_targets(rows, cols, rng);
    auto t_ignored = t;
    t_ignored[1] = t_ignored[4] = 3;  // ignore_index 3 below (and class 3 if it exists)
    for (const bool by_probs : {false, true}) {
      for (const bool weighted : {false, true}) {
        for (const bool ignoring : {false, true}) {
          if (by_probs && ignoring) continue;  // ignore_index does not apply
          for (const reduction red : {reduction::none, reduction::mean, reduction::sum}) {
            for (const double eps : {0.0, 0.1, 1.0}) {
              for (const double z : {0.0, 1e-2}) {
                for (const double cap : {0.0, 2.5}) {
                  for (const log_base base : {nats, bits}) {
                    cross_entropy_options<T> opt;
                    if (weighted) opt.weight = w;
                    opt.ignore_index = ignoring ? 3 : kIgnore;
                    opt.reduce = red;
                    opt.label_smoothing = eps;
                    opt.z_loss = z;
                    opt.softcap = cap;
                    opt.base = base;
                    expect_ce_matches_exact(x, rows, cols,
                                            by_probs ? nullptr : &(ignoring ? t_ignored : t),
                                            by_probs ? &p : nullptr, opt);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(cross_entropy_loss, every_combination_matches_exact_values_double) {
  expect_every_combination_matches_exact<double>();
}
TEST(cross_entropy_loss, every_combination_matches_exact_values_float) {
  expect_every_combination_matches_exact<float>();
}

// ---- gradients by finite differences ------------------------------------------------------

/// The loss as a function of the logits: the reduced loss, or the sum of the rows for none.
double total_loss(const std::vector<double>& x, std::size_t rows, std::size_t cols,
                  const std::vector<std::int64_t>* target, const std::vector<double>* probs,
                  const cross_entropy_options<double>& opt) {
  std::vector<double> loss(opt.reduce == reduction::none ? rows : 1);
  const matrix_view<double> logits(x, rows, cols);
  if (target != nullptr) {
    cross_entropy_loss(logits, *target, opt, {loss, {}, {}});
  } else {
    cross_entropy_loss(logits, matrix_view<double>(*probs, rows, cols), opt, {loss, {}, {}});
  }
  double sum = 0;
  for (const double v : loss) sum += v;
  return sum;
}

TEST(cross_entropy_loss, gradients_match_finite_differences_for_every_option) {
  std::mt19937_64 rng(5);
  const std::size_t rows = 4;
  const std::size_t cols = 5;
  const auto x = random_logits<double>(rows * cols, rng, 2.0);
  const auto w = random_weights<double>(cols, rng);
  const auto p = random_probs<double>(rows, cols, rng);
  const std::vector<std::int64_t> t = {2, kIgnore, 0, 4};
  int checked = 0;
  for (const bool by_probs : {false, true}) {
    for (const bool weighted : {false, true}) {
      for (const reduction red : {reduction::none, reduction::mean, reduction::sum}) {
        for (const double eps : {0.0, 0.2}) {
          for (const double z : {0.0, 0.05}) {
            for (const double cap : {0.0, 1.5}) {
              for (const log_base base : {nats, bits}) {
                cross_entropy_options<double> opt;
                if (weighted) opt.weight = w;
                opt.reduce = red;
                opt.label_smoothing = eps;
                opt.z_loss = z;
                opt.softcap = cap;
                opt.base = base;
                const auto* target = by_probs ? nullptr : &t;
                const auto* probs = by_probs ? &p : nullptr;
                SCOPED_TRACE(describe(opt, by_probs));
                std::vector<double> loss(red == reduction::none ? rows : 1), grad(rows * cols);
                const matrix_view<double> logits(x, rows, cols);
                if (by_probs) {
                  cross_entropy_loss(logits, matrix_view<double>(p, rows, cols), opt,
                                     {loss, grad, {}});
                } else {
                  cross_entropy_loss(logits, t, opt, {loss, grad, {}});
                }
                for (std::size_t i = 0; i < rows * cols; ++i) {
                  const double h = 1e-5;
                  auto xp = x;
                  auto xm = x;
                  xp[i] += h;
                  xm[i] -= h;
                  const double fd = (total_loss(xp, rows, cols, target, probs, opt) -
                                     total_loss(xm, rows, cols, target, probs, opt)) /
                                    (2 * h);
                  EXPECT_NEAR(grad[i], fd, 1e-8) << "element " << i;
                  ++checked;
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 2 * 3 * 2 * 2 * 2 * 2 * 20);
}

// ---- edge cases -----------------------------------------------------------------------------

TEST(cross_entropy_loss, every_target_ignored_gives_zero_loss_and_gradient) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};
  const std::vector<std::int64_t> t = {kIgnore, kIgnore};
  for (const reduction red : {reduction::mean, reduction::sum, reduction::none}) {
    for (const double eps : {0.0, 0.3}) {
      cross_entropy_options<double> opt;
      opt.reduce = red;
      opt.label_smoothing = eps;
      opt.z_loss = 0.1;
      std::vector<double> loss(red == reduction::none ? 2 : 1, -1.0), grad(6, -1.0), lse(2);
      cross_entropy_loss(matrix_view<double>(x, 2, 3), t, opt, {loss, grad, lse});
      for (const double v : loss) EXPECT_EQ(v, 0.0);
      for (const double g : grad) EXPECT_EQ(g, 0.0);
      EXPECT_NEAR(lse[0], std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), 1e-15);
    }
  }
  // Also with weight 0 on every target that is kept.
  cross_entropy_options<double> opt;
  const std::vector<double> w = {0, 1, 1};
  opt.weight = w;
  EXPECT_EQ(cross_entropy_loss(matrix_view<double>(x, 2, 3), std::vector<std::int64_t>{0, 0}, opt),
            0.0);
  // No rows at all.
  EXPECT_EQ(cross_entropy_loss(matrix_view<double>({}, 0, 3), std::vector<std::int64_t>{}), 0.0);
}

TEST(cross_entropy_loss, minus_infinity_masks_a_class) {
  const double inf = HUGE_VAL;
  const std::vector<double> x = {0.5, -inf, 1.5, -inf, 0.5, -inf, 1.5, -inf};
  const std::vector<double> kept = {0.5, 1.5};
  std::vector<double> loss(2), grad(8), lse(2);
  cross_entropy_options<double> opt;
  opt.reduce = reduction::none;
  cross_entropy_loss(matrix_view<double>(x, 2, 4), std::vector<std::int64_t>{2, 1}, opt,
                     {loss, grad, lse});
  const double expected = std::log1p(std::exp(-1.0));
  EXPECT_NEAR(loss[0], expected, 1e-16);
  EXPECT_EQ(loss[1], inf);  // the target itself is masked
  EXPECT_EQ(grad[1], 0.0);
  EXPECT_EQ(grad[3], 0.0);
  EXPECT_NEAR(grad[0] + grad[2], 0.0, 1e-16);
  EXPECT_EQ(grad[5], -1.0);  // the masked target: s - 1 with s = 0
  EXPECT_TRUE(std::isfinite(grad[4]) && std::isfinite(grad[6]));
  EXPECT_NEAR(lse[0], 1.5 + expected, 1e-15);
  // Smoothing puts mass on the masked classes: +inf, as in PyTorch.
  opt.label_smoothing = 0.1;
  cross_entropy_loss(matrix_view<double>(x, 2, 4), std::vector<std::int64_t>{2, 0}, opt,
                     {loss, grad, lse});
  EXPECT_EQ(loss[0], inf);
  // Unless their weight is 0.
  const std::vector<double> w = {1, 0, 1, 0};
  opt.weight = w;
  cross_entropy_loss(matrix_view<double>(x, 2, 4), std::vector<std::int64_t>{2, 0}, opt,
                     {loss, grad, lse});
  EXPECT_TRUE(std::isfinite(loss[0]));
  // Softcap keeps a masked class masked.
  opt = {};
  opt.reduce = reduction::none;
  opt.softcap = 3.0;
  cross_entropy_loss(matrix_view<double>(x, 2, 4), std::vector<std::int64_t>{2, 1}, opt,
                     {loss, grad, lse});
  EXPECT_NEAR(loss[0], std::log1p(std::exp(3.0 * (std::tanh(0.5 / 3) - std::tanh(1.5 / 3)))),
              1e-15);
  EXPECT_EQ(loss[1], inf);
  EXPECT_EQ(grad[1], 0.0);
  // A row of -inf only.
  const std::vector<double> all(3, -inf);
  EXPECT_EQ(cross_entropy_loss(matrix_view<double>(all, 1, 3), std::vector<std::int64_t>{1}), inf);
}

template <class T>
void expect_huge_logits_are_exact(double magnitude) {
  std::mt19937_64 rng(9);
  const std::size_t rows = 6;
  const std::size_t cols = 40;
  auto x = random_logits<T>(rows * cols, rng, magnitude);
  auto t = random_targets(rows, cols, rng);
  // Row 0: all equal (loss = ln C exactly); row 1: the target far ahead (loss tiny, no
  // cancellation); row 2: the target one ulp-ish behind the max.
  std::fill(x.begin(), x.begin() + cols, T(magnitude));
  for (std::size_t j = 0; j < cols; ++j) x[cols + j] = T(magnitude - 40.0 - double(j));
  x[cols + 3] = T(magnitude);
  t[1] = 3;
  for (const double eps : {0.0, 0.1}) {
    for (const double cap : {0.0, 50.0}) {
      cross_entropy_options<T> opt;
      opt.reduce = reduction::none;
      opt.label_smoothing = eps;
      opt.softcap = cap;
      expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
      opt.reduce = reduction::mean;
      expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
    }
  }
  std::vector<T> loss(1);
  cross_entropy_options<T> opt;
  cross_entropy_loss(matrix_view<T>(std::span<const T>(x.data(), cols), 1, cols),
                     std::vector<std::int64_t>{7}, opt, {loss, {}, {}});
  EXPECT_LE(rel(loss[0], std::log(double(cols))), kLossTolerance<T>);
}

TEST(cross_entropy_loss, huge_logits_are_exact) {
  expect_huge_logits_are_exact<double>(1e4);
  expect_huge_logits_are_exact<float>(1e4);
  expect_huge_logits_are_exact<double>(1e30);
  expect_huge_logits_are_exact<float>(1e30);
  expect_huge_logits_are_exact<double>(1e300);
}

TEST(cross_entropy_loss, tiny_losses_keep_their_digits) {
  // The target leads by 30: the loss is about 4e-12 and the float result is exact to 2e-6.
  std::vector<float> x(10, 0.0F);
  x[4] = 30.0F;
  const float loss = cross_entropy_loss(matrix_view<float>(x, 1, 10), std::vector<std::int64_t>{4});
  EXPECT_LE(rel(loss, std::log1p(9 * std::exp(-30.0))), 2e-6);
}

template <class T>
void expect_long_rows_are_exact(std::size_t cols) {
  std::mt19937_64 rng(13);
  const std::size_t rows = 3;
  const auto x = random_logits<T>(rows * cols, rng, 4.0);
  const auto t = random_targets(rows, cols, rng);
  const auto w = random_weights<T>(cols, rng);
  const auto p = random_probs<T>(rows, cols, rng);
  cross_entropy_options<T> opt;
  expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
  opt.weight = w;
  opt.label_smoothing = 0.1;
  opt.z_loss = 1e-4;
  opt.reduce = reduction::none;
  expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
  expect_ce_matches_exact(x, rows, cols, nullptr, &p, opt);
}

TEST(cross_entropy_loss, wide_rows_are_exact) {
  expect_long_rows_are_exact<float>(50000);
  expect_long_rows_are_exact<double>(50000);
  expect_long_rows_are_exact<float>(100003);  // in slices of a row
}

TEST(cross_entropy_loss, many_rows_in_parallel_are_exact) {
  std::mt19937_64 rng(17);
  const std::size_t rows = 300;
  const std::size_t cols = 333;
  const auto x = random_logits<float>(rows * cols, rng, 4.0);
  const auto t = random_targets(rows, cols, rng, 0.1);
  cross_entropy_options<float> opt;
  opt.label_smoothing = 0.05;
  expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
}

template <class T>
void expect_in_place_equals_out_of_place() {
  std::mt19937_64 rng(19);
  for (const std::size_t cols : {std::size_t{3}, std::size_t{1000}, std::size_t{70001}}) {
    const std::size_t rows = cols > 1000 ? 2 : 50;
    const auto x = random_logits<T>(rows * cols, rng);
    const auto t = random_targets(rows, cols, rng, 0.2);
    const auto p = random_probs<T>(rows, cols, rng);
    for (const bool by_probs : {false, true}) {
      cross_entropy_options<T> opt;
      opt.label_smoothing = 0.1;
      opt.z_loss = 1e-3;
      opt.softcap = 10;
      std::vector<T> loss(1), grad(rows * cols), lse(rows);
      std::vector<T> loss2(1), lse2(rows);
      auto buffer = x;
      const matrix_view<T> logits(x, rows, cols);
      if (by_probs) {
        const matrix_view<T> target(p, rows, cols);
        cross_entropy_loss(logits, target, opt, {loss, grad, lse});
        cross_entropy_loss_in_place(std::span<T>(buffer), rows, cols, target, opt, loss2, lse2);
      } else {
        cross_entropy_loss(logits, t, opt, {loss, grad, lse});
        cross_entropy_loss_in_place(std::span<T>(buffer), rows, cols, t, opt, loss2, lse2);
      }
      EXPECT_EQ(loss, loss2);
      EXPECT_EQ(lse, lse2);
      EXPECT_EQ(grad, buffer);
      // The general call with grad over the logits buffer is the same.
      auto buffer2 = x;
      if (by_probs) {
        cross_entropy_loss(matrix_view<T>(buffer2, rows, cols), matrix_view<T>(p, rows, cols), opt,
                           {loss2, buffer2, {}});
      } else {
        cross_entropy_loss(matrix_view<T>(buffer2, rows, cols), t, opt, {loss2, buffer2, {}});
      }
      EXPECT_EQ(loss, loss2);
      EXPECT_EQ(grad, buffer2);
    }
  }
}

TEST(cross_entropy_loss, in_place_equals_out_of_place) {
  expect_in_place_equals_out_of_place<float>();
  expect_in_place_equals_out_of_place<double>();
}

TEST(cross_entropy_loss, results_do_not_depend_on_the_number_of_threads) {
  std::mt19937_64 rng(23);
  for (const auto& [rows, cols] : {std::pair<std::size_t, std::size_t>{400, 300}, {3, 140000}}) {
    const auto x = random_logits<float>(rows * cols, rng);
    const auto t = random_targets(rows, cols, rng, 0.1);
    cross_entropy_options<float> opt;
    opt.label_smoothing = 0.1;
    std::vector<float> loss1(1), grad1(rows * cols), loss2(1), grad2(rows * cols);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    cross_entropy_loss(matrix_view<float>(x, rows, cols), t, opt, {loss1, grad1, {}});
    omp_set_num_threads(std::max(threads, 3));
    cross_entropy_loss(matrix_view<float>(x, rows, cols), t, opt, {loss2, grad2, {}});
    omp_set_num_threads(threads);
    EXPECT_EQ(loss1, loss2);
    EXPECT_EQ(grad1, grad2);
  }
}

TEST(cross_entropy_loss, fast_path_in_place_and_threads_agree) {
  // Float logits, class indices, no smoothing, softcap or z_loss: the fast path. Rows in
  // batches (up to 4096), rows one by one, and long rows in slices (140000 > 2 * 32768).
  std::mt19937_64 rng(37);
  for (const auto& [rows, cols] :
       {std::pair<std::size_t, std::size_t>{400, 300}, {7, 1500}, {6, 5000}, {3, 140000}}) {
    const auto x = random_logits<float>(rows * cols, rng, 4.0);
    const auto t = random_targets(rows, cols, rng, 0.1);
    for (const reduction red : {reduction::mean, reduction::none}) {
      cross_entropy_options<float> opt;
      opt.reduce = red;
      const std::size_t n_loss = red == reduction::none ? rows : 1;
      std::vector<float> loss1(n_loss), grad1(rows * cols), lse1(rows);
      std::vector<float> loss2(n_loss), grad2(rows * cols), lse2(rows);
      const int threads = omp_get_max_threads();
      omp_set_num_threads(1);
      cross_entropy_loss(matrix_view<float>(x, rows, cols), t, opt, {loss1, grad1, lse1});
      omp_set_num_threads(std::max(threads, 3));
      cross_entropy_loss(matrix_view<float>(x, rows, cols), t, opt, {loss2, grad2, lse2});
      omp_set_num_threads(threads);
      EXPECT_EQ(loss1, loss2);
      EXPECT_EQ(lse1, lse2);
      EXPECT_EQ(grad1, grad2);
      auto buffer = x;
      cross_entropy_loss_in_place(std::span<float>(buffer), rows, cols, t, opt, loss2, lse2);
      EXPECT_EQ(loss1, loss2);
      EXPECT_EQ(lse1, lse2);
      EXPECT_EQ(grad1, buffer);
      if (cols > 100000) {
        expect_ce_matches_exact(x, rows, cols, &t, nullptr, opt);
      }
    }
  }
}

TEST(cross_entropy_loss, fast_path_edge_rows) {
  const float inf = INFINITY;
  cross_entropy_options<float> opt;
  opt.reduce = reduction::none;
  // Masked classes, a masked target, a row of -inf only, logits near -FLT_MAX (no float
  // lies far enough below the max to clamp -inf to), a row whose max is raised past the
  // capacity of the event list: as the exact values, -inf giving gradient 0 exactly.
  const std::size_t cols = 3000;
  std::vector<float> x(5 * cols, 0.5F);
  for (std::size_t j = 0; j < cols; ++j) {
    x[j] = j % 2 == 0 ? -inf : float(j % 7);
    x[cols + j] = j == 5 ? -inf : float(j % 5);
    x[2 * cols + j] = -inf;
    x[3 * cols + j] = j % 3 == 0 ? -inf : -FLT_MAX;
    x[4 * cols + j] = 0.01F * float(j);
  }
  x[3 * cols + 7] = -3e38F;
  const std::vector<std::int64_t> t = {1, 5, 0, 7, 2};
  std::vector<float> loss(5), grad(5 * cols), lse(5);
  cross_entropy_loss(matrix_view<float>(x, 5, cols), t, opt, {loss, grad, lse});
  EXPECT_EQ(loss[1], inf);
  EXPECT_EQ(loss[2], inf);
  EXPECT_EQ(lse[2], -inf);
  for (std::size_t j = 0; j < cols; ++j) {
    if (x[j] == -inf) EXPECT_EQ(grad[j], 0.0F) << j;
    if (x[3 * cols + j] == -inf) EXPECT_EQ(grad[3 * cols + j], 0.0F) << j;
    EXPECT_EQ(grad[2 * cols + j], j == 0 ? -1.0F : 0.0F);
  }
  EXPECT_EQ(grad[cols + 5], -1.0F);
  std::vector<float> finite;
  for (const std::size_t r : {std::size_t{0}, std::size_t{3}, std::size_t{4}}) {
    finite.insert(finite.end(), x.begin() + long(r * cols), x.begin() + long((r + 1) * cols));
  }
  const std::vector<std::int64_t> t_finite = {1, 7, 2};
  expect_ce_matches_exact(finite, 3, cols, &t_finite, nullptr, opt);
}

TEST(cross_entropy_loss, fast_path_keeps_subnormal_gradients) {
  // The target leads by 96: the other classes' gradients are about 2e-42 (subnormal), their
  // sum, the loss, about 4e-38 (normal).
  const std::size_t cols = 20000;
  std::vector<float> x(cols, 0.0F);
  x[3] = 96.0F;
  cross_entropy_options<float> opt;
  opt.reduce = reduction::sum;
  const std::vector<std::int64_t> t = {3};
  expect_ce_matches_exact(x, 1, cols, &t, nullptr, opt);
  std::vector<float> loss(1), grad(cols);
  cross_entropy_loss(matrix_view<float>(x, 1, cols), t, opt, {loss, grad, {}});
  EXPECT_NEAR(grad[0], std::exp(-96.0), FLT_TRUE_MIN);
  EXPECT_NEAR(loss[0], double(cols - 1) * std::exp(-96.0), 1e-6 * loss[0]);
}

TEST(cross_entropy_loss, unchecked_nan_gives_nan_rows) {
  std::vector<double> x = {0, 1, 2, 3, std::nan(""), 5};
  cross_entropy_options<double> opt;
  opt.unchecked = true;
  opt.reduce = reduction::none;
  std::vector<double> loss(2), grad(6), lse(2);
  cross_entropy_loss(matrix_view<double>(x, 2, 3), std::vector<std::int64_t>{0, 1}, opt,
                     {loss, grad, lse});
  EXPECT_TRUE(std::isfinite(loss[0]));
  EXPECT_TRUE(std::isnan(loss[1]));
  EXPECT_TRUE(std::isnan(grad[3]) && std::isnan(lse[1]));
}

TEST(cross_entropy_loss, ignored_rows_may_hold_anything) {
  std::vector<double> x = {0, 1, 2, std::nan(""), HUGE_VAL, 5};
  std::vector<double> loss(1), grad(6, -1.0), lse(2);
  cross_entropy_loss(matrix_view<double>(x, 2, 3), std::vector<std::int64_t>{1, kIgnore}, {},
                     {loss, grad, lse});
  EXPECT_NEAR(loss[0], std::log(std::exp(0.0) + std::exp(1.0) + std::exp(2.0)) - 1.0, 1e-15);
  EXPECT_TRUE(std::isnan(lse[1]));
  for (std::size_t j = 3; j < 6; ++j) EXPECT_EQ(grad[j], 0.0);
}

TEST(cross_entropy_loss, fast_path_unchecked_and_ignored_rows) {
  // Float and class indices: the fast path, for short rows (3) and rows one by one (5000).
  for (const std::size_t cols : {std::size_t{3}, std::size_t{5000}}) {
    std::vector<float> x(3 * cols, 0.5F);
    x[cols + 1] = std::nanf("");  // row 1: NaN, kept (unchecked: NaN row)
    x[2 * cols] = INFINITY;       // row 2: +inf, ignored (adds nothing)
    x[2 * cols + 1] = std::nanf("");
    const std::vector<std::int64_t> t = {1, 0, kIgnore};
    cross_entropy_options<float> opt;
    opt.unchecked = true;
    opt.reduce = reduction::none;
    std::vector<float> loss(3), grad(3 * cols, -1.0F), lse(3);
    cross_entropy_loss(matrix_view<float>(x, 3, cols), t, opt, {loss, grad, lse});
    EXPECT_NEAR(loss[0], std::log(double(cols)), 1e-6);
    EXPECT_TRUE(std::isnan(loss[1]) && std::isnan(lse[1]));
    EXPECT_EQ(loss[2], 0.0F);
    EXPECT_TRUE(std::isnan(lse[2]));
    for (std::size_t j = 0; j < cols; ++j) {
      EXPECT_TRUE(std::isnan(grad[cols + j])) << j;
      EXPECT_EQ(grad[2 * cols + j], 0.0F) << j;
    }
    // Checked, the ignored row still adds nothing; the NaN row is an error.
    opt.unchecked = false;
    x[cols + 1] = 0.5F;
    cross_entropy_loss(matrix_view<float>(x, 3, cols), t, opt, {loss, grad, lse});
    EXPECT_NEAR(loss[1], std::log(double(cols)), 1e-6);
    EXPECT_TRUE(std::isnan(lse[2]));
  }
}

TEST(cross_entropy_loss, bits_give_the_seed_loss_of_the_softmax) {
  const std::vector<double> x = {0.1, 2.0, -1.0, 0.5};
  double z = 0;
  for (const double v : x) z += std::exp(v);
  const std::vector<double> q = {std::exp(0.1) / z, std::exp(2.0) / z, std::exp(-1.0) / z,
                                 std::exp(0.5) / z};
  cross_entropy_options<double> opt;
  opt.base = bits;
  EXPECT_NEAR(cross_entropy_loss(matrix_view<double>(x, 1, 4), std::vector<std::int64_t>{2}, opt),
              cross_entropy_loss(std::span<const double>(q), 2), 1e-14);
}

// ---- errors -----------------------------------------------------------------------------------

template <class E, class F>
void expect_error(F&& f, const std::string& substring) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing: " << substring;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(substring), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TEST(cross_entropy_loss, bad_input_names_what_and_where) {
  const std::vector<float> x(12, 0.5F);
  const matrix_view<float> logits(x, 3, 4);
  const std::vector<std::int64_t> t = {0, 1, 2};
  std::vector<float> loss(1), grad(12);
  const auto call = [&](std::vector<std::int64_t> target, cross_entropy_options<float> opt) {
    cross_entropy_loss(logits, target, opt, {loss, {}, {}});
  };
  expect_error<invalid_option>(
      [&] {
        call({0, 12, 1}, {});
      },
      "target[1] = 12 is out of range for 4 classes (and is not "
      "ignore_index -100)");
  expect_error<invalid_option>([&] { call({0, 1, -1}, {}); }, "target[2] = -1 is out of range");
  expect_error<shape_mismatch>(
      [&] {
        call({0, 1}, {});
      },
      "target has 2 class indices for 3 rows of logits");
  const std::vector<float> w3(3, 1.0F);
  cross_entropy_options<float> opt;
  opt.weight = w3;
  expect_error<shape_mismatch>([&] { call(t, opt); }, "weight has 3 elements for 4 classes");
  const std::vector<float> w_bad = {1, 2, -1, 1};
  opt.weight = w_bad;
  expect_error<invalid_option>([&] { call(t, opt); }, "weight[2] = -1 is negative");
  opt = {};
  opt.label_smoothing = 1.5;
  expect_error<invalid_option>([&] { call(t, opt); }, "label_smoothing = 1.5 is outside [0, 1]");
  opt.label_smoothing = std::nan("");
  expect_error<invalid_option>([&] { call(t, opt); }, "label_smoothing = nan is outside [0, 1]");
  opt = {};
  opt.z_loss = -1;
  expect_error<invalid_option>([&] { call(t, opt); }, "z_loss = -1 must be finite and >= 0");
  opt = {};
  opt.softcap = -2;
  expect_error<invalid_option>([&] { call(t, opt); }, "softcap = -2 must be 0 (off)");
  opt = {};
  opt.reduce = reduction::batchmean;
  expect_error<invalid_option>([&] { call(t, opt); }, "reduction batchmean applies to kl_div_loss");
  expect_error<invalid_option>([] { (void)parse_reduction("avg"); },
                               "reduction 'avg' is unknown: use none, mean, sum or batchmean");
  EXPECT_EQ(parse_reduction("batchmean"), reduction::batchmean);
  EXPECT_EQ(reduction_name(parse_reduction("none")), "none");

  opt = {};
  expect_error<shape_mismatch>(
      [&] {
        cross_entropy_loss(logits, t, opt, {std::span<float>(grad).first(3), {}, {}});
      },
      "loss has 3 elements but reduction mean writes 1");
  opt.reduce = reduction::none;
  expect_error<shape_mismatch>(
      [&] {
        cross_entropy_loss(logits, t, opt, {loss, {}, {}});
      },
      "loss has 1 element but reduction none writes 3 rows");
  opt = {};
  expect_error<shape_mismatch>(
      [&] {
        cross_entropy_loss(logits, t, opt, {loss, std::span<float>(grad).first(5), {}});
      },
      "grad has 5 elements but logits (3 x 4) has 12");
  expect_error<shape_mismatch>(
      [&] {
        cross_entropy_loss(logits, t, opt, {loss, {}, std::span<float>(grad).first(2)});
      },
      "lse has 2 elements for 3 rows");
  std::vector<float> buffer(13, 0.0F);
  expect_error<invalid_option>(
      [&] {
        cross_entropy_loss(matrix_view<float>(std::span<const float>(buffer).first(12), 3, 4), t,
                           opt, {loss, std::span<float>(buffer).subspan(1), {}});
      },
      "grad overlaps logits without being the same buffer");
  expect_error<invalid_option>(
      [&] {
        (void)cross_entropy_loss(logits, t,
                                 cross_entropy_options<float>{{}, -100, reduction::none});
      },
      "reduction none gives one loss per row");
  expect_error<shape_mismatch>([&] { (void)matrix_view<float>(x, 5, 4); },
                               "matrix of 5 x 4 needs 20 values, got 12");

  auto x_nan = x;
  x_nan[6] = std::nanf("");
  expect_error<invalid_distribution>(
      [&] { (void)cross_entropy_loss(matrix_view<float>(x_nan, 3, 4), t); },
      "logits[1][2] = nan is not a number");
  auto x_inf = x;
  x_inf[11] = INFINITY;
  expect_error<invalid_distribution>(
      [&] { (void)cross_entropy_loss(matrix_view<float>(x_inf, 3, 4), t); },
      "logits[2][3] = inf: a logit of +inf has no softmax");

  std::vector<float> p(12, 0.25F);
  p[5] = -0.25F;
  p[6] = 0.75F;
  expect_error<invalid_distribution>(
      [&] { (void)cross_entropy_loss(logits, matrix_view<float>(p, 3, 4)); },
      "target[1][1] = -0.25 is negative");
  p[5] = 0.25F;
  p[6] = 0.5F;
  expect_error<invalid_distribution>(
      [&] { (void)cross_entropy_loss(logits, matrix_view<float>(p, 3, 4)); },
      "target[1] sums to 1.25, not 1");
  expect_error<shape_mismatch>(
      [&] { (void)cross_entropy_loss(logits, matrix_view<float>(std::span(p).first(8), 2, 4)); },
      "target is 2 x 4 but logits are 3 x 4");
  cross_entropy_options<float> ignoring;
  ignoring.ignore_index = 2;
  expect_error<invalid_option>(
      [&] { (void)cross_entropy_loss(logits, matrix_view<float>(p, 3, 4), ignoring); },
      "ignore_index = 2 applies to class-index targets only");
  // Unchecked: no value checks (but indices are still checked).
  cross_entropy_options<float> unchecked;
  unchecked.unchecked = true;
  EXPECT_NO_THROW((void)cross_entropy_loss(logits, matrix_view<float>(p, 3, 4), unchecked));
  expect_error<invalid_option>(
      [&] {
        call({0, 4, 1}, unchecked);
      },
      "target[1] = 4 is out of range");
}

TEST(cross_entropy_loss, fast_path_in_place_error_names_the_bad_logit) {
  // Pass 1 writes over the logits before a NaN shows in its sum: the NaN stays where it was.
  for (const std::size_t cols : {std::size_t{12}, std::size_t{5000}}) {
    std::vector<float> x(3 * cols, 0.5F);
    x[cols + cols / 2] = std::nanf("");
    std::vector<float> loss(1);
    const std::string where = "logits[1][" + std::to_string(cols / 2) + "] = nan is not a number";
    expect_error<invalid_distribution>(
        [&] {
          cross_entropy_loss_in_place(std::span<float>(x), 3, cols,
                                      std::vector<std::int64_t>{0, 1, 2}, {}, loss);
        },
        where);
    x[cols + cols / 2] = INFINITY;
    expect_error<invalid_distribution>(
        [&] {
          cross_entropy_loss_in_place(std::span<float>(x), 3, cols,
                                      std::vector<std::int64_t>{0, 1, 2}, {}, loss);
        },
        "logits[1][" + std::to_string(cols / 2) + "] = inf");
    // The target itself NaN (left out of the sum).
    std::vector<float> y(2 * cols, 0.5F);
    y[cols + 1] = std::nanf("");
    expect_error<invalid_distribution>(
        [&] {
          (void)cross_entropy_loss(matrix_view<float>(y, 2, cols), std::vector<std::int64_t>{0, 1});
        },
        "logits[1][1] = nan is not a number");
  }
}

template <class T>
void expect_short_rows_bad_and_ignored() {
  for (const std::size_t cols : {std::size_t{3}, std::size_t{10}, std::size_t{100}}) {
    std::vector<T> x(11 * cols, T(0.5));
    x[cols + 1] = std::numeric_limits<T>::quiet_NaN();  // row 1: NaN, kept
    x[2 * cols] = std::numeric_limits<T>::infinity();   // row 2: +inf, ignored
    x[2 * cols + 1] = std::numeric_limits<T>::quiet_NaN();
    std::vector<std::int64_t> t(11, 0);
    t[2] = kIgnore;
    t[1] = 0;
    cross_entropy_options<T> opt;
    opt.unchecked = true;
    opt.reduce = reduction::none;
    std::vector<T> loss(11), grad(11 * cols, T(-1)), lse(11);
    cross_entropy_loss(matrix_view<T>(x, 11, cols), t, opt, {loss, grad, lse});
    EXPECT_NEAR(double(loss[0]), std::log(double(cols)), 1e-6);
    EXPECT_TRUE(std::isnan(loss[1]) && std::isnan(lse[1]));
    EXPECT_EQ(loss[2], T(0));
    EXPECT_TRUE(std::isnan(lse[2]));
    for (std::size_t j = 0; j < cols; ++j) {
      EXPECT_TRUE(std::isnan(grad[cols + j])) << j;
      EXPECT_EQ(grad[2 * cols + j], T(0)) << j;
    }
    // Checked: the ignored row adds nothing; in place, the error names the NaN where it was.
    opt.unchecked = false;
    x[9 * cols + cols / 2] = std::numeric_limits<T>::quiet_NaN();
    x[cols + 1] = T(0.5);
    std::vector<T> one(1);
    expect_error<invalid_distribution>(
        [&] {
          cross_entropy_loss_in_place(std::span<T>(x), 11, cols, t, cross_entropy_options<T>{},
                                      one);
        },
        "logits[9][" + std::to_string(cols / 2) + "] = nan is not a number");
  }
}

TEST_P(every_isa, short_rows_bad_and_ignored_rows) {
  expect_short_rows_bad_and_ignored<float>();
  expect_short_rows_bad_and_ignored<double>();
}

// ---- kl_div_loss -------------------------------------------------------------------------------

template <class T>
void expect_kl_div_matches_exact() {
  std::mt19937_64 rng(29);
  const std::size_t rows = 6;
  const std::size_t cols = 9;
  const auto log_q = random_logits<T>(rows * cols, rng, 1.0, -2.0);
  const auto p = random_probs<T>(rows, cols, rng, 0.3);
  const auto log_p = random_logits<T>(rows * cols, rng, 1.0, -2.0);
  for (const bool log_target : {false, true}) {
    const auto& t = log_target ? log_p : p;
    for (const reduction red :
         {reduction::none, reduction::mean, reduction::sum, reduction::batchmean}) {
      kl_div_options opt;
      opt.reduce = red;
      opt.log_target = log_target;
      const std::size_t n = rows * cols;
      std::vector<T> loss(red == reduction::none ? n : 1), grad(n);
      kl_div_loss(matrix_view<T>(log_q, rows, cols), matrix_view<T>(t, rows, cols), opt,
                  {loss, grad, {}});
      quad sum = 0;
      std::vector<double> elem(n);
      const quad divisor = red == reduction::mean        ? quad(n)
                           : red == reduction::batchmean ? quad(rows)
                                                         : quad(1);
      for (std::size_t i = 0; i < n; ++i) {
        const quad pi = log_target ? expq(quad(t[i])) : quad(t[i]);
        const quad l = pi == 0 ? 0 : pi * ((log_target ? quad(t[i]) : logq(pi)) - quad(log_q[i]));
        elem[i] = double(l);
        sum += l;
        EXPECT_LE(rel(grad[i], double(-pi / divisor)), sizeof(T) == 4 ? 1e-7 : 1e-15);
      }
      if (red == reduction::none) {
        for (std::size_t i = 0; i < n; ++i) {
          const double pi = log_target ? std::exp(double(t[i])) : double(t[i]);
          if (pi == 0) {
            EXPECT_EQ(loss[i], T(0));
            continue;
          }
          const double bound = pi * (std::fabs(std::log(pi)) + std::fabs(double(log_q[i])));
          EXPECT_LE(std::fabs(double(loss[i]) - elem[i]), (sizeof(T) == 4 ? 1e-7 : 1e-15) * bound);
        }
      } else {
        expect_loss_near<T>(loss[0], double(sum / divisor));
      }
    }
  }
}

TEST(kl_div_loss, matches_exact_values) {
  expect_kl_div_matches_exact<float>();
  expect_kl_div_matches_exact<double>();
}

TEST(kl_div_loss, matches_pytorch_conventions_at_the_edges) {
  const double inf = HUGE_VAL;
  // p = 0 gives 0 whatever the input; p > 0 with q = 0 (input -inf) gives +inf.
  const std::vector<double> input = {-inf, -inf, -1.0};
  const std::vector<double> target = {0.0, 0.5, 0.5};
  kl_div_options opt;
  opt.reduce = reduction::none;
  std::vector<double> loss(3), grad(3);
  kl_div_loss(matrix_view<double>(input, 3, 1), matrix_view<double>(target, 3, 1), opt,
              {loss, grad, {}});
  EXPECT_EQ(loss[0], 0.0);
  EXPECT_EQ(loss[1], inf);
  EXPECT_NEAR(loss[2], 0.5 * (std::log(0.5) + 1.0), 1e-16);
  EXPECT_EQ(grad[1], -0.5);
  opt.reduce = reduction::sum;
  EXPECT_EQ(kl_div_loss(matrix_view<double>(input, 3, 1), matrix_view<double>(target, 3, 1), opt),
            inf);
  // The mean of nothing is 0.
  EXPECT_EQ(kl_div_loss(matrix_view<double>({}, 0, 0), matrix_view<double>({}, 0, 0)), 0.0);
}

TEST(kl_div_loss, gradients_match_finite_differences) {
  std::mt19937_64 rng(31);
  const auto x = random_logits<double>(12, rng, 1.0, -2.0);
  const auto p = random_probs<double>(3, 4, rng);
  for (const reduction red : {reduction::mean, reduction::sum, reduction::batchmean}) {
    kl_div_options opt;
    opt.reduce = red;
    std::vector<double> loss(1), grad(12);
    kl_div_loss(matrix_view<double>(x, 3, 4), matrix_view<double>(p, 3, 4), opt, {loss, grad, {}});
    for (std::size_t i = 0; i < 12; ++i) {
      auto xp = x;
      auto xm = x;
      xp[i] += 1e-5;
      xm[i] -= 1e-5;
      const double fd =
          (kl_div_loss(matrix_view<double>(xp, 3, 4), matrix_view<double>(p, 3, 4), opt) -
           kl_div_loss(matrix_view<double>(xm, 3, 4), matrix_view<double>(p, 3, 4), opt)) /
          2e-5;
      EXPECT_NEAR(grad[i], fd, 1e-9);
    }
  }
}

TEST(kl_div_loss, bad_input_names_what_and_where) {
  const std::vector<double> x = {-1, -2, -3, -4};
  std::vector<double> p = {0.5, 0.5, 0.5, 0.5};
  const matrix_view<double> input(x, 2, 2);
  auto bad = x;
  bad[3] = std::nan("");
  expect_error<invalid_distribution>(
      [&] { (void)kl_div_loss(matrix_view<double>(bad, 2, 2), matrix_view<double>(p, 2, 2)); },
      "input[1][1] = nan is not a number");
  p[2] = -0.5;
  expect_error<invalid_distribution>(
      [&] { (void)kl_div_loss(input, matrix_view<double>(p, 2, 2)); },
      "target[1][0] = -0.5 is negative");
  expect_error<shape_mismatch>([&] { (void)kl_div_loss(input, matrix_view<double>(p, 1, 4)); },
                               "target is 1 x 4 but input is 2 x 2");
  kl_div_options opt;
  opt.reduce = reduction::none;
  expect_error<invalid_option>([&] { (void)kl_div_loss(input, matrix_view<double>(p, 2, 2), opt); },
                               "reduction none gives one loss per element");
}

// ---- binary_cross_entropy_with_logits ----------------------------------------------------------

/// Exact BCE elements and gradient (unscaled) in quad precision.
template <class T>
void exact_bce(const std::vector<T>& x, const std::vector<T>& y, std::size_t rows, std::size_t cols,
               const bce_options<T>& opt, std::vector<quad>& loss, std::vector<quad>& grad,
               std::vector<quad>& grad_terms) {
  const std::size_t n = rows * cols;
  loss.assign(n, 0);
  grad.assign(n, 0);
  grad_terms.assign(n, 0);
  const auto softplus = [](quad v) { return fmaxq(v, 0) + log1pq(expq(-fabsq(v))); };
  const auto sigmoid = [](quad v) { return 1 / (1 + expq(-v)); };
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t nw = opt.weight.size();
    const std::size_t npw = opt.pos_weight.size();
    const quad w = nw == 0   ? 1
                   : nw == 1 ? opt.weight[0]
                   : nw == n ? opt.weight[i]
                             : opt.weight[i % cols];
    const quad pw = npw == 0 ? 1 : npw == 1 ? opt.pos_weight[0] : opt.pos_weight[i % cols];
    const quad xi = x[i];
    const quad yi = y[i];
    const quad pos = pw * yi;
    const quad neg = 1 - yi;
    loss[i] = w * ((pos != 0 ? pos * softplus(-xi) : 0) + (neg != 0 ? neg * softplus(xi) : 0));
    grad[i] = w * (neg * sigmoid(xi) - pos * sigmoid(-xi));
    grad_terms[i] = w * (fabsq(neg) * sigmoid(xi) + pos * sigmoid(-xi));
  }
}

template <class T>
void expect_bce_matches_exact() {
  std::mt19937_64 rng(37);
  const std::size_t rows = 5;
  const std::size_t cols = 7;
  const std::size_t n = rows * cols;
  for (const double scale : {3.0, 1e4}) {
    auto x = random_logits<T>(n, rng, scale);
    x[3] = T(INFINITY);
    x[4] = T(-INFINITY);
    std::vector<T> y(n);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (auto& v : y) v = T(u(rng) < 0.3 ? std::round(u(rng)) : u(rng));
    y[3] = 0;  // x = +inf with y = 0: +inf
    y[4] = 0;  // x = -inf with y = 0: 0
    const auto w_elem = random_weights<T>(n, rng);
    const auto w_col = random_weights<T>(cols, rng);
    const std::vector<T> w_one = {T(0.7)};
    const auto pw_col = random_weights<T>(cols, rng);
    const std::vector<T> pw_one = {T(1.3)};
    for (int weights = 0; weights < 4; ++weights) {
      for (int pos_weights = 0; pos_weights < 3; ++pos_weights) {
        for (const reduction red : {reduction::none, reduction::mean, reduction::sum}) {
          bce_options<T> opt;
          opt.reduce = red;
          if (weights == 1) opt.weight = w_one;
          if (weights == 2) opt.weight = w_col;
          if (weights == 3) opt.weight = w_elem;
          if (pos_weights == 1) opt.pos_weight = pw_one;
          if (pos_weights == 2) opt.pos_weight = pw_col;
          SCOPED_TRACE("scale " + std::to_string(scale) + ", weights " + std::to_string(weights) +
                       ", pos_weights " + std::to_string(pos_weights) + ", " +
                       std::string(reduction_name(red)));
          std::vector<T> loss(red == reduction::none ? n : 1), grad(n);
          binary_cross_entropy_with_logits(matrix_view<T>(x, rows, cols),
                                           matrix_view<T>(y, rows, cols), opt, {loss, grad, {}});
          std::vector<quad> el, eg, terms;
          exact_bce(x, y, rows, cols, opt, el, eg, terms);
          const double scale_g = red == reduction::mean ? 1.0 / double(n) : 1.0;
          quad sum = 0;
          for (std::size_t i = 0; i < n; ++i) {
            sum += el[i];
            const double g = double(eg[i]) * scale_g;
            // The two terms of the gradient cancel near y = sigmoid(x): their size bounds the
            // error.
            const double bound = double(terms[i]) * scale_g;
            EXPECT_LE(std::fabs(double(grad[i]) - g),
                      sizeof(T) == 4 ? std::fabs(g) * 0x1p-23 + 1e-15 * bound : 4e-16 * bound)
                << i;
            if (red == reduction::none) {
              if (std::isinf(double(el[i]))) {
                EXPECT_EQ(double(loss[i]), double(el[i]));
              } else {
                EXPECT_LE(rel(loss[i], double(el[i])), sizeof(T) == 4 ? 1e-7 : 1e-14) << i;
              }
            }
          }
          if (red != reduction::none) {
            const quad expected = red == reduction::mean ? sum / n : sum;
            if (std::isinf(double(expected))) {
              EXPECT_EQ(double(loss[0]), double(expected));
            } else {
              expect_loss_near<T>(loss[0], double(expected));
            }
          }
        }
      }
    }
  }
}

TEST(binary_cross_entropy_with_logits, matches_exact_values) {
  expect_bce_matches_exact<float>();
  expect_bce_matches_exact<double>();
}

TEST(binary_cross_entropy_with_logits, gradients_match_finite_differences) {
  std::mt19937_64 rng(41);
  const auto x = random_logits<double>(12, rng, 2.0);
  std::vector<double> y(12);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& v : y) v = u(rng);
  const auto w = random_weights<double>(4, rng);
  const auto pw = random_weights<double>(4, rng);
  for (const reduction red : {reduction::mean, reduction::sum}) {
    bce_options<double> opt;
    opt.reduce = red;
    opt.weight = w;
    opt.pos_weight = pw;
    std::vector<double> loss(1), grad(12);
    binary_cross_entropy_with_logits(matrix_view<double>(x, 3, 4), matrix_view<double>(y, 3, 4),
                                     opt, {loss, grad, {}});
    for (std::size_t i = 0; i < 12; ++i) {
      auto xp = x;
      auto xm = x;
      xp[i] += 1e-5;
      xm[i] -= 1e-5;
      const auto f = [&](const std::vector<double>& v) {
        return binary_cross_entropy_with_logits(matrix_view<double>(v, 3, 4),
                                                matrix_view<double>(y, 3, 4), opt);
      };
      EXPECT_NEAR(grad[i], (f(xp) - f(xm)) / 2e-5, 1e-9);
    }
  }
}

TEST(binary_cross_entropy_with_logits, bad_input_names_what_and_where) {
  const std::vector<float> x = {0, 1, 2, 3, 4, 5};
  std::vector<float> y = {0, 1, 0.5F, 1, 0, 1};
  const matrix_view<float> logits(x, 2, 3);
  y[4] = 1.5F;
  expect_error<invalid_distribution>(
      [&] { (void)binary_cross_entropy_with_logits(logits, matrix_view<float>(y, 2, 3)); },
      "target[1][1] = 1.5 is outside [0, 1]");
  y[4] = 0;
  const std::vector<float> w2 = {1, 2};
  bce_options<float> opt;
  opt.weight = w2;
  expect_error<shape_mismatch>(
      [&] { (void)binary_cross_entropy_with_logits(logits, matrix_view<float>(y, 2, 3), opt); },
      "weight has 2 elements for logits of 2 x 3: it needs 1, 3 (one per column) or 6");
  opt = {};
  opt.pos_weight = w2;
  expect_error<shape_mismatch>(
      [&] { (void)binary_cross_entropy_with_logits(logits, matrix_view<float>(y, 2, 3), opt); },
      "pos_weight has 2 elements");
  const std::vector<float> pw_bad = {1, -1, 1};
  opt.pos_weight = pw_bad;
  expect_error<invalid_option>(
      [&] { (void)binary_cross_entropy_with_logits(logits, matrix_view<float>(y, 2, 3), opt); },
      "pos_weight[1] = -1 is negative");
  opt = {};
  opt.reduce = reduction::batchmean;
  expect_error<invalid_option>(
      [&] { (void)binary_cross_entropy_with_logits(logits, matrix_view<float>(y, 2, 3), opt); },
      "reduction batchmean is not one of binary_cross_entropy_with_logits's");
  auto x_nan = x;
  x_nan[2] = std::nanf("");
  expect_error<invalid_distribution>(
      [&] {
        (void)binary_cross_entropy_with_logits(matrix_view<float>(x_nan, 2, 3),
                                               matrix_view<float>(y, 2, 3));
      },
      "logits[0][2] = nan is not a number");
}

TEST(accuracy, report) {
  std::printf(
      "[ accuracy ] cross entropy vs exact: float loss max rel err %.3g, "
      "double loss max rel err %.3g, float grad max %.3g ulp, double grad max rel err "
      "%.3g; float fast path: loss %.3g, grad %.3g ulp\n",
      worst().loss_f, worst().loss_d, worst().grad_f_ulp, worst().grad_d, worst().loss_fast,
      worst().grad_fast_ulp);
}

}  // namespace
}  // namespace shannon
