// The losses: argument checks, then the kernels over rows in parallel (or
// over fixed slices of each long row), with sums merged in a fixed order so
// that results do not depend on the number of threads.
#include "shannon/losses.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/loss_kernels.h"
#include "parallel.h"
#include "validate.h"

namespace shannon {
namespace {

using detail::format_value;
using kernels::ce_partial;
using kernels::dd;
using kernels::loss_partial;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
/// A ce row flag beside kernels::loss_flag: a target row whose sum is not 1.
constexpr unsigned kNotDistribution = 16U;

// ---- the seed's one-hot loss ---------------------------------------------------------

template <class T>
double one_hot_loss(std::span<const T> q, std::size_t target_class, const options& opt) {
  const detail::arg_name arg{"q", std::nullopt};
  detail::check_not_empty(q.size(), arg);
  if (target_class >= q.size()) {
    throw invalid_option("target class " + std::to_string(target_class) + " is out of range for " +
                         std::to_string(q.size()) + " classes");
  }
  const kernels::partial s = kernels::mass(q.data(), q.size());
  if (!opt.unchecked && (s.flags & kernels::kBadP) != 0U) detail::check_values(q, arg);
  const double sum = s.mass_p.value();
  if (opt.normalize) {
    detail::check_divisor(sum, arg);
  } else if (!opt.unchecked) {
    detail::check_sum<T>(sum, q.size(), arg);
  }
  const double q_class = opt.normalize ? double(q[target_class]) / sum : double(q[target_class]);
  if (q_class == 0.0) return std::numeric_limits<double>::infinity();
  return (0.0 - std::log(q_class)) / opt.base.ln();
}

// ---- shared checks ---------------------------------------------------------------------

/// "1 row", "3 rows"; "1 class", "3 classes"; "1 class index", "3 class indices".
std::string count_of(std::size_t n, std::string_view what) {
  std::string word(what);
  if (n != 1) {
    if (word.ends_with("ss")) {
      word += "es";
    } else if (word.ends_with("ex")) {
      word.replace(word.size() - 2, 2, "ices");
    } else {
      word += "s";
    }
  }
  return std::to_string(n) + " " + word;
}

std::string shape_of(std::size_t rows, std::size_t cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

/// Whether two buffers share memory.
template <class A, class B>
bool overlap(std::span<A> a, std::span<B> b) {
  if (a.empty() || b.empty()) return false;
  const auto* a_begin = reinterpret_cast<const unsigned char*>(a.data());
  const auto* b_begin = reinterpret_cast<const unsigned char*>(b.data());
  const std::less<const unsigned char*> less;
  return less(a_begin, b_begin + b.size_bytes()) && less(b_begin, a_begin + a.size_bytes());
}

/// grad may be the input buffer itself (in place) but may not overlap it otherwise.
template <class T>
void check_grad_buffer(std::span<T> grad, std::span<const T> input, const char* input_name) {
  if (grad.data() == input.data() && grad.size() == input.size()) return;
  if (overlap(grad, input)) {
    throw invalid_option(std::string("grad overlaps ") + input_name +
                         " without being the same buffer: pass " + input_name +
                         " itself (in place) or a separate buffer");
  }
}

template <class T>
void check_disjoint(std::span<T> grad, std::span<const T> other, const char* other_name) {
  if (overlap(grad, other)) {
    throw invalid_option(std::string("grad overlaps ") + other_name + ": they must be separate");
  }
}

/// loss takes 1 value or, for reduction none, `unreduced` values; grad is empty or
/// `elements` long.
template <class T>
void check_outputs(const loss_outputs<T>& out, reduction r, std::size_t unreduced, const char* unit,
                   std::size_t elements, const std::string& input_desc) {
  const std::size_t want = r == reduction::none ? unreduced : 1;
  if (out.loss.size() != want) {
    throw shape_mismatch("loss has " + count_of(out.loss.size(), "element") + " but reduction " +
                         std::string(reduction_name(r)) + " writes " +
                         (r == reduction::none ? count_of(want, unit) : std::string("1")));
  }
  if (!out.grad.empty() && out.grad.size() != elements) {
    throw shape_mismatch("grad has " + count_of(out.grad.size(), "element") + " but " + input_desc +
                         " has " + std::to_string(elements) +
                         ": it must have the same shape (or be empty)");
  }
}

/// Throws naming the first weight that is NaN, infinite or negative.
template <class T>
void check_weights(std::span<const T> w, const char* name) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double x = w[i];
    const std::string where =
        std::string(name) + "[" + std::to_string(i) + "] = " + format_value(x);
    if (std::isnan(x)) throw invalid_option(where + " is not a number");
    if (std::isinf(x)) throw invalid_option(where + " is not finite");
    if (x < 0) throw invalid_option(where + " is negative: weights must be >= 0");
  }
}

std::string element_name(const char* name, std::size_t row, std::size_t col, double x) {
  return std::string(name) + "[" + std::to_string(row) + "][" + std::to_string(col) +
         "] = " + format_value(x);
}

/// Items per group: at least min_items (and 1), and at most kMaxChunks groups.
std::size_t per_group(std::size_t items, std::size_t min_items) {
  return std::max({std::size_t{1}, min_items, ceil_div(items, detail::kMaxChunks)});
}

/// Rows per group: rows of about kMinChunk elements, at most kMaxChunks groups.
std::size_t rows_per_group(std::size_t rows, std::size_t cols) {
  return per_group(rows, ceil_div(detail::kMinChunk, std::max<std::size_t>(cols, 1)));
}

/// Fixed groups of items (rows or elements) of at least min_items and at most kMaxChunks
/// groups, run in parallel and merged in order: the result does not depend on the threads.
template <class Chunk>
loss_partial reduce_loss_chunks(std::size_t items, std::size_t min_items, Chunk&& chunk) {
  const std::size_t per = per_group(items, min_items);
  const std::size_t count = ceil_div(items, per);
  if (count <= 1) return chunk(std::size_t{0}, items);
  std::array<loss_partial, detail::kMaxChunks> parts;
  const auto chunks = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t begin = static_cast<std::size_t>(c) * per;
    parts[c] = chunk(begin, std::min(items, begin + per) - begin);
  }
  loss_partial total = parts[0];
  for (std::size_t c = 1; c < count; ++c) total.merge(parts[c]);
  return total;
}

