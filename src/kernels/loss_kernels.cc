// The loss kernels, written once with Highway and compiled for every x86
// target (EMU128 as "scalar", SSSE3, SSE4, AVX2, AVX-512); the best one for
// this CPU, or SHANNON_FORCE_ISA's, is chosen at run time.
//
// Everything is computed in double lanes; float inputs are promoted on load
// and outputs rounded once on store. Cross entropy's forward pass is online:
// per lane a running max, the sum of exp(z - max) rescaled when the max grows
// (checked once per block of kBlock vectors, so one exp per element), and the
// spread sum c (max - z) shifted when the max grows.
#include "kernels/loss_kernels.h"

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

// foreach_target.h re-includes this file once per target: it comes first.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/loss_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace shannon::kernels::HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<double>;
using V = hn::Vec<D>;
using DF = hn::Rebind<float, D>;

constexpr std::size_t kMaxLanes = HWY_MAX_BYTES / sizeof(double);
constexpr std::size_t kBlock = 4;
constexpr std::size_t kDrain = 32;
// Above this exp(t) is computed as exp(t / 2)^2: Highway's Exp is valid up to 706.
constexpr double kExpDirectMax = 700.0;
constexpr double kLogDblMax = 709.782712893384;
// Doubles from here up round to float infinity: halfway between FLT_MAX and 2^128.
constexpr double kFloatOverflow = 0x1.ffffffp127;

HWY_INLINE V load(D d, const double* p) { return hn::LoadU(d, p); }
HWY_INLINE V load(D d, const float* p) { return hn::PromoteTo(d, hn::LoadU(DF(), p)); }

/// count < Lanes(d) values of p, the other lanes 0.
template <class T>
HWY_INLINE V load_partial(D d, const T* p, std::size_t count) {
  HWY_ALIGN T buf[kMaxLanes] = {};
  std::memcpy(buf, p, count * sizeof(T));
  return load(d, buf);
}

template <class T>
HWY_INLINE V load_any(D d, const T* p, std::size_t count) {
  return count == hn::Lanes(d) ? load(d, p) : load_partial(d, p, count);
}

HWY_INLINE void store(D d, V v, double* p) { hn::StoreU(v, d, p); }
HWY_INLINE void store(D d, V v, float* p) {
  const DF df;
  auto f = hn::DemoteTo(df, v);
  // DemoteTo saturates on some targets (EMU128): what rounds to +-inf gives +-FLT_MAX.
  const auto overflow = hn::Ge(hn::Abs(v), hn::Set(d, kFloatOverflow));
  if (!hn::AllFalse(d, overflow)) {
    const auto overflow_f =
        hn::Eq(hn::DemoteTo(df, hn::IfThenElseZero(overflow, hn::Set(d, 1.0))), hn::Set(df, 1.0F));
    f = hn::IfThenElse(overflow_f, hn::CopySign(hn::Set(df, HUGE_VALF), f), f);
  }
  hn::StoreU(f, df, p);
}

template <class T>
HWY_INLINE void store_any(D d, V v, T* p, std::size_t count) {
  if (count == hn::Lanes(d)) {
    store(d, v, p);
    return;
  }
  HWY_ALIGN T buf[kMaxLanes];
  store(d, v, buf);
  std::memcpy(p, buf, count * sizeof(T));
}

HWY_INLINE V flag_if(D d, V flags, hn::Mask<D> m) { return hn::Or(flags, hn::VecFromMask(d, m)); }

HWY_INLINE bool any(D d, V flags) { return !hn::AllFalse(d, hn::MaskFromVec(flags)); }

/// Lanes that are not a finite number >= 0.
HWY_INLINE hn::Mask<D> not_mass(D d, V x) {
  return hn::Not(hn::And(hn::Ge(x, hn::Zero(d)), hn::Lt(x, hn::Set(d, HUGE_VAL))));
}

