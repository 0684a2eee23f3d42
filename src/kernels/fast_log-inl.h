// A division-free natural logarithm of float lanes for the measure kernels, in
// the style of Highway's contrib/math: per-target code, included after
// hwy/highway.h by a kernel source compiled through foreach_target.h.
//
// ln x = k ln 2 + ln c + ln(1 + r), with x = 2^k z, z in [0.75, 1.5) (vgetmantps);
// 1/c and ln c come from 32-entry tables picked by the leading bits of z (one
// two-table permute each), r = z/c - 1 from one FMA, r in [-1/64, 1/32], and
// ln(1 + r) = r q, q = 1 + r P(r) with a quadratic P (relative error 8.3e-9;
// scripts/fit_fast_log.py fits them with mpmath). The two intervals around 1 have
// c = 1, so that r = x - 1 is exact there and ln x keeps its relative precision as
// x approaches 1. Its largest error over every normal float is 1.59 ulp.
//
// It needs 16 float lanes (AVX-512). Doubles and smaller vectors use Highway's
// Log: on AVX-512 a table-based double log with its longer polynomial measured
// no faster (Highway's one division runs beside the FMAs). On this Zen 4 the two
// permutes are a quarter of the float log's time: a 16-entry table with a cubic P
// (one more FMA) was 6% slower in the entropy kernel.

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

// 1/c and ln c (to nearest float) of the 32 intervals of z: [0.75, 1) in steps
// of 1/64, then [1, 1.5) in steps of 1/32; c is the middle of its interval, or 1
// for the two intervals that touch 1.
HWY_ALIGN constexpr float kInvC[32] = {
    1.3195875883102417F,
    1.2929292917251587F,
    1.2673267126083374F,
    1.2427184581756592F,
    1.2190476655960083F,
    1.1962616443634033F,
    1.174311876296997F,
    1.1531531810760498F,
    1.1327433586120605F,
    1.1130434274673462F,
    1.0940171480178833F,
    1.0756303071975708F,
    1.0578511953353882F,
    1.0406503677368164F,
    1.0240000486373901F,
    1.0F,
    1.0F,
    0.9552238583564758F,
    0.9275362491607666F,
    0.9014084339141846F,
    0.8767123222351074F,
    0.8533333539962769F,
    0.8311688303947449F,
    0.8101266026496887F,
    0.790123462677002F,
    0.7710843086242676F,
    0.7529411911964417F,
    0.7356321811676025F,
    0.7191011309623718F,
    0.7032967209815979F,
    0.6881720423698425F,
    0.6736842393875122F,
};
HWY_ALIGN constexpr float kLogC[32] = {
    -0.2773192524909973F,
    -0.25691041350364685F,
    -0.23690973222255707F,
    -0.21730127930641174F,
    -0.19806994497776031F,
    -0.1792013943195343F,
    -0.1606823354959488F,
    -0.14250008761882782F,
    -0.12464243918657303F,
    -0.10709808766841888F,
    -0.08985637873411179F,
    -0.07290682196617126F,
    -0.05623967573046684F,
    -0.039845872670412064F,
    -0.023716574534773827F,
    0.0F,
    0.0F,
    0.045809559524059296F,
    0.0752234011888504F,
    0.1037968099117279F,
    0.13157635927200317F,
    0.15860500931739807F,
    0.18492233753204346F,
    0.2105647474527359F,
    0.23556606471538544F,
    0.25995755195617676F,
    0.2837681472301483F,
    0.3070250451564789F,
    0.3297532796859741F,
    0.3519763946533203F,
    0.37371641397476196F,
    0.39499375224113464F,
};

// P(r), lowest coefficient first.
constexpr float kPoly[3] = {-0.5000013113021851F, 0.333362877368927F, -0.24372489750385284F};

}  // namespace fast_log_detail

/// Whether LogNormal uses the table for lanes of type D (else Highway's Log).
template <class D>
HWY_INLINE constexpr bool fast_log_table(D d) {
#if HWY_TARGET <= HWY_AVX3
  return sizeof(hwy::HWY_NAMESPACE::TFromD<D>) == 4 && hwy::HWY_NAMESPACE::MaxLanes(d) >= 16;
#else
  (void)d;
  return false;
#endif
}

/// ln x within 2 ulp (asserted in kernels_test) for lanes that are normal,
/// positive and finite; zeros and subnormals give finite values, other lanes
/// unspecified ones.
template <class D>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<D> LogNormal(D d, hwy::HWY_NAMESPACE::Vec<D> x) {
  namespace hn = hwy::HWY_NAMESPACE;
#if HWY_TARGET <= HWY_AVX3
  if constexpr (fast_log_table(D())) {
    namespace fl = fast_log_detail;
    const hn::RebindToSigned<D> di;
    // The bits of x less those of 0.75 hold k in their top bits and the interval of z
    // in the next 5 (vpermt2ps reads only the low 5 bits of its indices); vgetmantps
    // gives z itself (0 for x = 0).
    const auto tmp = hn::Sub(hn::BitCast(di, x), hn::Set(di, 0x3f400000));
    const hn::Vec<D> z{_mm512_getmant_ps(x.raw, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_zero)};
    const auto k = hn::ConvertTo(d, hn::ShiftRight<23>(tmp));
    const auto index = hn::ShiftRight<23 - 5>(tmp).raw;
    const hn::Vec<D> inv_c{
        _mm512_permutex2var_ps(hn::Load(d, fl::kInvC).raw, index, hn::Load(d, fl::kInvC + 16).raw)};
    const hn::Vec<D> log_c{
        _mm512_permutex2var_ps(hn::Load(d, fl::kLogC).raw, index, hn::Load(d, fl::kLogC + 16).raw)};
    const auto r = hn::MulAdd(z, inv_c, hn::Set(d, -1.0F));
    auto p = hn::Set(d, fl::kPoly[2]);
    p = hn::MulAdd(p, r, hn::Set(d, fl::kPoly[1]));
    p = hn::MulAdd(p, r, hn::Set(d, fl::kPoly[0]));
    const auto q = hn::MulAdd(p, r, hn::Set(d, 1.0F));  // ln(1 + r) = r q
    const auto w = hn::MulAdd(k, hn::Set(d, 0.693147180559945309F), log_c);
    return hn::MulAdd(r, q, w);
  }
#endif
  return hn::impl::Log<D, hn::Vec<D>, /*kAllowSubnormals=*/false>(d, x);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace shannon::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // SHANNON_KERNELS_FAST_LOG_INL_H_