// ---- cross entropy ---------------------------------------------------------------------

/// The slice length of a row of `cols`: the whole row unless it is long, then fixed slices
/// (a function of cols only) that can run on several cores.
std::size_t slice_length(std::size_t cols) {
  if (cols < 2 * detail::kMinChunk) return std::max<std::size_t>(cols, 1);
  return std::max(detail::kMinChunk, (ceil_div(cols, detail::kMaxChunks) + 63) / 64 * 64);
}

template <class T>
kernels::ce_slice<T> sub_slice(const kernels::ce_slice<T>& s, std::size_t begin, std::size_t n) {
  kernels::ce_slice<T> out = s;
  out.logits += begin;
  if (out.weight != nullptr) out.weight += begin;
  if (out.probs != nullptr) out.probs += begin;
  out.n = n;
  return out;
}

/// Pass 1 over a row, slice by slice, merged in order.
template <class T>
ce_partial forward_row(const kernels::ce_slice<T>& s, double u, double v, std::size_t skip,
                       std::size_t slice, bool parallel) {
  const std::size_t count = ceil_div(s.n, slice);
  if (count <= 1) return kernels::ce_forward(s, u, v, skip);
  std::array<ce_partial, detail::kMaxChunks> parts;
  const auto slices = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static) if (parallel)
  for (std::ptrdiff_t c = 0; c < slices; ++c) {
    const std::size_t begin = static_cast<std::size_t>(c) * slice;
    // skip - begin wraps around (beyond the slice) when skip < begin.
    parts[c] = kernels::ce_forward(sub_slice(s, begin, std::min(s.n, begin + slice) - begin), u, v,
                                   skip - begin);
  }
  ce_partial total = parts[0];
  for (std::size_t c = 1; c < count; ++c) total.merge(parts[c]);
  return total;
}

/// Pass 2 over a row, slice by slice.
template <class T>
void backward_row(const kernels::ce_slice<T>& s, T* grad, double max, double log_sum, double a,
                  double beta, double gamma, std::size_t slice, bool parallel) {
  const std::size_t count = ceil_div(s.n, slice);
  if (count <= 1) {
    kernels::ce_backward(s, grad, max, log_sum, a, beta, gamma);
    return;
  }
  const auto slices = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static) if (parallel)
  for (std::ptrdiff_t c = 0; c < slices; ++c) {
    const std::size_t begin = static_cast<std::size_t>(c) * slice;
    kernels::ce_backward(sub_slice(s, begin, std::min(s.n, begin + slice) - begin), grad + begin,
                         max, log_sum, a, beta, gamma);
  }
}

/// Everything a row needs, fixed before the rows run.
template <class T>
struct ce_problem {
  matrix_view<T> logits;
  std::span<const std::int64_t> target;  // class indices, or empty
  const T* probs = nullptr;              // probability targets, or null
  const cross_entropy_options<T>* opt = nullptr;
  loss_outputs<T> out;
  std::size_t slice = 1;
  double eps_over_c = 0.0;  // label_smoothing / C
  double weight_sum = 0.0;  // sum of the class weights (C without weights)
  double ce_scale = 0.0;    // d(reduced loss)/d(row CE), in the unit
  double z_scale = 0.0;     // d(reduced loss)/d(row z-loss), in the unit
};

struct row_result {
  double ce = 0.0;  // nats
  double z = 0.0;   // nats
  unsigned flags = 0;
};

double softcapped(double x, double cap) {
  return cap > 0.0 && x > -kInf ? cap * std::tanh(x / cap) : x;
}

