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

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

// foreach_target.h re-includes this file once per target: it comes first.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/loss_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/sum_tree-inl.h"
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

// ---- cross entropy, fast path: float lanes ----------------------------------------

using DF32 = hn::ScalableTag<float>;
using VF32 = hn::Vec<DF32>;
using DI32 = hn::RebindToSigned<DF32>;
#if HWY_TARGET == HWY_SCALAR
using DP64 = hn::Rebind<double, DF32>;
#else
using DP64 = hn::Repartition<double, DF32>;  // half as many lanes as the float vector
#endif
using VP64 = hn::Vec<DP64>;

constexpr std::size_t kMaxFloatLanes = HWY_MAX_BYTES / sizeof(float);
// Vectors per block: the max is checked once per block, and the float sum of a block (a
// tree of depth 3) is added to the double sums once per block (8 measured 7% faster than 4).
constexpr std::size_t kFastBlock = 8;
// Pass 1 starts from the max of this many first elements (the whole of a short row), so
// that the running max is seldom raised.
constexpr std::size_t kWarmUp = 4096;
// Pass 1 prefetches the next row of rows up to this length, and elsewhere kAhead floats
// (kPrefetchAhead bytes) ahead (two threads, slow host: [4096, 32768] forward 33.5 ->
// 20.6 ms).
constexpr std::size_t kPrefetchRow = 8192;
constexpr std::size_t kAhead = kPrefetchAhead / sizeof(float);

/// Prefetches the line of p for writing: a fresh gradient is read for ownership before
/// it is written ([4096, 32768] forward+backward 55 -> 44 ms, [65536, 1000] 25 -> 23.5 ms).
HWY_INLINE void prefetch_write(const float* p) { __builtin_prefetch(p, 1, 3); }

// Pass 1 stores and sums exp(d) 2^kExpOffset, so that exp(d) down to 2^-190 stays a
// normal float: a gradient e F (F <= |a|) is exact down to the subnormals for |a| < 1e12.
// exp(d) for d <= kExpFloor (2^-191 and below) is flushed to 0.
constexpr int kExpOffset = 64;
constexpr float kExpFloor = -132.5F;
// The clamp of the logits before x - m lies this far below m (or further): exp flushes it.
constexpr double kFloorGap = 135.0;

/// The clamp of the logits below a finite max m: kFloorGap below, or |m| 2^-20 where the
/// floats are coarser (inline: std::fmax is a call).
HWY_INLINE double floor_below(float m) {
  const double gap = double(m < 0.0F ? -m : m) * 0x1p-20;
  return double(m) - (gap > kFloorGap ? gap : kFloorGap);
}

/// max(a, b) that returns b when b is NaN, so that a NaN logit reaches the sum.
HWY_INLINE VF32 max_keep_nan(VF32 a, VF32 b) {
#if HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
  return hn::IfThenElse(hn::IsNaN(b), b, hn::Max(a, b));
#else
  return hn::Max(a, b);  // x86 max returns its second operand when either is NaN
#endif
}

/// count < Lanes elements of p, the other lanes `fill`; never reads past p + count.
HWY_INLINE VF32 load_tail(DF32 df, const float* p, std::size_t count, float fill) {
#if HWY_TARGET <= HWY_AVX2
  const auto valid = hn::FirstN(df, count);
  return hn::IfThenElse(valid, hn::MaskedLoad(valid, df, p), hn::Set(df, fill));
#else
  HWY_ALIGN float buf[kMaxFloatLanes];
  for (std::size_t i = 0; i < hn::Lanes(df); ++i) buf[i] = i < count ? p[i] : fill;
  return hn::Load(df, buf);
#endif
}

/// Stores the first count < Lanes lanes of v; never writes past p + count.
HWY_INLINE void store_tail(DF32 df, VF32 v, float* p, std::size_t count) {
#if HWY_TARGET <= HWY_AVX2
  hn::BlendedStore(v, hn::FirstN(df, count), df, p);
#else
  HWY_ALIGN float buf[kMaxFloatLanes];
  hn::Store(v, df, buf);
  std::memcpy(p, buf, count * sizeof(float));
#endif
}

HWY_INLINE VP64 lower_doubles(DP64 dp, VF32 v) {
#if HWY_TARGET == HWY_SCALAR
  return hn::PromoteTo(dp, v);
#else
  return hn::PromoteTo(dp, hn::LowerHalf(hn::Half<DF32>(), v));
#endif
}

HWY_INLINE VP64 upper_doubles(DP64 dp, VF32 v) {
#if HWY_TARGET == HWY_SCALAR
  (void)v;
  return hn::Zero(dp);
#else
  return hn::PromoteTo(dp, hn::UpperHalf(hn::Half<DF32>(), v));
#endif
}

/// sum_tree of K vectors without element `at` of theirs (none if at >= K lanes; a skip
/// before the block wraps around to a large at).
template <std::size_t K>
HWY_INLINE VF32 sum_without(DF32 df, const VF32* v, std::size_t at) {
  const std::size_t lanes = hn::Lanes(df);
  if (HWY_LIKELY(at >= K * lanes)) return sum_tree<K>(v);
  const std::size_t at_k = at / lanes;
  const DI32 di;
  const auto lane = hn::RebindMask(
      df, hn::Eq(hn::Iota(di, 0), hn::Set(di, static_cast<std::int32_t>(at % lanes))));
  // A test per vector, not kept[at_k]: a vector picked at run time goes through the stack.
  VF32 kept[K];
  for (std::size_t k = 0; k < K; ++k) kept[k] = k == at_k ? hn::IfThenZeroElse(lane, v[k]) : v[k];
  return sum_tree<K>(kept);
}

/// Stores the first `count` elements (at most K vectors' worth) of K vectors from p, never
/// past them.
template <std::size_t K>
HWY_INLINE void store_vectors(DF32 df, const VF32* v, float* p, std::size_t count) {
  const std::size_t lanes = hn::Lanes(df);
  for (std::size_t k = 0; k < K; ++k) {
    if (count >= (k + 1) * lanes) {
      hn::StoreU(v[k], df, p + k * lanes);
    } else if (count > k * lanes) {
      store_tail(df, v[k], p + k * lanes, count - k * lanes);
    }
  }
}

