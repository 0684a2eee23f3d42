// A division-free natural logarithm of float lanes for the measure kernels, in
// the style of Highway's contrib/math: per-target code, included after
// hwy/highway.h by a kernel source compiled through foreach_target.h.
//
// ln x = k ln 2 + ln c + ln(1 + r), with x = 2^k z, z in [0.75, 1.5) (vgetmantps) and
// k from vgetexpps; 1/c and ln c (plus ln 2 where k is vgetexpps's exponent plus one)
// come from 32-entry tables picked by the leading bits of z (one two-table permute
// each), r = z/c - 1 from one FMA, r in [-1/64, 1/32], and ln(1 + r) = r q, q = 1 +
// r P(r) with a quadratic P (relative error 8.3e-9; scripts/fit_fast_log.py fits them
// with mpmath). The two intervals around 1 have c = 1, so that r = x - 1 is exact there
// and ln x keeps its relative precision as x approaches 1. Its largest error over every
// positive finite float is 1.59 ulp (1.03 over the subnormals).
//
// It needs 16 float lanes (AVX-512); smaller vectors use Highway's Log. On the AMD Zen 4
// host the two permutes were a quarter of the float log's time: a 16-entry table with a
// cubic P (one more FMA) was 6% slower in the entropy kernel.
//
// LogAwayFromOne is the same reduction for 8 double lanes, with 16-entry tables and a
// degree-7 Q, for entropy, cross entropy and KL's far terms: on an Intel host it runs far faster
// than Highway's double Log and its division (on the AMD host, whose divisions are cheap, a table
// log had measured no faster).

