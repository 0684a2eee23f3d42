// Internal interface of the loss kernels. src/losses.cc checks the arguments,
// splits rows (and long rows) into fixed slices, runs these kernels on each
// slice and merges the slices in order.
//
// Cross entropy has two kernel families:
// - the fast path (ce_fast_*): float logits, class-index targets, no label
//   smoothing, no softcap, no z_loss. Float lanes; pass 1 reads each logit once (online
//   max shared by all lanes and sum of exp, one exp per element) and, when a
//   gradient is wanted, stores exp(x - running max) in the gradient buffer;
//   pass 2 rescales that row, still in cache, into the gradient (no exp).
// - the general path (ce_forward, ce_backward): every option, in double lanes
//   (float inputs promoted): pass 1 online, pass 2 recomputes exp.
// Both leave the target out of the sum so that small losses keep their digits.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

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

// ---- the fast path ---------------------------------------------------------------

/// Where pass 1 of the fast path raised its running max: from element start[k] on, the
/// stored values are exp(x - max[k]) 2^64. At most kCapacity raises: the last one takes
/// the max of the rest of the slice, so that no other follows.
struct ce_events {
  static constexpr std::size_t kCapacity = 16;
  std::size_t count = 0;
  // Only the first `count` entries are set (left uninitialized: one struct per row).
  std::size_t start[kCapacity];
  double max[kCapacity];
};

/// Pass 1 of the fast path over a slice of float logits.
struct ce_fast_partial {
  /// The shift: the smallest multiple j ln 2 at or above max x_j where |max x_j| <= 2048,
  /// else max x_j (-inf when every x_j is -inf).
  double max = -HUGE_VAL;
  double sum = 0.0;    ///< sum over j != skip of exp(x_j - max)
  unsigned flags = 0;  ///< kBadLogit: some x_j is NaN or +inf (the pass may stop there)
  ce_events events;    ///< empty when every x_j is -inf

  /// Combines the max and sum of two slices (their events stay with each slice).
  void merge(const ce_fast_partial& other) {
    const double m = max >= other.max ? max : other.max;
    if (m > -HUGE_VAL) {
      sum = (max == m ? sum : sum * std::exp(max - m)) +
            (other.max == m ? other.sum : other.sum * std::exp(other.max - m));
    }
    max = m;
    flags |= other.flags;
  }
};

/// Pass 1 of the fast path: the shift max, the sum of exp(x_j - max) leaving out element skip
/// (none if skip >= n) and, when e is not null, exp(x_j - running shift) 2^64 in e[j]
/// (e may be x itself; elements before the first event are not written). Each x_j is read
/// once from memory (the first 4096 twice, the second time from L1: their max first).
ce_fast_partial ce_fast_forward(const float* x, std::size_t n, std::size_t skip, float* e);

/// Pass 2 of the fast path over e as pass 1 left it: grad_j = a exp(x_j - max - log_sum),
/// that is e_j a exp((events.max[k] - max) - log_sum) 2^-64; 0 before the first event.
void ce_fast_backward(float* e_and_grad, std::size_t n, const ce_events& events, double max,
                      double log_sum, double a);

/// log_sum = ln sum_j exp(z_j - m) and the target's loss nll = m + log_sum - z_t of a row,
/// from m, sum = sum over j != t of exp(z_j - m) and z_t (-inf: masked target, nll = +inf).
/// Near the max, log1p keeps the digits of a small loss (PyTorch's lse - z_t loses them).
struct ce_row_terms {
  double log_sum = 0.0;
  double nll = HUGE_VAL;
};
inline ce_row_terms ce_terms(double m, double sum, double z_t) {
  ce_row_terms out;
  const double e_t = (z_t > -HUGE_VAL && m > -HUGE_VAL) ? std::exp(z_t - m) : 0.0;
  if (m > -HUGE_VAL) {
    // The max term is 1; when it is the target's, log1p keeps the digits of the others.
    out.log_sum = e_t >= 0.5 ? std::log1p((e_t - 1.0) + sum) : std::log(sum + e_t);
    if (z_t > -HUGE_VAL) {
      out.nll = z_t - m >= -1.0 ? std::log1p(sum / e_t) : (m - z_t) + out.log_sum;
    }
  }
  return out;
}

/// Rows of class-index targets without label smoothing, softcap or z_loss: everything
/// ce_fast_row and ce_tile_rows_run need.
template <class T>
struct ce_index_rows {
  const T* logits = nullptr;
  std::size_t cols = 0;
  const std::int64_t* target = nullptr;
  std::int64_t ignore_index = -100;
  const T* weight = nullptr;  ///< class weights, or null (all 1)
  T* grad = nullptr;          ///< N x C, or null; may be logits itself
  T* lse = nullptr;           ///< one per row, or null
  T* loss = nullptr;          ///< one per row (reduction none), or null
  double unit = 1.0;          ///< ln of the base: loss[r] = ce / unit
  double ce_scale = 0.0;      ///< d(reduced loss)/d(row CE), in the unit
  bool unchecked = false;
};

/// Rows of a fast-path problem (float logits).
using ce_fast_rows = ce_index_rows<float>;

/// One row's share of the reduction (nats) and its check flags.
struct ce_row_result {
  double ce = 0.0;
  unsigned flags = 0;
};

/// A row of the fast path between its two phases.
struct ce_fast_row_state {
  ce_fast_partial part;
  double x_t = 0.0;          ///< the target's logit (read before pass 1 may write over it)
  std::size_t t = SIZE_MAX;  ///< the target class (SIZE_MAX when ignored)
  bool ignored = false;
  bool done = false;  ///< finished by phase 1 (ignored without lse, or bad): res is final
  ce_row_result res;

