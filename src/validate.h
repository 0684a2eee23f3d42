// Validation of probability vectors: the messages name the argument, the
// index and the value.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace shannon::detail {

/// "p", or "p[3]" for row 3 of a matrix argument.
struct arg_name {
  std::string_view name;
  std::optional<std::size_t> row;

  [[nodiscard]] std::string str() const;
};

/// The shortest text that reads back as x ("0.1", "-1e-300", "nan", "inf").
std::string format_value(double x);

/// Throws invalid_distribution when n == 0.
void check_not_empty(std::size_t n, arg_name arg);

/// Throws shape_mismatch when p and q differ in length.
void check_same_length(std::size_t np, std::size_t nq);

/// Throws invalid_distribution naming the first element that is NaN, infinite or negative
/// (or greater than 1 when at_most_one, after division by divisor); returns if there is none.
template <class T>
void check_values(std::span<const T> p, arg_name arg, bool at_most_one = false,
                  double divisor = 1.0);

/// Throws invalid_distribution unless |sum - 1| <= sum_tolerance<T>(n).
template <class T>
void check_sum(double sum, std::size_t n, arg_name arg);

/// Throws invalid_distribution when a sum cannot divide the values (0 or not finite).
void check_divisor(double sum, arg_name arg);

}  // namespace shannon::detail
