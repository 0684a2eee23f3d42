// The measure kernels, written once with Highway and compiled for every x86
// target (EMU128 as "scalar", SSSE3, SSE4, AVX2, AVX-512); the best one for
// this CPU, or SHANNON_FORCE_ISA's, is chosen at run time.
//
// Sums: per lane, a plain double accumulator over blocks of kBlock vectors
// (error <= kBlock eps of the block) whose totals go into a lane-wise
// TwoSum accumulator, so the error does not grow with the length.
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/measures_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace shannon::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr std::size_t kBlock = 32;
constexpr std::size_t kMaxDoubles = HWY_MAX_BYTES / sizeof(double);
constexpr std::size_t kMaxFloats = HWY_MAX_BYTES / sizeof(float);

using DF64 = hn::ScalableTag<double>;
using VF64 = hn::Vec<DF64>;
using DF32 = hn::ScalableTag<float>;
using VF32 = hn::Vec<DF32>;
#if HWY_TARGET == HWY_SCALAR
using DP64 = hn::Rebind<double, DF32>;
#else
using DP64 = hn::Repartition<double, DF32>;  // half as many lanes as the float vector
#endif

/// The float lanes of x as two double vectors (the second is zero on the one-lane target).
struct promoted {
  hn::Vec<DP64> lo;
  hn::Vec<DP64> hi;
};
HWY_INLINE promoted promote(DP64 d, VF32 x) {
#if HWY_TARGET == HWY_SCALAR
  return {hn::PromoteTo(d, x), hn::Zero(d)};
#else
  const hn::Half<DF32> dh;
  return {hn::PromoteTo(d, hn::LowerHalf(dh, x)), hn::PromoteTo(d, hn::UpperHalf(dh, x))};
#endif
}

/// Per-lane double-double sum.
template <class D>
struct lane_sum {
  hn::Vec<D> hi;
  hn::Vec<D> lo;

  explicit lane_sum(D d) : hi(hn::Zero(d)), lo(hn::Zero(d)) {}

  HWY_INLINE void add(hn::Vec<D> x) {
    const auto s = hn::Add(hi, x);
    const auto z = hn::Sub(s, hi);
    lo = hn::Add(lo, hn::Add(hn::Sub(hi, hn::Sub(s, z)), hn::Sub(x, z)));
    hi = s;
  }

  void into(D d, dd& out) const {
    HWY_ALIGN double h[kMaxDoubles];
    HWY_ALIGN double l[kMaxDoubles];
    hn::Store(hi, d, h);
    hn::Store(lo, d, l);
    for (std::size_t i = 0; i < hn::Lanes(d); ++i) {
      out.add(h[i]);
      out.lo += l[i];
    }
  }
};

/// A plain per-lane accumulator drained into a lane_sum every kBlock additions.
template <class D>
struct blocked_sum {
  hn::Vec<D> acc;
  lane_sum<D> total;
  std::size_t count = 0;

  explicit blocked_sum(D d) : acc(hn::Zero(d)), total(d) {}

  HWY_INLINE void add(D d, hn::Vec<D> x) {
    acc = hn::Add(acc, x);
    if (++count == kBlock) {
      total.add(acc);
      acc = hn::Zero(d);
      count = 0;
    }
  }
  void into(D d, dd& out) {
    total.add(acc);
    total.into(d, out);
  }
};

/// Lanes that are not a finite number >= 0.
template <class D>
HWY_INLINE hn::Mask<D> not_mass(D d, hn::Vec<D> x) {
  return hn::Not(hn::And(hn::Ge(x, hn::Zero(d)), hn::Lt(x, hn::Set(d, HUGE_VAL))));
}

template <class D>
HWY_INLINE hn::Vec<D> flag_if(D d, hn::Vec<D> flags, hn::Mask<D> m) {
  return hn::Or(flags, hn::VecFromMask(d, m));
}