/// Loss (and gradient) of one row; never throws: bad rows return flags.
template <class T>
row_result ce_row(const ce_problem<T>& pb, std::size_t r, bool parallel) {
  const cross_entropy_options<T>& opt = *pb.opt;
  const std::size_t cols = pb.logits.cols;
  const T* x = pb.logits.data.data() + r * cols;
  T* grad = pb.out.grad.empty() ? nullptr : pb.out.grad.data() + r * cols;
  const bool by_index = pb.probs == nullptr;
  const double eps = opt.label_smoothing;
  const double cap = opt.softcap;

  std::size_t t = kNone;
  bool ignored = false;
  if (by_index) {
    ignored = pb.target[r] == opt.ignore_index;
    if (!ignored) t = static_cast<std::size_t>(pb.target[r]);
  }
  if (ignored && pb.out.lse.empty()) {
    if (grad != nullptr) std::fill_n(grad, cols, T(0));
    return {};
  }

  const kernels::ce_slice<T> s{x, opt.weight.empty() ? nullptr : opt.weight.data(),
                               by_index ? nullptr : pb.probs + r * cols, cols, cap};
  double u = 0.0;
  double v = 0.0;
  if (!by_index) {
    u = pb.eps_over_c;
    v = 1.0 - eps;
  } else if (eps > 0.0 && !ignored) {
    u = 1.0;
  }
  const ce_partial part = forward_row(s, u, v, t, pb.slice, parallel);

  row_result res;
  res.flags = part.flags & (kernels::kBadLogit | kernels::kBadTarget);
  if (!by_index && !opt.unchecked &&
      !(std::fabs(part.mass.value() - 1.0) <= sum_tolerance<T>(cols))) {
    res.flags |= kNotDistribution;
  }
  if (opt.unchecked) res.flags &= kernels::kBadLogit;
  if (ignored && res.flags != 0) {
    // An ignored row adds nothing, whatever its logits (padding may hold anything).
    pb.out.lse[r] = T(kNaN);
    if (grad != nullptr) std::fill_n(grad, cols, T(0));
    return {};
  }
  if (res.flags != 0) {
    if (opt.unchecked) {
      // NaN in, NaN out: the loss, the logsumexp and the gradient of the row.
      if (grad != nullptr) std::fill_n(grad, cols, T(kNaN));
      if (!pb.out.lse.empty()) pb.out.lse[r] = T(kNaN);
      res.ce = kNaN;
    }
    return res;
  }

  // The target logit is read before pass 2 may write over it.
  const double x_t = t != kNone ? double(x[t]) : 0.0;
  // z_t as the kernel computed it: a row of one class has lse = z_t exactly.
  const double z_t = t != kNone ? part.skipped : -kInf;
  const double m = part.max;
  const kernels::ce_row_terms terms = kernels::ce_terms(m, part.sum, z_t);
  const double log_sum = terms.log_sum;
  const double nll = terms.nll;
  const double lse = m + log_sum;
  if (!pb.out.lse.empty()) pb.out.lse[r] = T(lse);
  if (ignored) {
    if (grad != nullptr) std::fill_n(grad, cols, T(0));
    return res;
  }

  const bool infinite_coef = (part.flags & kernels::kInfiniteCoef) != 0U;
  // sum_j c_j (lse - z_j) over the finite z_j; +inf if some c_j > 0 has z_j = -inf.
  const double spread = infinite_coef ? kInf : part.spread + part.coef_finite * log_sum;
  const double w_t = by_index && !opt.weight.empty() ? double(opt.weight[t]) : 1.0;
  if (by_index) {
    const double nll_coef = (1.0 - eps) * w_t;
    res.ce = nll_coef != 0.0 ? nll_coef * nll : 0.0;
    if (eps > 0.0) res.ce += pb.eps_over_c * spread;
  } else {
    res.ce = spread;
  }
  if (opt.z_loss > 0.0) res.z = opt.z_loss * lse * lse;

  if (grad != nullptr) {
    const double sc = pb.ce_scale;
    const double z_part = opt.z_loss > 0.0 && m > -kInf ? pb.z_scale * 2.0 * opt.z_loss * lse : 0.0;
    const double ce_a = by_index ? (1.0 - eps) * w_t + pb.eps_over_c * pb.weight_sum : part.coef;
    const double a = sc * ce_a + z_part;
    const double beta = sc * pb.eps_over_c;
    const double gamma = by_index ? 0.0 : sc * (1.0 - eps);
    backward_row(s, grad, m, log_sum, a, beta, gamma, pb.slice, parallel);
    if (by_index) {
      // a s_t - b_t = a (s_t - 1) + (a - b_t), with s_t - 1 = expm1(-nll): exact near s_t = 1.
      double g = a * std::expm1(-nll) + (sc * pb.eps_over_c * (pb.weight_sum - w_t) + z_part);
      if (cap > 0.0) {
        const double c = std::cosh(x_t / cap);
        g /= c * c;
      }
      grad[t] = T(g);
    }
  }
  return res;
}

/// First row whose checks failed, and why.
struct bad_row {
  std::size_t row = kNone;
  unsigned flags = 0;
};

struct ce_totals {
  loss_partial ce;
  loss_partial z;
  bad_row bad;
};

/// Runs every row in fixed groups (rows in parallel, or the slices of each long row in
/// parallel when rows are few) and sums the losses in group order.
template <class T>
ce_totals run_rows(const ce_problem<T>& pb, double unit) {
  const std::size_t rows = pb.logits.rows;
  const std::size_t cols = pb.logits.cols;
  const std::size_t per_group = rows_per_group(rows, cols);
  const std::size_t groups = ceil_div(rows, per_group);
  const bool nested = omp_in_parallel() != 0;
  const std::size_t threads = nested ? 1 : static_cast<std::size_t>(omp_get_max_threads());
  const bool long_rows = ceil_div(cols, pb.slice) > 1;
  const bool rows_parallel = !nested && groups > 1 && (!long_rows || rows >= 2 * threads);
  const bool slices_parallel = !nested && !rows_parallel && long_rows;

  std::array<ce_totals, detail::kMaxChunks> parts;
  const auto count = static_cast<std::ptrdiff_t>(groups);
#pragma omp parallel for schedule(static) if (rows_parallel)
  for (std::ptrdiff_t g = 0; g < count; ++g) {
    ce_totals& part = parts[g];
    const std::size_t begin = static_cast<std::size_t>(g) * per_group;
    const std::size_t end = std::min(rows, begin + per_group);
    for (std::size_t r = begin; r < end; ++r) {
      const row_result res = ce_row(pb, r, slices_parallel);
      if (res.flags != 0 && !pb.opt->unchecked) {
        if (part.bad.row == kNone) part.bad = {r, res.flags};
        continue;
      }
      part.ce.add(res.ce);
      part.z.add(res.z);
      if (pb.opt->reduce == reduction::none) {
        pb.out.loss[r] = T((res.ce + res.z) / unit);
      }
    }
  }
  ce_totals total = parts[0];
  for (std::size_t g = 1; g < groups; ++g) {
    total.ce.merge(parts[g].ce);
    total.z.merge(parts[g].z);
    if (total.bad.row == kNone) total.bad = parts[g].bad;
  }
  return total;
}

/// The rows of a class-index problem as the row kernels take them.
template <class T>
kernels::ce_index_rows<T> index_rows_of(const ce_problem<T>& pb, double unit) {
  const cross_entropy_options<T>& opt = *pb.opt;
  kernels::ce_index_rows<T> p;
  p.logits = pb.logits.data.data();
  p.cols = pb.logits.cols;
  p.target = pb.target.data();
  p.ignore_index = opt.ignore_index;
  p.weight = opt.weight.empty() ? nullptr : opt.weight.data();
  p.grad = pb.out.grad.empty() ? nullptr : pb.out.grad.data();
  p.lse = pb.out.lse.empty() ? nullptr : pb.out.lse.data();
  p.loss = opt.reduce == reduction::none ? pb.out.loss.data() : nullptr;
  p.unit = unit;
  p.ce_scale = pb.ce_scale;
  p.unchecked = opt.unchecked;
  return p;
}