/// 2^k (1 + q) 2^kExpOffset rounded once, with q = e^u - 1 for |u| <= 0.3536 and k + 127 +
/// kExpOffset in the low bits of t (k = -191 gives 0).
HWY_INLINE VF32 exp_reduced(DF32 df, VF32 u, VF32 t) {
  const DI32 di;
  // e^u - 1 - u = u^2 P(u), P a quartic within 4.5e-9 relative of e^u
  // (scripts/fit_fast_log.py).
  const VF32 u2 = hn::Mul(u, u);
  VF32 poly = hn::Set(df, 0.001374614774249494F);
  poly = hn::MulAdd(poly, u, hn::Set(df, 0.008370366878807545F));
  poly = hn::MulAdd(poly, u, hn::Set(df, 0.04166976734995842F));
  poly = hn::MulAdd(poly, u, hn::Set(df, 0.16666506230831146F));
  poly = hn::MulAdd(poly, u, hn::Set(df, 0.49999988079071045F));
  const VF32 q = hn::MulAdd(poly, u2, u);
  const VF32 scale = hn::BitCast(df, hn::ShiftLeft<23>(hn::BitCast(di, t)));
  // scale (1 + q) rounded once (q scale is exact: scale is a power of 2 or 0).
  return hn::MulAdd(q, scale, scale);
}

// 1.5 * 2^23 rounds d / ln 2 to an integer k and leaves k + 127 + kExpOffset in the low bits.
constexpr float kExpShifter = 12582912.0F + 127.0F + float(kExpOffset);
constexpr float kInvLn2 = 1.44269504088896341F;

/// exp(d + r) 2^kExpOffset for d <= 0 and |r| <= 2^-16 (the rounding error of d), within
/// 1.05 ulp (measured; mean 0.27) for d > -131; 0 for d <= kExpFloor (and -inf); NaN for NaN.
/// Cody-Waite reduction by ln 2 (exact for |k| < 256), r joins the reduced argument.
HWY_INLINE VF32 exp_scaled(DF32 df, VF32 d, VF32 r) {
  const VF32 dc = max_keep_nan(hn::Set(df, kExpFloor), d);
  const VF32 shifter = hn::Set(df, kExpShifter);
  const VF32 t = hn::MulAdd(dc, hn::Set(df, kInvLn2), shifter);
  const VF32 k = hn::Sub(t, shifter);
  VF32 u = hn::MulAdd(k, hn::Set(df, -0.693145751953125F), dc);
  u = hn::MulAdd(k, hn::Set(df, -1.428606765330187045e-06F), u);
  return exp_reduced(df, hn::Add(u, r), t);
}

// Shifts that are multiples j ln 2 of ln 2 (|j| <= kShiftMaxJ) let exp_shifted reduce x
// itself, exp(x - j ln 2) = 2^(K - j) e^(x - K ln 2) with K = round(x / ln 2): no TwoSum of
// x - shift, and j goes into the rounding constant.
constexpr double kLn2 = 0.693147180559945309417;
constexpr float kShiftMax = 2048.0F;  // rows whose max lies beyond take the TwoSum path
// ln 2 = kLn2Hi (12 bits: K kLn2Hi is exact) + kLn2Mid (rounded to float: the reduction
// is then that of ln 2 within 1.6e-12 relative, 5e-9 at |K| = 3000).
constexpr float kLn2Hi = 2839.0F * 0x1p-12F;
constexpr float kLn2Mid = 3.194618329871446e-05F;

// With 16 float lanes, exp_shifted reduces by ln(2) / 16 and looks 2^(i/16) up (one
// permute): the polynomial is then a quadratic, 3 fewer multiplications per vector.
HWY_INLINE constexpr bool exp_table() { return hn::MaxLanes(DF32()) >= 16; }
constexpr int kExpSteps = exp_table() ? 16 : 1;  // steps of the reduction per octave
// 2^(i/16) rounded to float.
HWY_ALIGN constexpr float kExp2Sixteenths[16] = {1.0F,
                                                 1.0442737340927124F,
                                                 1.0905077457427979F,
                                                 1.1387885808944702F,
                                                 1.1892070770263672F,
                                                 1.2418577671051025F,
                                                 1.2968395948410034F,
                                                 1.3542555570602417F,
                                                 1.4142135381698608F,
                                                 1.4768261909484863F,
                                                 1.5422108173370361F,
                                                 1.610490322113037F,
                                                 1.6817928552627563F,
                                                 1.7562521696090698F,
                                                 1.8340080976486206F,
                                                 1.9152065515518188F};
// ln(2) / 16 = hi + lo within 5.5e-18.
constexpr float kLn2Over16Hi = 0.043321698904037476F;
constexpr float kLn2Over16Lo = -1.1904088825787085e-10F;
// The clamp of the logits lies this far below the shift, where exp gives 0: with the table
// (vscalefps) below 2^-150 once scaled, x - m <= -148.3 (the subnormals above it are rounded
// once); without it from k = -191 on, x - m <= -132.04.
constexpr double kShiftGap = exp_table() ? 150.0 : 132.5;
// With the table, exp_shifted_core needs no clamp: a logit far below the shift (down to
// about -1.47e37) gives 0, and anything else out of range (above the shift by 44 or more,
// -inf, NaN) gives inf or NaN. Pass 1 therefore runs without the clamp and without the block
// max, and checks the sum of each block instead: a sum within kBlockSumMax shows that no
// logit lies more than ln 16 above the shift (those below it are harmless: terms up to 16).
constexpr bool kCheckBySum = exp_table();
constexpr float kBlockSumMax = 0x1p68F;

/// A shift j ln 2 for exp_shifted: the smallest at or above a finite max m, |m| <= kShiftMax.
struct ln2_shift {
  double value;  ///< j ln 2
  float bound;   ///< the smallest float at or above j ln 2: logits up to it need no event
  float s;       ///< the rounding constant 1.5 2^23 + kExpSteps (127 + kExpOffset - j)
  float floor;   ///< the clamp of the logits, about kShiftGap below the shift

  explicit ln2_shift(float m) {
    const double j = std::ceil(double(m) / kLn2);
    value = j * kLn2;
    bound = static_cast<float>(value);
    if (double(bound) < value) bound = std::nextafter(bound, HUGE_VALF);
    s = static_cast<float>(12582912.0 + kExpSteps * (127.0 + kExpOffset - j));
    floor = static_cast<float>(value - kShiftGap);
  }
};