template <class D>
HWY_INLINE bool any(D d, hn::Vec<D> flags) {
  return !hn::AllFalse(d, hn::MaskFromVec(flags));
}

/// Calls body(vector) for each full vector of p and once for the zero-padded tail.
template <class D, class T, class Body>
HWY_INLINE void for_each_vector(D d, const T* HWY_RESTRICT p, std::size_t n, Body&& body) {
  const std::size_t lanes = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) body(hn::LoadU(d, p + i));
  if (i < n) {
    HWY_ALIGN T buf[HWY_MAX_BYTES / sizeof(T)] = {};
    std::memcpy(buf, p + i, (n - i) * sizeof(T));
    body(hn::Load(d, buf));
  }
}

template <class D, class T, class Body>
HWY_INLINE void for_each_vector2(D d, const T* HWY_RESTRICT p, const T* HWY_RESTRICT q,
                                 std::size_t n, Body&& body) {
  const std::size_t lanes = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) body(hn::LoadU(d, p + i), hn::LoadU(d, q + i));
  if (i < n) {
    HWY_ALIGN T bp[HWY_MAX_BYTES / sizeof(T)] = {};
    HWY_ALIGN T bq[HWY_MAX_BYTES / sizeof(T)] = {};
    std::memcpy(bp, p + i, (n - i) * sizeof(T));
    std::memcpy(bq, q + i, (n - i) * sizeof(T));
    body(hn::Load(d, bp), hn::Load(d, bq));
  }
}

template <class D>
HWY_INLINE hn::Vec<D> divide_if(bool scaled, hn::Vec<D> x, hn::Vec<D> divisor) {
  return scaled ? hn::Div(x, divisor) : x;
}

// ---- mass -------------------------------------------------------------------

partial MassF64(const double* HWY_RESTRICT p, std::size_t n) {
  const DF64 d;
  blocked_sum<DF64> mass(d);
  auto bad = hn::Zero(d);
  for_each_vector(d, p, n, [&](VF64 x) HWY_ATTR {
    bad = flag_if(d, bad, not_mass(d, x));
    mass.add(d, x);
  });
  partial out;
  mass.into(d, out.mass_p);
  if (any(d, bad)) out.flags |= kBadP;
  return out;
}

partial MassF32(const float* HWY_RESTRICT p, std::size_t n) {
  const DF32 df;
  const DP64 d;
  blocked_sum<DP64> mass(d);
  auto bad = hn::Zero(df);
  for_each_vector(df, p, n, [&](VF32 x) HWY_ATTR {
    bad = flag_if(df, bad, not_mass(df, x));
    const promoted px = promote(d, x);
    mass.add(d, hn::Add(px.lo, px.hi));
  });
  partial out;
  mass.into(d, out.mass_p);
  if (any(df, bad)) out.flags |= kBadP;
  return out;
}

// ---- entropy: sum p ln p ----------------------------------------------------

partial EntropyF64(const double* HWY_RESTRICT p, std::size_t n, double sp) {
  const DF64 d;
  const auto zero = hn::Zero(d);
  const auto divisor = hn::Set(d, sp);
  const bool scaled = sp != 1.0;
  blocked_sum<DF64> terms(d);
  blocked_sum<DF64> mass(d);
  auto bad = zero;
  for_each_vector(d, p, n, [&](VF64 x) HWY_ATTR {
    bad = flag_if(d, bad, not_mass(d, x));
    x = divide_if<DF64>(scaled, x, divisor);
    // Log(0) is finite in Highway: mask the zeros so that 0 ln 0 = 0.
    terms.add(d, hn::IfThenZeroElse(hn::Eq(x, zero), hn::Mul(x, hn::Log(d, x))));
    mass.add(d, x);
  });
  partial out;
  terms.into(d, out.terms);
  mass.into(d, out.mass_p);
  if (any(d, bad)) out.flags |= kBadP;
  return out;
}