/// The fast path (float logits, class indices, no smoothing, softcap or z_loss): rows that
/// fit one slice run many per kernel call; long rows run slice by slice as in run_rows.
ce_totals run_rows_fast(const ce_problem<float>& pb, double unit) {
  const std::size_t rows = pb.logits.rows;
  const std::size_t cols = pb.logits.cols;
  const kernels::ce_fast_rows p = index_rows_of(pb, unit);
  const std::size_t per_group = rows_per_group(rows, cols);
  const std::size_t groups = ceil_div(rows, per_group);
  const bool nested = omp_in_parallel() != 0;
  const std::size_t threads = nested ? 1 : static_cast<std::size_t>(omp_get_max_threads());
  const std::size_t slice = pb.slice;
  const std::size_t slices = ceil_div(cols, slice);
  const bool long_rows = slices > 1;
  const bool rows_parallel = !nested && groups > 1 && (!long_rows || rows >= 2 * threads);
  const bool slices_parallel = !nested && !rows_parallel && long_rows;

  std::array<ce_totals, detail::kMaxChunks> parts;
  const auto count = static_cast<std::ptrdiff_t>(groups);
#pragma omp parallel for schedule(static) if (rows_parallel)
  for (std::ptrdiff_t g = 0; g < count; ++g) {
    ce_totals& part = parts[g];
    const std::size_t begin = static_cast<std::size_t>(g) * per_group;
    const std::size_t end = std::min(rows, begin + per_group);
    if (!long_rows) {
      const kernels::ce_fast_totals t = kernels::ce_fast_rows_run(p, begin, end);
      part.ce = t.ce;
      if (t.bad_row != SIZE_MAX) part.bad = {t.bad_row, t.bad_flags};
      continue;
    }
    // Long rows: pass 1 on every slice, merged in order; pass 2 on every slice.
    std::vector<kernels::ce_fast_partial> slice_parts(slices);
    const auto pass1 = [&](const float* x, std::size_t skip, float* e) {
      const auto n = static_cast<std::ptrdiff_t>(slices);
#pragma omp parallel for schedule(static) if (slices_parallel)
      for (std::ptrdiff_t c = 0; c < n; ++c) {
        const std::size_t at = static_cast<std::size_t>(c) * slice;
        // skip - at wraps around (beyond the slice) when skip < at.
        slice_parts[c] = kernels::ce_fast_forward(x + at, std::min(cols, at + slice) - at,
                                                  skip - at, e != nullptr ? e + at : nullptr);
      }
      kernels::ce_fast_partial total = slice_parts[0];
      for (std::size_t c = 1; c < slices; ++c) total.merge(slice_parts[c]);
      return total;
    };
    const auto pass2 = [&](float* grad, const kernels::ce_fast_partial& row, double log_sum,
                           double a) {
      const auto n = static_cast<std::ptrdiff_t>(slices);
#pragma omp parallel for schedule(static) if (slices_parallel)
      for (std::ptrdiff_t c = 0; c < n; ++c) {
        const std::size_t at = static_cast<std::size_t>(c) * slice;
        kernels::ce_fast_backward(grad + at, std::min(cols, at + slice) - at, slice_parts[c].events,
                                  row.max, log_sum, a);
      }
    };
    for (std::size_t r = begin; r < end; ++r) {
      const kernels::ce_row_result res = kernels::ce_fast_row(p, r, pass1, pass2);
      if (res.flags != 0 && !p.unchecked) {
        if (part.bad.row == kNone) part.bad = {r, res.flags};
        continue;
      }
      part.ce.add(res.ce);
      if (p.loss != nullptr) p.loss[r] = static_cast<float>(res.ce / unit);
    }
  }
  ce_totals total = parts[0];
  for (std::size_t g = 1; g < groups; ++g) {
    total.ce.merge(parts[g].ce);
    if (total.bad.row == kNone) total.bad = parts[g].bad;
  }
  return total;
}

/// Short rows (at most kernels::kTileMaxCols) of class indices without smoothing, softcap or
/// z_loss, float or double: fixed groups of rows, each group one kernel call.
template <class T>
ce_totals run_rows_tiled(const ce_problem<T>& pb, double unit) {
  const std::size_t rows = pb.logits.rows;
  const std::size_t cols = pb.logits.cols;
  const kernels::ce_index_rows<T> p = index_rows_of(pb, unit);
  const std::size_t per_group = rows_per_group(rows, cols);
  const std::size_t groups = ceil_div(rows, per_group);
  const bool parallel = omp_in_parallel() == 0 && groups > 1;
  std::array<ce_totals, detail::kMaxChunks> parts;
  const auto count = static_cast<std::ptrdiff_t>(groups);
#pragma omp parallel for schedule(static) if (parallel)
  for (std::ptrdiff_t g = 0; g < count; ++g) {
    const std::size_t begin = static_cast<std::size_t>(g) * per_group;
    const kernels::ce_fast_totals t =
        kernels::ce_tile_rows_run(p, begin, std::min(rows, begin + per_group));
    parts[g].ce = t.ce;
    if (t.bad_row != SIZE_MAX) parts[g].bad = {t.bad_row, t.bad_flags};
  }
  ce_totals total = parts[0];
  for (std::size_t g = 1; g < groups; ++g) {
    total.ce.merge(parts[g].ce);
    if (total.bad.row == kNone) total.bad = parts[g].bad;
  }
  return total;
}

