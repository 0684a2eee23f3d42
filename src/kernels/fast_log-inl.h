// A division-free natural logarithm of float lanes for the measure kernels, in
// the style of Highway's contrib/math: per-target code, included after
// hwy/highway.h by a kernel source compiled through foreach_target.h.
//
// ln x = k ln 2 + ln c + ln(1 + r), with x = 2^k z, z in [0.6875, 1.375); 1/c
// comes from a 16-entry table picked by the leading bits of z (one permute), r =
// z/c - 1 from one FMA, r in [-1/32, 1/16], and ln(1 + r) = r + r^2 P(r) with a
// cubic P (relative error 4.5e-9; scripts/fit_fast_log.py fits them with mpmath). The
// two intervals around 1 have c = 1, so that r = x - 1 is exact there and ln x
// keeps its relative precision as x approaches 1.
//
// It needs 16 float lanes (AVX-512). Doubles and smaller vectors use Highway's
// Log: on AVX-512 a table-based double log with its longer polynomial measured
// no faster (Highway's one division runs beside the FMAs), while this float log
// takes 0.18 ns per element where Highway's takes 0.24 (one core, in L1).

// Per-target include guard, as Highway's own -inl.h headers have.
#if defined(SHANNON_KERNELS_FAST_LOG_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SHANNON_KERNELS_FAST_LOG_INL_H_
#undef SHANNON_KERNELS_FAST_LOG_INL_H_
#else
#define SHANNON_KERNELS_FAST_LOG_INL_H_
#endif

#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace shannon::kernels::HWY_NAMESPACE {
namespace fast_log_detail {
namespace hn = hwy::HWY_NAMESPACE;

// 1/c and ln c (to nearest float) of the 16 intervals of z: [0.6875, 1) in
// steps of 1/32, then [1, 1.375) in steps of 1/16; c is the middle of its
// interval, or 1 for the two intervals that touch 1.
HWY_ALIGN constexpr float kInvC[16] = {1.4222222566604614F,
                                       1.3617020845413208F,
                                       1.3061224222183228F,
                                       1.2549020051956177F,
                                       1.2075471878051758F,
                                       1.163636326789856F,
                                       1.1228070259094238F,
                                       1.0847457647323608F,
                                       1.049180269241333F,
                                       1.0F,
                                       1.0F,
                                       0.9142857193946838F,
                                       0.8648648858070374F,
                                       0.8205128312110901F,
                                       0.7804877758026123F,
                                       0.7441860437393188F};
HWY_ALIGN constexpr float kLogC[16] = {-0.3522206246852875F,
                                       -0.3087354600429535F,
                                       -0.2670627534389496F,
                                       -0.22705748677253723F,
                                       -0.18859118223190308F,
                                       -0.15154986083507538F,
                                       -0.11583182215690613F,
                                       -0.08134564012289047F,
                                       -0.04800916463136673F,
                                       0.0F,
                                       0.0F,
                                       0.08961215615272522F,
                                       0.14518198370933533F,
                                       0.19782572984695435F,
                                       0.24783620238304138F,
                                       0.2954642176628113F};

// P(r), lowest coefficient first.
constexpr float kPoly[4] = {-0.5F, 0.3333447575569153F, -0.2500438392162323F, 0.188174307346344F};

}  // namespace fast_log_detail

/// Whether LogNormal uses the table for lanes of type D (else Highway's Log).
template <class D>
HWY_INLINE constexpr bool fast_log_table(D d) {
  return sizeof(hwy::HWY_NAMESPACE::TFromD<D>) == 4 && hwy::HWY_NAMESPACE::MaxLanes(d) >= 16;
}

/// ln x within 2 ulp (asserted in kernels_test) for lanes that are normal,
/// positive and finite; other lanes give unspecified finite values.
template <class D>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<D> LogNormal(D d, hwy::HWY_NAMESPACE::Vec<D> x) {
  namespace hn = hwy::HWY_NAMESPACE;
  namespace fl = fast_log_detail;
  if constexpr (fast_log_table(D())) {
    const hn::RebindToSigned<D> di;
    const auto ix = hn::BitCast(di, x);
    const auto tmp = hn::Sub(ix, hn::Set(di, 0x3f300000));  // the bits of 0.6875
    const auto indices =
        hn::IndicesFromVec(d, hn::And(hn::ShiftRight<23 - 4>(tmp), hn::Set(di, 15)));
    const auto z =
        hn::BitCast(d, hn::Sub(ix, hn::And(tmp, hn::Set(di, static_cast<int32_t>(0xff800000U)))));
    const auto k = hn::ConvertTo(d, hn::ShiftRight<23>(tmp));
    const auto inv_c = hn::TableLookupLanes(hn::Load(d, fl::kInvC), indices);
    const auto log_c = hn::TableLookupLanes(hn::Load(d, fl::kLogC), indices);
    const auto r = hn::MulAdd(z, inv_c, hn::Set(d, -1.0F));
    auto p = hn::Set(d, fl::kPoly[3]);
    p = hn::MulAdd(p, r, hn::Set(d, fl::kPoly[2]));
    p = hn::MulAdd(p, r, hn::Set(d, fl::kPoly[1]));
    p = hn::MulAdd(p, r, hn::Set(d, fl::kPoly[0]));
    const auto w = hn::MulAdd(k, hn::Set(d, 0.693147180559945309F), log_c);
    return hn::Add(w, hn::MulAdd(hn::Mul(r, r), p, r));
  } else {
    return hn::impl::Log<D, hn::Vec<D>, /*kAllowSubnormals=*/false>(d, x);
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace shannon::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // SHANNON_KERNELS_FAST_LOG_INL_H_