/// tanh(u) = -expm1(-2|u|) / (2 + expm1(-2|u|)) with the sign of u: few ulp everywhere.
HWY_INLINE V tanh_lanes(D d, V u) {
  const V sign = hn::And(hn::SignBit(d), u);
  const V em = hn::Expm1(d, hn::Mul(hn::Xor(u, sign), hn::Set(d, -2.0)));
  return hn::Xor(hn::Div(hn::Neg(em), hn::Add(hn::Set(d, 2.0), em)), sign);
}

/// 1 - tanh(u)^2 = 4 e / (1 + e)^2 with e = exp(-2|u|): no cancellation where tanh(u) is near 1.
HWY_INLINE V sech2_lanes(D d, V u) {
  const V e = hn::Exp(d, hn::Mul(hn::Abs(u), hn::Set(d, -2.0)));
  const V one_plus_e = hn::Add(hn::Set(d, 1.0), e);
  return hn::Div(hn::Mul(hn::Set(d, 4.0), e), hn::Mul(one_plus_e, one_plus_e));
}

/// A per-lane double accumulator drained every kDrain additions into a TwoSum pair;
/// non-finite values go to a plain sum of their own.
struct blocked_sum {
  V acc;
  V hi;
  V lo;
  V nonfinite;
  std::size_t count = 0;

  explicit blocked_sum(D d)
      : acc(hn::Zero(d)), hi(hn::Zero(d)), lo(hn::Zero(d)), nonfinite(hn::Zero(d)) {}

  HWY_INLINE void drain(D d) {
    const V s = hn::Add(hi, acc);
    const V z = hn::Sub(s, hi);
    lo = hn::Add(lo, hn::Add(hn::Sub(hi, hn::Sub(s, z)), hn::Sub(acc, z)));
    hi = s;
    acc = hn::Zero(d);
    count = 0;
  }
  HWY_INLINE void add(D d, V x) {
    const auto finite = hn::IsFinite(x);
    acc = hn::Add(acc, hn::IfThenElseZero(finite, x));
    nonfinite = hn::Add(nonfinite, hn::IfThenZeroElse(finite, x));
    if (++count == kDrain) drain(d);
  }
  /// Adds finite values only (no check).
  HWY_INLINE void add_finite(D d, V x) {
    acc = hn::Add(acc, x);
    if (++count == kDrain) drain(d);
  }
  void into(D d, dd& out) {
    double ignored = 0.0;
    into(d, out, ignored);
  }
  void into(D d, dd& out, double& out_nonfinite) {
    drain(d);
    HWY_ALIGN double h[kMaxLanes];
    HWY_ALIGN double l[kMaxLanes];
    HWY_ALIGN double f[kMaxLanes];
    hn::Store(hi, d, h);
    hn::Store(lo, d, l);
    hn::Store(nonfinite, d, f);
    for (std::size_t i = 0; i < hn::Lanes(d); ++i) {
      out.add(h[i]);
      out.lo += l[i];
      out_nonfinite += f[i];
    }
  }
};

// ---- cross entropy, pass 1 ------------------------------------------------------

template <class T, bool kCoef, bool kCap>
class ce_forward_lanes {
 public:
  ce_forward_lanes(const ce_slice<T>& s, double u, double v)
      : s_(s),
        zero_(hn::Zero(d_)),
        one_(hn::Set(d_, 1.0)),
        neg_inf_(hn::Set(d_, -HUGE_VAL)),
        pos_inf_(hn::Set(d_, HUGE_VAL)),
        u_(hn::Set(d_, u)),
        v_(hn::Set(d_, v)),
        cap_(hn::Set(d_, s.cap)),
        max_(neg_inf_),
        sum_(zero_),
        spread_(zero_),
        coef_finite_(zero_),
        coef_(zero_),
        bad_logit_(zero_),
        bad_target_(zero_),
        inf_coef_(zero_),
        mass_(d_) {}