/// exp(z - j ln 2) 2^kExpOffset for the rounding constant s of the shift j ln 2 and
/// kShiftGap below it <= z <= j ln 2 + 40 (with the table, see kCheckBySum, any z); within
/// 1.05 ulp (fast_exponentials_are_within_their_bound), down to the subnormals with the table
/// and flushed to 0 from k = -191 without it; NaN for NaN. K = round(kExpSteps z / ln 2), k =
/// K / kExpSteps - j rounded down. With the table: u = z - K ln(2) / 16 (|u| <= 0.0217,
/// within 2^-30) and 2^(i/16) (1 + u + u^2 P(u)) 2^k, P linear (1.6e-9 relative), rounded
/// once before the scaling by 2^k. Without: u = (z - K kLn2Hi) - K kLn2Mid, whose inner
/// difference is exact where |z| >= 1/2 and otherwise within 2^-26 (|u| <= 0.347).
HWY_INLINE VF32 exp_shifted_core(DF32 df, VF32 zc, VF32 s) {
  if constexpr (exp_table()) {
    const VF32 t = hn::MulAdd(zc, hn::Set(df, 23.083120346069336F), s);
    const VF32 k = hn::Sub(t, s);
    const VF32 d = hn::NegMulAdd(k, hn::Set(df, kLn2Over16Hi), zc);
    const VF32 u = hn::NegMulAdd(k, hn::Set(df, kLn2Over16Lo), d);
    const VF32 p =
        hn::MulAdd(hn::Set(df, 0.16666845977306366F), u, hn::Set(df, 0.5000163316726685F));
    const VF32 q = hn::MulAdd(p, hn::Mul(u, u), u);
#if HWY_TARGET <= HWY_AVX3
    // vpermps reads only the low 4 bits of t (i), and vscalefps scales by 2^floor(b) with
    // overflow to inf and gradual underflow: t / 16 - (1.5 2^19 + 127) = 64 + k + i / 16,
    // exact.
    const VF32 step{
        _mm512_permutexvar_ps(_mm512_castps_si512(t.raw), hn::Load(df, kExp2Sixteenths).raw)};
    const VF32 b = hn::MulAdd(t, hn::Set(df, 0.0625F), hn::Set(df, -786559.0F));
    return VF32{_mm512_scalef_ps(hn::MulAdd(step, q, step).raw, b.raw)};
#else
    const DI32 di;
    const auto bits = hn::BitCast(di, t);
    const VF32 step = hn::TableLookupLanes(hn::Load(df, kExp2Sixteenths),
                                           hn::IndicesFromVec(df, hn::And(bits, hn::Set(di, 15))));
    // The low bits of t are 16 (191 + k) + i: the exponent field of 2^(k + kExpOffset).
    const VF32 scale = hn::BitCast(df, hn::ShiftLeft<19>(hn::AndNot(hn::Set(di, 15), bits)));
    return hn::Mul(hn::MulAdd(step, q, step), scale);
#endif
  } else {
    const VF32 t = hn::MulAdd(zc, hn::Set(df, kInvLn2), s);
    const VF32 k = hn::Sub(t, s);
    const VF32 d = hn::NegMulAdd(k, hn::Set(df, kLn2Hi), zc);
    return exp_reduced(df, hn::NegMulAdd(k, hn::Set(df, kLn2Mid), d), t);
  }
}

/// exp_shifted_core of z clamped to floor first (NaN kept).
HWY_INLINE VF32 exp_shifted(DF32 df, VF32 z, VF32 s, VF32 floor) {
  return exp_shifted_core(df, max_keep_nan(floor, z), s);
}

/// Whether every lane of a block's sum lies within kBlockSumMax (NaN does not).
HWY_INLINE bool block_sum_within(DF32 df, VF32 s) {
  return hn::AllTrue(df, hn::Le(hn::Abs(s), hn::Set(df, kBlockSumMax)));
}

/// The max of x[0, n) (NaN left out), from four chains: one would wait on its own latency.
HWY_INLINE float max_of(DF32 df, const float* x, std::size_t n) {
  const std::size_t lanes = hn::Lanes(df);
  VF32 acc[4] = {hn::Set(df, -HUGE_VALF), hn::Set(df, -HUGE_VALF), hn::Set(df, -HUGE_VALF),
                 hn::Set(df, -HUGE_VALF)};
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    for (std::size_t k = 0; k < 4; ++k) acc[k] = hn::Max(hn::LoadU(df, x + i + k * lanes), acc[k]);
  }
  for (; i + lanes <= n; i += lanes) acc[0] = hn::Max(hn::LoadU(df, x + i), acc[0]);
  if (i < n) acc[1] = hn::Max(load_tail(df, x + i, n - i, -HUGE_VALF), acc[1]);
  return hn::GetLane(hn::MaxOfLanes(df, hn::Max(hn::Max(acc[0], acc[1]), hn::Max(acc[2], acc[3]))));
}

/// Pass 1 of the fast path (see ce_fast_forward). The running max m is one value for
/// all lanes: a block whose max exceeds it raises it (an event), the double sums are
/// rescaled by exp(m_old - m_new) and later exponentials use the new m.
template <bool kStore>
class fast_forward {
 public:
  fast_forward(const float* x, std::size_t n, std::size_t skip, float* e)
      : x_(x),
        e_(e),
        n_(n),
        prefetch_(n <= kPrefetchRow),
        skip_(skip),
        sum_lo_(hn::Zero(dp_)),
        sum_hi_(hn::Zero(dp_)),
        mv_(hn::Set(df_, -HUGE_VALF)),
        neg_m_(hn::Set(df_, HUGE_VALF)),
        floor_(hn::Set(df_, -HUGE_VALF)),
        s_(hn::Set(df_, kExpShifter)) {}

  ce_fast_partial run() {
    const std::size_t lanes = hn::Lanes(df_);
    // The max of the first elements (NaN left out): the first event.
    const float m0 = max_of(df_, x_, n_ < kWarmUp ? n_ : kWarmUp);
    if (m0 > -HUGE_VALF && !raise(m0, 0)) return out_;
    const std::size_t block = kFastBlock * lanes;
    std::size_t i = 0;
    for (; i + block <= n_; i += block) {
      if (!step<kFastBlock>(i, lanes)) return out_;
    }
    for (; i + lanes <= n_; i += lanes) {
      if (!step<1>(i, lanes)) return out_;
    }
    if (i < n_ && !step<1>(i, n_ - i)) return out_;
    out_.max = m_;
    out_.sum = hn::GetLane(hn::SumOfLanes(dp_, hn::Add(sum_lo_, sum_hi_))) * 0x1p-64;
    // A NaN logit made its exponential and the sum NaN.
    if (std::isnan(out_.sum)) out_.flags |= kBadLogit;
    return out_;
  }

 private:
  /// Raises the running max to m_new from element i on; false if m_new is +inf.
  bool raise(float m_new, std::size_t i) {
    if (m_new == HUGE_VALF) {
      out_.flags |= kBadLogit;
      return false;
    }
    ce_events& ev = out_.events;
    if (ev.count + 1 == ce_events::kCapacity) {
      // The last event: the max of the rest, so that no block exceeds it any more.
      m_new = std::max(m_new, max_of(df_, x_ + i, n_ - i));
      if (m_new == HUGE_VALF) {
        out_.flags |= kBadLogit;
        return false;
      }
    }
    shifted_ = std::fabs(m_new) <= kShiftMax;
    const ln2_shift shift(shifted_ ? m_new : 0.0F);
    const double m_next = shifted_ ? shift.value : double(m_new);
    if (m_ > -HUGE_VAL) {
      const VP64 f = hn::Set(dp_, std::exp(m_ - m_next));
      sum_lo_ = hn::Mul(sum_lo_, f);
      sum_hi_ = hn::Mul(sum_hi_, f);
    }
    m_ = m_next;
    ev.start[ev.count] = i;
    ev.max[ev.count] = m_next;
    ++ev.count;
    if (shifted_) {
      deep_ = false;
      mv_ = hn::Set(df_, shift.bound);
      s_ = hn::Set(df_, shift.s);
      floor_ = hn::Set(df_, shift.floor);
      return true;
    }
    mv_ = hn::Set(df_, m_new);
    neg_m_ = hn::Set(df_, -m_new);
    // Logits are clamped to the floor before x - m: -inf gives exp = 0 without a NaN in
    // the rounding error of x - m. The floor lies kFloorGap or more below m, and x - m stays
    // finite; only for m near -FLT_MAX is there no such float, and -inf is masked.
    const double floor = floor_below(m_new);
    deep_ = floor < -double(FLT_MAX);
    floor_ = hn::Set(df_, deep_ ? -FLT_MAX : static_cast<float>(floor));
    return true;
  }

