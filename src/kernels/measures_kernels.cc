// The measure kernels, written once with Highway and compiled for every x86
// target (EMU128 as "scalar", SSSE3, SSE4, AVX2, AVX-512); the best one for
// this CPU, or SHANNON_FORCE_ISA's, is chosen at run time.
//
// Sums: per lane, a plain double accumulator over blocks of kBlock steps of one
// to eight vectors (one addition per step: error <= kBlock eps of the block) whose
// totals go into a lane-wise TwoSum accumulator, so the error does not grow with
// the length.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/kernels.h"

// foreach_target.h must come first and math-inl.h after highway.h.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/measures_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/fast_log-inl.h"
#include "kernels/sum_tree-inl.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace shannon::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr std::size_t kBlock = 32;
constexpr std::size_t kMaxDoubles = HWY_MAX_BYTES / sizeof(double);
constexpr std::size_t kMaxFloats = HWY_MAX_BYTES / sizeof(float);

/// Prefetches the cache lines kPrefetchAhead bytes after those of p[0, count).
template <class T>
HWY_INLINE void prefetch_ahead(const T* p, std::size_t count) {
  const char* ahead = reinterpret_cast<const char*>(p) + kPrefetchAhead;
  for (std::size_t b = 0; b < count * sizeof(T); b += 64) hwy::Prefetch(ahead + b);
}

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