  ce_partial run(std::size_t skip) {
    const std::size_t lanes = hn::Lanes(d_);
    const std::size_t block = kBlock * lanes;
    const std::size_t n = s_.n;
    std::size_t i = 0;
    // skip - i wraps around (and exceeds any block) when skip < i.
    for (; i + block <= n; i += block) step(i, kBlock, lanes, skip - i < block, skip);
    for (; i + lanes <= n; i += lanes) step(i, 1, lanes, skip - i < lanes, skip);
    if (i < n) step(i, 1, n - i, skip - i < lanes, skip);
    return finish();
  }

 private:
  /// Loads vector k of a block at i, `count` lanes valid; the others become z = -inf, c = 0.
  HWY_INLINE void load_vector(std::size_t i, std::size_t count, std::size_t k) {
    const V x = load_any(d_, s_.logits + i, count);
    V z = x;
    if constexpr (kCap) {
      // A masked class (-inf) stays masked.
      z = hn::IfThenElse(hn::Eq(x, neg_inf_), neg_inf_,
                         hn::Mul(cap_, tanh_lanes(d_, hn::Div(x, cap_))));
    }
    auto bad = hn::Or(hn::IsNaN(x), hn::Eq(z, pos_inf_));
    bad_logit_ = flag_if(d_, bad_logit_, bad);
    const auto valid = hn::FirstN(d_, count);
    bad = hn::Or(bad, hn::Not(valid));
    z_[k] = hn::IfThenElse(bad, neg_inf_, z);
    V p = zero_;
    if (s_.probs != nullptr) {
      p = load_any(d_, s_.probs + i, count);
      bad_target_ = flag_if(d_, bad_target_, not_mass(d_, p));
      mass_.add(d_, p);
    }
    if constexpr (kCoef) {
      const V w = s_.weight != nullptr ? load_any(d_, s_.weight + i, count) : one_;
      c_[k] = hn::IfThenElseZero(valid, hn::Mul(w, hn::Add(u_, hn::Mul(v_, p))));
    }
  }

  HWY_INLINE void step(std::size_t i, std::size_t vectors, std::size_t last_count, bool has_skip,
                       std::size_t skip) {
    const std::size_t lanes = hn::Lanes(d_);
    for (std::size_t k = 0; k < vectors; ++k) {
      load_vector(i + k * lanes, k + 1 == vectors ? last_count : lanes, k);
    }
    V block_max = z_[0];
    for (std::size_t k = 1; k < vectors; ++k) block_max = hn::Max(block_max, z_[k]);
    const V new_max = hn::Max(max_, block_max);
    if (!hn::AllFalse(d_, hn::Gt(new_max, max_))) {
      // Exp gives 0 below -1000 and for NaN (-inf - -inf in lanes still empty).
      sum_ = hn::Mul(sum_, hn::Exp(d_, hn::Sub(max_, new_max)));
      if constexpr (kCoef) {
        spread_ =
            hn::Add(spread_, hn::IfThenElseZero(hn::Ne(coef_finite_, zero_),
                                                hn::Mul(coef_finite_, hn::Sub(new_max, max_))));
      }
      max_ = new_max;
    }
    if (has_skip && skip < s_.n) {
      const std::size_t offset = skip - i;
      HWY_ALIGN double z[kMaxLanes];
      hn::Store(z_[offset / lanes], d_, z);
      skipped_ = z[offset % lanes];
      has_skipped_ = true;
    }
    const V vskip = hn::Set(d_, static_cast<double>(skip));
    for (std::size_t k = 0; k < vectors; ++k) {
      V e = hn::Exp(d_, hn::Sub(z_[k], max_));
      if (has_skip) {
        const V index = hn::Iota(d_, static_cast<double>(i + k * lanes));
        e = hn::IfThenZeroElse(hn::Eq(index, vskip), e);
      }
      sum_ = hn::Add(sum_, e);
      if constexpr (kCoef) {
        const auto finite = hn::Gt(z_[k], neg_inf_);
        spread_ =
            hn::Add(spread_, hn::IfThenElseZero(finite, hn::Mul(c_[k], hn::Sub(max_, z_[k]))));
        coef_finite_ = hn::Add(coef_finite_, hn::IfThenElseZero(finite, c_[k]));
        coef_ = hn::Add(coef_, c_[k]);
        inf_coef_ = flag_if(d_, inf_coef_, hn::AndNot(finite, hn::Ne(c_[k], zero_)));
      }
    }
  }