  /// exp(z - m) of one vector, with the rounding error of z - m (TwoSum) put back in.
  HWY_INLINE VF32 exp_term(VF32 z) const {
    if (HWY_LIKELY(shifted_)) return exp_shifted(df_, z, s_, floor_);
    const VF32 zc = max_keep_nan(floor_, z);
    const VF32 d = hn::Sub(zc, mv_);
    const VF32 bb = hn::Sub(d, zc);
    const VF32 aa = hn::Sub(d, bb);
    const VF32 r = hn::Add(hn::Sub(zc, aa), hn::Sub(neg_m_, bb));
    VF32 e = exp_scaled(df_, d, r);
    if (HWY_UNLIKELY(deep_)) e = hn::IfThenZeroElse(hn::Eq(z, hn::Set(df_, -HUGE_VALF)), e);
    return e;
  }

  /// Stores a block's exponentials (kStore) and adds their sum s.
  template <std::size_t K>
  HWY_INLINE void keep(const VF32* e, VF32 s, std::size_t i, std::size_t last) {
    if constexpr (kStore) store_vectors<K>(df_, e, e_ + i, (K - 1) * hn::Lanes(df_) + last);
    sum_lo_ = hn::Add(sum_lo_, lower_doubles(dp_, s));
    sum_hi_ = hn::Add(sum_hi_, upper_doubles(dp_, s));
  }

  /// K vectors from element i, the last with `last` lanes valid (the others -inf).
  template <std::size_t K>
  HWY_INLINE bool step(std::size_t i, std::size_t last) {
    const std::size_t lanes = hn::Lanes(df_);
    VF32 z[K];
    for (std::size_t k = 0; k < K; ++k) {
      const float* p = x_ + i + k * lanes;
      // The next row's logits, for rows up to kPrefetchRow: its warm-up would wait for
      // memory.
      hwy::Prefetch(p + (prefetch_ ? n_ : kAhead));
      if constexpr (kStore) {
        if (e_ != x_) prefetch_write(e_ + i + k * lanes + kAhead);
      }
      z[k] = (k + 1 == K && last < lanes) ? load_tail(df_, p, last, -HUGE_VALF) : hn::LoadU(df_, p);
    }
    if constexpr (kCheckBySum) {
      if (HWY_LIKELY(shifted_ && !unsafe_)) {
        VF32 e[K];
        for (std::size_t k = 0; k < K; ++k) e[k] = exp_shifted_core(df_, z[k], s_);
        const VF32 s = sum_without<K>(df_, e, skip_ - i);
        if (HWY_LIKELY(block_sum_within(df_, s))) {
          keep<K>(e, s, i, last);
          return true;
        }
        // A logit above the shift raises it below; -inf, NaN or one far below (-1.47e37)
        // stay with the clamp for the rest of the slice.
        const std::size_t events = out_.events.count;
        const bool ok = checked_step<K>(z, i, last);
        if (out_.events.count == events) unsafe_ = true;
        return ok;
      }
    }
    return checked_step<K>(z, i, last);
  }

  /// step with the block max checked first and the logits clamped.
  template <std::size_t K>
  HWY_INLINE bool checked_step(const VF32* z, std::size_t i, std::size_t last) {
    VF32 block_max = z[0];
    for (std::size_t k = 1; k < K; ++k) block_max = hn::Max(block_max, z[k]);
    const auto above = hn::Gt(block_max, mv_);
    if (HWY_UNLIKELY(!hn::AllFalse(df_, above))) {
      const VF32 raised = hn::IfThenElse(above, block_max, mv_);
      if (!raise(hn::GetLane(hn::MaxOfLanes(df_, raised)), i)) return false;
    }
    if (HWY_UNLIKELY(m_ == -HUGE_VAL)) {
      // Every logit so far is -inf (or NaN): nothing to add or store.
      for (std::size_t k = 0; k < K; ++k) {
        if (!hn::AllFalse(df_, hn::IsNaN(z[k]))) {
          out_.flags |= kBadLogit;
          return false;
        }
      }
      return true;
    }
    VF32 e[K];
    for (std::size_t k = 0; k < K; ++k) e[k] = exp_term(z[k]);
    keep<K>(e, sum_without<K>(df_, e, skip_ - i), i, last);
    return true;
  }

  const DF32 df_;
  const DP64 dp_;
  const float* x_;
  float* e_;
  std::size_t n_;
  bool prefetch_;
  std::size_t skip_;
  VP64 sum_lo_;
  VP64 sum_hi_;
  VF32 mv_;
  VF32 neg_m_;
  VF32 floor_;
  VF32 s_;
  double m_ = -HUGE_VAL;  // the shift
  bool shifted_ = false;  // m_ is a multiple of ln 2 (exp_shifted)
  // A logit gave inf or NaN without a raise: the clamp stays (else steps check the block
  // sums where kCheckBySum and shifted_).
  bool unsafe_ = false;
  bool deep_ = false;
  ce_fast_partial out_;
};

ce_fast_partial fast_forward_any(const float* x, std::size_t n, std::size_t skip, float* e) {
  if (e != nullptr) return fast_forward<true>(x, n, skip, e).run();
  return fast_forward<false>(x, n, skip, nullptr).run();
}

// With kCheckBySum, a short row that is not overwritten in place is shifted by the max of
// its first elements only: a later block whose sum shows a logit above the shift (more than
// ln 16 above it) starts the row again from its whole max, seldom on most data.
constexpr std::size_t kShortWarmUp = 128;