/// The sum in float of the halves of x, promoted (x itself on the one-lane target).
HWY_INLINE hn::Vec<DP64> promote_folded(DP64 d, VF32 x) {
#if HWY_TARGET == HWY_SCALAR
  return hn::PromoteTo(d, x);
#else
  const hn::Half<DF32> dh;
  return hn::PromoteTo(d, hn::Add(hn::LowerHalf(dh, x), hn::UpperHalf(dh, x)));
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

/// Tracks the largest bit pattern seen: as unsigned integers, every negative
/// number, NaN and infinity lies above the largest finite value allowed.
template <class D>
struct validity {
  using DU = hn::RebindToUnsigned<D>;
  hn::Vec<DU> max_bits;

  explicit validity(D /*d*/) : max_bits(hn::Zero(DU())) {}
  HWY_INLINE void see(hn::Vec<D> x) { max_bits = hn::Max(max_bits, hn::BitCast(DU(), x)); }
  /// Whether some lane was above `limit` (-0.0 counts too; the rescan forgives it).
  bool above(D d, hn::TFromD<D> limit) const {
    const auto limit_bits = hn::BitCast(DU(), hn::Set(d, limit));
    return !hn::AllFalse(DU(), hn::Gt(max_bits, limit_bits));
  }
  bool bad(D d) const { return above(d, std::numeric_limits<hn::TFromD<D>>::max()); }
};

/// Calls fast(i) for the full steps in blocks of kBlock, then ok() says whether
/// the block's results stand; if not, reset() drops them and careful(i) redoes the
/// block; flush() follows each block. Then tail(i, count) for the remaining
/// count < step elements, and flush().
template <class Fast, class Careful, class Ok, class Reset, class Flush, class Tail>
HWY_INLINE void checked_blocks(std::size_t n, std::size_t step, Fast&& fast, Careful&& careful,
                               Ok&& ok, Reset&& reset, Flush&& flush, Tail&& tail) {
  const std::size_t full = n - n % step;
  std::size_t i = 0;
  while (i < full) {
    const std::size_t begin = i;
    const std::size_t end = std::min(full, i + kBlock * step);
    for (; i < end; i += step) fast(i);
    if (HWY_UNLIKELY(!ok())) {
      reset();
      for (std::size_t j = begin; j < end; j += step) careful(j);
    }
    flush();
  }
  if (full < n) {
    tail(full, n - full);
    flush();
  }
}

/// Calls body(i) for the full vectors in blocks of kBlock and flush() after each
/// block; then tail(count) for the remaining count < lanes elements.
template <class Body, class Flush, class Tail>
HWY_INLINE void blocks(std::size_t n, std::size_t lanes, Body&& body, Flush&& flush, Tail&& tail) {
  checked_blocks(
      n, lanes, body, body, [] { return true; }, [] {}, flush, tail);
}

/// The range of a block's bit patterns, to tell after the block whether its lanes
/// all suited the fast path: as unsigned integers, negative numbers (-0.0 too),
/// NaN and infinities lie above the largest finite value, and zeros and
/// subnormals below the smallest normal one. kZeroOk lets zeros pass.
template <class D, bool kZeroOk>
struct block_range {
  using DU = hn::RebindToUnsigned<D>;
  using T = hn::TFromD<D>;
  using U = hn::TFromD<DU>;
  hn::Vec<DU> low;
  hn::Vec<DU> high;

  explicit block_range(D /*d*/) : low(hn::Set(DU(), hwy::LimitsMax<U>())), high(hn::Zero(DU())) {}

  /// A lane that must be 0 or normal (kZeroOk), or normal; finite and not negative.
  HWY_INLINE void see(hn::Vec<D> x) {
    auto bits = hn::BitCast(DU(), x);
    high = hn::Max(high, bits);
    if constexpr (kZeroOk) bits = hn::Sub(bits, hn::Set(DU(), U{1}));  // 0 wraps to the top
    low = hn::Min(low, bits);
  }
  /// A lane that must only be finite and not negative.
  HWY_INLINE void see_high(hn::Vec<D> x) { high = hn::Max(high, hn::BitCast(DU(), x)); }

  /// Whether every lane seen since the last call lay in [lo, hi] (lo > 0, kZeroOk false).
  HWY_INLINE bool within_then_reset(D d, T lo, T hi) {
    static_assert(!kZeroOk);
    const bool ok = hn::AllFalse(DU(), hn::Or(hn::Gt(hn::BitCast(DU(), hn::Set(d, lo)), low),
                                              hn::Gt(high, hn::BitCast(DU(), hn::Set(d, hi)))));
    low = hn::Set(DU(), hwy::LimitsMax<U>());
    high = hn::Zero(DU());
    return ok;
  }

  /// Whether every lane seen since the last call was as required.
  HWY_INLINE bool ok_then_reset(D d) {
    auto min_bits = hn::BitCast(DU(), hn::Set(d, std::numeric_limits<T>::min()));
    if constexpr (kZeroOk) min_bits = hn::Sub(min_bits, hn::Set(DU(), U{1}));
    const auto max_bits = hn::BitCast(DU(), hn::Set(d, std::numeric_limits<T>::max()));
    const bool ok = hn::AllFalse(DU(), hn::Or(hn::Gt(min_bits, low), hn::Gt(high, max_bits)));
    low = hn::Set(DU(), hwy::LimitsMax<U>());
    high = hn::Zero(DU());
    return ok;
  }
};

#if HWY_TARGET <= HWY_AVX3
/// As block_range without its bounds: one vfpclassps/pd per vector into a mask
/// register, where block_range takes three vector operations, on AVX-512.
template <class D, bool kZeroOk>
struct block_class {
  using T = hn::TFromD<D>;
  static_assert(hn::MaxLanes(D()) * sizeof(T) == 64, "a whole 512-bit vector");
  // vfpclass categories: QNaN 0x01, +0 0x02, -0 0x04, +inf 0x08, -inf 0x10,
  // subnormal 0x20, negative finite 0x40, SNaN 0x80.
  static constexpr int kNotFiniteOrNegative = 0xDD;
  static constexpr int kOdd = kZeroOk ? 0xFD : 0xFF;
  unsigned odd = 0;

  explicit block_class(D /*d*/) {}

  template <int kCategories>
  HWY_INLINE void classify(hn::Vec<D> x) {
    if constexpr (sizeof(T) == 4) {
      odd |= _mm512_fpclass_ps_mask(x.raw, kCategories);
    } else {
      odd |= _mm512_fpclass_pd_mask(x.raw, kCategories);
    }
  }
  HWY_INLINE void see(hn::Vec<D> x) { classify<kOdd>(x); }
  HWY_INLINE void see_high(hn::Vec<D> x) { classify<kNotFiniteOrNegative>(x); }
  HWY_INLINE bool ok_then_reset(D /*d*/) {
    const bool ok = odd == 0;
    odd = 0;
    return ok;
  }
};
#else
template <class D, bool kZeroOk>
using block_class = block_range<D, kZeroOk>;
#endif

/// The largest double of a block's lanes, to tell whether all lay below kNearOne, where
/// LogAwayFromOne keeps its relative precision (in a distribution, one value at most lies
/// above 1/2, so at most one block per call takes the careful path for it).
struct block_top {
  VF64 top;

  explicit block_top(DF64 d) : top(hn::Zero(d)) {}
  HWY_INLINE void see(VF64 x) { top = hn::Max(top, x); }
  HWY_INLINE bool below_near_one_then_reset(DF64 d) {
    const bool ok = hn::AllTrue(d, hn::Lt(top, hn::Set(d, kNearOne)));
    top = hn::Zero(d);
    return ok;
  }
};

/// A zero-padded copy of p[i, i + count) in a vector-sized buffer.
template <class T>
struct padded {
  HWY_ALIGN T v[HWY_MAX_BYTES / sizeof(T)] = {};
  padded(const T* p, std::size_t count) { std::memcpy(v, p, count * sizeof(T)); }
};

template <class D>
HWY_INLINE hn::Vec<D> divide_if(bool scaled, hn::Vec<D> x, hn::Vec<D> divisor) {
  return scaled ? hn::Div(x, divisor) : x;
}

/// Whether every lane is a normal number or larger, so that Log may skip the
/// rescaling of subnormals (and zeros, whose Log Highway returns as a finite value).
template <class D>
HWY_INLINE bool all_normal(D d, hn::Vec<D> y) {
  using T = hn::TFromD<D>;
  return hn::AllFalse(d, hn::Lt(y, hn::Set(d, std::numeric_limits<T>::min())));
}

/// x ln y, 0 where x = 0 or y = 0 (+inf is recorded by the caller).
template <class D>
HWY_INLINE hn::Vec<D> x_log_y(D d, hn::Vec<D> x, hn::Vec<D> y) {
  if (HWY_LIKELY(all_normal(d, y))) {
    // x = 0 meets a finite log: the product is 0 without a mask.
    return hn::Mul(x, LogNormal(d, y));
  }
  const auto zero = hn::Zero(d);
  return hn::IfThenZeroElse(hn::Or(hn::Eq(x, zero), hn::Eq(y, zero)), hn::Mul(x, hn::Log(d, y)));
}

HWY_INLINE hn::Vec<DP64> promoted_sum(DP64 d, VF32 x) {
  const promoted px = promote(d, x);
  return hn::Add(px.lo, px.hi);
}

// ---- mass -------------------------------------------------------------------

partial MassF64(const double* HWY_RESTRICT p, std::size_t n) {
  const DF64 d;
  validity<DF64> valid(d);
  lane_sum<DF64> mass(d);
  auto acc = hn::Zero(d);
  const auto add = [&](VF64 x) HWY_ATTR {
    valid.see(x);
    acc = hn::Add(acc, x);
  };
  blocks(
      n, hn::Lanes(d),
      [&](std::size_t i) HWY_ATTR {
        prefetch_ahead(p + i, hn::Lanes(d));
        add(hn::LoadU(d, p + i));
      },
      [&]() HWY_ATTR {
        mass.add(acc);
        acc = hn::Zero(d);
      },
      [&](std::size_t i, std::size_t count) HWY_ATTR { add(hn::Load(d, padded(p + i, count).v)); });
  partial out;
  mass.into(d, out.mass_p);
  if (valid.bad(d)) out.flags |= kBadP;
  return out;
}

partial MassF32(const float* HWY_RESTRICT p, std::size_t n) {
  const DF32 df;
  const DP64 d;
  validity<DF32> valid(df);
  lane_sum<DP64> mass(d);
  auto acc = hn::Zero(df);  // a block of at most kBlock floats per lane
  const auto add = [&](VF32 x) HWY_ATTR {
    valid.see(x);
    acc = hn::Add(acc, x);
  };
  blocks(
      n, hn::Lanes(df),
      [&](std::size_t i) HWY_ATTR {
        prefetch_ahead(p + i, hn::Lanes(df));
        add(hn::LoadU(df, p + i));
      },
      [&]() HWY_ATTR {
        mass.add(promoted_sum(d, acc));
        acc = hn::Zero(df);
      },
      [&](std::size_t i, std::size_t count)
          HWY_ATTR { add(hn::Load(df, padded(p + i, count).v)); });
  partial out;
  mass.into(d, out.mass_p);
  if (valid.bad(df)) out.flags |= kBadP;
  return out;
}

// ---- entropy: sum p ln p ----------------------------------------------------
//
// A block first takes the fast path: Log without the checks for zeros and
// subnormals, and no bookkeeping per lane but the range of the bit patterns
// (block_range). If the block held a value that the fast path gets wrong, it is
// redone by the careful path, which is exact for every input.

partial EntropyF64(const double* HWY_RESTRICT p, std::size_t n, double sp) {
  const DF64 d;
  const auto divisor = hn::Set(d, sp);
  const bool scaled = sp != 1.0;
  validity<DF64> valid(d);
  // With the table log, the sum tells as in EntropyF32, and block_top whether a lane lay
  // near 1.
  constexpr bool kTable = fast_log_table64(DF64());
  [[maybe_unused]] block_class<DF64, /*kZeroOk=*/true> range(d);
  [[maybe_unused]] block_top top(d);
  lane_sum<DF64> terms(d);
  lane_sum<DF64> mass(d);
  auto acc_t = hn::Zero(d);
  auto acc_m = hn::Zero(d);
  const auto fast = [&](std::size_t i) HWY_ATTR {
    prefetch_ahead(p + i, hn::Lanes(d));
    const auto x = divide_if<DF64>(scaled, hn::LoadU(d, p + i), divisor);
    // 0 ln 0 = 0: a finite log times 0.
    if constexpr (kTable) {
      top.see(x);
      acc_t = hn::MulAdd(x, LogAwayFromOne(d, x), acc_t);
    } else {
      range.see(x);
      acc_t = hn::MulAdd(x, LogNormal(d, x), acc_t);
    }
    acc_m = hn::Add(acc_m, x);
  };
  const auto careful = [&](VF64 x) HWY_ATTR {
    valid.see(x);
    x = divide_if<DF64>(scaled, x, divisor);
    acc_t = hn::Add(acc_t, x_log_y(d, x, x));
    acc_m = hn::Add(acc_m, x);
  };
  checked_blocks(
      n, hn::Lanes(d), fast, [&](std::size_t i) HWY_ATTR { careful(hn::LoadU(d, p + i)); },
      [&]() HWY_ATTR {
        bool ok = false;
        if constexpr (kTable) {
          const bool below = top.below_near_one_then_reset(d);
          ok = hn::AllTrue(d, hn::IsFinite(acc_t)) && below;
        } else {
          ok = range.ok_then_reset(d);
        }
        return ok;
      },
      [&]() HWY_ATTR { acc_t = acc_m = hn::Zero(d); },
      [&]() HWY_ATTR {
        terms.add(acc_t);
        mass.add(acc_m);
        acc_t = acc_m = hn::Zero(d);
      },
      [&](std::size_t i, std::size_t count)
          HWY_ATTR { careful(hn::Load(d, padded(p + i, count).v)); });
  partial out;
  terms.into(d, out.terms);
  mass.into(d, out.mass_p);
  if (valid.bad(d)) out.flags |= kBadP;
  return out;
}

partial EntropyF32(const float* HWY_RESTRICT p, std::size_t n, double sp) {
  const DF32 df;
  const DP64 d;
  const std::size_t lanes = hn::Lanes(df);
  const auto divisor = hn::Set(df, static_cast<float>(sp));
  const bool scaled = sp != 1.0;
  validity<DF32> valid(df);
  // The table log's terms are NaN for every lane the fast path must not take (negative,
  // NaN, infinite; it takes zeros and subnormals exactly), so that the block's sum tells
  // without a check per vector.
  constexpr bool kSumTells = fast_log_table(DF32());
  [[maybe_unused]] block_class<DF32, /*kZeroOk=*/true> range(df);
  lane_sum<DP64> terms(d);
  lane_sum<DP64> mass(d);
  auto acc_t = hn::Zero(d);
  auto acc_m = hn::Zero(df);
  // Eight vectors per step: their masses are added as a tree; their float terms, all
  // of one sign, by FMAs in two chains of four and one addition (five roundings: within
  // 2.5 eps of their sum), then promoted once.
  constexpr std::size_t kStep = 8;
  const auto step = [&](auto load, auto term) HWY_ATTR {
    VF32 x[kStep];
    for (std::size_t k = 0; k < kStep; ++k) x[k] = divide_if<DF32>(scaled, load(k), divisor);
    acc_m = hn::Add(acc_m, sum_tree<kStep>(x));
    static_assert(kStep == 8, "the rounding bound above");
    constexpr std::size_t kChain = kStep / 2;
    VF32 sum0 = term(x[0], hn::Zero(df));
    VF32 sum1 = term(x[kChain], hn::Zero(df));
    for (std::size_t k = 1; k < kChain; ++k) {
      sum0 = term(x[k], sum0);
      sum1 = term(x[k + kChain], sum1);
    }
    acc_t = hn::Add(acc_t, promoted_sum(d, hn::Add(sum0, sum1)));
  };
  const auto fast = [&](VF32 x, VF32 sum) HWY_ATTR {
    if constexpr (!kSumTells) range.see(x);
    return hn::MulAdd(x, LogNormal(df, x), sum);  // 0 ln 0 = 0: a finite Log times 0
  };
  const auto careful = [&](VF32 x, VF32 sum) HWY_ATTR { return hn::Add(sum, x_log_y(df, x, x)); };
  const auto loaded = [&](std::size_t i) HWY_ATTR {
    return [=](std::size_t k) HWY_ATTR { return hn::LoadU(df, p + i + k * lanes); };
  };
  const auto seen = [&](VF32 x) HWY_ATTR {
    valid.see(x);
    return x;
  };
  checked_blocks(
      n, kStep * lanes,
      [&](std::size_t i) HWY_ATTR {
        prefetch_ahead(p + i, kStep * lanes);
        step(loaded(i), fast);
      },
      [&](std::size_t i) HWY_ATTR {
        const auto load = loaded(i);
        step([&](std::size_t k) HWY_ATTR { return seen(load(k)); }, careful);
      },
      [&]() HWY_ATTR {
        if constexpr (kSumTells) return hn::AllTrue(d, hn::IsFinite(acc_t));
        return range.ok_then_reset(df);
      },
      [&]() HWY_ATTR {
        acc_t = hn::Zero(d);
        acc_m = hn::Zero(df);
      },
      [&]() HWY_ATTR {
        terms.add(acc_t);
        mass.add(promoted_sum(d, acc_m));
        acc_t = hn::Zero(d);
        acc_m = hn::Zero(df);
      },
      [&](std::size_t i, std::size_t count) HWY_ATTR {
        step(
            [&](std::size_t k) HWY_ATTR {
              const std::size_t begin = std::min(count, k * lanes);
              return seen(hn::Load(df, padded(p + i + begin, std::min(count - begin, lanes)).v));
            },
            careful);
      });
  partial out;
  terms.into(d, out.terms);
  mass.into(d, out.mass_p);
  if (valid.bad(df)) out.flags |= kBadP;
  return out;
}

// ---- cross entropy: sum p ln q ------------------------------------------------
//
// Blocks as for entropy; the fast path needs every q normal (a zero q may make the
// measure infinite) and p only finite and non-negative.

partial CrossEntropyF64(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q, std::size_t n,
                        double sp, double sq) {
  const DF64 d;
  const auto zero = hn::Zero(d);
  const auto div_p = hn::Set(d, sp);
  const auto div_q = hn::Set(d, sq);
  const bool scaled_p = sp != 1.0;
  const bool scaled_q = sq != 1.0;
  validity<DF64> valid_p(d);
  validity<DF64> valid_q(d);
  block_class<DF64, /*kZeroOk=*/true> range_p(d);
  block_class<DF64, /*kZeroOk=*/false> range_q(d);
  lane_sum<DF64> terms(d);
  lane_sum<DF64> mass_p(d);
  lane_sum<DF64> mass_q(d);
  auto acc_t = zero;
  auto acc_p = zero;
  auto acc_q = zero;
  auto infinite = hn::FirstN(d, 0);
  // With the double table log, a block whose largest q reaches kNearOne takes the careful
  // path, as in EntropyF64.
  constexpr bool kTable = fast_log_table64(DF64());
  [[maybe_unused]] block_top top(d);
  const auto fast = [&](std::size_t i) HWY_ATTR {
    prefetch_ahead(p + i, hn::Lanes(d));
    prefetch_ahead(q + i, hn::Lanes(d));
    const auto x = divide_if<DF64>(scaled_p, hn::LoadU(d, p + i), div_p);
    const auto y = divide_if<DF64>(scaled_q, hn::LoadU(d, q + i), div_q);
    range_p.see_high(x);
    range_q.see(y);
    if constexpr (kTable) {
      top.see(y);
      acc_t = hn::MulAdd(x, LogAwayFromOne(d, y), acc_t);
    } else {
      acc_t = hn::MulAdd(x, LogNormal(d, y), acc_t);
    }
    acc_p = hn::Add(acc_p, x);
    acc_q = hn::Add(acc_q, y);
  };
  const auto careful = [&](VF64 x, VF64 y) HWY_ATTR {
    valid_p.see(x);
    valid_q.see(y);
    x = divide_if<DF64>(scaled_p, x, div_p);
    y = divide_if<DF64>(scaled_q, y, div_q);
    const auto q_zero = hn::Eq(y, zero);
    infinite = hn::Or(infinite, hn::AndNot(hn::Eq(x, zero), q_zero));
    acc_t = hn::Add(acc_t, x_log_y(d, x, y));
    acc_p = hn::Add(acc_p, x);
    acc_q = hn::Add(acc_q, y);
  };
  checked_blocks(
      n, hn::Lanes(d), fast,
      [&](std::size_t i) HWY_ATTR { careful(hn::LoadU(d, p + i), hn::LoadU(d, q + i)); },
      [&]() HWY_ATTR {
        // All reset, whatever the first says.
        const bool ok_p = range_p.ok_then_reset(d);
        const bool ok_q = range_q.ok_then_reset(d);
        bool below = true;
        if constexpr (kTable) below = top.below_near_one_then_reset(d);
        return ok_p && ok_q && below;
      },
      [&]() HWY_ATTR { acc_t = acc_p = acc_q = zero; },
      [&]() HWY_ATTR {
        terms.add(acc_t);
        mass_p.add(acc_p);
        mass_q.add(acc_q);
        acc_t = acc_p = acc_q = zero;
      },
      [&](std::size_t i, std::size_t count) HWY_ATTR {
        careful(hn::Load(d, padded(p + i, count).v), hn::Load(d, padded(q + i, count).v));
      });
  partial out;
  terms.into(d, out.terms);
  mass_p.into(d, out.mass_p);
  mass_q.into(d, out.mass_q);
  if (valid_p.bad(d)) out.flags |= kBadP;
  if (valid_q.bad(d)) out.flags |= kBadQ;
  if (!hn::AllFalse(d, infinite)) out.flags |= kInfinite;
  return out;
}

partial CrossEntropyF32(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q, std::size_t n,
                        double sp, double sq) {
  const DF32 df;
  const DP64 d;
  const std::size_t lanes = hn::Lanes(df);
  const auto zero = hn::Zero(df);
  const auto div_p = hn::Set(df, static_cast<float>(sp));
  const auto div_q = hn::Set(df, static_cast<float>(sq));
  const bool scaled_p = sp != 1.0;
  const bool scaled_q = sq != 1.0;
  validity<DF32> valid_p(df);
  validity<DF32> valid_q(df);
  block_class<DF32, /*kZeroOk=*/true> range_p(df);
  block_class<DF32, /*kZeroOk=*/false> range_q(df);
  lane_sum<DP64> terms(d);
  lane_sum<DP64> mass_p(d);
  lane_sum<DP64> mass_q(d);
  auto acc_t = hn::Zero(d);
  auto acc_p = zero;
  auto acc_q = zero;
  auto infinite = hn::FirstN(df, 0);
  const auto fast_term = [&](std::size_t i) HWY_ATTR {
    prefetch_ahead(p + i, lanes);
    prefetch_ahead(q + i, lanes);
    const auto x = divide_if<DF32>(scaled_p, hn::LoadU(df, p + i), div_p);
    const auto y = divide_if<DF32>(scaled_q, hn::LoadU(df, q + i), div_q);
    range_p.see_high(x);
    range_q.see(y);
    acc_p = hn::Add(acc_p, x);
    acc_q = hn::Add(acc_q, y);
    return hn::Mul(x, LogNormal(df, y));
  };
  const auto careful_term = [&](VF32 x, VF32 y) HWY_ATTR {
    valid_p.see(x);
    valid_q.see(y);
    x = divide_if<DF32>(scaled_p, x, div_p);
    y = divide_if<DF32>(scaled_q, y, div_q);
    infinite = hn::Or(infinite, hn::AndNot(hn::Eq(x, zero), hn::Eq(y, zero)));
    acc_p = hn::Add(acc_p, x);
    acc_q = hn::Add(acc_q, y);
    return x_log_y(df, x, y);
  };
  // Each vector's terms promoted: adding two vectors' in float first (one conversion per
  // pair) ran faster in L2 but slower from memory on the Intel host, 28.0 against 23.0 ms
  // for 1e8 on two threads (55.3 against 45.9 on one).
  const auto add_term = [&](VF32 t) HWY_ATTR { acc_t = hn::Add(acc_t, promoted_sum(d, t)); };
  checked_blocks(
      n, lanes, [&](std::size_t i) HWY_ATTR { add_term(fast_term(i)); },
      [&](std::size_t i)
          HWY_ATTR { add_term(careful_term(hn::LoadU(df, p + i), hn::LoadU(df, q + i))); },
      [&]() HWY_ATTR {
        const bool ok_p = range_p.ok_then_reset(df);
        return range_q.ok_then_reset(df) && ok_p;
      },
      [&]() HWY_ATTR {
        acc_t = hn::Zero(d);
        acc_p = acc_q = zero;
      },
      [&]() HWY_ATTR {
        terms.add(acc_t);
        mass_p.add(promoted_sum(d, acc_p));
        mass_q.add(promoted_sum(d, acc_q));
        acc_t = hn::Zero(d);
        acc_p = acc_q = zero;
      },
      [&](std::size_t i, std::size_t count) HWY_ATTR {
        add_term(careful_term(hn::Load(df, padded(p + i, count).v),
                              hn::Load(df, padded(q + i, count).v)));
      });
  partial out;
  terms.into(d, out.terms);
  mass_p.into(d, out.mass_p);
  mass_q.into(d, out.mass_q);
  if (valid_p.bad(df)) out.flags |= kBadP;
  if (valid_q.bad(df)) out.flags |= kBadQ;
  if (!hn::AllFalse(df, infinite)) out.flags |= kInfinite;
  return out;
}

// ---- KL divergence: sum p ln(p/q) + q - p, then minus sum (q - p) ---------------

/// The KL term of lanes where q/p = r lies in [0.8, 1.25] (|s| <= 1/9), without
/// cancellation: s (q - p) - 2 p s^3 sum_k s^2k / (2k + 3).
HWY_INLINE VF64 kl_near(DF64 d, VF64 x, VF64 y, VF64 diff) {
  const auto s = hn::Div(diff, hn::Add(x, y));
  const auto s2 = hn::Mul(s, s);
  auto poly = hn::Set(d, 1.0 / (2 * (kKlSeriesTerms - 1) + 3));
  for (int k = kKlSeriesTerms - 2; k >= 0; --k) {
    poly = hn::MulAdd(poly, s2, hn::Set(d, 1.0 / (2 * k + 3)));
  }
  const auto two_p_s3 = hn::Mul(hn::Mul(hn::Add(x, x), s), s2);
  return hn::NegMulAdd(two_p_s3, poly, hn::Mul(s, diff));
}

HWY_INLINE hn::Mask<DF64> kl_is_near(DF64 d, VF64 r) {
  return hn::And(hn::Ge(r, hn::Set(d, 0.8)), hn::Le(r, hn::Set(d, 1.25)));
}

/// The KL term p ln(p/q) + q - p >= 0 of double lanes x = p and y = q; q (that is,
/// 0 ln 0 + q) where p = 0; 0 where q = 0 < p, which `infinite` records.
HWY_INLINE VF64 kl_terms(DF64 d, VF64 x, VF64 y, VF64 diff, hn::Mask<DF64>& infinite) {
  const auto zero = hn::Zero(d);
  const auto p_zero = hn::Eq(x, zero);
  const auto q_zero = hn::Eq(y, zero);
  infinite = hn::Or(infinite, hn::AndNot(p_zero, q_zero));
  // The quotient serves the far path too.
  const auto r = hn::Div(y, x);
  const auto near = kl_is_near(d, r);
  auto t = zero;
  if (!hn::AllFalse(d, near)) t = kl_near(d, x, y, diff);
  if (!hn::AllTrue(d, near)) {
    // (q - p) - p ln(q/p); ln q - ln p where q/p is not a normal number.
    const auto odd =
        hn::Not(hn::And(hn::Ge(r, hn::Set(d, DBL_MIN)), hn::Le(r, hn::Set(d, DBL_MAX))));
    auto log_r = LogNormal(d, r);
    if (!hn::AllFalse(d, hn::AndNot(p_zero, odd))) {
      log_r = hn::IfThenElse(odd, hn::Sub(hn::Log(d, y), hn::Log(d, x)), log_r);
    }
    t = hn::IfThenElse(near, t, hn::NegMulAdd(x, log_r, diff));
  }
  return hn::IfThenZeroElse(hn::AndNot(p_zero, q_zero), hn::IfThenElse(p_zero, y, t));
}

/// kl_terms for lanes whose p, q and q/p are normal numbers, which `range_r` and
/// the caller's ranges of p and q verify after the block: no masks.
HWY_INLINE VF64 kl_terms_normal(DF64 d, VF64 x, VF64 y, VF64 diff,
                                block_class<DF64, /*kZeroOk=*/false>& range_r) {
  const auto r = hn::Div(y, x);
  range_r.see(r);
  const auto near = kl_is_near(d, r);
  if (hn::AllTrue(d, near)) return kl_near(d, x, y, diff);
  const auto far = hn::NegMulAdd(x, LogAwayFromOne(d, r), diff);
  if (hn::AllFalse(d, near)) return far;
  return hn::IfThenElse(near, kl_near(d, x, y, diff), far);
}

/// Added to |ln r| in add_fast's log bound (2^-52 5 of it is 2^-56): LogAwayFromOne's
/// absolute error near r = 1.
constexpr double kNearOneLogBound = 1.0 / 80;

/// Accumulators of the KL kernels, fed double lanes of p and q; a block's sums
/// stay apart until flush(), so that reset() can drop them.
struct kl_state {
  lane_sum<DF64> terms;
  lane_sum<DF64> mass_p;
  lane_sum<DF64> excess;        // exact, every vector: it is subtracted from a tiny total
  lane_sum<DF64> block_excess;  // the block's part of it
  VF64 acc_t;
  VF64 acc_p;
  hn::Mask<DF64> infinite;
  block_class<DF64, /*kZeroOk=*/false> range_r;
  // add_fast's error bound, 2^-52 (lin + 5 log): lin sums 18 |q - p| + p + t over the
  // vectors it did not compute exactly and 17 |q - p| over those whose excess is not
  // exact, log sums p |ln r| over the former.
  lane_sum<DF64> bound_lin;
  lane_sum<DF64> bound_log;
  VF64 acc_lin;
  VF64 acc_log;
  VF64 acc_e;  // add_fast's excess where not exact: plain sums within a block (33 u |q - p|)

  explicit kl_state(DF64 d)
      : terms(d),
        mass_p(d),
        excess(d),
        block_excess(d),
        acc_t(hn::Zero(d)),
        acc_p(hn::Zero(d)),
        infinite(hn::FirstN(d, 0)),
        range_r(d),
        bound_lin(d),
        bound_log(d),
        acc_lin(hn::Zero(d)),
        acc_log(hn::Zero(d)),
        acc_e(hn::Zero(d)) {}

  /// Any lanes (the careful path).
  HWY_INLINE void add(DF64 d, VF64 x, VF64 y) {
    const auto diff = hn::Sub(y, x);
    block_excess.add(diff);
    acc_p = hn::Add(acc_p, x);
    acc_t = hn::Add(acc_t, kl_terms(d, x, y, diff, infinite));
  }
  /// Lanes of a block that normal() must then confirm (the fast path).
  HWY_INLINE void add_normal(DF64 d, VF64 x, VF64 y) {
    const auto diff = hn::Sub(y, x);
    block_excess.add(diff);
    acc_p = hn::Add(acc_p, x);
    acc_t = hn::Add(acc_t, kl_terms_normal(d, x, y, diff, range_r));
  }
  /// add and add_normal of float lanes, promoted (the second half is zero on the
  /// one-lane target, where it adds nothing).
  HWY_INLINE void add(DF64 d, VF32 x, VF32 y) {
    const promoted px = promote(d, x);
    const promoted py = promote(d, y);
    add(d, px.lo, py.lo);
    add(d, px.hi, py.hi);
  }
  HWY_INLINE void add_normal(DF64 d, VF32 x, VF32 y) {
    const promoted px = promote(d, x);
    const promoted py = promote(d, y);
    add_normal(d, px.lo, py.lo);
    add_normal(d, px.hi, py.hi);
  }
  /// add_normal, but a vector whose lanes are neither all near nor all far takes
  /// (q - p) - p ln(q/p) in every lane, one division and a log instead of two divisions,
  /// a log and the series, and adds what bounds its error: with r = q/p and q - p
  /// rounded (u each), the log within 4 ulp (or u/8 absolute for r in [kNearOne, 1.0625):
  /// kNearOneLogBound) and the FMA, u (|q - p| + p + 8 p |ln r| + t).
  /// Only the vectors of the series (all near) keep their excess exact; the others add
  /// 33 u |q - p| (the block's plain sum) to the bound.
  HWY_INLINE void add_fast(DF64 d, VF64 x, VF64 y) {
    const auto diff = hn::Sub(y, x);
    acc_p = hn::Add(acc_p, x);
    const auto r = hn::Div(y, x);
    range_r.see(r);
    const auto near = kl_is_near(d, r);
    if (hn::AllTrue(d, near)) {
      block_excess.add(diff);
      acc_t = hn::Add(acc_t, kl_near(d, x, y, diff));
      return;
    }
    acc_e = hn::Add(acc_e, diff);
    const auto log_r = LogAwayFromOne(d, r);
    const auto t = hn::NegMulAdd(x, log_r, diff);
    acc_t = hn::Add(acc_t, t);
    if (hn::AllFalse(d, near)) {
      acc_lin = hn::MulAdd(hn::Abs(diff), hn::Set(d, 17.0), acc_lin);
    } else {
      acc_lin = hn::Add(acc_lin, hn::MulAdd(hn::Abs(diff), hn::Set(d, 18.0), hn::Add(x, t)));
      acc_log = hn::MulAdd(x, hn::Add(hn::Abs(log_r), hn::Set(d, kNearOneLogBound)), acc_log);
    }
  }
  HWY_INLINE bool normal_then_reset(DF64 d) { return range_r.ok_then_reset(d); }
  HWY_INLINE void reset(DF64 d) {
    acc_t = acc_p = acc_lin = acc_log = acc_e = hn::Zero(d);
    block_excess = lane_sum<DF64>(d);
  }
  HWY_INLINE void flush(DF64 d) {
    terms.add(acc_t);
    mass_p.add(acc_p);
    bound_lin.add(acc_lin);
    bound_log.add(acc_log);
    excess.add(block_excess.hi);
    excess.lo = hn::Add(excess.lo, block_excess.lo);
    excess.add(acc_e);
    reset(d);
  }

  partial finish(DF64 d) {
    partial out;
    terms.into(d, out.terms);
    mass_p.into(d, out.mass_p);
    excess.into(d, out.excess);
    out.mass_q = out.mass_p;
    out.mass_q.add(out.excess);
    dd lin;
    dd log;
    bound_lin.into(d, lin);
    bound_log.into(d, log);
    out.error_bound = 0x1p-52 * (lin.value() + 5.0 * log.value());
    if (!hn::AllFalse(d, infinite)) out.flags |= kInfinite;
    return out;
  }
};

/// p and q of a KL kernel in lanes of D (float or double): loaded and divided by their
/// sums where those are not 1, and the careful path, which checks every lane and adds
/// the double terms to a kl_state.
template <class D>
struct kl_inputs {
  using T = hn::TFromD<D>;
  const T* p;
  const T* q;
  hn::Vec<D> div_p;
  hn::Vec<D> div_q;
  bool scaled_p;
  bool scaled_q;
  validity<D> valid_p;
  validity<D> valid_q;

  kl_inputs(D d, const T* p_in, const T* q_in, double sp, double sq)
      : p(p_in),
        q(q_in),
        div_p(hn::Set(d, static_cast<T>(sp))),
        div_q(hn::Set(d, static_cast<T>(sq))),
        scaled_p(sp != 1.0),
        scaled_q(sq != 1.0),
        valid_p(d),
        valid_q(d) {}

  HWY_INLINE void prefetch(std::size_t i, std::size_t count) const {
    prefetch_ahead(p + i, count);
    prefetch_ahead(q + i, count);
  }
  HWY_INLINE hn::Vec<D> x_at(D d, std::size_t i) const {
    return divide_if<D>(scaled_p, hn::LoadU(d, p + i), div_p);
  }
  HWY_INLINE hn::Vec<D> y_at(D d, std::size_t i) const {
    return divide_if<D>(scaled_q, hn::LoadU(d, q + i), div_q);
  }
  /// The careful path of the vector at i, or of the count < Lanes elements there.
  HWY_INLINE void careful(D d, kl_state& state, std::size_t i) {
    add_checked(state, hn::LoadU(d, p + i), hn::LoadU(d, q + i));
  }
  HWY_INLINE void careful_tail(D d, kl_state& state, std::size_t i, std::size_t count) {
    add_checked(state, hn::Load(d, padded(p + i, count).v), hn::Load(d, padded(q + i, count).v));
  }
  /// kBadP and kBadQ for the lanes the careful path saw.
  void flags_into(D d, partial& out) const {
    if (valid_p.bad(d)) out.flags |= kBadP;
    if (valid_q.bad(d)) out.flags |= kBadQ;
  }

 private:
  HWY_INLINE void add_checked(kl_state& state, hn::Vec<D> x, hn::Vec<D> y) {
    valid_p.see(x);
    valid_q.see(y);
    state.add(DF64(), divide_if<D>(scaled_p, x, div_p), divide_if<D>(scaled_q, y, div_q));
  }
};

// Blocks as for cross entropy; the fast path needs p, q and q/p normal. kFast takes
// kl_state::add_fast (KlF64Fast) instead of add_normal (KlF64).

template <bool kFast>
partial kl_f64(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q, std::size_t n, double sp,
               double sq) {
  const DF64 d;
  kl_state state(d);
  kl_inputs<DF64> in(d, p, q, sp, sq);
  block_class<DF64, /*kZeroOk=*/false> range_p(d);
  block_class<DF64, /*kZeroOk=*/false> range_q(d);
  checked_blocks(
      n, hn::Lanes(d),
      [&](std::size_t i) HWY_ATTR {
        in.prefetch(i, hn::Lanes(d));
        const auto x = in.x_at(d, i);
        const auto y = in.y_at(d, i);
        range_p.see(x);
        range_q.see(y);
        if constexpr (kFast) {
          state.add_fast(d, x, y);
        } else {
          state.add_normal(d, x, y);
        }
      },
      [&](std::size_t i) HWY_ATTR { in.careful(d, state, i); },
      [&]() HWY_ATTR {
        // All reset, whatever the first says.
        const bool ok_p = range_p.ok_then_reset(d);
        const bool ok_q = range_q.ok_then_reset(d);
        return state.normal_then_reset(d) && ok_p && ok_q;
      },
      [&]() HWY_ATTR { state.reset(d); }, [&]() HWY_ATTR { state.flush(d); },
      [&](std::size_t i, std::size_t count) HWY_ATTR { in.careful_tail(d, state, i, count); });
  partial out = state.finish(d);
  in.flags_into(d, out);
  return out;
}

partial KlF64(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q, std::size_t n, double sp,
              double sq) {
  return kl_f64<false>(p, q, n, sp, sq);
}
partial KlF64Fast(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q, std::size_t n,
                  double sp, double sq) {
  return kl_f64<true>(p, q, n, sp, sq);
}

partial KlF32(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q, std::size_t n, double sp,
              double sq) {
  const DF32 df;
  const DP64 d;
  // The terms in double: where p and q nearly agree, float terms would lose the digits
  // that the subtraction of sum (q - p) needs.
  kl_state state(d);
  kl_inputs<DF32> in(df, p, q, sp, sq);
  block_class<DF32, /*kZeroOk=*/false> range_p(df);
  block_class<DF32, /*kZeroOk=*/false> range_q(df);
  checked_blocks(
      n, hn::Lanes(df),
      [&](std::size_t i) HWY_ATTR {
        in.prefetch(i, hn::Lanes(df));
        const auto x = in.x_at(df, i);
        const auto y = in.y_at(df, i);
        range_p.see(x);
        range_q.see(y);
        state.add_normal(d, x, y);
      },
      [&](std::size_t i) HWY_ATTR { in.careful(df, state, i); },
      [&]() HWY_ATTR {
        const bool ok_p = range_p.ok_then_reset(df);
        const bool ok_q = range_q.ok_then_reset(df);
        return state.normal_then_reset(d) && ok_p && ok_q;
      },
      [&]() HWY_ATTR { state.reset(d); }, [&]() HWY_ATTR { state.flush(d); },
      [&](std::size_t i, std::size_t count) HWY_ATTR { in.careful_tail(df, state, i, count); });
  partial out = state.finish(d);
  in.flags_into(df, out);
  return out;
}

// ---- KL of float inputs with float terms (AVX-512) ------------------------------
//
// The KL term of float lanes with p and q in [2^-100, 2^24] (so that q/p is normal) is
// formed in float, within kKlFloatTermError of the exact term: for q/p in [1/4, 4] (|s|
// <= 0.6) as s ((q - p) - 2 p s^2 P(s^2)), s = (q - p)/(q + p), P(x) = sum x^k/(2k + 3)
// by a degree-6 fit; beyond as (q - p) - p ln(q/p), where the log's 2 ulp grow at most
// 2.2-fold. The terms and the masses go into double sums, and partial::error_bound
// states the error for the caller, as KlF64Fast does.

// 2 P(x) on [0, 0.36], lowest coefficient first: twice a Chebyshev interpolation with
// mpmath, 9.5e-8 relative with the coefficients in float (scripts/fit_fast_log.py).
constexpr float kKlPoly2[7] = {2 * 0.3333333432674408F,  2 * 0.19999435544013977F,
                               2 * 0.14310400187969208F, 2 * 0.1071353629231453F,
                               2 * 0.12063311040401459F, 2 * -0.03191317245364189F,
                               2 * 0.24237778782844543F};
constexpr float kKlFloatMin = 0x1p-100F;
constexpr float kKlFloatMax = 0x1p24F;

/// Lanes whose q/p = r lies in [1/4, 4], where the float KL term takes the series.
HWY_INLINE hn::Mask<DF32> kl_float_is_near(DF32 df, VF32 r) {
  return hn::And(hn::Ge(r, hn::Set(df, 0.25F)), hn::Le(r, hn::Set(df, 4.0F)));
}

/// The float KL term of lanes with r in [1/4, 4], from d = q - p and s = d / (q + p).
HWY_INLINE VF32 kl_float_near_term(DF32 df, VF32 x, VF32 d, VF32 s) {
  const auto s2 = hn::Mul(s, s);
  auto poly = hn::Set(df, kKlPoly2[6]);
  for (int k = 5; k >= 0; --k) poly = hn::MulAdd(poly, s2, hn::Set(df, kKlPoly2[k]));
  return hn::Mul(s, hn::NegMulAdd(hn::Mul(x, s2), poly, d));
}

/// The KL term p ln(p/q) + q - p of float lanes x = p, y = q in [kKlFloatMin,
/// kKlFloatMax], r = y / x, near = kl_float_is_near(r), d = y - x (other lanes give
/// unspecified values).
HWY_INLINE VF32 kl_float_term(DF32 df, VF32 x, VF32 y, VF32 r, hn::Mask<DF32> near, VF32 d) {
  VF32 t = d;
  if (!hn::AllFalse(df, near)) t = kl_float_near_term(df, x, d, hn::Div(d, hn::Add(x, y)));
  if (!hn::AllTrue(df, near)) {
    t = hn::IfThenElse(near, t, hn::NegMulAdd(x, LogNormal(df, r), d));
  }
  return t;
}

HWY_INLINE VF32 kl_float_term(DF32 df, VF32 x, VF32 y, VF32 r) {
  return kl_float_term(df, x, y, r, kl_float_is_near(df, r), hn::Sub(y, x));
}

partial KlF32Fast(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q, std::size_t n,
                  double sp, double sq) {
  const DF32 df;
  if constexpr (!fast_log_table(DF32())) {
    return KlF32(p, q, n, sp, sq);
  } else {
    const DP64 d;
    const hn::Half<DF32> dh;
    // Vectors that take the double series, and blocks that the careful path redoes.
    kl_state state(d);
    kl_inputs<DF32> in(df, p, q, sp, sq);
    block_range<DF32, /*kZeroOk=*/false> range(df);
    lane_sum<DP64> terms(d);
    lane_sum<DP64> mass_p(d);
    lane_sum<DP64> mass_q(d);
    auto acc_t = hn::Zero(d);
    auto acc_p = hn::Zero(d);
    auto acc_q = hn::Zero(d);
    std::size_t float_terms = 0;  // at least those in the sums (a block redone keeps its count)
    const auto zero_block = [&]() HWY_ATTR { acc_t = acc_p = acc_q = hn::Zero(d); };
    checked_blocks(
        n, hn::Lanes(df),
        [&](std::size_t i) HWY_ATTR {
          in.prefetch(i, hn::Lanes(df));
          const auto x = in.x_at(df, i);
          const auto y = in.y_at(df, i);
          range.see(x);
          range.see(y);
          const auto r = hn::Div(y, x);
          const auto diff = hn::Sub(y, x);
          const auto near = kl_float_is_near(df, r);
          VF32 t;
          if (HWY_UNLIKELY(hn::AllTrue(df, near))) {
            const auto sn = hn::Div(diff, hn::Add(x, y));
            // |s| <= 1/9 (q/p in [0.8, 1.25]) in every lane: the exact series in double,
            // since where p and q agree that closely D may be tiny beside the float
            // terms' bound. Tested only here, where it can hold, to spare mixed vectors.
            if (hn::AllTrue(df, hn::Le(hn::Abs(sn), hn::Set(df, static_cast<float>(kKlNear))))) {
              state.add_normal(d, x, y);
              return;
            }
            t = kl_float_near_term(df, x, diff, sn);
          } else {
            t = kl_float_term(df, x, y, r, near, diff);
          }
          promoted px;
          promoted py;
          if (HWY_LIKELY(!in.scaled_p && !in.scaled_q)) {
            // The halves load straight into the conversions.
            const std::size_t half = hn::Lanes(dh);
            px = {hn::PromoteTo(d, hn::LoadU(dh, p + i)),
                  hn::PromoteTo(d, hn::LoadU(dh, p + i + half))};
            py = {hn::PromoteTo(d, hn::LoadU(dh, q + i)),
                  hn::PromoteTo(d, hn::LoadU(dh, q + i + half))};
          } else {
            px = promote(d, x);
            py = promote(d, y);
          }
          float_terms += hn::Lanes(df);
          acc_p = hn::Add(acc_p, hn::Add(px.lo, px.hi));
          acc_q = hn::Add(acc_q, hn::Add(py.lo, py.hi));
          // One conversion fewer, one rounding more (kKlFloatPairError).
          acc_t = hn::Add(acc_t, promote_folded(d, t));
        },
        [&](std::size_t i) HWY_ATTR { in.careful(df, state, i); },
        [&]() HWY_ATTR {
          // Both reset, whatever the first says.
          const bool ok = range.within_then_reset(df, kKlFloatMin, kKlFloatMax);
          return state.normal_then_reset(d) && ok;
        },
        zero_block,
        [&]() HWY_ATTR {
          terms.add(acc_t);
          mass_p.add(acc_p);
          mass_q.add(acc_q);
          zero_block();
          state.flush(d);
        },
        [&](std::size_t i, std::size_t count) HWY_ATTR { in.careful_tail(df, state, i, count); });
    partial out = state.finish(d);
    partial fast;
    terms.into(d, fast.terms);
    mass_p.into(d, fast.mass_p);
    mass_q.into(d, fast.mass_q);
    fast.excess = fast.mass_q;
    fast.excess.add(-fast.mass_p.hi);
    fast.excess.lo -= fast.mass_p.lo;
    // The terms are >= 0: their errors add up to at most kKlFloatPairError of their sum.
    fast.error_bound = kKlFloatPairError * fast.terms.value() +
                       double(float_terms) * kKlFloatTermUnderflow +
                       kKlFloatExcessError * (fast.mass_p.value() + fast.mass_q.value());
    out.merge(fast);
    in.flags_into(df, out);
    return out;
  }
}

/// The float KL terms of p, q in [kKlFloatMin, kKlFloatMax] (for the tests); false
/// where the target forms no float terms.
bool KlFloatTermsF32(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q,
                     float* HWY_RESTRICT t, std::size_t n) {
  const DF32 df;
  if constexpr (!fast_log_table(DF32())) {
    (void)p, (void)q, (void)t, (void)n;
    return false;
  } else {
    const std::size_t lanes = hn::Lanes(df);
    for (std::size_t i = 0; i < n; i += lanes) {
      const std::size_t count = std::min(lanes, n - i);
      padded<float> x(p + i, count);
      padded<float> y(q + i, count);
      for (std::size_t k = count; k < lanes; ++k) x.v[k] = y.v[k] = 1.0F;
      const auto vx = hn::Load(df, x.v);
      const auto vy = hn::Load(df, y.v);
      hn::Store(kl_float_term(df, vx, vy, hn::Div(vy, vx)), df, x.v);
      std::memcpy(t + i, x.v, count * sizeof(float));
    }
    return true;
  }
}

// ---- short rows: the terms of every element, summed per row by the caller ------

/// Stores the double lanes of a float vector x at out[0, Lanes(DF32)).
HWY_INLINE void store_promoted(DP64 d, VF32 x, double* HWY_RESTRICT out) {
  const promoted px = promote(d, x);
  hn::StoreU(px.lo, d, out);
#if HWY_TARGET != HWY_SCALAR
  hn::StoreU(px.hi, d, out + hn::Lanes(d));
#endif
}

/// Calls lanes(i, x...) for each vector of the n elements of the arrays, the last
/// one zero-padded; lanes returns the vectors to store into outs at i.
template <class D, class T, class Lanes>
HWY_INLINE void each_vector(D d, std::size_t n, const T* HWY_RESTRICT p, const T* HWY_RESTRICT q,
                            Lanes&& lanes) {
  const std::size_t step = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + step <= n; i += step) {
    lanes(i, hn::LoadU(d, p + i), q != nullptr ? hn::LoadU(d, q + i) : hn::Zero(d), step);
  }
  if (i < n) {
    const padded<T> bp(p + i, n - i);
    const padded<T> bq(q != nullptr ? q + i : p + i, n - i);
    lanes(i, hn::Load(d, bp.v), q != nullptr ? hn::Load(d, bq.v) : hn::Zero(d), n - i);
  }
}