  /// Merges the lanes in vectors: one Exp for the rescaling, no scalar exp per lane.
  ce_partial finish() {
    ce_partial out;
    const V max = hn::MaxOfLanes(d_, max_);
    out.max = hn::GetLane(max);
    if (out.max > -HUGE_VAL) {
      // Lanes without finite values have max_ = -inf, sum_ = 0 and coef_finite_ = 0.
      out.sum = hn::GetLane(hn::SumOfLanes(d_, hn::Mul(sum_, hn::Exp(d_, hn::Sub(max_, max)))));
      if constexpr (kCoef) {
        const V shift = hn::IfThenElseZero(hn::Ne(coef_finite_, zero_),
                                           hn::Mul(coef_finite_, hn::Sub(max, max_)));
        out.spread = hn::GetLane(hn::SumOfLanes(d_, hn::Add(spread_, shift)));
      }
    }
    if constexpr (kCoef) {
      out.coef_finite = hn::GetLane(hn::SumOfLanes(d_, coef_finite_));
      out.coef = hn::GetLane(hn::SumOfLanes(d_, coef_));
    }
    if (s_.probs != nullptr) mass_.into(d_, out.mass);
    out.skipped = skipped_;
    out.has_skipped = has_skipped_;
    if (any(d_, bad_logit_)) out.flags |= kBadLogit;
    if (any(d_, bad_target_)) out.flags |= kBadTarget;
    if (any(d_, inf_coef_)) out.flags |= kInfiniteCoef;
    return out;
  }

  const D d_;
  const ce_slice<T>& s_;
  const V zero_;
  const V one_;
  const V neg_inf_;
  const V pos_inf_;
  const V u_;
  const V v_;
  const V cap_;
  V max_;
  V sum_;
  V spread_;
  V coef_finite_;
  V coef_;
  V bad_logit_;
  V bad_target_;
  V inf_coef_;
  blocked_sum mass_;
  double skipped_ = -HUGE_VAL;
  bool has_skipped_ = false;
  V z_[kBlock];
  V c_[kBlock];
};

template <class T, bool kCoef, bool kCap>
ce_partial ce_forward_impl(const ce_slice<T>& s, double u, double v, std::size_t skip) {
  return ce_forward_lanes<T, kCoef, kCap>(s, u, v).run(skip);
}

template <class T>
ce_partial ce_forward_any(const ce_slice<T>& s, double u, double v, std::size_t skip) {
  const bool coef = u != 0.0 || v != 0.0;
  if (s.cap > 0.0) {
    return coef ? ce_forward_impl<T, true, true>(s, u, v, skip)
                : ce_forward_impl<T, false, true>(s, u, v, skip);
  }
  return coef ? ce_forward_impl<T, true, false>(s, u, v, skip)
              : ce_forward_impl<T, false, false>(s, u, v, skip);
}

// ---- cross entropy, pass 2 ------------------------------------------------------