partial EntropyF32(const float* HWY_RESTRICT p, std::size_t n, double sp) {
  const DF32 df;
  const DP64 d;
  const auto zero = hn::Zero(df);
  const auto divisor = hn::Set(df, static_cast<float>(sp));
  const bool scaled = sp != 1.0;
  blocked_sum<DP64> terms(d);
  blocked_sum<DP64> mass(d);
  auto bad = zero;
  for_each_vector(df, p, n, [&](VF32 x) HWY_ATTR {
    bad = flag_if(df, bad, not_mass(df, x));
    x = divide_if<DF32>(scaled, x, divisor);
    // The float log is within 4 ulp; the product and the sum are in double so that
    // tiny (subnormal) p keep their digits.
    const promoted px = promote(d, x);
    const promoted lx = promote(d, hn::IfThenZeroElse(hn::Eq(x, zero), hn::Log(df, x)));
    terms.add(d, hn::MulAdd(px.lo, lx.lo, hn::Mul(px.hi, lx.hi)));
    mass.add(d, hn::Add(px.lo, px.hi));
  });
  partial out;
  terms.into(d, out.terms);
  mass.into(d, out.mass_p);
  if (any(df, bad)) out.flags |= kBadP;
  return out;
}

// ---- cross entropy: sum p ln q ------------------------------------------------

partial CrossEntropyF64(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q,
                        std::size_t n, double sp, double sq) {
  const DF64 d;
  const auto zero = hn::Zero(d);
  const auto div_p = hn::Set(d, sp);
  const auto div_q = hn::Set(d, sq);
  const bool scaled_p = sp != 1.0;
  const bool scaled_q = sq != 1.0;
  blocked_sum<DF64> terms(d);
  blocked_sum<DF64> mass_p(d);
  blocked_sum<DF64> mass_q(d);
  auto bad_p = zero;
  auto bad_q = zero;
  auto infinite = zero;
  for_each_vector2(d, p, q, n, [&](VF64 x, VF64 y) HWY_ATTR {
    bad_p = flag_if(d, bad_p, not_mass(d, x));
    bad_q = flag_if(d, bad_q, not_mass(d, y));
    x = divide_if<DF64>(scaled_p, x, div_p);
    y = divide_if<DF64>(scaled_q, y, div_q);
    const auto q_zero = hn::Eq(y, zero);
    infinite = flag_if(d, infinite, hn::And(q_zero, hn::Gt(x, zero)));
    terms.add(d, hn::IfThenZeroElse(hn::Or(q_zero, hn::Eq(x, zero)), hn::Mul(x, hn::Log(d, y))));
    mass_p.add(d, x);
    mass_q.add(d, y);
  });
  partial out;
  terms.into(d, out.terms);
  mass_p.into(d, out.mass_p);
  mass_q.into(d, out.mass_q);
  if (any(d, bad_p)) out.flags |= kBadP;
  if (any(d, bad_q)) out.flags |= kBadQ;
  if (any(d, infinite)) out.flags |= kInfinite;
  return out;
}

partial CrossEntropyF32(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q,
                        std::size_t n, double sp, double sq) {
  const DF32 df;
  const DP64 d;
  const auto zero = hn::Zero(df);
  const auto div_p = hn::Set(df, static_cast<float>(sp));
  const auto div_q = hn::Set(df, static_cast<float>(sq));
  const bool scaled_p = sp != 1.0;
  const bool scaled_q = sq != 1.0;
  blocked_sum<DP64> terms(d);
  blocked_sum<DP64> mass_p(d);
  blocked_sum<DP64> mass_q(d);
  auto bad_p = zero;
  auto bad_q = zero;
  auto infinite = zero;
  for_each_vector2(df, p, q, n, [&](VF32 x, VF32 y) HWY_ATTR {
    bad_p = flag_if(df, bad_p, not_mass(df, x));
    bad_q = flag_if(df, bad_q, not_mass(df, y));
    x = divide_if<DF32>(scaled_p, x, div_p);
    y = divide_if<DF32>(scaled_q, y, div_q);
    const auto q_zero = hn::Eq(y, zero);
    infinite = flag_if(df, infinite, hn::And(q_zero, hn::Gt(x, zero)));
    const promoted px = promote(d, x);
    const promoted py = promote(d, y);
    const promoted lq =
        promote(d, hn::IfThenZeroElse(hn::Or(q_zero, hn::Eq(x, zero)), hn::Log(df, y)));
    terms.add(d, hn::MulAdd(px.lo, lq.lo, hn::Mul(px.hi, lq.hi)));
    mass_p.add(d, hn::Add(px.lo, px.hi));
    mass_q.add(d, hn::Add(py.lo, py.hi));
  });
  partial out;
  terms.into(d, out.terms);
  mass_p.into(d, out.mass_p);
  mass_q.into(d, out.mass_q);
  if (any(df, bad_p)) out.flags |= kBadP;
  if (any(df, bad_q)) out.flags |= kBadQ;
  if (any(df, infinite)) out.flags |= kInfinite;
  return out;
}

