// Units of information: the base of the logarithm.
#pragma once

#include <string>
#include <string_view>

namespace shannon {

/// A logarithm base b > 1; a result in base b is the result in nats divided by ln b.
class log_base {
 public:
  /// Bits, the default of the measures.
  constexpr log_base() = default;
  /// Any finite b > 1; throws invalid_option otherwise (b <= 1, NaN, inf).
  explicit log_base(double b);

  /// Parses "2", "bits", "e", "nats", "10", "hartleys", "bans" or a number > 1.
  static log_base parse(std::string_view text);

  [[nodiscard]] constexpr double value() const { return b_; }
  /// The natural logarithm of the base, correctly rounded for 2, e and 10.
  [[nodiscard]] constexpr double ln() const { return ln_b_; }
  /// "bits", "nats", "hartleys", or "base-b units" for any other base.
  [[nodiscard]] std::string unit_name() const;

  friend constexpr bool operator==(const log_base& a, const log_base& b) { return a.b_ == b.b_; }

 private:
  constexpr log_base(double b, double ln_b) : b_(b), ln_b_(ln_b) {}
  friend struct log_base_constants;

  double b_ = 2.0;
  double ln_b_ = 0.69314718055994530942;
};

/// The named bases as constants.
struct log_base_constants {
  static constexpr log_base bits{2.0, 0.69314718055994530942};
  static constexpr log_base nats{2.71828182845904523536, 1.0};
  static constexpr log_base hartleys{10.0, 2.30258509299404568402};
};

inline constexpr log_base bits = log_base_constants::bits;
inline constexpr log_base nats = log_base_constants::nats;
inline constexpr log_base hartleys = log_base_constants::hartleys;

}  // namespace shannon
