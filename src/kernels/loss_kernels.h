// Internal interface of the loss kernels. src/losses.cc checks the arguments,
// splits rows (and long rows) into fixed slices, runs these kernels on each
// slice and merges the slices in order.
//
// Cross entropy runs in two passes over a row that stays in cache between
// them: ce_forward (online max and sum of exp, one exp per element) and
// ce_backward (one exp per element, writes the gradient). Every kernel computes
// in double lanes, also for float inputs.
#pragma once

#include <cmath>
#include <cstddef>

#include "kernels/kernels.h"

namespace shannon::kernels {

/// Bits of ce_partial::flags and loss_partial::flags.
enum loss_flag : unsigned {
  kBadLogit = 1U,      ///< some logit (or kl_div input) is NaN or +inf
  kBadTarget = 2U,     ///< some target probability is NaN, infinite or negative (BCE: > 1)
  kInfiniteCoef = 4U,  ///< some c_j > 0 meets z_j = -inf: the smoothed or soft loss is +inf
  kBadWeight = 8U,     ///< BCE: some element weight is NaN, infinite or negative
};

/// What ce_forward yields for a slice of one row; z = cap tanh(x / cap) (z = x without cap),
/// and NaN or +inf logits are flagged and otherwise treated as -inf.
struct ce_partial {
  double max = -HUGE_VAL;      ///< max z_j (-inf when every z_j is -inf)
  double sum = 0.0;            ///< sum over j != skip of exp(z_j - max)
  double spread = 0.0;         ///< sum over finite z_j of c_j (max - z_j), each term >= 0
  double coef_finite = 0.0;    ///< sum of c_j over finite z_j
  double coef = 0.0;           ///< sum of c_j over all j
  dd mass;                     ///< sum of p_j (probability targets)
  double skipped = -HUGE_VAL;  ///< z_skip, when the slice holds element skip
  bool has_skipped = false;
  unsigned flags = 0;

  /// Combines two slices exactly as one pass over both would (up to rounding).
  void merge(const ce_partial& other) {
    const double m = max >= other.max ? max : other.max;
    if (m > -HUGE_VAL) {
      sum = rescaled(sum, max, m) + rescaled(other.sum, other.max, m);
      spread = (spread + shifted(coef_finite, max, m)) +
               (other.spread + shifted(other.coef_finite, other.max, m));
    }
    max = m;
    coef_finite += other.coef_finite;
    coef += other.coef;
    mass.add(other.mass);
    if (other.has_skipped) {
      skipped = other.skipped;
      has_skipped = true;
    }
    flags |= other.flags;
  }

 private:
  static double rescaled(double s, double from, double to) {
    return from == to ? s : s * std::exp(from - to);
  }
  // A slice without finite logits has no coefficients to shift (and from = -inf).
  static double shifted(double c, double from, double to) {
    return c != 0.0 ? c * (to - from) : 0.0;
  }
};

/// The per-element coefficient c_j = w_j (u + v p_j) of ce_forward and the target term
/// b_j = w_j (beta + gamma p_j) of ce_backward; w_j = 1 when weight is null, p_j = 0 when
/// probs is null.
template <class T>
struct ce_slice {
  const T* logits = nullptr;
  const T* weight = nullptr;
  const T* probs = nullptr;
  std::size_t n = 0;
  double cap = 0.0;  ///< softcap, 0 = off
};

/// Pass 1 over a slice: max, sum of exp (leaving out element `skip`, or none if skip >= n,
/// whose z it returns),
/// and when u or v is not 0, the c_j sums; sums p_j and flags bad p_j when probs is set.
ce_partial ce_forward(const ce_slice<float>& s, double u, double v, std::size_t skip);
ce_partial ce_forward(const ce_slice<double>& s, double u, double v, std::size_t skip);

/// Pass 2 over a slice: grad_j = (a exp((z_j - max) - log_sum) - b_j) dz_j/dx_j with
/// exp(-inf) = 0 (max and log_sum apart: max + log_sum may round to max); grad may be
/// s.logits itself.
void ce_backward(const ce_slice<float>& s, float* grad, double max, double log_sum, double a,
                 double beta, double gamma);
void ce_backward(const ce_slice<double>& s, double* grad, double max, double log_sum, double a,
                 double beta, double gamma);

/// The sum of the element losses of a slice, and flags.
struct loss_partial {
  dd sum;                  ///< the finite element losses
  double nonfinite = 0.0;  ///< the others (+-inf, NaN), kept apart: TwoSum turns inf into NaN
  unsigned flags = 0;

  void add(double x) {
    if (std::isfinite(x)) {
      sum.add(x);
    } else {
      nonfinite += x;
    }
  }
  void merge(const loss_partial& other) {
    sum.add(other.sum);
    nonfinite += other.nonfinite;
    flags |= other.flags;
  }
  /// The total: +-inf or NaN if some element loss is, the double-double sum otherwise.
  [[nodiscard]] double value() const { return nonfinite != 0.0 ? nonfinite : sum.value(); }
};

/// kl_div elements l_i = p_i (ln p_i - x_i) (0 where p_i = 0), or exp(t_i) (t_i - x_i) with
/// log_target; writes l_i to loss (if not null) and -grad_scale p_i to grad (if not null);
/// grad may be input itself.
loss_partial kl_div(const float* input, const float* target, std::size_t n, bool log_target,
                    float* loss, float* grad, double grad_scale);
loss_partial kl_div(const double* input, const double* target, std::size_t n, bool log_target,
                    double* loss, double* grad, double grad_scale);

/// The inputs of bce over n elements; a weight is null (1), one value for all elements
/// (broadcast) or n values.
template <class T>
struct bce_slice {
  const T* logits = nullptr;
  const T* target = nullptr;
  std::size_t n = 0;
  const T* weight = nullptr;
  bool weight_broadcast = false;
  const T* pos_weight = nullptr;
  bool pos_weight_broadcast = false;
};

/// BCE-with-logits elements l_i = w_i (pw_i y_i softplus(-x_i) + (1 - y_i) softplus(x_i)),
/// a term with coefficient 0 being 0; writes l_i to loss and
/// grad_scale w_i ((1 - y_i) sigmoid(x_i) - pw_i y_i sigmoid(-x_i)) to grad (if not null);
/// grad may be s.logits itself.
loss_partial bce(const bce_slice<float>& s, float* loss, float* grad, double grad_scale);
loss_partial bce(const bce_slice<double>& s, double* loss, double* grad, double grad_scale);

/// Plain scalar implementations of the same contracts: the oracle of the tests.
namespace reference {
ce_partial ce_forward(const ce_slice<float>& s, double u, double v, std::size_t skip);
ce_partial ce_forward(const ce_slice<double>& s, double u, double v, std::size_t skip);
void ce_backward(const ce_slice<float>& s, float* grad, double max, double log_sum, double a,
                 double beta, double gamma);
void ce_backward(const ce_slice<double>& s, double* grad, double max, double log_sum, double a,
                 double beta, double gamma);
loss_partial kl_div(const float* input, const float* target, std::size_t n, bool log_target,
                    float* loss, float* grad, double grad_scale);
loss_partial kl_div(const double* input, const double* target, std::size_t n, bool log_target,
                    double* loss, double* grad, double grad_scale);
loss_partial bce(const bce_slice<float>& s, float* loss, float* grad, double grad_scale);
loss_partial bce(const bce_slice<double>& s, double* loss, double* grad, double grad_scale);
}  // namespace reference

}  // namespace shannon::kernels
