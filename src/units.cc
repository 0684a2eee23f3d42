#include "shannon/units.h"

#include <charconv>
#include <cmath>
#include <string>

#include "shannon/error.h"

namespace shannon {

namespace {

std::string shortest(double x) {
  if (std::isnan(x)) return "nan";
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(x);
}

}  // namespace

log_base::log_base(double b) {
  if (!(b > 1.0) || !std::isfinite(b)) {
    throw invalid_option("base = " + shortest(b) +
                         " is not a valid logarithm base: it must be a finite number > 1");
  }
  if (b == 2.0) {
    *this = bits;
  } else if (b == 10.0) {
    *this = hartleys;
  } else if (b == nats.value()) {
    *this = nats;
  } else {
    b_ = b;
    ln_b_ = std::log(b);
  }
}

log_base log_base::parse(std::string_view text) {
  if (text == "bits" || text == "bit" || text == "2") return bits;
  if (text == "nats" || text == "nat" || text == "e") return nats;
  if (text == "hartleys" || text == "hartley" || text == "bans" || text == "10") return hartleys;
  double b = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, b);
  if (ec != std::errc() || ptr != end || text.empty()) {
    throw invalid_option("base '" + std::string(text) +
                         "' is not a number > 1 or one of bits, nats, hartleys, e");
  }
  return log_base(b);
}

std::string log_base::unit_name() const {
  if (*this == bits) return "bits";
  if (*this == nats) return "nats";
  if (*this == hartleys) return "hartleys";
  return "base-" + shortest(b_) + " units";
}

}  // namespace shannon