// ---- KL divergence: sum p ln(p/q) + q - p, then minus sum (q - p) ---------------

/// Accumulates the KL terms of double lanes x (p) and y (q).
struct kl_state {
  blocked_sum<DF64> terms;
  blocked_sum<DF64> mass_p;
  lane_sum<DF64> excess;  // exact, every vector: it is subtracted from a tiny total
  VF64 infinite;

  explicit kl_state(DF64 d) : terms(d), mass_p(d), excess(d), infinite(hn::Zero(d)) {}

  HWY_INLINE void add(DF64 d, VF64 x, VF64 y) {
    const auto zero = hn::Zero(d);
    const auto diff = hn::Sub(y, x);
    excess.add(diff);
    mass_p.add(d, x);
    const auto p_zero = hn::Eq(x, zero);
    const auto q_zero = hn::Eq(y, zero);
    infinite = flag_if(d, infinite, hn::AndNot(p_zero, q_zero));

    const auto dr = hn::Div(diff, x);
    const auto near = hn::Le(hn::Abs(dr), hn::Set(d, kKlNear));
    auto t = zero;
    if (!hn::AllFalse(d, near)) {
      // p (d - ln(1 + d)) = p (s d - 2 s^3 sum_k s^2k / (2k + 3)), s = d / (2 + d).
      const auto s = hn::Div(dr, hn::Add(hn::Set(d, 2.0), dr));
      const auto s2 = hn::Mul(s, s);
      auto poly = hn::Set(d, 1.0 / (2 * (kKlSeriesTerms - 1) + 3));
      for (int k = kKlSeriesTerms - 2; k >= 0; --k) {
        poly = hn::MulAdd(poly, s2, hn::Set(d, 1.0 / (2 * k + 3)));
      }
      const auto f = hn::NegMulAdd(hn::Mul(hn::Set(d, 2.0), hn::Mul(s, s2)), poly, hn::Mul(s, dr));
      t = hn::IfThenElseZero(near, hn::Mul(x, f));
    }
    if (!hn::AllTrue(d, near)) {
      // (q - p) - p ln(q/p); ln q - ln p only where q/p is not a normal number.
      const auto r = hn::Div(y, x);
      auto log_r = hn::Log(d, r);
      const auto odd = hn::Not(hn::And(hn::Ge(r, hn::Set(d, DBL_MIN)), hn::Le(r, hn::Set(d, DBL_MAX))));
      if (!hn::AllFalse(d, odd)) {
        log_r = hn::IfThenElse(odd, hn::Sub(hn::Log(d, y), hn::Log(d, x)), log_r);
      }
      t = hn::IfThenElse(near, t, hn::NegMulAdd(x, log_r, diff));
    }
    t = hn::IfThenElse(p_zero, y, t);
    terms.add(d, hn::IfThenZeroElse(hn::AndNot(p_zero, q_zero), t));
  }