/// Throws the error of a row whose checks failed, naming the first bad value.
template <class T>
[[noreturn]] void throw_bad_row(const ce_problem<T>& pb, bad_row bad) {
  const std::size_t cols = pb.logits.cols;
  const auto row = pb.logits.row(bad.row);
  const double cap = pb.opt->softcap;
  for (std::size_t j = 0; j < cols; ++j) {
    const double x = row[j];
    if (std::isnan(x)) {
      throw invalid_distribution(element_name("logits", bad.row, j, x) + " is not a number");
    }
    if (softcapped(x, cap) == kInf) {
      throw invalid_distribution(element_name("logits", bad.row, j, x) +
                                 ": a logit of +inf has no softmax (-inf masks a class)");
    }
  }
  const detail::arg_name arg{"target", bad.row};
  const std::span<const T> p(pb.probs + bad.row * cols, cols);
  detail::check_values(p, arg);
  dd sum;
  for (const T v : p) sum.add(v);
  const double tolerance = sum_tolerance<T>(cols);
  throw invalid_distribution(arg.str() + " sums to " + format_value(sum.value()) +
                             ", not 1 (|sum - 1| = " + format_value(std::fabs(sum.value() - 1.0)) +
                             " exceeds the tolerance " + format_value(tolerance) + " for " +
                             count_of(cols, sizeof(T) == 4 ? "float" : "double") +
                             "): probability targets must be distributions");
}

template <class T>
void check_ce_options(const cross_entropy_options<T>& opt, std::size_t cols) {
  if (opt.reduce == reduction::batchmean) {
    throw invalid_option(
        "reduction batchmean applies to kl_div_loss only; cross_entropy_loss takes none, mean "
        "or sum");
  }
  if (opt.reduce != reduction::none && opt.reduce != reduction::mean &&
      opt.reduce != reduction::sum) {
    throw invalid_option("reduction " + std::to_string(static_cast<int>(opt.reduce)) +
                         " is unknown: use none, mean or sum");
  }
  if (!(opt.label_smoothing >= 0.0 && opt.label_smoothing <= 1.0)) {
    throw invalid_option("label_smoothing = " + format_value(opt.label_smoothing) +
                         " is outside [0, 1]");
  }
  if (!(opt.z_loss >= 0.0 && opt.z_loss < kInf)) {
    throw invalid_option("z_loss = " + format_value(opt.z_loss) + " must be finite and >= 0");
  }
  if (!(opt.softcap >= 0.0 && opt.softcap < kInf)) {
    throw invalid_option("softcap = " + format_value(opt.softcap) +
                         " must be 0 (off) or finite and > 0");
  }
  if (!opt.weight.empty() && opt.weight.size() != cols) {
    throw shape_mismatch("weight has " + count_of(opt.weight.size(), "element") + " for " +
                         count_of(cols, "class") + ": it needs one per class (or none)");
  }
  if (!opt.unchecked) check_weights(opt.weight, "weight");
}

template <class T>
void cross_entropy_impl(matrix_view<T> logits, std::span<const std::int64_t> target, const T* probs,
                        std::span<const T> probs_span, const cross_entropy_options<T>& opt,
                        loss_outputs<T> out) {
  const std::size_t rows = logits.rows;
  const std::size_t cols = logits.cols;
  check_ce_options(opt, cols);
  if (rows > 0 && cols == 0) {
    throw shape_mismatch("logits are " + shape_of(rows, cols) +
                         ": cross entropy needs at least one class");
  }
  check_outputs(out, opt.reduce, rows, "row", rows * cols, "logits (" + shape_of(rows, cols) + ")");
  if (!out.lse.empty() && out.lse.size() != rows) {
    throw shape_mismatch("lse has " + count_of(out.lse.size(), "element") + " for " +
                         count_of(rows, "row") + ": it needs one per row (or none)");
  }
  check_grad_buffer(out.grad, logits.data, "logits");
  check_disjoint(out.grad, probs_span, "target");
  check_disjoint(out.grad, opt.weight, "weight");

  ce_problem<T> pb;
  pb.logits = logits;
  pb.target = target;
  pb.probs = probs;
  pb.opt = &opt;
  pb.out = out;
  pb.slice = slice_length(cols);
  pb.eps_over_c = cols > 0 ? opt.label_smoothing / static_cast<double>(cols) : 0.0;
  dd weight_sum;
  for (const T w : opt.weight) weight_sum.add(w);
  pb.weight_sum = opt.weight.empty() ? static_cast<double>(cols) : weight_sum.value();

  // The denominators of mean: weight of the rows not ignored (and their count) or N.
  double denominator = static_cast<double>(rows);
  double z_denominator = static_cast<double>(rows);
  if (probs == nullptr) {
    if (target.size() != rows) {
      throw shape_mismatch("target has " + count_of(target.size(), "class index") + " for " +
                           count_of(rows, "row") + " of logits: it needs one per row");
    }
    dd weight_of_rows;
    std::size_t kept = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::int64_t t = target[r];
      if (t == opt.ignore_index) continue;
      if (t < 0 || static_cast<std::uint64_t>(t) >= cols) {
        throw invalid_option("target[" + std::to_string(r) + "] = " + std::to_string(t) +
                             " is out of range for " + count_of(cols, "class") +
                             " (and is not ignore_index " + std::to_string(opt.ignore_index) + ")");
      }
      weight_of_rows.add(opt.weight.empty() ? 1.0 : double(opt.weight[t]));
      ++kept;
    }
    denominator = weight_of_rows.value();
    z_denominator = static_cast<double>(kept);
  }
  const double unit = opt.base.ln();
  const bool mean = opt.reduce == reduction::mean;
  // An empty mean (every target ignored, or weight 0) is 0 with gradient 0, not NaN.
  pb.ce_scale = mean ? (denominator > 0.0 ? 1.0 / (denominator * unit) : 0.0) : 1.0 / unit;
  pb.z_scale = mean ? (z_denominator > 0.0 ? 1.0 / (z_denominator * unit) : 0.0) : 1.0 / unit;

  // No z_loss on the fast paths: the target's gradient a (s_t - 1) + z_part may cancel, and
  // then needs the general path's sum of exponentials in double.
  const bool fast =
      probs == nullptr && opt.label_smoothing == 0.0 && opt.softcap == 0.0 && opt.z_loss == 0.0;
  ce_totals total;
  const std::size_t tile_max =
      std::is_same_v<T, float> ? kernels::kTileMaxColsFloat : kernels::kTileMaxCols;
  if (fast && rows > 0 && cols <= tile_max) {
    total = run_rows_tiled(pb, unit);
  } else if constexpr (std::is_same_v<T, float>) {
    total = fast ? run_rows_fast(pb, unit) : run_rows(pb, unit);
  } else {
    total = run_rows(pb, unit);
  }
  if (total.bad.row != kNone) throw_bad_row(pb, total.bad);
  if (opt.reduce == reduction::none) return;
  double ce = total.ce.value();
  double z = total.z.value();
  if (mean) {
    ce = denominator > 0.0 ? ce / denominator : 0.0;
    z = z_denominator > 0.0 ? z / z_denominator : 0.0;
  }
  out.loss[0] = T((ce + z) / unit);
}