  /// The z_t that ce_terms takes.
  [[nodiscard]] double z_t() const { return ignored ? -HUGE_VAL : x_t; }
};

/// Phase 1 of one row of the fast path (the general path's ce_row, specialised): ignored
/// rows, pass 1 (pass1(x, skip, e) returns a ce_fast_partial) and bad rows.
template <class Pass1>
void ce_fast_row_start(const ce_fast_rows& p, std::size_t r, ce_fast_row_state& st, Pass1&& pass1) {
  const std::size_t cols = p.cols;
  const float* x = p.logits + r * cols;
  float* grad = p.grad != nullptr ? p.grad + r * cols : nullptr;
  const auto fill = [&](float v) {
    for (std::size_t j = 0; j < cols; ++j) grad[j] = v;
  };
  st.part.flags = 0;
  st.part.events.count = 0;
  st.x_t = 0.0;
  st.t = SIZE_MAX;
  st.done = false;
  st.res = {};
  st.ignored = p.target[r] == p.ignore_index;
  if (st.ignored && p.lse == nullptr) {
    if (grad != nullptr) fill(0.0F);
    st.done = true;
    return;
  }
  if (!st.ignored) {
    st.t = static_cast<std::size_t>(p.target[r]);
    st.x_t = double(x[st.t]);
  }
  st.part = pass1(x, st.t, st.ignored ? nullptr : grad);
  // Pass 1 leaves the target out of its sum, where a NaN would show.
  if (std::isnan(st.x_t)) st.part.flags |= kBadLogit;
  st.res.flags = st.part.flags & kBadLogit;
  if (st.res.flags == 0) return;
  st.done = true;
  if (st.ignored) {
    // An ignored row adds nothing, whatever its logits (padding may hold anything).
    p.lse[r] = NAN;
    if (grad != nullptr) fill(0.0F);
    st.res = {};
  } else if (p.unchecked) {
    // NaN in, NaN out: the loss, the logsumexp and the gradient of the row.
    if (grad != nullptr) fill(NAN);
    if (p.lse != nullptr) p.lse[r] = NAN;
    st.res.ce = NAN;
  }
}

/// Phase 2 of a row that phase 1 left open, from terms = ce_terms(max, sum, z_t) and
/// expm1(-terms.nll): lse, loss and gradient; pass2(grad, partial, log_sum, a) writes
/// a exp(x_j - lse) from what pass 1 stored, then the target's gradient is set.
template <class Pass2>
void ce_fast_row_end(const ce_fast_rows& p, std::size_t r, ce_fast_row_state& st,
                     const ce_row_terms& terms, double expm1_neg_nll, Pass2&& pass2) {
  const std::size_t cols = p.cols;
  float* grad = p.grad != nullptr ? p.grad + r * cols : nullptr;
  const double m = st.part.max;
  const double lse = m + terms.log_sum;
  if (p.lse != nullptr) p.lse[r] = static_cast<float>(lse);
  if (st.ignored) {
    if (grad != nullptr) {
      for (std::size_t j = 0; j < cols; ++j) grad[j] = 0.0F;
    }
    return;
  }
  const double w_t = p.weight != nullptr ? double(p.weight[st.t]) : 1.0;
  st.res.ce = w_t != 0.0 ? w_t * terms.nll : 0.0;
  if (grad != nullptr) {
    const double a = p.ce_scale * w_t;
    pass2(grad, st.part, terms.log_sum, a);
    // a s_t - a = a (s_t - 1), with s_t - 1 = expm1(-nll): exact near s_t = 1.
    grad[st.t] = static_cast<float>(a * expm1_neg_nll);
  }
}

/// Both phases of one row, with scalar ce_terms.
template <class Pass1, class Pass2>
ce_row_result ce_fast_row(const ce_fast_rows& p, std::size_t r, Pass1&& pass1, Pass2&& pass2) {
  ce_fast_row_state st;
  ce_fast_row_start(p, r, st, pass1);
  if (!st.done) {
    const ce_row_terms terms = ce_terms(st.part.max, st.part.sum, st.z_t());
    ce_fast_row_end(p, r, st, terms, std::expm1(-terms.nll), pass2);
  }
  return st.res;
}

/// Sums of the fast path over a range of rows, in row order, and the first bad row.
struct ce_fast_totals {
  loss_partial ce;
  std::size_t bad_row = SIZE_MAX;
  unsigned bad_flags = 0;
};

/// Runs ce_fast_row over rows [begin, end) of rows that fit one slice, in one call.
ce_fast_totals ce_fast_rows_run(const ce_fast_rows& p, std::size_t begin, std::size_t end);

// ---- short rows in tiles ---------------------------------------------------------------

/// The longest rows that ce_tile_rows_run takes.
inline constexpr std::size_t kTileMaxCols = 256;
/// The longest float rows worth tiles: longer ones are faster on the fast path's float lanes.
inline constexpr std::size_t kTileMaxColsFloat = 32;

/// Rows [begin, end) of at most kTileMaxCols classes in tiles of one row per double lane
/// (the tile transposed through L1): ce_fast_row's results (max, sum of exp leaving out the
/// target, ce_terms, one exp per element), computed in double for float logits too.
ce_fast_totals ce_tile_rows_run(const ce_index_rows<float>& p, std::size_t begin, std::size_t end);
ce_fast_totals ce_tile_rows_run(const ce_index_rows<double>& p, std::size_t begin, std::size_t end);

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
