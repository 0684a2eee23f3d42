#include "validate.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "shannon/error.h"
#include "shannon/measures.h"

namespace shannon {

template <class T>
double sum_tolerance(std::size_t n) {
  // A normalized vector sums to 1 within the error of the sum that normalized it,
  // which grows like sqrt(n) for rounding errors of random sign.
  const double eps = std::numeric_limits<T>::epsilon();
  return 32.0 * eps * std::sqrt(static_cast<double>(n < 1 ? 1 : n));
}
template double sum_tolerance<float>(std::size_t);
template double sum_tolerance<double>(std::size_t);

namespace detail {

std::string arg_name::str() const {
  return row ? std::string(name) + "[" + std::to_string(*row) + "]" : std::string(name);
}

std::string format_value(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(x);
}

void check_not_empty(std::size_t n, arg_name arg) {
  if (n == 0) {
    throw invalid_distribution(arg.str() +
                               " is empty: a probability vector needs at least one element");
  }
}

void check_same_length(std::size_t np, std::size_t nq) {
  if (np != nq) {
    throw shape_mismatch("p has " + std::to_string(np) + " elements but q has " +
                         std::to_string(nq) + ": they must have the same length");
  }
}

template <class T>
void check_values(std::span<const T> p, arg_name arg, bool at_most_one, double divisor) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double x = p[i];
    const std::string where = arg.str() + "[" + std::to_string(i) + "] = " + format_value(x);
    if (std::isnan(x)) throw invalid_distribution(where + " is not a number");
    if (std::isinf(x)) throw invalid_distribution(where + " is not finite");
    if (x < 0) throw invalid_distribution(where + " is negative");
    if (at_most_one && x / divisor > 1.0) {
      throw invalid_distribution(where + " is greater than 1: not a probability");
    }
  }
}
template void check_values<float>(std::span<const float>, arg_name, bool, double);
template void check_values<double>(std::span<const double>, arg_name, bool, double);

template <class T>
void check_sum(double sum, std::size_t n, arg_name arg) {
  const double tolerance = sum_tolerance<T>(n);
  if (!(std::fabs(sum - 1.0) <= tolerance)) {
    throw invalid_distribution(arg.str() + " sums to " + format_value(sum) +
                               ", not 1 (|sum - 1| = " + format_value(std::fabs(sum - 1.0)) +
                               " exceeds the tolerance " + format_value(tolerance) + " for " +
                               std::to_string(n) + (sizeof(T) == 4 ? " floats" : " doubles") +
                               "); normalize divides by the sum");
  }
}
template void check_sum<float>(double, std::size_t, arg_name);
template void check_sum<double>(double, std::size_t, arg_name);

void check_divisor(double sum, arg_name arg) {
  if (sum == 0.0) throw invalid_distribution(arg.str() + " sums to 0: it cannot be normalized");
  if (!std::isfinite(sum)) {
    throw invalid_distribution(arg.str() + " sums to " + format_value(sum) +
                               ": it cannot be normalized");
  }
}

}  // namespace detail
}  // namespace shannon