template <class T>
void cross_entropy_by_index(matrix_view<T> logits, std::span<const std::int64_t> target,
                            const cross_entropy_options<T>& opt, loss_outputs<T> out) {
  cross_entropy_impl<T>(logits, target, nullptr, {}, opt, out);
}

template <class T>
void cross_entropy_by_probs(matrix_view<T> logits, matrix_view<T> target,
                            const cross_entropy_options<T>& opt, loss_outputs<T> out) {
  if (target.rows != logits.rows || target.cols != logits.cols) {
    throw shape_mismatch("target is " + shape_of(target.rows, target.cols) + " but logits are " +
                         shape_of(logits.rows, logits.cols) + ": they must have the same shape");
  }
  if (opt.ignore_index != cross_entropy_options<T>{}.ignore_index) {
    throw invalid_option("ignore_index = " + std::to_string(opt.ignore_index) +
                         " applies to class-index targets only, not to probability targets (as "
                         "in PyTorch); leave it at -100");
  }
  cross_entropy_impl<T>(logits, {}, target.data.data(), target.data, opt, out);
}

void require_reduced(reduction r, const char* function) {
  if (r == reduction::none) {
    throw invalid_option(std::string("reduction none gives one loss per ") +
                         (std::string(function) == "cross_entropy_loss" ? "row" : "element") +
                         ": call " + function + " with loss_outputs to receive them");
  }
}

template <class T, class Target>
T reduced_cross_entropy(matrix_view<T> logits, Target target, const cross_entropy_options<T>& opt) {
  require_reduced(opt.reduce, "cross_entropy_loss");
  T loss = 0;
  cross_entropy_loss(logits, target, opt, loss_outputs<T>{{&loss, 1}, {}, {}});
  return loss;
}

// ---- kl_div ------------------------------------------------------------------------------

template <class T>
void kl_div_impl(matrix_view<T> input, matrix_view<T> target, const kl_div_options& opt,
                 loss_outputs<T> out) {
  if (target.rows != input.rows || target.cols != input.cols) {
    throw shape_mismatch("target is " + shape_of(target.rows, target.cols) + " but input is " +
                         shape_of(input.rows, input.cols) + ": they must have the same shape");
  }
  const std::size_t n = input.data.size();
  if (opt.reduce != reduction::none && opt.reduce != reduction::mean &&
      opt.reduce != reduction::sum && opt.reduce != reduction::batchmean) {
    throw invalid_option("reduction " + std::to_string(static_cast<int>(opt.reduce)) +
                         " is unknown: use none, mean, sum or batchmean");
  }
  check_outputs(out, opt.reduce, n, "element", n,
                "input (" + shape_of(input.rows, input.cols) + ")");
  if (!out.lse.empty()) throw invalid_option("lse applies to cross_entropy_loss only");
  check_grad_buffer(out.grad, input.data, "input");
  check_disjoint(out.grad, target.data, "target");

  double divisor = 1.0;
  if (opt.reduce == reduction::mean) divisor = static_cast<double>(n);
  if (opt.reduce == reduction::batchmean) divisor = static_cast<double>(input.rows);
  const double scale = divisor > 0.0 ? 1.0 / divisor : 0.0;
  T* loss = opt.reduce == reduction::none ? out.loss.data() : nullptr;
  T* grad = out.grad.empty() ? nullptr : out.grad.data();
  const T* x = input.data.data();
  const T* t = target.data.data();
  const loss_partial total =
      reduce_loss_chunks(n, detail::kMinChunk, [&](std::size_t begin, std::size_t count) {
        return kernels::kl_div(x + begin, t + begin, count, opt.log_target,
                               loss != nullptr ? loss + begin : nullptr,
                               grad != nullptr ? grad + begin : nullptr, scale);
      });
  if (!opt.unchecked && total.flags != 0U) {
    const std::size_t cols = std::max<std::size_t>(input.cols, 1);
    for (std::size_t i = 0; i < n; ++i) {
      const double xi = input.data[i];
      if (std::isnan(xi) || xi == kInf) {
        throw invalid_distribution(
            element_name("input", i / cols, i % cols, xi) +
            (std::isnan(xi) ? " is not a number" : " is +inf: input holds log q <= 0"));
      }
      const double ti = target.data[i];
      const std::string where = element_name("target", i / cols, i % cols, ti);
      if (std::isnan(ti)) throw invalid_distribution(where + " is not a number");
      if (opt.log_target && ti == kInf) {
        throw invalid_distribution(where + " is +inf: a log probability is <= 0");
      }
      if (!opt.log_target && std::isinf(ti)) throw invalid_distribution(where + " is not finite");
      if (!opt.log_target && ti < 0) {
        throw invalid_distribution(where + " is negative: a probability cannot be");
      }
    }
  }
  if (opt.reduce == reduction::none) return;
  const double sum = total.value();
  out.loss[0] = T(divisor > 0.0 ? sum / divisor : 0.0);
}

