// Internal interface of the measure kernels. Each kernel reduces one chunk of
// a vector to a `partial`; src/measures.cc splits inputs into chunks, runs
// them on all cores and merges the partials in a fixed order.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shannon::kernels {

/// An unevaluated sum hi + lo whose additions are exact up to |lo| rounding (TwoSum).
struct dd {
  double hi = 0.0;
  double lo = 0.0;

  void add(double x) {
    const double s = hi + x;
    const double z = s - hi;
    lo += (hi - (s - z)) + (x - z);
    hi = s;
  }
  void add(const dd& other) {
    add(other.hi);
    lo += other.lo;
  }
  [[nodiscard]] double value() const { return hi + lo; }
};

/// Bits of partial::flags.
enum flag : unsigned {
  kBadP = 1U,      ///< some p is negative, NaN or infinite (or > 1 for information)
  kBadQ = 2U,      ///< some q is negative, NaN or infinite
  kInfinite = 4U,  ///< some p > 0 meets q = 0: the measure is +inf
};

/// What one pass over a chunk yields; sums are in nats and of the scaled inputs.
struct partial {
  /// entropy: sum p ln p; cross entropy: sum p ln q; KL: sum p ln(p/q) + q - p (each term >= 0).
  dd terms;
  dd mass_p;  ///< sum p
  dd mass_q;  ///< sum q; for KL obtained exactly as sum p + sum (q - p)
  dd excess;  ///< KL only: sum (q - p), exact to the last bit of the result
  /// KL of kl_divergence_fast: a bound on the error of terms - excess, in nats; 0 where
  /// both are exact to the last bit of a double result.
  double error_bound = 0.0;
  unsigned flags = 0;

  void merge(const partial& other) {
    terms.add(other.terms);
    mass_p.add(other.mass_p);
    mass_q.add(other.mass_q);
    excess.add(other.excess);
    error_bound += other.error_bound;
    flags |= other.flags;
  }
};

// Dispatched kernels (SIMD, best target of this CPU or SHANNON_FORCE_ISA).
// The inputs are divided by sp and sq first (1 unless normalizing): division,
// unlike a reciprocal, keeps x / sum(x) <= 1.
partial mass(const double* p, std::size_t n);
partial mass(const float* p, std::size_t n);
partial entropy(const double* p, std::size_t n, double sp);
partial entropy(const float* p, std::size_t n, double sp);
partial cross_entropy(const double* p, const double* q, std::size_t n, double sp, double sq);
partial cross_entropy(const float* p, const float* q, std::size_t n, double sp, double sq);
partial kl_divergence(const double* p, const double* q, std::size_t n, double sp, double sq);
partial kl_divergence(const float* p, const float* q, std::size_t n, double sp, double sq);
/// kl_divergence by a faster path whose error partial::error_bound states, for the
/// caller to check against the result (and to redo with kl_divergence where it is too
/// loose): for double, the terms (q - p) - p ln(q/p) without the series near p = q;
/// for float on AVX-512, terms formed in float (kl_float_terms), else kl_divergence.
partial kl_divergence_fast(const double* p, const double* q, std::size_t n, double sp, double sq);
partial kl_divergence_fast(const float* p, const float* q, std::size_t n, double sp, double sq);
/// out_i = -ln(p_i / sp) / ln_b; returns kBadP if some p_i / sp is outside [0, 1] or NaN.
unsigned information(const double* p, double* out, std::size_t n, double sp, double ln_b);
unsigned information(const float* p, float* out, std::size_t n, double sp, double ln_b);

/// Short rows, summed per row by the caller: t_i = p_i ln p_i (entropy), p_i ln q_i
/// (cross entropy), or the KL term p_i ln(p_i / q_i) + q_i - p_i with d_i = q_i - p_i;
/// the terms follow the conventions above (0 ln 0 = 0; q = 0 < p flags kInfinite).
/// Returns the flags (kBadP, kBadQ, kInfinite) of all n elements.
unsigned entropy_terms(const double* p, double* t, std::size_t n);
unsigned entropy_terms(const float* p, double* t, std::size_t n);
unsigned cross_entropy_terms(const double* p, const double* q, double* t, std::size_t n);
unsigned cross_entropy_terms(const float* p, const float* q, double* t, std::size_t n);
unsigned kl_terms(const double* p, const double* q, double* t, double* d, std::size_t n);
unsigned kl_terms(const float* p, const float* q, double* t, double* d, std::size_t n);