/// Copies count doubles of a vector-sized result to out + i.
template <class Store>
HWY_INLINE void store_count(std::size_t count, std::size_t step, double* HWY_RESTRICT out,
                            Store&& store) {
  if (count == step) {
    store(out);
  } else {
    HWY_ALIGN double buf[2 * kMaxDoubles];
    store(buf);
    std::memcpy(out, buf, count * sizeof(double));
  }
}

/// The terms of a vector as doubles at out: stored, or promoted from float.
HWY_INLINE void store_terms(VF64 term, double* HWY_RESTRICT out) { hn::StoreU(term, DF64(), out); }
HWY_INLINE void store_terms(VF32 term, double* HWY_RESTRICT out) {
  store_promoted(DP64(), term, out);
}

template <class D, class T>
unsigned entropy_terms_of(const T* HWY_RESTRICT p, double* HWY_RESTRICT t, std::size_t n) {
  const D d;
  validity<D> valid(d);
  each_vector(d, n, p, static_cast<const T*>(nullptr),
              [&](std::size_t i, hn::Vec<D> x, hn::Vec<D> /*y*/, std::size_t count) HWY_ATTR {
                valid.see(x);
                const auto term = x_log_y(d, x, x);
                store_count(count, hn::Lanes(d), t + i,
                            [&](double* out) HWY_ATTR { store_terms(term, out); });
              });
  return valid.bad(d) ? kBadP : 0U;
}