/// fast_forward of a short row (n <= kWarmUp) in locals (registers), without events, shifted
/// by the ln2_shift of the max of its first `warm` elements; false (to start again from the
/// whole row's max) if a logit lies more than ln 16 above that shift. Rows whose max lies
/// beyond +-kShiftMax (or is not finite) go to fast_forward.
template <bool kStore>
HWY_NOINLINE bool short_forward_from(const float* x, std::size_t n, std::size_t skip, float* e,
                                     std::size_t warm, ce_fast_partial& out) {
  const DF32 df;
  const DP64 dp;
  const std::size_t lanes = hn::Lanes(df);
  const float row_max = max_of(df, x, warm);
  // Rows of -inf only, +inf or NaN, and beyond kShiftMax go to fast_forward.
  if (HWY_UNLIKELY(!(row_max >= -kShiftMax && row_max <= kShiftMax))) {
    out = fast_forward<kStore>(x, n, skip, e).run();
    return true;
  }
  const ln2_shift shift(row_max);
  const double m = shift.value;
  out.max = m;
  out.flags = 0;
  out.events.count = 1;
  out.events.start[0] = 0;
  out.events.max[0] = m;
  const VF32 s = hn::Set(df, shift.s);
  const VF32 floor_v = hn::Set(df, shift.floor);
  VP64 lo = hn::Zero(dp);
  VP64 hi = hn::Zero(dp);
  // A block sum beyond kBlockSumMax comes from a logit above the shift (only where warm < n),
  // or from -inf, NaN or a logit far below (see kCheckBySum): then the rest of the row takes
  // the clamp. Each block is checked before it is stored: in place, the logits are gone after.
  bool clamp = !kCheckBySum;
  const VF32 bound = hn::Set(df, shift.bound);
  // kCount vectors from element i holding `count` elements. The lanes past them are loaded
  // at the shift and their exponentials zeroed: at the floor, where exp gives 0, each vector
  // that underflowed cost a microcode assist on the Intel host (a row of 1000 took 0.3 us
  // with two of them, 0.2 without).
  // Inlined at each call: a call per block costs 25% (its vectors go through the stack).
  const auto block = [&](auto kk, std::size_t i, std::size_t count) HWY_ATTR
      __attribute__((always_inline)) {
    constexpr std::size_t kCount = decltype(kk)::value;
    VF32 z[kCount];
    for (std::size_t k = 0; k < kCount; ++k) {
      const float* p = x + i + k * lanes;
      // Ahead, or in place the next row (measured faster there): the max pass of the
      // next row would wait for memory.
      hwy::Prefetch(p + (e == x ? n : kAhead));
      if constexpr (kStore) {
        if (e != x) prefetch_write(e + i + k * lanes + kAhead);
      }
      const std::size_t first = k * lanes;
      z[k] = count >= first + lanes
                 ? hn::LoadU(df, p)
                 : load_tail(df, p, count > first ? count - first : 0, shift.bound);
    }
    VF32 v[kCount];
    VF32 sum;
    const auto drop_padding = [&]() HWY_ATTR __attribute__((always_inline)) {
      for (std::size_t k = 0; k < kCount; ++k) {
        const std::size_t first = k * lanes;
        if (count < first + lanes) {
          v[k] = hn::IfThenElseZero(hn::FirstN(df, count > first ? count - first : 0), v[k]);
        }
      }
    };
    if (!clamp) {
      for (std::size_t k = 0; k < kCount; ++k) v[k] = exp_shifted_core(df, z[k], s);
      drop_padding();
      sum = sum_without<kCount>(df, v, skip - i);
      clamp = !block_sum_within(df, sum);
      if (HWY_UNLIKELY(clamp && warm < n)) {
        VF32 top = z[0];
        for (std::size_t k = 1; k < kCount; ++k) top = hn::Max(top, z[k]);
        if (!hn::AllFalse(df, hn::Gt(top, bound))) return false;
      }
    }
    if (clamp) {
      for (std::size_t k = 0; k < kCount; ++k) v[k] = exp_shifted(df, z[k], s, floor_v);
      drop_padding();
      sum = sum_without<kCount>(df, v, skip - i);
    }
    if constexpr (kStore) store_vectors<kCount>(df, v, e + i, count);
    lo = hn::Add(lo, lower_doubles(dp, sum));
    hi = hn::Add(hi, upper_doubles(dp, sum));
    return true;
  };
  const std::size_t block_size = kFastBlock * lanes;
  std::size_t i = 0;
  for (; i + block_size <= n; i += block_size) {
    if (!block(std::integral_constant<std::size_t, kFastBlock>(), i, block_size)) return false;
  }
  // The rest in one block of the fewest vectors that hold it: one check of its sum and one
  // promotion to double, where a step per vector takes one each (a row of 1000: 3.5% faster).
  static_assert(kFastBlock == 8);
  const std::size_t rest = n - i;
  bool ok = true;
  if (rest > 4 * lanes) {
    ok = block(std::integral_constant<std::size_t, 8>(), i, rest);
  } else if (rest > 2 * lanes) {
    ok = block(std::integral_constant<std::size_t, 4>(), i, rest);
  } else if (rest > lanes) {
    ok = block(std::integral_constant<std::size_t, 2>(), i, rest);
  } else if (rest > 0) {
    ok = block(std::integral_constant<std::size_t, 1>(), i, rest);
  }
  if (!ok) return false;
  out.sum = hn::GetLane(hn::SumOfLanes(dp, hn::Add(lo, hi))) * 0x1p-64;
  // A NaN logit made its exponential and the sum NaN.
  if (std::isnan(out.sum)) out.flags |= kBadLogit;
  return true;
}

/// short_forward_from the first kShortWarmUp elements where kCheckBySum allows it (not in
/// place), else or if that fails from the whole row.
template <bool kStore>
HWY_INLINE void short_forward(const float* x, std::size_t n, std::size_t skip, float* e,
                              ce_fast_partial& out) {
  if (kCheckBySum && n > kShortWarmUp && e != x &&
      short_forward_from<kStore>(x, n, skip, e, kShortWarmUp, out)) {
    return;
  }
  short_forward_from<kStore>(x, n, skip, e, n, out);
}

/// g[j] = e[j] * f for j in [begin, end): f split into two floats on targets with FMA,
/// in double lanes otherwise or when f is outside the float range's comfortable middle.
void scale_segment(float* g, std::size_t begin, std::size_t end, double f) {
  const DF32 df;
  const std::size_t lanes = hn::Lanes(df);
  std::size_t i = begin;
  const double mag = std::fabs(f);
  // The low half of f stays a normal float (relative error <= 2^-30 of the product).
  if (HWY_NATIVE_FMA && mag <= 0x1p100 && (mag >= 0x1p-120 || f == 0.0)) {
    const auto hi_f = static_cast<float>(f);
    const VF32 hi = hn::Set(df, hi_f);
    const VF32 lo = hn::Set(df, static_cast<float>(f - double(hi_f)));
    for (; i + lanes <= end; i += lanes) {
      const VF32 e = hn::LoadU(df, g + i);
      hn::StoreU(hn::MulAdd(e, hi, hn::Mul(e, lo)), df, g + i);
    }
    if (i < end) {
      const VF32 e = load_tail(df, g + i, end - i, 0.0F);
      store_tail(df, hn::MulAdd(e, hi, hn::Mul(e, lo)), g + i, end - i);
    }
    return;
  }
  const D d;
  const V vf = hn::Set(d, f);
  const std::size_t dlanes = hn::Lanes(d);
  for (; i < end; i += dlanes) {
    const std::size_t count = end - i < dlanes ? end - i : dlanes;
    store_any(d, hn::Mul(load_any(d, g + i, count), vf), g + i, count);
  }
}

