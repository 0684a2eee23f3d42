// The measures: argument checks, then the kernels over fixed chunks on all
// cores, merged in chunk order so that results do not depend on the number
// of threads.
#include "shannon/measures.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/kernels.h"
#include "parallel.h"
#include "validate.h"

namespace shannon {
namespace {

using detail::arg_name;
using kernels::partial;

constexpr arg_name kP{"p", std::nullopt};
constexpr arg_name kQ{"q", std::nullopt};

arg_name row_of(arg_name arg, std::optional<std::size_t> row) { return {arg.name, row}; }

/// The divisor of normalize: sum(p), after checking the values; 1 otherwise.
template <class T>
double divisor_of(std::span<const T> p, const options& opt, arg_name arg) {
  if (!opt.normalize) return 1.0;
  const partial s = detail::reduce_chunks(
      p.size(), [&](std::size_t b, std::size_t n) { return kernels::mass(p.data() + b, n); });
  if ((s.flags & kernels::kBadP) != 0U) detail::check_values(p, arg);
  const double sum = s.mass_p.value();
  detail::check_divisor(sum, arg);
  return sum;
}

/// Throws for bad values or (without normalize) a sum away from 1, as the kernel flagged.
template <class T>
void check_partial(const partial& s, std::span<const T> p, std::span<const T> q, const options& opt,
                   std::optional<std::size_t> row) {
  if (opt.unchecked) return;
  if ((s.flags & kernels::kBadP) != 0U) detail::check_values(p, row_of(kP, row));
  if ((s.flags & kernels::kBadQ) != 0U) detail::check_values(q, row_of(kQ, row));
  if (opt.normalize) return;
  detail::check_sum<T>(s.mass_p.value(), p.size(), row_of(kP, row));
  if (!q.empty()) detail::check_sum<T>(s.mass_q.value(), q.size(), row_of(kQ, row));
}

enum class measure { entropy, cross_entropy, kl_divergence };

/// KL in nats: the sum of the non-negative terms p ln(p/q) + q - p, less sum(q - p),
/// both to double-double.
double kl_nats(kernels::dd terms, const kernels::dd& excess) {
  terms.add(-excess.hi);
  terms.lo -= excess.lo;
  return terms.value();
}

/// Whether the result of kernels::kl_divergence_fast stands: its error bound lies within
/// 8e-7 (float; the rounding to float leaves room to the 1e-6 of the contract) or 1e-13
/// (double; the contract is 1e-12) of it. Else the caller redoes it exactly.
template <class T>
bool kl_fast_stands(const partial& s) {
  const double nats = kl_nats(s.terms, s.excess);
  const double tolerance = std::is_same_v<T, float> ? 8e-7 : 1e-13;
  return nats > 0.0 && s.error_bound <= tolerance * nats;
}

/// One measure of one vector pair (q empty for entropy), in the unit of opt.base.
template <measure M, class T>
double evaluate(std::span<const T> p, std::span<const T> q, const options& opt,
                std::optional<std::size_t> row) {
  if (!opt.unchecked) {
    detail::check_not_empty(p.size(), row_of(kP, row));
    if constexpr (M != measure::entropy) detail::check_not_empty(q.size(), row_of(kQ, row));
  }
  if constexpr (M != measure::entropy) detail::check_same_length(p.size(), q.size());
  if (p.empty()) return 0.0;
  const double sp = divisor_of(p, opt, row_of(kP, row));
  double sq = 1.0;
  if constexpr (M != measure::entropy) sq = divisor_of(q, opt, row_of(kQ, row));

  partial s = detail::reduce_chunks(p.size(), [&](std::size_t b, std::size_t n) {
    if constexpr (M == measure::entropy) {
      return kernels::entropy(p.data() + b, n, sp);
    } else if constexpr (M == measure::cross_entropy) {
      return kernels::cross_entropy(p.data() + b, q.data() + b, n, sp, sq);
    } else {
      return kernels::kl_divergence_fast(p.data() + b, q.data() + b, n, sp, sq);
    }
  });
  if constexpr (M == measure::kl_divergence) {
    if (s.error_bound > 0.0 && s.flags == 0 && !kl_fast_stands<T>(s)) {
      s = detail::reduce_chunks(p.size(), [&](std::size_t b, std::size_t n) {
        return kernels::kl_divergence(p.data() + b, q.data() + b, n, sp, sq);
      });
    }
  }
  check_partial(s, p, q, opt, row);
  if ((s.flags & kernels::kInfinite) != 0U) return std::numeric_limits<double>::infinity();

  double nats = 0.0;
  if constexpr (M == measure::kl_divergence) {
    nats = kl_nats(s.terms, s.excess);
  } else {
    // 0 - x rather than -x: an entropy of 0 is +0.
    nats = 0.0 - s.terms.value();
  }
  return nats / opt.base.ln();
}

/// Rows shorter than this (and not normalized) take short_rows().
constexpr std::size_t kShortRow = 256;
/// Elements per tile of short_rows(): the terms of a tile fit in L1.
constexpr std::size_t kTile = 2048;

/// Short rows: the kernel writes the terms of a tile of whole rows, which are then
/// summed per row in double (<= cols eps of the same-signed terms; the KL excess
/// exactly). A row whose tile has a flag, or whose sum check fails, is evaluated
/// alone by one_row, which gives its result or its error.
template <measure M, class T, class OneRow>
void short_rows(matrix_view<T> p, const matrix_view<T>* q, std::span<T> out, const options& opt,
                OneRow&& one_row) {
  const std::size_t cols = p.cols;
  const std::size_t per_tile = std::max<std::size_t>(1, kTile / cols);
  const auto tiles = static_cast<std::ptrdiff_t>((p.rows + per_tile - 1) / per_tile);
  const double tolerance = sum_tolerance<T>(cols);
  const double ln_b = opt.base.ln();
  std::size_t first_bad = p.rows;
#pragma omp parallel reduction(min                                                    \
                               : first_bad) if (p.rows * cols >= detail::kMinChunk && \
                                                !omp_in_parallel())
  {
    std::vector<double> terms(per_tile * cols);
    std::vector<double> diff(M == measure::kl_divergence ? per_tile * cols : 0);
#pragma omp for schedule(static)
    for (std::ptrdiff_t tile = 0; tile < tiles; ++tile) {
      const std::size_t r0 = static_cast<std::size_t>(tile) * per_tile;
      const std::size_t r1 = std::min(p.rows, r0 + per_tile);
      const T* tp = p.data.data() + r0 * cols;
      const T* tq = q != nullptr ? q->data.data() + r0 * cols : nullptr;
      const std::size_t n = (r1 - r0) * cols;
      unsigned flags = 0;
      if constexpr (M == measure::entropy) {
        flags = kernels::entropy_terms(tp, terms.data(), n);
      } else if constexpr (M == measure::cross_entropy) {
        flags = kernels::cross_entropy_terms(tp, tq, terms.data(), n);
      } else {
        flags = kernels::kl_terms(tp, tq, terms.data(), diff.data(), n);
      }
      for (std::size_t r = r0; r < r1; ++r) {
        const std::size_t b = (r - r0) * cols;
        bool ok = flags == 0;
        double nats = 0.0;
        if (ok) {
          // Four partial sums each: a single chain of additions would wait on its latency.
          std::array<double, 4> sums{};
          std::array<double, 4> masses_p{};
          std::array<double, 4> masses_q{};
          kernels::dd excess;
          std::size_t c = b;
          for (; c + 4 <= b + cols; c += 4) {
            for (std::size_t k = 0; k < 4; ++k) {
              sums[k] += terms[c + k];
              masses_p[k] += tp[c + k];
              if constexpr (M != measure::entropy) masses_q[k] += tq[c + k];
            }
          }
          for (; c < b + cols; ++c) {
            sums[0] += terms[c];
            masses_p[0] += tp[c];
            if constexpr (M != measure::entropy) masses_q[0] += tq[c];
          }
          if constexpr (M == measure::kl_divergence) {
            for (c = b; c < b + cols; ++c) excess.add(diff[c]);
          }
          const auto total = [](const std::array<double, 4>& a) {
            return (a[0] + a[1]) + (a[2] + a[3]);
          };
          const double sum = total(sums);
          const double mass_p = total(masses_p);
          const double mass_q = total(masses_q);
          ok = opt.unchecked || (std::fabs(mass_p - 1.0) <= tolerance &&
                                 (M == measure::entropy || std::fabs(mass_q - 1.0) <= tolerance));
          if constexpr (M == measure::kl_divergence) {
            nats = kl_nats({sum, 0.0}, excess);
          } else {
            nats = 0.0 - sum;
          }
        }
        if (ok) {
          out[r] = static_cast<T>(nats / ln_b);
          continue;
        }
        try {
          out[r] = one_row(r);
        } catch (...) {
          first_bad = std::min(first_bad, r);
        }
      }
    }
  }
  // Exceptions may not leave a parallel region: the first bad row throws here.
  if (first_bad < p.rows) out[first_bad] = one_row(first_bad);
}

/// One value per row, rows in parallel when they are short.
template <measure M, class T>
void evaluate_rows(matrix_view<T> p, const matrix_view<T>* q, std::span<T> out,
                   const options& opt) {
  if (q != nullptr && (q->rows != p.rows || q->cols != p.cols)) {
    throw shape_mismatch("p is " + std::to_string(p.rows) + " x " + std::to_string(p.cols) +
                         " but q is " + std::to_string(q->rows) + " x " + std::to_string(q->cols) +
                         ": they must have the same shape");
  }
  if (out.size() != p.rows) {
    throw shape_mismatch("out has " + std::to_string(out.size()) + " elements for " +
                         std::to_string(p.rows) + " rows");
  }
  const auto one_row = [&](std::size_t r) {
    return static_cast<T>(
        evaluate<M, T>(p.row(r), q != nullptr ? q->row(r) : std::span<const T>(), opt, r));
  };
  if (p.cols > 0 && p.cols < kShortRow && !opt.normalize) {
    short_rows<M, T>(p, q, out, opt, one_row);
    return;
  }
  if (!detail::rows_in_parallel(p.rows, p.cols)) {
    for (std::size_t r = 0; r < p.rows; ++r) out[r] = one_row(r);
    return;
  }
  // Exceptions may not leave a parallel region: find the first bad row, then redo it.
  std::size_t first_bad = p.rows;
  const auto rows = static_cast<std::ptrdiff_t>(p.rows);
#pragma omp parallel for schedule(static) reduction(min : first_bad)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    try {
      out[r] = one_row(static_cast<std::size_t>(r));
    } catch (...) {
      first_bad = std::min(first_bad, static_cast<std::size_t>(r));
    }
  }
  if (first_bad < p.rows) out[first_bad] = one_row(first_bad);
}