template <class D, class T>
unsigned cross_entropy_terms_of(const T* HWY_RESTRICT p, const T* HWY_RESTRICT q,
                                double* HWY_RESTRICT t, std::size_t n) {
  const D d;
  const auto zero = hn::Zero(d);
  validity<D> valid_p(d);
  validity<D> valid_q(d);
  auto infinite = hn::FirstN(d, 0);
  each_vector(d, n, p, q,
              [&](std::size_t i, hn::Vec<D> x, hn::Vec<D> y, std::size_t count) HWY_ATTR {
                valid_p.see(x);
                valid_q.see(y);
                infinite = hn::Or(infinite, hn::AndNot(hn::Eq(x, zero), hn::Eq(y, zero)));
                const auto term = x_log_y(d, x, y);
                store_count(count, hn::Lanes(d), t + i,
                            [&](double* out) HWY_ATTR { store_terms(term, out); });
              });
  return (valid_p.bad(d) ? kBadP : 0U) | (valid_q.bad(d) ? kBadQ : 0U) |
         (hn::AllFalse(d, infinite) ? 0U : kInfinite);
}

unsigned EntropyTermsF64(const double* HWY_RESTRICT p, double* HWY_RESTRICT t, std::size_t n) {
  return entropy_terms_of<DF64>(p, t, n);
}
unsigned EntropyTermsF32(const float* HWY_RESTRICT p, double* HWY_RESTRICT t, std::size_t n) {
  return entropy_terms_of<DF32>(p, t, n);
}
unsigned CrossEntropyTermsF64(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q,
                              double* HWY_RESTRICT t, std::size_t n) {
  return cross_entropy_terms_of<DF64>(p, q, t, n);
}
unsigned CrossEntropyTermsF32(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q,
                              double* HWY_RESTRICT t, std::size_t n) {
  return cross_entropy_terms_of<DF32>(p, q, t, n);
}