/// out_i = ln x_i within 2 ulp, the float measures' logarithm, for normal positive
/// finite x_i (other lanes give unspecified values); exposed for its tests.
void log_normal(const float* x, float* out, std::size_t n);
/// out_i = ln x_i, entropy's double logarithm: within 4 ulp for positive finite x_i
/// outside [0.96875, 1.0625), within 2^-56 inside; exposed for its tests.
void log_away_from_one(const double* x, double* out, std::size_t n);
/// t_i = the float KL term of kl_divergence_fast, for p_i and q_i in [2^-100, 2^24];
/// false (t untouched) where the target forms no float terms. Exposed for its tests.
bool kl_float_terms(const float* p, const float* q, float* t, std::size_t n);

/// Adds the occurrences of each byte value of p[0, n) to counts[0, 256); plain C++ (a
/// scatter of increments, which no x86 vector ISA does faster than scalar tables).
void byte_counts(const unsigned char* p, std::size_t n, std::uint64_t* counts);

/// Plain scalar implementations of the same contracts with <cmath>: the oracle of the tests.
namespace reference {
partial mass(const double* p, std::size_t n);
partial mass(const float* p, std::size_t n);
partial entropy(const double* p, std::size_t n, double sp);
partial entropy(const float* p, std::size_t n, double sp);
partial cross_entropy(const double* p, const double* q, std::size_t n, double sp, double sq);
partial cross_entropy(const float* p, const float* q, std::size_t n, double sp, double sq);
partial kl_divergence(const double* p, const double* q, std::size_t n, double sp, double sq);
partial kl_divergence(const float* p, const float* q, std::size_t n, double sp, double sq);
unsigned information(const double* p, double* out, std::size_t n, double sp, double ln_b);
unsigned information(const float* p, float* out, std::size_t n, double sp, double ln_b);
void byte_counts(const unsigned char* p, std::size_t n, std::uint64_t* counts);
}  // namespace reference

/// Applies SHANNON_FORCE_ISA once; every dispatched kernel calls it first.
void ensure_isa();

/// The Highway target bit of the kernels' active target.
std::int64_t active_target();

// Near p = q the KL term p ln(p/q) + q - p is evaluated without cancellation
// as s (q - p) - 2 p s^3 sum_k s^2k / (2k + 3), s = (q - p) / (q + p), from
// ln(q/p) = 2 atanh(s). For |s| <= 1/9 (q/p in [0.8, 1.25]) nine terms leave
// a relative error below 1e-19; beyond, ln(q/p) cancels at most 10-fold.
inline constexpr double kKlNear = 1.0 / 9.0;
inline constexpr int kKlSeriesTerms = 9;

/// Error bound of a float KL term t (kl_float_terms), asserted in kernels_test:
/// kKlFloatTermError t + kKlFloatTermUnderflow (terms below the normal floats).
inline constexpr double kKlFloatTermError = 8.0 * 0x1p-24;
inline constexpr double kKlFloatTermUnderflow = 0x1p-148;
/// Error bound of the sum of two float KL terms added in float, relative to the sum: their
/// own error and one rounding (sums below the normal floats are exact).
inline constexpr double kKlFloatPairError = kKlFloatTermError + 0x1p-24 * (1 + kKlFloatTermError);
/// Error bound of the excess of kl_divergence_fast (float), relative to sum p + sum q.
inline constexpr double kKlFloatExcessError = 1e-14;

/// How many bytes ahead of their loads the fast paths prefetch their inputs (and the
/// loss a fresh gradient): the hardware prefetcher alone leaves a core that computes
/// between its loads waiting for memory (entropy f32 of 1e8 on one core: 48 ms without,
/// 31 ms with 2 KB; 512 B, 1 KB and 4 KB were slower; docs/performance.md).
inline constexpr std::size_t kPrefetchAhead = 2048;

}  // namespace shannon::kernels
