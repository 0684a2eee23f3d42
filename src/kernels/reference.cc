// The scalar oracle: the kernels' contracts written plainly with <cmath>,
// every sum exact to double-double. Tests hold each SIMD target to it.
#include <cfloat>
#include <cmath>

#include "kernels/kernels.h"

namespace shannon::kernels::reference {
namespace {

bool is_probability_mass(double x) { return x >= 0.0 && x < HUGE_VAL; }

/// p ln(p/q) + q - p for p > 0, q > 0, without cancellation near p = q.
double kl_term(double p, double q) {
  const double diff = q - p;
  const double s = diff / (q + p);
  if (std::fabs(s) <= kKlNear) {
    const double s2 = s * s;
    double poly = 0.0;
    for (int k = kKlSeriesTerms - 1; k >= 0; --k) poly = poly * s2 + 1.0 / (2 * k + 3);
    return s * diff - 2.0 * p * s * s2 * poly;
  }
  const double r = q / p;
  const double log_r = (r >= DBL_MIN && r <= DBL_MAX) ? std::log(r) : std::log(q) - std::log(p);
  return diff - p * log_r;
}

template <class T>
partial mass_impl(const T* p, std::size_t n) {
  partial out;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = p[i];
    if (!is_probability_mass(x)) out.flags |= kBadP;
    out.mass_p.add(x);
  }
  return out;
}

template <class T>
partial entropy_impl(const T* p, std::size_t n, double sp) {
  partial out;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_probability_mass(p[i])) out.flags |= kBadP;
    const double x = sp == 1.0 ? double(p[i]) : double(T(p[i] / T(sp)));
    out.mass_p.add(x);
    if (x > 0.0) out.terms.add(x * std::log(x));
  }
  return out;
}

template <class T>
partial cross_entropy_impl(const T* p, const T* q, std::size_t n, double sp, double sq) {
  partial out;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_probability_mass(p[i])) out.flags |= kBadP;
    if (!is_probability_mass(q[i])) out.flags |= kBadQ;
    const double x = sp == 1.0 ? double(p[i]) : double(T(p[i] / T(sp)));
    const double y = sq == 1.0 ? double(q[i]) : double(T(q[i] / T(sq)));
    out.mass_p.add(x);
    out.mass_q.add(y);
    if (x > 0.0) {
      if (y == 0.0) {
        out.flags |= kInfinite;
      } else {
        out.terms.add(x * std::log(y));
      }
    }
  }
  return out;
}

template <class T>
partial kl_impl(const T* p, const T* q, std::size_t n, double sp, double sq) {
  partial out;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_probability_mass(p[i])) out.flags |= kBadP;
    if (!is_probability_mass(q[i])) out.flags |= kBadQ;
    const double x = sp == 1.0 ? double(p[i]) : double(T(p[i] / T(sp)));
    const double y = sq == 1.0 ? double(q[i]) : double(T(q[i] / T(sq)));
    out.mass_p.add(x);
    out.excess.add(y - x);
    if (x == 0.0) {
      out.terms.add(y);
    } else if (y == 0.0) {
      out.flags |= kInfinite;
    } else {
      out.terms.add(kl_term(x, y));
    }
  }
  out.mass_q = out.mass_p;
  out.mass_q.add(out.excess);
  return out;
}

template <class T>
unsigned information_impl(const T* p, T* out, std::size_t n, double sp, double ln_b) {
  unsigned flags = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = sp == 1.0 ? double(p[i]) : double(p[i]) / sp;
    if (!(x >= 0.0 && x <= 1.0)) flags |= kBadP;
    out[i] = x == 0.0 ? T(HUGE_VAL) : T((0.0 - std::log(x)) / ln_b);
  }
  return flags;
}

}  // namespace

partial mass(const double* p, std::size_t n) { return mass_impl(p, n); }
partial mass(const float* p, std::size_t n) { return mass_impl(p, n); }
partial entropy(const double* p, std::size_t n, double sp) { return entropy_impl(p, n, sp); }
partial entropy(const float* p, std::size_t n, double sp) { return entropy_impl(p, n, sp); }
partial cross_entropy(const double* p, const double* q, std::size_t n, double sp, double sq) {
  return cross_entropy_impl(p, q, n, sp, sq);
}
partial cross_entropy(const float* p, const float* q, std::size_t n, double sp, double sq) {
  return cross_entropy_impl(p, q, n, sp, sq);
}
partial kl_divergence(const double* p, const double* q, std::size_t n, double sp, double sq) {
  return kl_impl(p, q, n, sp, sq);
}
partial kl_divergence(const float* p, const float* q, std::size_t n, double sp, double sq) {
  return kl_impl(p, q, n, sp, sq);
}
unsigned information(const double* p, double* out, std::size_t n, double sp, double ln_b) {
  return information_impl(p, out, n, sp, ln_b);
}
unsigned information(const float* p, float* out, std::size_t n, double sp, double ln_b) {
  return information_impl(p, out, n, sp, ln_b);
}

void byte_counts(const unsigned char* p, std::size_t n, std::uint64_t* counts) {
  for (std::size_t i = 0; i < n; ++i) ++counts[p[i]];
}

}  // namespace shannon::kernels::reference