  partial finish(DF64 d) {
    partial out;
    terms.into(d, out.terms);
    mass_p.into(d, out.mass_p);
    excess.into(d, out.excess);
    out.mass_q = out.mass_p;
    out.mass_q.add(out.excess);
    if (any(d, infinite)) out.flags |= kInfinite;
    return out;
  }
};

partial KlF64(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q, std::size_t n,
              double sp, double sq) {
  const DF64 d;
  const auto div_p = hn::Set(d, sp);
  const auto div_q = hn::Set(d, sq);
  const bool scaled_p = sp != 1.0;
  const bool scaled_q = sq != 1.0;
  kl_state state(d);
  auto bad_p = hn::Zero(d);
  auto bad_q = hn::Zero(d);
  for_each_vector2(d, p, q, n, [&](VF64 x, VF64 y) HWY_ATTR {
    bad_p = flag_if(d, bad_p, not_mass(d, x));
    bad_q = flag_if(d, bad_q, not_mass(d, y));
    state.add(d, divide_if<DF64>(scaled_p, x, div_p), divide_if<DF64>(scaled_q, y, div_q));
  });
  partial out = state.finish(d);
  if (any(d, bad_p)) out.flags |= kBadP;
  if (any(d, bad_q)) out.flags |= kBadQ;
  return out;
}

partial KlF32(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q, std::size_t n,
              double sp, double sq) {
  const DF32 df;
  const DP64 d;
  const auto div_p = hn::Set(df, static_cast<float>(sp));
  const auto div_q = hn::Set(df, static_cast<float>(sq));
  const bool scaled_p = sp != 1.0;
  const bool scaled_q = sq != 1.0;
  kl_state state(d);
  auto bad_p = hn::Zero(df);
  auto bad_q = hn::Zero(df);
  for_each_vector2(df, p, q, n, [&](VF32 x, VF32 y) HWY_ATTR {
    bad_p = flag_if(df, bad_p, not_mass(df, x));
    bad_q = flag_if(df, bad_q, not_mass(df, y));
    x = divide_if<DF32>(scaled_p, x, div_p);
    y = divide_if<DF32>(scaled_q, y, div_q);
    // In double: the float log is too coarse where the terms nearly cancel.
    const promoted px = promote(d, x);
    const promoted py = promote(d, y);
    state.add(d, px.lo, py.lo);
    state.add(d, px.hi, py.hi);
  });
  partial out = state.finish(d);
  if (any(df, bad_p)) out.flags |= kBadP;
  if (any(df, bad_q)) out.flags |= kBadQ;
  return out;
}

// ---- information: -ln p / ln b, element-wise ------------------------------------

/// -ln(x) / ln_b for double lanes; +inf at 0; flags lanes outside [0, 1].
HWY_INLINE VF64 information_lanes(DF64 d, VF64 x, VF64 ln_b, VF64& bad) {
  const auto zero = hn::Zero(d);
  bad = flag_if(d, bad, hn::Not(hn::And(hn::Ge(x, zero), hn::Le(x, hn::Set(d, 1.0)))));
  // 0 - ln x, not -ln x: information(1) is +0, not -0.
  const auto info = hn::Div(hn::Sub(zero, hn::Log(d, x)), ln_b);
  return hn::IfThenElse(hn::Eq(x, zero), hn::Set(d, HUGE_VAL), info);
}

unsigned InformationF64(const double* HWY_RESTRICT p, double* HWY_RESTRICT out, std::size_t n,
                        double sp, double ln_b) {
  const DF64 d;
  const std::size_t lanes = hn::Lanes(d);
  const auto divisor = hn::Set(d, sp);
  const auto vln = hn::Set(d, ln_b);
  const bool scaled = sp != 1.0;
  auto bad = hn::Zero(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto x = divide_if<DF64>(scaled, hn::LoadU(d, p + i), divisor);
    hn::StoreU(information_lanes(d, x, vln, bad), d, out + i);
  }
  if (i < n) {
    HWY_ALIGN double buf[kMaxDoubles] = {};
    std::memcpy(buf, p + i, (n - i) * sizeof(double));
    const auto x = divide_if<DF64>(scaled, hn::Load(d, buf), divisor);
    hn::Store(information_lanes(d, x, vln, bad), d, buf);
    std::memcpy(out + i, buf, (n - i) * sizeof(double));
  }
  return any(d, bad) ? kBadP : 0U;
}