void fast_backward(float* g, std::size_t n, const ce_events& ev, double max, double log_sum,
                   double a) {
  const std::size_t first = ev.count > 0 ? ev.start[0] : n;
  std::fill(g, g + first, 0.0F);
  for (std::size_t k = 0; k < ev.count; ++k) {
    const std::size_t end = k + 1 < ev.count ? ev.start[k + 1] : n;
    const double f = a * std::exp((double(ev.max[k]) - max) - log_sum) * 0x1p-64;
    scale_segment(g, ev.start[k], end, f);
  }
}

/// ce_terms of one row per lane, and which lanes have a target that is not masked.
struct lane_terms {
  V log_sum;
  V nll;
  hn::Mask<D> has_target;
};

/// ce_terms in lanes from m, sum and z_t (Exp gives 0 for -inf and NaN; the lanes that a
/// branch does not take are selected away).
HWY_INLINE lane_terms ce_terms_lanes(D d, V vm, V vs, V vz) {
  const V zero = hn::Zero(d);
  const V one = hn::Set(d, 1.0);
  const V neg_inf = hn::Set(d, -HUGE_VAL);
  const auto has_max = hn::Gt(vm, neg_inf);
  const auto has_target = hn::And(has_max, hn::Gt(vz, neg_inf));
  const V diff = hn::Sub(vz, vm);
  const V e_t = hn::IfThenElseZero(has_target, hn::Exp(d, diff));
  // Each of log1p and log only when some lane takes it.
  const auto near = hn::And(has_max, hn::Ge(e_t, hn::Set(d, 0.5)));
  V ls = zero;
  if (!hn::AllFalse(d, near)) {
    ls = hn::IfThenElseZero(near, hn::Log1p(d, hn::Add(hn::Sub(e_t, one), vs)));
  }
  const auto far = hn::AndNot(near, has_max);
  if (!hn::AllFalse(d, far)) {
    ls = hn::IfThenElse(far, hn::Log(d, hn::IfThenElse(far, hn::Add(vs, e_t), one)), ls);
  }
  const auto close = hn::And(has_target, hn::Ge(diff, hn::Set(d, -1.0)));
  V v_nll = hn::IfThenElse(has_target, hn::Add(hn::Sub(vm, vz), ls), hn::Set(d, HUGE_VAL));
  if (!hn::AllFalse(d, close)) {
    v_nll =
        hn::IfThenElse(close, hn::Log1p(d, hn::Div(vs, hn::IfThenElse(close, e_t, one))), v_nll);
  }
  return {ls, v_nll, has_target};
}

/// s_t - 1 = expm1(-nll) per lane; -1 for a masked target.
HWY_INLINE V s_t_minus_1_lanes(D d, const lane_terms& t) {
  return hn::IfThenElse(t.has_target, hn::Expm1(d, hn::Neg(t.nll)), hn::Set(d, -1.0));
}

/// Rows of the fast path: long rows one by one with scalar ce_terms; short rows (one
/// event each: their warm-up max is the row max) in batches whose ce_terms, exp(-log_sum)
/// and expm1(-nll) are computed in double lanes, one row per lane.
ce_fast_totals fast_rows(const ce_fast_rows& p, std::size_t begin, std::size_t end) {
  ce_fast_totals total;
  const auto add = [&](std::size_t r, const ce_row_result& res) {
    if (res.flags != 0 && !p.unchecked) {
      if (total.bad_row == SIZE_MAX) {
        total.bad_row = r;
        total.bad_flags = res.flags;
      }
      return;
    }
    total.ce.add(res.ce);
    if (p.loss != nullptr) p.loss[r] = static_cast<float>(res.ce / p.unit);
  };
  const auto pass1 = [&](const float* x, std::size_t skip, float* e) {
    return fast_forward_any(x, p.cols, skip, e);
  };
  if (p.cols > kWarmUp) {
    const auto pass2 = [&](float* g, const ce_fast_partial& part, double log_sum, double a) {
      fast_backward(g, p.cols, part.events, part.max, log_sum, a);
    };
    for (std::size_t r = begin; r < end; ++r) add(r, ce_fast_row(p, r, pass1, pass2));
    return total;
  }
  const auto short_pass1 = [&](const float* x, std::size_t skip, float* e) {
    ce_fast_partial out;
    if (e != nullptr) {
      short_forward<true>(x, p.cols, skip, e, out);
    } else {
      short_forward<false>(x, p.cols, skip, nullptr, out);
    }
    return out;
  };
  const D d;
  constexpr std::size_t kBatch = kMaxLanes;
  const std::size_t lanes = hn::Lanes(d);
  ce_fast_row_state st[kBatch];
  HWY_ALIGN double m[kBatch];
  HWY_ALIGN double sum[kBatch];
  HWY_ALIGN double z_t[kBatch];
  HWY_ALIGN double log_sum[kBatch];
  HWY_ALIGN double nll[kBatch];
  HWY_ALIGN double s_max[kBatch];
  HWY_ALIGN double s_t_minus_1[kBatch];
  std::size_t lane = 0;
  const auto pass2 = [&](float* g, const ce_fast_partial& part, double /*log_sum*/, double a) {
    if (part.events.count == 0) {
      std::fill(g, g + p.cols, 0.0F);
    } else {
      scale_segment(g, 0, p.cols, a * s_max[lane] * 0x1p-64);
    }
  };
  for (std::size_t r0 = begin; r0 < end; r0 += lanes) {
    const std::size_t count = end - r0 < lanes ? end - r0 : lanes;
    for (std::size_t i = 0; i < lanes; ++i) {
      m[i] = -HUGE_VAL;
      sum[i] = 0.0;
      z_t[i] = -HUGE_VAL;
      if (i >= count) continue;
      ce_fast_row_start(p, r0 + i, st[i], short_pass1);
      if (st[i].done) continue;
      m[i] = st[i].part.max;
      sum[i] = st[i].part.sum;
      z_t[i] = st[i].z_t();
    }
    const lane_terms terms = ce_terms_lanes(d, hn::Load(d, m), hn::Load(d, sum), hn::Load(d, z_t));
    hn::Store(terms.log_sum, d, log_sum);
    hn::Store(terms.nll, d, nll);
    if (p.grad != nullptr) {
      hn::Store(hn::Exp(d, hn::Neg(terms.log_sum)), d, s_max);
      hn::Store(s_t_minus_1_lanes(d, terms), d, s_t_minus_1);
    }
    // The losses of a batch in a plain sum (error 8 eps of the batch), then in total.ce.
    double batch = 0.0;
    for (lane = 0; lane < count; ++lane) {
      const std::size_t r = r0 + lane;
      if (!st[lane].done) {
        ce_fast_row_end(p, r, st[lane], ce_row_terms{log_sum[lane], nll[lane]}, s_t_minus_1[lane],
                        pass2);
      }
      const ce_row_result& res = st[lane].res;
      if (res.flags != 0 && !p.unchecked) {
        if (total.bad_row == SIZE_MAX) {
          total.bad_row = r;
          total.bad_flags = res.flags;
        }
        continue;
      }
      batch += res.ce;
      if (p.loss != nullptr) p.loss[r] = static_cast<float>(res.ce / p.unit);
    }
    total.ce.add(batch);
  }
  return total;
}