unsigned KlTermsF64(const double* HWY_RESTRICT p, const double* HWY_RESTRICT q,
                    double* HWY_RESTRICT t, double* HWY_RESTRICT diff, std::size_t n) {
  const DF64 d;
  validity<DF64> valid_p(d);
  validity<DF64> valid_q(d);
  auto infinite = hn::FirstN(d, 0);
  each_vector(d, n, p, q, [&](std::size_t i, VF64 x, VF64 y, std::size_t count) HWY_ATTR {
    valid_p.see(x);
    valid_q.see(y);
    const auto dv = hn::Sub(y, x);
    const auto term = kl_terms(d, x, y, dv, infinite);
    store_count(count, hn::Lanes(d), t + i,
                [&](double* out) HWY_ATTR { hn::StoreU(term, d, out); });
    store_count(count, hn::Lanes(d), diff + i,
                [&](double* out) HWY_ATTR { hn::StoreU(dv, d, out); });
  });
  return (valid_p.bad(d) ? kBadP : 0U) | (valid_q.bad(d) ? kBadQ : 0U) |
         (hn::AllFalse(d, infinite) ? 0U : kInfinite);
}

unsigned KlTermsF32(const float* HWY_RESTRICT p, const float* HWY_RESTRICT q,
                    double* HWY_RESTRICT t, double* HWY_RESTRICT diff, std::size_t n) {
  const DF32 df;
  const DP64 d;
  validity<DF32> valid_p(df);
  validity<DF32> valid_q(df);
  auto infinite = hn::FirstN(d, 0);
  each_vector(df, n, p, q, [&](std::size_t i, VF32 x, VF32 y, std::size_t count) HWY_ATTR {
    valid_p.see(x);
    valid_q.see(y);
    const promoted px = promote(d, x);
    const promoted py = promote(d, y);
    const auto d_lo = hn::Sub(py.lo, px.lo);
    const auto d_hi = hn::Sub(py.hi, px.hi);
    const auto t_lo = kl_terms(d, px.lo, py.lo, d_lo, infinite);
    const auto t_hi = kl_terms(d, px.hi, py.hi, d_hi, infinite);
    const std::size_t half = hn::Lanes(d);
    store_count(count, hn::Lanes(df), t + i, [&](double* out) HWY_ATTR {
      hn::StoreU(t_lo, d, out);
      if (hn::Lanes(df) > half) hn::StoreU(t_hi, d, out + half);
    });
    store_count(count, hn::Lanes(df), diff + i, [&](double* out) HWY_ATTR {
      hn::StoreU(d_lo, d, out);
      if (hn::Lanes(df) > half) hn::StoreU(d_hi, d, out + half);
    });
  });
  return (valid_p.bad(df) ? kBadP : 0U) | (valid_q.bad(df) ? kBadQ : 0U) |
         (hn::AllFalse(d, infinite) ? 0U : kInfinite);
}