template <class T>
void information_into(std::span<const T> p, std::span<T> out, const options& opt) {
  if (out.size() != p.size()) {
    throw shape_mismatch("out has " + std::to_string(out.size()) + " elements but p has " +
                         std::to_string(p.size()));
  }
  const double sp = divisor_of(p, opt, kP);
  const partial s = detail::reduce_chunks(p.size(), [&](std::size_t b, std::size_t n) {
    partial chunk;
    chunk.flags = kernels::information(p.data() + b, out.data() + b, n, sp, opt.base.ln());
    return chunk;
  });
  if (!opt.unchecked && (s.flags & kernels::kBadP) != 0U) {
    detail::check_values(p, kP, /*at_most_one=*/true, sp);
  }
}

}  // namespace

double information(double p, log_base base) {
  if (std::isnan(p) || p < 0.0 || p > 1.0) {
    throw invalid_distribution("p = " + detail::format_value(p) +
                               " is not a probability: it must lie in [0, 1]");
  }
  if (p == 0.0) return std::numeric_limits<double>::infinity();
  return (0.0 - std::log(p)) / base.ln();
}

void information(std::span<const double> p, std::span<double> out, const options& opt) {
  information_into(p, out, opt);
}
void information(std::span<const float> p, std::span<float> out, const options& opt) {
  information_into(p, out, opt);
}
std::vector<double> information(std::span<const double> p, const options& opt) {
  std::vector<double> out(p.size());
  information_into(p, std::span<double>(out), opt);
  return out;
}
std::vector<float> information(std::span<const float> p, const options& opt) {
  std::vector<float> out(p.size());
  information_into(p, std::span<float>(out), opt);
  return out;
}