// ---- cross entropy, short rows in tiles: one row per double lane --------------------

// 2^(i/8), i = 0..7, for exp_for_float on 8 double lanes.
HWY_ALIGN constexpr double kExp2Eighths[8] = {1.0,
                                              1.0905077326652577,
                                              1.189207115002721,
                                              1.2968395546510096,
                                              1.4142135623730951,
                                              1.5422108254079407,
                                              1.681792830507429,
                                              1.8340080864093424};

/// exp(x) for x <= 0 within 1e-9 relative (enough for results rounded to float), 0 below -708
/// (where any float result rounds the same) and for -inf; 2^k from the bits of the rounding
/// constant. With 8 lanes: reduction by ln(2) / 8 (|u| <= 0.0434), 2^(i/8) from a table (one
/// permute) and e^u - 1 = u + u^2 P(u), P a quadratic within 1.75e-10 (scripts/fit_fast_log.py);
/// otherwise Cody-Waite reduction by ln 2 and a degree-9 Taylor polynomial on |u| <= ln(2) / 2.
HWY_INLINE V exp_for_float(D d, V x) {
  const hn::RebindToSigned<D> di;
  const V xc = hn::Max(x, hn::Set(d, -708.0));
  if constexpr (hn::MaxLanes(D()) >= 8) {
    // 1.5 * 2^52 rounds 8 x / ln 2 to an integer K = 8 k + i and leaves 8 (k + 1023) + i in
    // the low bits.
    const V shifter = hn::Set(d, 6755399441055744.0 + 8.0 * 1023.0);
    const V t = hn::MulAdd(xc, hn::Set(d, 11.541560327111707), shifter);
    const V u = hn::NegMulAdd(hn::Sub(t, shifter), hn::Set(d, 0.08664339756999316), xc);
    const auto bits = hn::BitCast(di, t);
    const V step = hn::TableLookupLanes(hn::Load(d, kExp2Eighths),
                                        hn::IndicesFromVec(d, hn::And(bits, hn::Set(di, 7))));
    const V scale = hn::BitCast(d, hn::ShiftLeft<49>(hn::AndNot(hn::Set(di, 7), bits)));
    V poly = hn::MulAdd(hn::Set(d, 0.041653872202702946), u, hn::Set(d, 0.16668039389260675));
    poly = hn::MulAdd(poly, u, hn::Set(d, 0.5000000236617788));
    const V q = hn::MulAdd(poly, hn::Mul(u, u), u);
    return hn::IfThenElseZero(hn::Ge(x, hn::Set(d, -708.0)),
                              hn::Mul(hn::MulAdd(step, q, step), scale));
  } else {
    // 1.5 * 2^52 rounds x / ln 2 to an integer k and leaves k + 1023 in the low bits.
    const V shifter = hn::Set(d, 6755399441055744.0 + 1023.0);
    const V t = hn::MulAdd(xc, hn::Set(d, 1.4426950408889634), shifter);
    const V k = hn::Sub(t, shifter);
    V u = hn::MulAdd(k, hn::Set(d, -0.6931471803691238), xc);
    u = hn::MulAdd(k, hn::Set(d, -1.9082149292705877e-10), u);
    V poly = hn::Set(d, 1.0 / 362880.0);
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0 / 40320.0));
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0 / 5040.0));
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0 / 720.0));
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0 / 120.0));
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0 / 24.0));
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0 / 6.0));
    poly = hn::MulAdd(poly, u, hn::Set(d, 0.5));
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0));
    poly = hn::MulAdd(poly, u, hn::Set(d, 1.0));
    const V scale = hn::BitCast(d, hn::ShiftLeft<52>(hn::BitCast(di, t)));
    return hn::IfThenElseZero(hn::Ge(x, hn::Set(d, -708.0)), hn::Mul(poly, scale));
  }
}

/// exp(x) for x <= 0 as accurate as the results need: float results take exp_for_float.
template <class T>
HWY_INLINE V exp_for(D d, V x) {
  if constexpr (sizeof(T) == 4) {
    return exp_for_float(d, x);
  } else {
    return hn::Exp(d, x);
  }
}