template <class T, bool kCap, bool kTargetTerm>
void ce_backward_impl(const ce_slice<T>& s, T* grad, double max, double log_sum, double a,
                      double beta, double gamma) {
  const D d;
  const std::size_t lanes = hn::Lanes(d);
  const V vmax = hn::Set(d, max);
  const V vlog_sum = hn::Set(d, log_sum);
  const V va = hn::Set(d, a);
  const V vbeta = hn::Set(d, beta);
  const V vgamma = hn::Set(d, gamma);
  const V cap = hn::Set(d, s.cap);
  const V one = hn::Set(d, 1.0);
  const V zero = hn::Zero(d);
  const V neg_inf = hn::Set(d, -HUGE_VAL);
  for (std::size_t i = 0; i < s.n; i += lanes) {
    const std::size_t count = s.n - i < lanes ? s.n - i : lanes;
    const V x = load_any(d, s.logits + i, count);
    V z = x;
    V u = zero;
    if constexpr (kCap) {
      u = hn::Div(x, cap);
      z = hn::IfThenElse(hn::Eq(x, neg_inf), neg_inf, hn::Mul(cap, tanh_lanes(d, u)));
    }
    // exp(-inf) = 0, and Exp gives 0 for NaN too (z = max = -inf).
    const V e = hn::Exp(d, hn::Sub(hn::Sub(z, vmax), vlog_sum));
    V g = hn::Mul(va, e);
    if constexpr (kTargetTerm) {
      const V w = s.weight != nullptr ? load_any(d, s.weight + i, count) : one;
      const V p = s.probs != nullptr ? load_any(d, s.probs + i, count) : zero;
      g = hn::Sub(g, hn::Mul(w, hn::Add(vbeta, hn::Mul(vgamma, p))));
    }
    if constexpr (kCap) g = hn::Mul(g, sech2_lanes(d, u));
    store_any(d, g, grad + i, count);
  }
}

template <class T>
void ce_backward_any(const ce_slice<T>& s, T* grad, double max, double log_sum, double a,
                     double beta, double gamma) {
  const bool target_term = beta != 0.0 || (s.probs != nullptr && gamma != 0.0);
  if (s.cap > 0.0) {
    if (target_term) return ce_backward_impl<T, true, true>(s, grad, max, log_sum, a, beta, gamma);
    return ce_backward_impl<T, true, false>(s, grad, max, log_sum, a, beta, gamma);
  }
  if (target_term) return ce_backward_impl<T, false, true>(s, grad, max, log_sum, a, beta, gamma);
  return ce_backward_impl<T, false, false>(s, grad, max, log_sum, a, beta, gamma);
}

// ---- kl_div ---------------------------------------------------------------------------

/// exp(t) for any t: Highway's Exp is valid only up to 706.
HWY_INLINE V exp_any(D d, V t) {
  V p = hn::Exp(d, t);
  const auto big = hn::Gt(t, hn::Set(d, kExpDirectMax));
  if (!hn::AllFalse(d, big)) {
    const V h = hn::Exp(d, hn::Min(hn::Mul(t, hn::Set(d, 0.5)), hn::Set(d, kLogDblMax / 2)));
    p = hn::IfThenElse(big, hn::Mul(h, h), p);
    p = hn::IfThenElse(hn::Gt(t, hn::Set(d, kLogDblMax)), hn::Set(d, HUGE_VAL), p);
  }
  return p;
}

template <class T, bool kLogTarget>
loss_partial kl_div_impl(const T* input, const T* target, std::size_t n, T* loss, T* grad,
                         double grad_scale) {
  const D d;
  const std::size_t lanes = hn::Lanes(d);
  const V zero = hn::Zero(d);
  const V pos_inf = hn::Set(d, HUGE_VAL);
  const V scale = hn::Set(d, grad_scale);
  V bad_input = zero;
  V bad_target = zero;
  blocked_sum sum(d);
  for (std::size_t i = 0; i < n; i += lanes) {
    const std::size_t count = n - i < lanes ? n - i : lanes;
    const V x = load_any(d, input + i, count);
    const V t = load_any(d, target + i, count);
    bad_input = flag_if(d, bad_input, hn::Or(hn::IsNaN(x), hn::Eq(x, pos_inf)));
    V p = t;
    V l;
    if constexpr (kLogTarget) {
      bad_target = flag_if(d, bad_target, hn::Or(hn::IsNaN(t), hn::Eq(t, pos_inf)));
      p = exp_any(d, t);
      l = hn::IfThenZeroElse(hn::Eq(p, zero), hn::Mul(p, hn::Sub(t, x)));
    } else {
      bad_target = flag_if(d, bad_target, not_mass(d, t));
      // Log(0) is finite in Highway: p = 0 is masked.
      l = hn::IfThenZeroElse(hn::Eq(t, zero), hn::Mul(t, hn::Sub(hn::Log(d, t), x)));
    }
    sum.add(d, l);  // padded lanes: x = t = 0 give l = 0
    if (loss != nullptr) store_any(d, l, loss + i, count);
    if (grad != nullptr) store_any(d, hn::Neg(hn::Mul(scale, p)), grad + i, count);
  }
  loss_partial out;
  sum.into(d, out.sum, out.nonfinite);
  if (any(d, bad_input)) out.flags |= kBadLogit;
  if (any(d, bad_target)) out.flags |= kBadTarget;
  return out;
}