// ---- binary cross entropy with logits --------------------------------------------------

template <class T>
void bce_impl(matrix_view<T> logits, matrix_view<T> target, const bce_options<T>& opt,
              loss_outputs<T> out) {
  const std::size_t rows = logits.rows;
  const std::size_t cols = logits.cols;
  const std::size_t n = logits.data.size();
  if (target.rows != rows || target.cols != cols) {
    throw shape_mismatch("target is " + shape_of(target.rows, target.cols) + " but logits are " +
                         shape_of(rows, cols) + ": they must have the same shape");
  }
  if (opt.reduce != reduction::none && opt.reduce != reduction::mean &&
      opt.reduce != reduction::sum) {
    throw invalid_option("reduction " + std::string(reduction_name(opt.reduce)) +
                         " is not one of binary_cross_entropy_with_logits's: use none, mean or "
                         "sum");
  }
  const std::size_t nw = opt.weight.size();
  if (nw != 0 && nw != 1 && nw != cols && nw != n) {
    throw shape_mismatch("weight has " + count_of(nw, "element") + " for logits of " +
                         shape_of(rows, cols) + ": it needs 1, " + std::to_string(cols) +
                         " (one per column) or " + std::to_string(n) + " (one per element)");
  }
  const std::size_t npw = opt.pos_weight.size();
  if (npw != 0 && npw != 1 && npw != cols) {
    throw shape_mismatch("pos_weight has " + count_of(npw, "element") + " for logits of " +
                         shape_of(rows, cols) + ": it needs 1 or " + std::to_string(cols) +
                         " (one per column)");
  }
  check_outputs(out, opt.reduce, n, "element", n, "logits (" + shape_of(rows, cols) + ")");
  if (!out.lse.empty()) throw invalid_option("lse applies to cross_entropy_loss only");
  check_grad_buffer(out.grad, logits.data, "logits");
  check_disjoint(out.grad, target.data, "target");
  check_disjoint(out.grad, opt.weight, "weight");
  check_disjoint(out.grad, opt.pos_weight, "pos_weight");

  const double divisor = opt.reduce == reduction::mean ? static_cast<double>(n) : 1.0;
  const double scale = divisor > 0.0 ? 1.0 / divisor : 0.0;
  T* loss = opt.reduce == reduction::none ? out.loss.data() : nullptr;
  T* grad = out.grad.empty() ? nullptr : out.grad.data();
  // Weights per column (with more than one row) repeat every row: the kernel runs per row.
  const bool per_column_weight = nw == cols && nw != n && nw > 1;
  const bool per_column_pos = npw == cols && npw > 1;
  const bool by_rows = (per_column_weight || per_column_pos) && rows > 1;

  const auto slice_at = [&](std::size_t begin, std::size_t count) {
    kernels::bce_slice<T> s;
    s.logits = logits.data.data() + begin;
    s.target = target.data.data() + begin;
    s.n = count;
    if (nw != 0) {
      s.weight_broadcast = nw == 1;
      s.weight = opt.weight.data() + (nw == 1 ? 0 : nw == n ? begin : begin % cols);
    }
    if (npw != 0) {
      s.pos_weight_broadcast = npw == 1;
      s.pos_weight = opt.pos_weight.data() + (npw == 1 ? 0 : begin % cols);
    }
    return kernels::bce(s, loss != nullptr ? loss + begin : nullptr,
                        grad != nullptr ? grad + begin : nullptr, scale);
  };
  loss_partial total;
  if (by_rows) {
    total = reduce_loss_chunks(rows, ceil_div(detail::kMinChunk, cols),
                               [&](std::size_t first, std::size_t count) {
                                 loss_partial part;
                                 for (std::size_t r = first; r < first + count; ++r) {
                                   part.merge(slice_at(r * cols, cols));
                                 }
                                 return part;
                               });
  } else {
    total = reduce_loss_chunks(n, detail::kMinChunk, slice_at);
  }
  if (!opt.unchecked && total.flags != 0U) {
    const std::size_t c = std::max<std::size_t>(cols, 1);
    for (std::size_t i = 0; i < n; ++i) {
      const double x = logits.data[i];
      if (std::isnan(x)) {
        throw invalid_distribution(element_name("logits", i / c, i % c, x) + " is not a number");
      }
      const double y = target.data[i];
      if (!(y >= 0.0 && y <= 1.0)) {
        throw invalid_distribution(element_name("target", i / c, i % c, y) +
                                   " is outside [0, 1]: not a probability");
      }
    }
    check_weights(opt.weight, "weight");
    check_weights(opt.pos_weight, "pos_weight");
  }
  if (opt.reduce == reduction::none) return;
  const double sum = total.value();
  out.loss[0] = T(divisor > 0.0 ? sum / divisor : 0.0);
}

}  // namespace

// ---- public functions ---------------------------------------------------------------------

double cross_entropy_loss(std::span<const double> q, std::size_t target_class, const options& opt) {
  return one_hot_loss(q, target_class, opt);
}
float cross_entropy_loss(std::span<const float> q, std::size_t target_class, const options& opt) {
  return static_cast<float>(one_hot_loss(q, target_class, opt));
}

std::string_view reduction_name(reduction r) {
  switch (r) {
    case reduction::none:
      return "none";
    case reduction::mean:
      return "mean";
    case reduction::sum:
      return "sum";
    case reduction::batchmean:
      return "batchmean";
  }
  return "unknown";
}