/// Rows of up to kTileMaxCols classes, Lanes(d) rows at a time: the tile is copied into L1
/// transposed (column j of every row in one vector), so that the row max, the sum of exp
/// and ce_terms are plain vector operations with no horizontal reduction and no call per
/// row; exp(x - max) is stored in the tile and scaled into the gradient, which is copied
/// back. Rows that are bad or ignored are fixed up afterwards, row by row.
template <class T>
ce_fast_totals tile_rows(const ce_index_rows<T>& p, std::size_t begin, std::size_t end) {
  const D d;
  const std::size_t lanes = hn::Lanes(d);
  const std::size_t cols = p.cols;
  const bool want_grad = p.grad != nullptr;
  HWY_ALIGN double tile[kTileMaxCols * kMaxLanes];
  HWY_ALIGN double target[kMaxLanes];
  HWY_ALIGN double x_t[kMaxLanes];
  HWY_ALIGN double w_t[kMaxLanes];
  HWY_ALIGN double out_lse[kMaxLanes];
  HWY_ALIGN double out_ce[kMaxLanes];
  HWY_ALIGN double out_ok[kMaxLanes];
  const V zero = hn::Zero(d);
  const V one = hn::Set(d, 1.0);
  const V neg_inf = hn::Set(d, -HUGE_VAL);
  const V pos_inf = hn::Set(d, HUGE_VAL);
  const V ce_scale = hn::Set(d, p.ce_scale);
  ce_fast_totals total;
  for (std::size_t r0 = begin; r0 < end; r0 += lanes) {
    const std::size_t count = end - r0 < lanes ? end - r0 : lanes;
    const T* row0 = p.logits + r0 * cols;
    for (std::size_t i = 0; i < lanes; ++i) {
      if (i >= count) {
        // Lanes past the last row: logits 0, ignored.
        for (std::size_t j = 0; j < cols; ++j) tile[j * lanes + i] = 0.0;
        target[i] = -1.0;
        x_t[i] = -HUGE_VAL;
        w_t[i] = 0.0;
        continue;
      }
      const T* row = row0 + i * cols;
      for (std::size_t j = 0; j < cols; ++j) tile[j * lanes + i] = double(row[j]);
      const std::int64_t t = p.target[r0 + i];
      if (t == p.ignore_index) {
        target[i] = -1.0;
        x_t[i] = -HUGE_VAL;
        w_t[i] = 0.0;
      } else {
        const auto tc = static_cast<std::size_t>(t);
        target[i] = static_cast<double>(tc);
        x_t[i] = double(row[tc]);
        w_t[i] = p.weight != nullptr ? double(p.weight[tc]) : 1.0;
      }
    }
    // The row max, and whether every logit is a number below +inf.
    V vm = neg_inf;
    auto ok = hn::Eq(zero, zero);
    for (std::size_t j = 0; j < cols; ++j) {
      const V v = hn::Load(d, tile + j * lanes);
      vm = hn::Max(vm, v);
      ok = hn::And(ok, hn::Lt(v, pos_inf));
    }
    // A row of -inf only: x - 0 = -inf, whose Exp is 0.
    const V shift = hn::IfThenElseZero(hn::Gt(vm, neg_inf), vm);
    const V vt = hn::Load(d, target);
    V vj = zero;
    V sum = zero;
    for (std::size_t j = 0; j < cols; ++j) {
      const V e = exp_for<T>(d, hn::Sub(hn::Load(d, tile + j * lanes), shift));
      if (want_grad) hn::Store(e, d, tile + j * lanes);
      sum = hn::Add(sum, hn::IfThenZeroElse(hn::Eq(vt, vj), e));
      vj = hn::Add(vj, one);
    }
    // Bad lanes (their max and sum are anything) become rows of -inf only; fixed up below.
    vm = hn::IfThenElse(ok, vm, neg_inf);
    const V vw = hn::Load(d, w_t);
    const lane_terms terms = ce_terms_lanes(d, vm, hn::IfThenElseZero(ok, sum),
                                            hn::IfThenElse(ok, hn::Load(d, x_t), neg_inf));
    hn::Store(hn::Add(vm, terms.log_sum), d, out_lse);
    hn::Store(hn::IfThenZeroElse(hn::Eq(vw, zero), hn::Mul(vw, terms.nll)), d, out_ce);
    hn::Store(hn::VecFromMask(d, ok), d, out_ok);
    if (want_grad) {
      // grad_j = a exp(x_j - max) exp(-log_sum); the target's a (s_t - 1), exact near s_t = 1.
      const V a = hn::Mul(ce_scale, vw);
      const V f = hn::Mul(a, hn::Exp(d, hn::Neg(terms.log_sum)));
      const V g_t = hn::Mul(a, s_t_minus_1_lanes(d, terms));
      vj = zero;
      for (std::size_t j = 0; j < cols; ++j) {
        const V e = hn::Load(d, tile + j * lanes);
        hn::Store(hn::IfThenElse(hn::Eq(vt, vj), g_t, hn::Mul(e, f)), d, tile + j * lanes);
        vj = hn::Add(vj, one);
      }
      // Bad rows keep their logits (in place, the error names the bad one) until fixed up.
      for (std::size_t i = 0; i < count; ++i) {
        if (out_ok[i] == 0.0) continue;
        T* g = p.grad + (r0 + i) * cols;
        for (std::size_t j = 0; j < cols; ++j) g[j] = static_cast<T>(tile[j * lanes + i]);
      }
    }
    // The losses of a tile in a plain sum (error 8 eps of the tile), then in total.ce.
    double batch = 0.0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t r = r0 + i;
      T* g = want_grad ? p.grad + r * cols : nullptr;
      const bool ignored = target[i] < 0.0;
      double ce = out_ce[i];
      if (out_ok[i] == 0.0) {
        if (ignored) {
          // An ignored row adds nothing, whatever its logits (padding may hold anything).
          if (p.lse != nullptr) p.lse[r] = T(NAN);
          if (g != nullptr) std::fill(g, g + cols, T(0));
          ce = 0.0;
        } else if (p.unchecked) {
          // NaN in, NaN out: the loss, the logsumexp and the gradient of the row.
          if (p.lse != nullptr) p.lse[r] = T(NAN);
          if (g != nullptr) std::fill(g, g + cols, T(NAN));
          ce = NAN;
        } else {
          if (total.bad_row == SIZE_MAX) {
            total.bad_row = r;
            total.bad_flags = kBadLogit;
          }
          continue;
        }
      } else if (p.lse != nullptr) {
        p.lse[r] = static_cast<T>(out_lse[i]);
      }
      batch += ce;
      if (p.loss != nullptr) p.loss[r] = static_cast<T>(ce / p.unit);
    }
    total.ce.add(batch);
  }
  return total;
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
ce_fast_partial LossCeFastForward(const float* x, std::size_t n, std::size_t skip, float* e) {
  return fast_forward_any(x, n, skip, e);
}
void LossCeFastBackward(float* g, std::size_t n, const ce_events& events, double max,
                        double log_sum, double a) {
  fast_backward(g, n, events, max, log_sum, a);
}
ce_fast_totals LossCeFastRows(const ce_fast_rows& p, std::size_t begin, std::size_t end) {
  return fast_rows(p, begin, end);
}
ce_fast_totals LossCeTileRowsF32(const ce_index_rows<float>& p, std::size_t begin,
                                 std::size_t end) {
  return tile_rows(p, begin, end);
}
ce_fast_totals LossCeTileRowsF64(const ce_index_rows<double>& p, std::size_t begin,
                                 std::size_t end) {
  return tile_rows(p, begin, end);
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
HWY_EXPORT(LossCeFastForward);
HWY_EXPORT(LossCeFastBackward);
HWY_EXPORT(LossCeFastRows);
HWY_EXPORT(LossCeTileRowsF32);
HWY_EXPORT(LossCeTileRowsF64);
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
ce_fast_partial ce_fast_forward(const float* x, std::size_t n, std::size_t skip, float* e) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossCeFastForward)(x, n, skip, e);
}
void ce_fast_backward(float* e_and_grad, std::size_t n, const ce_events& events, double max,
                      double log_sum, double a) {
  ensure_isa();
  HWY_DYNAMIC_DISPATCH(LossCeFastBackward)(e_and_grad, n, events, max, log_sum, a);
}
ce_fast_totals ce_fast_rows_run(const ce_fast_rows& p, std::size_t begin, std::size_t end) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossCeFastRows)(p, begin, end);
}
ce_fast_totals ce_tile_rows_run(const ce_index_rows<float>& p, std::size_t begin, std::size_t end) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossCeTileRowsF32)(p, begin, end);
}
ce_fast_totals ce_tile_rows_run(const ce_index_rows<double>& p, std::size_t begin,
                                std::size_t end) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(LossCeTileRowsF64)(p, begin, end);
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