#define SHANNON_DEFINE_MEASURE(NAME, M)                                                        \
  double NAME(std::span<const double> p, std::span<const double> q, const options& opt) {      \
    return evaluate<M, double>(p, q, opt, std::nullopt);                                       \
  }                                                                                            \
  float NAME(std::span<const float> p, std::span<const float> q, const options& opt) {         \
    return static_cast<float>(evaluate<M, float>(p, q, opt, std::nullopt));                    \
  }                                                                                            \
  void NAME(matrix_view<double> p, matrix_view<double> q, std::span<double> out,               \
            const options& opt) {                                                              \
    evaluate_rows<M, double>(p, &q, out, opt);                                                 \
  }                                                                                            \
  void NAME(matrix_view<float> p, matrix_view<float> q, std::span<float> out,                  \
            const options& opt) {                                                              \
    evaluate_rows<M, float>(p, &q, out, opt);                                                  \
  }                                                                                            \
  std::vector<double> NAME(matrix_view<double> p, matrix_view<double> q, const options& opt) { \
    std::vector<double> out(p.rows);                                                           \
    evaluate_rows<M, double>(p, &q, std::span<double>(out), opt);                              \
    return out;                                                                                \
  }                                                                                            \
  std::vector<float> NAME(matrix_view<float> p, matrix_view<float> q, const options& opt) {    \
    std::vector<float> out(p.rows);                                                            \
    evaluate_rows<M, float>(p, &q, std::span<float>(out), opt);                                \
    return out;                                                                                \
  }