// Per-target include guard, as Highway's own -inl.h headers have.
#if defined(SHANNON_KERNELS_FAST_LOG_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SHANNON_KERNELS_FAST_LOG_INL_H_
#undef SHANNON_KERNELS_FAST_LOG_INL_H_
#else
#define SHANNON_KERNELS_FAST_LOG_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace shannon::kernels::HWY_NAMESPACE {
namespace fast_log_detail {
namespace hn = hwy::HWY_NAMESPACE;

// 1/c and the log entry of the 32 intervals of z, in the order of their index (bits
// 22..18 of z): [1 + j/32, 1 + (j + 1)/32) for j < 16, with entry -ln(1/c) to nearest;
// [(32 + j)/64, (33 + j)/64) for j >= 16, where x = 2^(e + 1) z, with entry ln 2 - ln(1/c),
// 1/c chosen among the floats near it so that the entry is a float within 2^-36 (then
// e ln 2 + entry is exact for e = -1, x in [0.75, 1)). c is the middle of its interval, or
// 1 for the two that touch 1.
HWY_ALIGN constexpr float kInvC[32] = {
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
    1.3199115991592407F,
    1.2929929494857788F,
    1.2676637172698975F,
    1.2429590225219727F,
    1.21868896484375F,
    1.1966506242752075F,
    1.1746466159820557F,
    1.1528844833374023F,
    1.1327764987945557F,
    1.113232135772705F,
    1.0938775539398193F,
    1.0760104656219482F,
    1.0575783252716064F,
    1.0403575897216797F,
    1.0237292051315308F,
    1.0F,
};
HWY_ALIGN constexpr float kLogC[32] = {
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
    0.41558241844177246F,
    0.4361875355243683F,
    0.4559715688228607F,
    0.4756523370742798F,
    0.4953715205192566F,
    0.5136206746101379F,
    0.5321798324584961F,
    0.5508801341056824F,
    0.5684754848480225F,
    0.5858795642852783F,
    0.6034184098243713F,
    0.6198869943618774F,
    0.6371654868125916F,
    0.6535826921463013F,
    0.6696951389312744F,
    0.6931471824645996F,
};

// P(r), lowest coefficient first.
constexpr float kPoly[3] = {-0.5000013113021851F, 0.333362877368927F, -0.24372489750385284F};

// The double log's 16 intervals of z, in the order of their index (bits 51..48 of z):
// [1 + j/16, 1 + (j + 1)/16) for j < 8, with entry -ln(1/c); [0.75 + (j - 8)/32, ...)
// for j >= 8, where x = 2^(e + 1) z, with entry ln 2 - ln(1/c). c is the interval's
// middle, and 1/c the double near 1/c whose entry lies within 2^-59 of a double, so that
// the entries are exact to 2^-59 (scripts/fit_fast_log.py, log_table_f64).
HWY_ALIGN constexpr double kInvC64[16] = {
    0.9696969696969697, 0.9142857142857144, 0.8648648648648651, 0.8205128205123766,
    0.780487804878049,  0.7441860465120713, 0.7111111111111114, 0.680851063829787,
    1.3061224489787036, 1.2549019607834255, 1.2075471698122062, 1.1636363636363611,
    1.1228070175438571, 1.0847457627118648, 1.0491803278688536, 1.0158730158730125,
};
HWY_ALIGN constexpr double kLogC64[16] = {
    0.03077165866675366, 0.08961215868968704, 0.14518200984449758, 0.19782574333046088,
    0.24783616390458094, 0.29546421289324004, 0.34092658697059286, 0.3844116989103324,
    0.42608439531158016, 0.466089729925307,   0.504556010751662,   0.5415972824327465,
    0.5773153650348258,  0.6118015411059925,  0.6451379613735836,  0.6773988235918095,
};
// ln(1 + r) = r + r^2 Q(r) for |r| <= 0.0303, Q lowest coefficient first: least squares
// on Chebyshev nodes with mpmath, relative error 8.7e-18 (0.08 ulp) with these doubles.
constexpr double kQ64[8] = {-0.4999999999999975, 0.3333333333333313, -0.2500000000363561,
                            0.2000000000315099,  -0.166666524157915, 0.14285701617923932,
                            -0.1252068485240662, 0.11129753315000715};
// ln 2 = kLn2Hi + kLn2Lo, kLn2Hi with 32 significant bits (e kLn2Hi is exact).
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;

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

#if HWY_TARGET <= HWY_AVX3
namespace fast_log_detail {
/// x = 2^k z and the table entries of z's interval (AVX-512, 512-bit vectors).
template <class D>
struct reduced {
  hwy::HWY_NAMESPACE::Vec<D> z;      // in [0.75, 1.5), NaN for x < 0
  hwy::HWY_NAMESPACE::Vec<D> e;      // floor(log2 x): k = e, or e + 1 (the entry adds ln 2)
  hwy::HWY_NAMESPACE::Vec<D> inv_c;  // 1/c
  hwy::HWY_NAMESPACE::Vec<D> log_c;  // the log entry
};

/// z from vgetmant, e from vgetexp of x with its lowest bit set (finite for x = 0: -149
/// or -1074; no other exponent changes, but +inf becomes a NaN), and the entries of the
/// two-register tables (32 floats or 16 doubles) that vpermt2ps/pd pick by the low 5 or 4
/// bits of the index: the leading fraction bits of z.
template <class D>
HWY_INLINE reduced<D> reduce(D d, hwy::HWY_NAMESPACE::Vec<D> x,
                             const hwy::HWY_NAMESPACE::TFromD<D>* inv_table,
                             const hwy::HWY_NAMESPACE::TFromD<D>* log_table) {
  namespace hn = hwy::HWY_NAMESPACE;
  using V = hn::Vec<D>;
  const std::size_t half = hn::Lanes(d);
  if constexpr (sizeof(hn::TFromD<D>) == 4) {
    const V z{_mm512_getmant_ps(x.raw, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan)};
    const V e{_mm512_getexp_ps(
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(x.raw), _mm512_set1_epi32(1))))};
    const auto index = _mm512_srli_epi32(_mm512_castps_si512(z.raw), 23 - 5);
    return {z, e,
            V{_mm512_permutex2var_ps(hn::Load(d, inv_table).raw, index,
                                     hn::Load(d, inv_table + half).raw)},
            V{_mm512_permutex2var_ps(hn::Load(d, log_table).raw, index,
                                     hn::Load(d, log_table + half).raw)}};
  } else {
    const V z{_mm512_getmant_pd(x.raw, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan)};
    const V e{_mm512_getexp_pd(
        _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(x.raw), _mm512_set1_epi64(1))))};
    const auto index = _mm512_srli_epi64(_mm512_castpd_si512(z.raw), 52 - 4);
    return {z, e,
            V{_mm512_permutex2var_pd(hn::Load(d, inv_table).raw, index,
                                     hn::Load(d, inv_table + half).raw)},
            V{_mm512_permutex2var_pd(hn::Load(d, log_table).raw, index,
                                     hn::Load(d, log_table + half).raw)}};
  }
}
}  // namespace fast_log_detail
#endif

