// The scalar oracle of the loss kernels: their contracts written plainly in
// double with <cmath>, in two passes (max first) instead of online. Tests hold
// each SIMD target to it.
#include <cmath>
#include <cstddef>

#include "kernels/loss_kernels.h"

namespace shannon::kernels::reference {
namespace {

constexpr double kInf = HUGE_VAL;

template <class T>
double softcapped(const ce_slice<T>& s, std::size_t j) {
  const double x = s.logits[j];
  // A masked class (-inf) stays masked.
  return s.cap > 0.0 && x > -kInf ? s.cap * std::tanh(x / s.cap) : x;
}

template <class T>
bool bad_logit(const ce_slice<T>& s, std::size_t j) {
  const double x = s.logits[j];
  return std::isnan(x) || softcapped(s, j) == kInf;
}

template <class T>
ce_partial ce_forward_impl(const ce_slice<T>& s, double u, double v, std::size_t skip) {
  ce_partial out;
  for (std::size_t j = 0; j < s.n; ++j) {
    if (bad_logit(s, j)) {
      out.flags |= kBadLogit;
    } else {
      out.max = std::fmax(out.max, softcapped(s, j));
    }
  }
  if (skip < s.n) {
    out.skipped = bad_logit(s, skip) ? -kInf : softcapped(s, skip);
    out.has_skipped = true;
  }
  const bool coefs = u != 0.0 || v != 0.0;
  for (std::size_t j = 0; j < s.n; ++j) {
    const double w = s.weight != nullptr ? double(s.weight[j]) : 1.0;
    const double p = s.probs != nullptr ? double(s.probs[j]) : 0.0;
    if (s.probs != nullptr) {
      if (!(p >= 0.0 && p < kInf)) out.flags |= kBadTarget;
      out.mass.add(p);
    }
    const double z = bad_logit(s, j) ? -kInf : softcapped(s, j);
    if (j != skip && z > -kInf) out.sum += std::exp(z - out.max);
    if (!coefs) continue;
    const double c = w * (u + v * p);
    out.coef += c;
    if (z > -kInf) {
      out.spread += c * (out.max - z);
      out.coef_finite += c;
    } else if (c != 0.0) {
      out.flags |= kInfiniteCoef;
    }
  }
  return out;
}

template <class T>
void ce_backward_impl(const ce_slice<T>& s, T* grad, double max, double log_sum, double a,
                      double beta, double gamma) {
  for (std::size_t j = 0; j < s.n; ++j) {
    const double x = s.logits[j];
    const double z = softcapped(s, j);
    const double e = (z > -kInf && max > -kInf) ? std::exp((z - max) - log_sum) : 0.0;
    const double w = s.weight != nullptr ? double(s.weight[j]) : 1.0;
    const double p = s.probs != nullptr ? double(s.probs[j]) : 0.0;
    double g = a * e - w * (beta + gamma * p);
    if (s.cap > 0.0) {
      const double c = std::cosh(x / s.cap);
      g /= c * c;
    }
    grad[j] = static_cast<T>(g);
  }
}

double softplus(double x) { return std::fmax(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

double sigmoid(double x) {
  const double e = std::exp(-std::fabs(x));
  return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

template <class T>
loss_partial kl_div_impl(const T* input, const T* target, std::size_t n, bool log_target, T* loss,
                         T* grad, double grad_scale) {
  loss_partial out;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = input[i];
    const double t = target[i];
    if (std::isnan(x) || x == kInf) out.flags |= kBadLogit;
    double p = t;
    double l = 0.0;
    if (log_target) {
      if (std::isnan(t) || t == kInf) out.flags |= kBadTarget;
      p = std::exp(t);
      if (p != 0.0) l = p * (t - x);
    } else {
      if (!(t >= 0.0 && t < kInf)) out.flags |= kBadTarget;
      if (t != 0.0) l = t * (std::log(t) - x);
    }
    out.add(l);
    if (loss != nullptr) loss[i] = static_cast<T>(l);
    if (grad != nullptr) grad[i] = static_cast<T>(-(grad_scale * p));
  }
  return out;
}

template <class T>
loss_partial bce_impl(const bce_slice<T>& s, T* loss, T* grad, double grad_scale) {
  loss_partial out;
  for (std::size_t i = 0; i < s.n; ++i) {
    const double x = s.logits[i];
    const double y = s.target[i];
    const double w = s.weight == nullptr ? 1.0 : double(s.weight[s.weight_broadcast ? 0 : i]);
    const double pw =
        s.pos_weight == nullptr ? 1.0 : double(s.pos_weight[s.pos_weight_broadcast ? 0 : i]);
    if (std::isnan(x)) out.flags |= kBadLogit;
    if (!(y >= 0.0 && y <= 1.0)) out.flags |= kBadTarget;
    if (!(w >= 0.0 && w < kInf) || !(pw >= 0.0 && pw < kInf)) out.flags |= kBadWeight;
    const double pos = pw * y;
    const double neg = 1.0 - y;
    const double l =
        w * ((pos != 0.0 ? pos * softplus(-x) : 0.0) + (neg != 0.0 ? neg * softplus(x) : 0.0));
    out.add(l);
    if (loss != nullptr) loss[i] = static_cast<T>(l);
    if (grad != nullptr) {
      grad[i] = static_cast<T>(grad_scale * (w * (neg * sigmoid(x) - pos * sigmoid(-x))));
    }
  }
  return out;
}

}  // namespace

ce_partial ce_forward(const ce_slice<float>& s, double u, double v, std::size_t skip) {
  return ce_forward_impl(s, u, v, skip);
}
ce_partial ce_forward(const ce_slice<double>& s, double u, double v, std::size_t skip) {
  return ce_forward_impl(s, u, v, skip);
}
void ce_backward(const ce_slice<float>& s, float* grad, double max, double log_sum, double a,
                 double beta, double gamma) {
  ce_backward_impl(s, grad, max, log_sum, a, beta, gamma);
}
void ce_backward(const ce_slice<double>& s, double* grad, double max, double log_sum, double a,
                 double beta, double gamma) {
  ce_backward_impl(s, grad, max, log_sum, a, beta, gamma);
}
loss_partial kl_div(const float* input, const float* target, std::size_t n, bool log_target,
                    float* loss, float* grad, double grad_scale) {
  return kl_div_impl(input, target, n, log_target, loss, grad, grad_scale);
}
loss_partial kl_div(const double* input, const double* target, std::size_t n, bool log_target,
                    double* loss, double* grad, double grad_scale) {
  return kl_div_impl(input, target, n, log_target, loss, grad, grad_scale);
}
loss_partial bce(const bce_slice<float>& s, float* loss, float* grad, double grad_scale) {
  return bce_impl(s, loss, grad, grad_scale);
}
loss_partial bce(const bce_slice<double>& s, double* loss, double* grad, double grad_scale) {
  return bce_impl(s, loss, grad, grad_scale);
}

}  // namespace shannon::kernels::reference