// ---- binary cross entropy with logits -----------------------------------------------------

template <class T>
HWY_INLINE V weight_at(D d, const T* w, bool broadcast, std::size_t i, std::size_t count) {
  if (w == nullptr) return hn::Set(d, 1.0);
  if (broadcast) return hn::Set(d, static_cast<double>(w[0]));
  return load_any(d, w + i, count);
}

template <class T>
loss_partial bce_impl(const bce_slice<T>& s, T* loss, T* grad, double grad_scale) {
  const D d;
  const std::size_t lanes = hn::Lanes(d);
  const V zero = hn::Zero(d);
  const V one = hn::Set(d, 1.0);
  const V scale = hn::Set(d, grad_scale);
  V bad_logit = zero;
  V bad_target = zero;
  V bad_weight = zero;
  blocked_sum sum(d);
  for (std::size_t i = 0; i < s.n; i += lanes) {
    const std::size_t count = s.n - i < lanes ? s.n - i : lanes;
    const auto valid = hn::FirstN(d, count);
    const V x = load_any(d, s.logits + i, count);
    const V y = load_any(d, s.target + i, count);
    const V w = hn::IfThenElseZero(valid, weight_at(d, s.weight, s.weight_broadcast, i, count));
    const V pw = weight_at(d, s.pos_weight, s.pos_weight_broadcast, i, count);
    bad_logit = flag_if(d, bad_logit, hn::IsNaN(x));
    bad_target = flag_if(d, bad_target, hn::Not(hn::And(hn::Ge(y, zero), hn::Le(y, one))));
    bad_weight = flag_if(d, bad_weight, hn::Or(not_mass(d, w), not_mass(d, pw)));
    const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
    const V log1p_e = hn::Log1p(d, e);
    const V softplus_x = hn::Add(hn::Max(x, zero), log1p_e);
    const V softplus_neg_x = hn::Add(hn::Max(hn::Neg(x), zero), log1p_e);
    const V pos = hn::Mul(pw, y);
    const V neg = hn::Sub(one, y);
    // A zero coefficient meets an infinite softplus at x = +-inf: the term is 0.
    const V pos_term = hn::IfThenZeroElse(hn::Eq(pos, zero), hn::Mul(pos, softplus_neg_x));
    const V neg_term = hn::IfThenZeroElse(hn::Eq(neg, zero), hn::Mul(neg, softplus_x));
    const V l = hn::Mul(w, hn::Add(pos_term, neg_term));
    sum.add(d, l);
    if (loss != nullptr) store_any(d, l, loss + i, count);
    if (grad != nullptr) {
      const V one_plus_e = hn::Add(one, e);
      const V big = hn::Div(one, one_plus_e);
      const V small = hn::Div(e, one_plus_e);
      const V sig_x = hn::IfThenElse(hn::Ge(x, zero), big, small);
      const V sig_neg_x = hn::IfThenElse(hn::Le(x, zero), big, small);
      const V g = hn::Mul(w, hn::Sub(hn::Mul(neg, sig_x), hn::Mul(pos, sig_neg_x)));
      store_any(d, hn::Mul(scale, g), grad + i, count);
    }
  }
  loss_partial out;
  sum.into(d, out.sum, out.nonfinite);
  if (any(d, bad_logit)) out.flags |= kBadLogit;
  if (any(d, bad_target)) out.flags |= kBadTarget;
  if (any(d, bad_weight)) out.flags |= kBadWeight;
  return out;
}

}  // namespace