SHANNON_DEFINE_MEASURE(cross_entropy, measure::cross_entropy)
SHANNON_DEFINE_MEASURE(kl_divergence, measure::kl_divergence)
#undef SHANNON_DEFINE_MEASURE

double entropy(std::span<const double> p, const options& opt) {
  return evaluate<measure::entropy, double>(p, {}, opt, std::nullopt);
}
float entropy(std::span<const float> p, const options& opt) {
  return static_cast<float>(evaluate<measure::entropy, float>(p, {}, opt, std::nullopt));
}
void entropy(matrix_view<double> p, std::span<double> out, const options& opt) {
  evaluate_rows<measure::entropy, double>(p, nullptr, out, opt);
}
void entropy(matrix_view<float> p, std::span<float> out, const options& opt) {
  evaluate_rows<measure::entropy, float>(p, nullptr, out, opt);
}
std::vector<double> entropy(matrix_view<double> p, const options& opt) {
  std::vector<double> out(p.rows);
  evaluate_rows<measure::entropy, double>(p, nullptr, std::span<double>(out), opt);
  return out;
}
std::vector<float> entropy(matrix_view<float> p, const options& opt) {
  std::vector<float> out(p.rows);
  evaluate_rows<measure::entropy, float>(p, nullptr, std::span<float>(out), opt);
  return out;
}

// ---- byte entropy ---------------------------------------------------------------

namespace {

// Below this many bytes one core counts: a thread's start costs more than it saves.
constexpr std::size_t kMinByteChunk = std::size_t{1} << 20;

}  // namespace

void add_byte_counts(std::span<const std::byte> data, byte_histogram& counts) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  const std::size_t threads = static_cast<std::size_t>(omp_get_max_threads());
  if (n < 2 * kMinByteChunk || threads < 2 || omp_in_parallel()) {
    kernels::byte_counts(p, n, counts.data());
    return;
  }
  // Counts are integers: any split gives the same result, so one contiguous part per thread.
  const std::size_t parts = std::min(threads, n / kMinByteChunk);
  std::vector<byte_histogram> part_counts(parts, byte_histogram{});
  const auto count = static_cast<std::ptrdiff_t>(parts);
  const auto team = static_cast<int>(parts);
#pragma omp parallel for schedule(static, 1) num_threads(team)
  for (std::ptrdiff_t t = 0; t < count; ++t) {
    const auto k = static_cast<std::size_t>(t);
    const std::size_t begin = n / parts * k;
    const std::size_t end = k + 1 == parts ? n : n / parts * (k + 1);
    kernels::byte_counts(p + begin, end - begin, part_counts[k].data());
  }
  for (const byte_histogram& part : part_counts) {
    for (std::size_t v = 0; v < counts.size(); ++v) counts[v] += part[v];
  }
}

byte_histogram byte_counts(std::span<const std::byte> data) {
  byte_histogram counts{};
  add_byte_counts(data, counts);
  return counts;
}

double entropy_of_counts(std::span<const std::uint64_t> counts, log_base base) {
  if (counts.empty()) {
    throw invalid_distribution("counts is empty: the entropy needs at least one count");
  }
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (__builtin_add_overflow(total, counts[i], &total)) {
      throw invalid_distribution("counts sum past 2^64 - 1 at counts[" + std::to_string(i) +
                                 "] = " + std::to_string(counts[i]));
    }
  }
  if (total == 0) {
    throw invalid_distribution("counts are all 0: the entropy needs at least one occurrence");
  }
  // Terms (c/N) ln(1 + (N - c)/c), each within a few ulp: N - c is exact in integers, so the
  // logarithm keeps its relative precision also where one value dominates (c near N). All
  // terms are positive and summed with Neumaier's compensation.
  const auto n = static_cast<double>(total);
  double sum = 0.0;
  double compensation = 0.0;
  for (const std::uint64_t c : counts) {
    if (c == 0 || c == total) continue;
    const auto cd = static_cast<double>(c);
    const double term = (cd / n) * std::log1p(static_cast<double>(total - c) / cd);
    const double t = sum + term;
    compensation += std::fabs(sum) >= std::fabs(term) ? (sum - t) + term : (term - t) + sum;
    sum = t;
  }
  return (sum + compensation) / base.ln();
}

double byte_entropy(std::span<const std::byte> data, log_base base) {
  if (data.empty()) {
    throw invalid_distribution("data is empty: byte entropy needs at least one byte");
  }
  const byte_histogram counts = byte_counts(data);
  return entropy_of_counts(counts, base);
}

}  // namespace shannon