unsigned InformationF32(const float* HWY_RESTRICT p, float* HWY_RESTRICT out, std::size_t n,
                        double sp, double ln_b) {
  // In double, then rounded once: within 0.5 ulp of float plus a few ulp of double.
  const DF64 d;
  const hn::Rebind<float, DF64> dfr;
  const std::size_t lanes = hn::Lanes(d);
  const auto divisor = hn::Set(d, sp);
  const auto vln = hn::Set(d, ln_b);
  const bool scaled = sp != 1.0;
  auto bad = hn::Zero(d);
  std::size_t i = 0;
  // DemoteTo saturates infinities to the largest float: put them back.
  const auto lanes_of = [&](hn::Vec<decltype(dfr)> pf) HWY_ATTR {
    const auto x = divide_if<DF64>(scaled, hn::PromoteTo(d, pf), divisor);
    return hn::IfThenElse(hn::Eq(pf, hn::Zero(dfr)), hn::Set(dfr, HUGE_VALF),
                          hn::DemoteTo(dfr, information_lanes(d, x, vln, bad)));
  };
  for (; i + lanes <= n; i += lanes) hn::StoreU(lanes_of(hn::LoadU(dfr, p + i)), dfr, out + i);
  if (i < n) {
    HWY_ALIGN float buf[kMaxFloats] = {};
    std::memcpy(buf, p + i, (n - i) * sizeof(float));
    hn::Store(lanes_of(hn::Load(dfr, buf)), dfr, buf);
    std::memcpy(out + i, buf, (n - i) * sizeof(float));
  }
  return any(d, bad) ? kBadP : 0U;
}

std::int64_t Target() { return HWY_TARGET; }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace shannon::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shannon::kernels {

HWY_EXPORT(MassF64);
HWY_EXPORT(MassF32);
HWY_EXPORT(EntropyF64);
HWY_EXPORT(EntropyF32);
HWY_EXPORT(CrossEntropyF64);
HWY_EXPORT(CrossEntropyF32);
HWY_EXPORT(KlF64);
HWY_EXPORT(KlF32);
HWY_EXPORT(InformationF64);
HWY_EXPORT(InformationF32);
HWY_EXPORT(Target);

partial mass(const double* p, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(MassF64)(p, n);
}
partial mass(const float* p, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(MassF32)(p, n);
}
partial entropy(const double* p, std::size_t n, double sp) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(EntropyF64)(p, n, sp);
}
partial entropy(const float* p, std::size_t n, double sp) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(EntropyF32)(p, n, sp);
}
partial cross_entropy(const double* p, const double* q, std::size_t n, double sp, double sq) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(CrossEntropyF64)(p, q, n, sp, sq);
}
partial cross_entropy(const float* p, const float* q, std::size_t n, double sp, double sq) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(CrossEntropyF32)(p, q, n, sp, sq);
}
partial kl_divergence(const double* p, const double* q, std::size_t n, double sp, double sq) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(KlF64)(p, q, n, sp, sq);
}
partial kl_divergence(const float* p, const float* q, std::size_t n, double sp, double sq) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(KlF32)(p, q, n, sp, sq);
}
unsigned information(const double* p, double* out, std::size_t n, double sp, double ln_b) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(InformationF64)(p, out, n, sp, ln_b);
}
unsigned information(const float* p, float* out, std::size_t n, double sp, double ln_b) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(InformationF32)(p, out, n, sp, ln_b);
}
std::int64_t active_target() {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(Target)();
}

}  // namespace shannon::kernels
#endif  // HWY_ONCE