/// ln x within 2 ulp (asserted in kernels_test) for lanes that are normal,
/// positive and finite; zeros and subnormals give finite values, other lanes
/// unspecified ones, NaN for negative ones (not -0), NaN and infinities where
/// fast_log_table(d).
template <class D>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<D> LogNormal(D d, hwy::HWY_NAMESPACE::Vec<D> x) {
  namespace hn = hwy::HWY_NAMESPACE;
#if HWY_TARGET <= HWY_AVX3
  if constexpr (fast_log_table(D())) {
    namespace fl = fast_log_detail;
    const auto [z, e, inv_c, log_c] = fl::reduce(d, x, fl::kInvC, fl::kLogC);
    const auto r = hn::MulAdd(z, inv_c, hn::Set(d, -1.0F));
    auto p = hn::Set(d, fl::kPoly[2]);
    p = hn::MulAdd(p, r, hn::Set(d, fl::kPoly[1]));
    p = hn::MulAdd(p, r, hn::Set(d, fl::kPoly[0]));
    const auto q = hn::MulAdd(p, r, hn::Set(d, 1.0F));  // ln(1 + r) = r q
    const auto w = hn::MulAdd(e, hn::Set(d, 0.693147180559945309F), log_c);
    return hn::MulAdd(r, q, w);
  }
#endif
  return hn::impl::Log<D, hn::Vec<D>, /*kAllowSubnormals=*/false>(d, x);
}

/// Whether LogAwayFromOne has its table for lanes of type D (AVX-512 doubles).
template <class D>
HWY_INLINE constexpr bool fast_log_table64(D d) {
#if HWY_TARGET <= HWY_AVX3
  return sizeof(hwy::HWY_NAMESPACE::TFromD<D>) == 8 && hwy::HWY_NAMESPACE::MaxLanes(d) >= 8;
#else
  (void)d;
  return false;
#endif
}

/// Where fast_log_table64(d): ln x within 4 ulp (asserted in kernels_test) for lanes
/// that are positive and finite, zeros giving finite values, except for x in
/// [kNearOne, 1.0625), where its absolute error is within 2^-56 but its relative error
/// unbounded; NaN for negative lanes (not -0), NaN and infinities. Elsewhere Highway's Log.
constexpr double kNearOne = 0.96875;
template <class D>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<D> LogAwayFromOne(D d, hwy::HWY_NAMESPACE::Vec<D> x) {
  namespace hn = hwy::HWY_NAMESPACE;
#if HWY_TARGET <= HWY_AVX3
  if constexpr (fast_log_table64(D())) {
    namespace fl = fast_log_detail;
    const auto [z, e, inv_c, log_c] = fl::reduce(d, x, fl::kInvC64, fl::kLogC64);
    const auto r = hn::MulAdd(z, inv_c, hn::Set(d, -1.0));
    auto q = hn::Set(d, fl::kQ64[7]);
    for (int k = 6; k >= 0; --k) q = hn::MulAdd(q, r, hn::Set(d, fl::kQ64[k]));
    const auto t = hn::MulAdd(hn::Mul(r, r), q, r);
    // e ln2_hi + entry is exact for e = -1 (Sterbenz), where x lies in [0.75, 1).
    const auto w =
        hn::MulAdd(e, hn::Set(d, fl::kLn2Lo), hn::MulAdd(e, hn::Set(d, fl::kLn2Hi), log_c));
    return hn::Add(t, w);
  }
#endif
  return hn::Log(d, x);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace shannon::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // SHANNON_KERNELS_FAST_LOG_INL_H_
