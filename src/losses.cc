#include "shannon/losses.h"

#include <cmath>
#include <limits>
#include <string>

#include "kernels/kernels.h"
#include "validate.h"

namespace shannon {
namespace {

template <class T>
double one_hot_loss(std::span<const T> q, std::size_t target_class, const options& opt) {
  const detail::arg_name arg{"q", std::nullopt};
  detail::check_not_empty(q.size(), arg);
  if (target_class >= q.size()) {
    throw invalid_option("target class " + std::to_string(target_class) +
                         " is out of range for " + std::to_string(q.size()) + " classes");
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

}  // namespace

double cross_entropy_loss(std::span<const double> q, std::size_t target_class,
                          const options& opt) {
  return one_hot_loss(q, target_class, opt);
}
float cross_entropy_loss(std::span<const float> q, std::size_t target_class, const options& opt) {
  return static_cast<float>(one_hot_loss(q, target_class, opt));
}

}  // namespace shannon