reduction parse_reduction(std::string_view name) {
  for (const reduction r :
       {reduction::none, reduction::mean, reduction::sum, reduction::batchmean}) {
    if (reduction_name(r) == name) return r;
  }
  throw invalid_option("reduction '" + std::string(name) +
                       "' is unknown: use none, mean, sum or batchmean");
}

void cross_entropy_loss(matrix_view<float> logits, std::span<const std::int64_t> target,
                        const cross_entropy_options<float>& opt, loss_outputs<float> out) {
  cross_entropy_by_index(logits, target, opt, out);
}
void cross_entropy_loss(matrix_view<double> logits, std::span<const std::int64_t> target,
                        const cross_entropy_options<double>& opt, loss_outputs<double> out) {
  cross_entropy_by_index(logits, target, opt, out);
}
void cross_entropy_loss(matrix_view<float> logits, matrix_view<float> target_probs,
                        const cross_entropy_options<float>& opt, loss_outputs<float> out) {
  cross_entropy_by_probs(logits, target_probs, opt, out);
}
void cross_entropy_loss(matrix_view<double> logits, matrix_view<double> target_probs,
                        const cross_entropy_options<double>& opt, loss_outputs<double> out) {
  cross_entropy_by_probs(logits, target_probs, opt, out);
}

float cross_entropy_loss(matrix_view<float> logits, std::span<const std::int64_t> target,
                         const cross_entropy_options<float>& opt) {
  return reduced_cross_entropy(logits, target, opt);
}
double cross_entropy_loss(matrix_view<double> logits, std::span<const std::int64_t> target,
                          const cross_entropy_options<double>& opt) {
  return reduced_cross_entropy(logits, target, opt);
}
float cross_entropy_loss(matrix_view<float> logits, matrix_view<float> target_probs,
                         const cross_entropy_options<float>& opt) {
  return reduced_cross_entropy(logits, target_probs, opt);
}
double cross_entropy_loss(matrix_view<double> logits, matrix_view<double> target_probs,
                          const cross_entropy_options<double>& opt) {
  return reduced_cross_entropy(logits, target_probs, opt);
}

void cross_entropy_loss_in_place(std::span<float> logits_and_grad, std::size_t rows,
                                 std::size_t cols, std::span<const std::int64_t> target,
                                 const cross_entropy_options<float>& opt, std::span<float> loss,
                                 std::span<float> lse) {
  cross_entropy_by_index(matrix_view<float>(logits_and_grad, rows, cols), target, opt,
                         {loss, logits_and_grad, lse});
}
void cross_entropy_loss_in_place(std::span<double> logits_and_grad, std::size_t rows,
                                 std::size_t cols, std::span<const std::int64_t> target,
                                 const cross_entropy_options<double>& opt, std::span<double> loss,
                                 std::span<double> lse) {
  cross_entropy_by_index(matrix_view<double>(logits_and_grad, rows, cols), target, opt,
                         {loss, logits_and_grad, lse});
}
void cross_entropy_loss_in_place(std::span<float> logits_and_grad, std::size_t rows,
                                 std::size_t cols, matrix_view<float> target_probs,
                                 const cross_entropy_options<float>& opt, std::span<float> loss,
                                 std::span<float> lse) {
  cross_entropy_by_probs(matrix_view<float>(logits_and_grad, rows, cols), target_probs, opt,
                         {loss, logits_and_grad, lse});
}
void cross_entropy_loss_in_place(std::span<double> logits_and_grad, std::size_t rows,
                                 std::size_t cols, matrix_view<double> target_probs,
                                 const cross_entropy_options<double>& opt, std::span<double> loss,
                                 std::span<double> lse) {
  cross_entropy_by_probs(matrix_view<double>(logits_and_grad, rows, cols), target_probs, opt,
                         {loss, logits_and_grad, lse});
}

void kl_div_loss(matrix_view<float> input, matrix_view<float> target, const kl_div_options& opt,
                 loss_outputs<float> out) {
  kl_div_impl(input, target, opt, out);
}
void kl_div_loss(matrix_view<double> input, matrix_view<double> target, const kl_div_options& opt,
                 loss_outputs<double> out) {
  kl_div_impl(input, target, opt, out);
}
float kl_div_loss(matrix_view<float> input, matrix_view<float> target, const kl_div_options& opt) {
  require_reduced(opt.reduce, "kl_div_loss");
  float loss = 0;
  kl_div_impl(input, target, opt, loss_outputs<float>{{&loss, 1}, {}, {}});
  return loss;
}
double kl_div_loss(matrix_view<double> input, matrix_view<double> target,
                   const kl_div_options& opt) {
  require_reduced(opt.reduce, "kl_div_loss");
  double loss = 0;
  kl_div_impl(input, target, opt, loss_outputs<double>{{&loss, 1}, {}, {}});
  return loss;
}

void binary_cross_entropy_with_logits(matrix_view<float> logits, matrix_view<float> target,
                                      const bce_options<float>& opt, loss_outputs<float> out) {
  bce_impl(logits, target, opt, out);
}
void binary_cross_entropy_with_logits(matrix_view<double> logits, matrix_view<double> target,
                                      const bce_options<double>& opt, loss_outputs<double> out) {
  bce_impl(logits, target, opt, out);
}
float binary_cross_entropy_with_logits(matrix_view<float> logits, matrix_view<float> target,
                                       const bce_options<float>& opt) {
  require_reduced(opt.reduce, "binary_cross_entropy_with_logits");
  float loss = 0;
  bce_impl(logits, target, opt, loss_outputs<float>{{&loss, 1}, {}, {}});
  return loss;
}
double binary_cross_entropy_with_logits(matrix_view<double> logits, matrix_view<double> target,
                                        const bce_options<double>& opt) {
  require_reduced(opt.reduce, "binary_cross_entropy_with_logits");
  double loss = 0;
  bce_impl(logits, target, opt, loss_outputs<double>{{&loss, 1}, {}, {}});
  return loss;
}

}  // namespace shannon
