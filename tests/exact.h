// Exact references in quad precision (libquadmath, 113-bit significand) and
// the random inputs the precision tests use.
#pragma once

#include <quadmath.h>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace shannon::test {

using quad = __float128;

/// H(p) = -sum p ln p of the inputs as given, in nats.
template <class T>
double exact_entropy(const std::vector<T>& p) {
  quad sum = 0;
  for (const T x : p) {
    if (x > 0) sum -= quad(x) * logq(quad(x));
  }
  return double(sum);
}

/// H(p, q) = -sum p ln q in nats (+inf when p > 0 meets q = 0).
template <class T>
double exact_cross_entropy(const std::vector<T>& p, const std::vector<T>& q) {
  quad sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    if (q[i] == 0) return HUGE_VAL;
    sum -= quad(p[i]) * logq(quad(q[i]));
  }
  return double(sum);
}

/// D(p || q) = sum p ln(p / q) in nats, summed directly in quad precision.
template <class T>
double exact_kl(const std::vector<T>& p, const std::vector<T>& q) {
  quad sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    if (q[i] == 0) return HUGE_VAL;
    sum += quad(p[i]) * logq(quad(p[i]) / quad(q[i]));
  }
  return double(sum);
}

inline double relative_error(double got, double exact) {
  if (got == exact) return 0.0;
  return std::fabs(got - exact) / std::fabs(exact);
}

/// A random probability vector of length n (normalized in double, then rounded to T).
template <class T>
std::vector<T> random_distribution(std::size_t n, std::mt19937_64& rng, double zero_share = 0.0) {
  std::exponential_distribution<double> e(1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> w(n);
  double sum = 0;
  for (auto& x : w) {
    x = u(rng) < zero_share ? 0.0 : e(rng);
    sum += x;
  }
  if (n == 0) return {};
  if (sum == 0) w[0] = sum = 1.0;
  std::vector<T> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = T(w[i] / sum);
  return p;
}

/// q = p (1 + eps z_i), renormalized: KL(p || q) is about eps^2 / 2.
template <class T>
std::vector<T> perturbed(const std::vector<T>& p, double eps, std::mt19937_64& rng) {
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> w(p.size());
  double sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i) sum += (w[i] = double(p[i]) * (1 + eps * z(rng)));
  std::vector<T> q(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) q[i] = T(w[i] / sum);
  return q;
}

}  // namespace shannon::test