// ---- information: -ln p / ln b, element-wise ------------------------------------

/// -ln(x) / ln_b for double lanes, +inf at 0.
HWY_INLINE VF64 information_lanes(DF64 d, VF64 x, VF64 ln_b) {
  const auto zero = hn::Zero(d);
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
  validity<DF64> valid(d);
  const auto lanes_of = [&](VF64 x) HWY_ATTR {
    x = divide_if<DF64>(scaled, x, divisor);
    valid.see(x);
    return information_lanes(d, x, vln);
  };
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(lanes_of(hn::LoadU(d, p + i)), d, out + i);
  if (i < n) {
    padded<double> buf(p + i, n - i);
    hn::Store(lanes_of(hn::Load(d, buf.v)), d, buf.v);
    std::memcpy(out + i, buf.v, (n - i) * sizeof(double));
  }
  return valid.above(d, 1.0) ? kBadP : 0U;
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
  validity<DF64> valid(d);
  // DemoteTo saturates infinities to the largest float: put them back.
  const auto lanes_of = [&](hn::Vec<decltype(dfr)> pf) HWY_ATTR {
    const auto x = divide_if<DF64>(scaled, hn::PromoteTo(d, pf), divisor);
    valid.see(x);
    return hn::IfThenElse(hn::Eq(pf, hn::Zero(dfr)), hn::Set(dfr, HUGE_VALF),
                          hn::DemoteTo(dfr, information_lanes(d, x, vln)));
  };
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(lanes_of(hn::LoadU(dfr, p + i)), dfr, out + i);
  if (i < n) {
    padded<float> buf(p + i, n - i);
    hn::Store(lanes_of(hn::Load(dfr, buf.v)), dfr, buf.v);
    std::memcpy(out + i, buf.v, (n - i) * sizeof(float));
  }
  return valid.above(d, 1.0) ? kBadP : 0U;
}