ce_partial LossCeForwardF64(const ce_slice<double>& s, double u, double v, std::size_t skip) {
  return ce_forward_any(s, u, v, skip);
}
ce_partial LossCeForwardF32(const ce_slice<float>& s, double u, double v, std::size_t skip) {
  return ce_forward_any(s, u, v, skip);
}
void LossCeBackwardF64(const ce_slice<double>& s, double* grad, double max, double log_sum,
                       double a, double beta, double gamma) {
  ce_backward_any(s, grad, max, log_sum, a, beta, gamma);
}
void LossCeBackwardF32(const ce_slice<float>& s, float* grad, double max, double log_sum, double a,
                       double beta, double gamma) {
  ce_backward_any(s, grad, max, log_sum, a, beta, gamma);
}
loss_partial LossKlDivF64(const double* input, const double* target, std::size_t n, bool log_target,
                          double* loss, double* grad, double grad_scale) {
  return log_target ? kl_div_impl<double, true>(input, target, n, loss, grad, grad_scale)
                    : kl_div_impl<double, false>(input, target, n, loss, grad, grad_scale);
}
loss_partial LossKlDivF32(const float* input, const float* target, std::size_t n, bool log_target,
                          float* loss, float* grad, double grad_scale) {
  return log_target ? kl_div_impl<float, true>(input, target, n, loss, grad, grad_scale)
                    : kl_div_impl<float, false>(input, target, n, loss, grad, grad_scale);
}
loss_partial LossBceF64(const bce_slice<double>& s, double* loss, double* grad, double grad_scale) {
  return bce_impl(s, loss, grad, grad_scale);
}
loss_partial LossBceF32(const bce_slice<float>& s, float* loss, float* grad, double grad_scale) {
  return bce_impl(s, loss, grad, grad_scale);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace shannon::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shannon::kernels {

HWY_EXPORT(LossCeForwardF64);
HWY_EXPORT(LossCeForwardF32);
HWY_EXPORT(LossCeBackwardF64);
HWY_EXPORT(LossCeBackwardF32);
HWY_EXPORT(LossKlDivF64);
HWY_EXPORT(LossKlDivF32);
HWY_EXPORT(LossBceF64);
HWY_EXPORT(LossBceF32);

ce_partial ce_forward(const ce_slice<float>& s, double u, double v, std::size_t skip) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossCeForwardF32)(s, u, v, skip);
}
ce_partial ce_forward(const ce_slice<double>& s, double u, double v, std::size_t skip) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossCeForwardF64)(s, u, v, skip);
}
void ce_backward(const ce_slice<float>& s, float* grad, double max, double log_sum, double a,
                 double beta, double gamma) {
  ensure_isa();
  HWY_DYNAMIC_DISPATCH(LossCeBackwardF32)(s, grad, max, log_sum, a, beta, gamma);
}
void ce_backward(const ce_slice<double>& s, double* grad, double max, double log_sum, double a,
                 double beta, double gamma) {
  ensure_isa();
  HWY_DYNAMIC_DISPATCH(LossCeBackwardF64)(s, grad, max, log_sum, a, beta, gamma);
}
loss_partial kl_div(const float* input, const float* target, std::size_t n, bool log_target,
                    float* loss, float* grad, double grad_scale) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossKlDivF32)(input, target, n, log_target, loss, grad, grad_scale);
}
loss_partial kl_div(const double* input, const double* target, std::size_t n, bool log_target,
                    double* loss, double* grad, double grad_scale) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossKlDivF64)(input, target, n, log_target, loss, grad, grad_scale);
}
loss_partial bce(const bce_slice<float>& s, float* loss, float* grad, double grad_scale) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossBceF32)(s, loss, grad, grad_scale);
}
loss_partial bce(const bce_slice<double>& s, double* loss, double* grad, double grad_scale) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossBceF64)(s, loss, grad, grad_scale);
}

}  // namespace shannon::kernels
#endif  // HWY_ONCE