/// out[i] = f(d, x[i]) by vectors of D (the tail through a padded buffer).
template <class D, class F>
HWY_INLINE void map_lanes(D d, const hn::TFromD<D>* HWY_RESTRICT x, hn::TFromD<D>* HWY_RESTRICT out,
                          std::size_t n, F f) {
  const std::size_t lanes = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(f(d, hn::LoadU(d, x + i)), d, out + i);
  if (i < n) {
    padded<hn::TFromD<D>> buf(x + i, n - i);
    hn::Store(f(d, hn::Load(d, buf.v)), d, buf.v);
    std::memcpy(out + i, buf.v, (n - i) * sizeof(hn::TFromD<D>));
  }
}

void LogAwayFromOneF64(const double* HWY_RESTRICT x, double* HWY_RESTRICT out, std::size_t n) {
  map_lanes(DF64(), x, out, n, [](DF64 d, VF64 v) HWY_ATTR { return LogAwayFromOne(d, v); });
}

void LogNormalF32(const float* HWY_RESTRICT x, float* HWY_RESTRICT out, std::size_t n) {
  map_lanes(DF32(), x, out, n, [](DF32 d, VF32 v) HWY_ATTR { return LogNormal(d, v); });
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
HWY_EXPORT(KlF32Fast);
HWY_EXPORT(KlF64Fast);
HWY_EXPORT(KlFloatTermsF32);
HWY_EXPORT(InformationF64);
HWY_EXPORT(InformationF32);
HWY_EXPORT(EntropyTermsF64);
HWY_EXPORT(EntropyTermsF32);
HWY_EXPORT(CrossEntropyTermsF64);
HWY_EXPORT(CrossEntropyTermsF32);
HWY_EXPORT(KlTermsF64);
HWY_EXPORT(KlTermsF32);
HWY_EXPORT(LogNormalF32);
HWY_EXPORT(LogAwayFromOneF64);
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
partial kl_divergence_fast(const double* p, const double* q, std::size_t n, double sp, double sq) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(KlF64Fast)(p, q, n, sp, sq);
}
partial kl_divergence_fast(const float* p, const float* q, std::size_t n, double sp, double sq) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(KlF32Fast)(p, q, n, sp, sq);
}
bool kl_float_terms(const float* p, const float* q, float* t, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(KlFloatTermsF32)(p, q, t, n);
}
unsigned information(const double* p, double* out, std::size_t n, double sp, double ln_b) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(InformationF64)(p, out, n, sp, ln_b);
}
unsigned information(const float* p, float* out, std::size_t n, double sp, double ln_b) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(InformationF32)(p, out, n, sp, ln_b);
}
unsigned entropy_terms(const double* p, double* t, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(EntropyTermsF64)(p, t, n);
}
unsigned entropy_terms(const float* p, double* t, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(EntropyTermsF32)(p, t, n);
}
unsigned cross_entropy_terms(const double* p, const double* q, double* t, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(CrossEntropyTermsF64)(p, q, t, n);
}
unsigned cross_entropy_terms(const float* p, const float* q, double* t, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(CrossEntropyTermsF32)(p, q, t, n);
}
unsigned kl_terms(const double* p, const double* q, double* t, double* diff, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(KlTermsF64)(p, q, t, diff, n);
}
unsigned kl_terms(const float* p, const float* q, double* t, double* diff, std::size_t n) {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(KlTermsF32)(p, q, t, diff, n);
}
void log_normal(const float* x, float* out, std::size_t n) {
  ensure_isa();
  HWY_DYNAMIC_DISPATCH(LogNormalF32)(x, out, n);
}
void log_away_from_one(const double* x, double* out, std::size_t n) {
  ensure_isa();
  HWY_DYNAMIC_DISPATCH(LogAwayFromOneF64)(x, out, n);
}
std::int64_t active_target() {
  ensure_isa();
  return HWY_DYNAMIC_DISPATCH(Target)();
}

}  // namespace shannon::kernels
#endif  // HWY_ONCE
