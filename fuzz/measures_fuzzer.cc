// Arbitrary numbers into the measures: a shannon::error or a result that is
// not NaN and respects the measure's sign, never a crash; and the byte entropy
// of the input itself, within [0, 8] bits.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "shannon/shannon.h"

namespace {

template <class T>
void run(const std::uint8_t* data, std::size_t size, std::uint8_t mode) {
  std::vector<T> values(size / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), data, values.size() * sizeof(T));
  const std::size_t half = values.size() / 2;
  const std::span<const T> p(values.data(), half);
  const std::span<const T> q(values.data() + half, half);
  shannon::options opt;
  opt.normalize = (mode & 8U) != 0;
  opt.base = (mode & 16U) != 0 ? shannon::nats : shannon::bits;
  double result = 0;
  switch (mode & 7U) {
    case 0:
      result = shannon::entropy(p, opt);
      break;
    case 1:
      result = shannon::cross_entropy(p, q, opt);
      break;
    case 2:
      result = shannon::kl_divergence(p, q, opt);
      break;
    case 3: {
      for (const T x : shannon::information(p, opt)) {
        if (std::isnan(x)) __builtin_trap();
      }
      return;
    }
    case 4: {
      if (half == 0) return;
      result = shannon::cross_entropy_loss(p, values.size() % half, opt);
      break;
    }
    default: {
      const std::size_t cols = (mode >> 5) + 1U;
      const std::size_t rows = half / cols;
      const shannon::matrix_view<T> mp(p.first(rows * cols), rows, cols);
      const shannon::matrix_view<T> mq(q.first(rows * cols), rows, cols);
      for (const T x : shannon::kl_divergence(mp, mq, opt)) {
        if (std::isnan(x) || x < -8 * shannon::sum_tolerance<T>(cols)) __builtin_trap();
      }
      return;
    }
  }
  // Valid inputs may sum to 1 + tolerance, so a measure may dip below 0 by about that much.
  const double slack = 8 * shannon::sum_tolerance<T>(values.size());
  if (std::isnan(result) || result < -slack) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  try {
    // The bytes themselves: exact counts, an entropy in [0, 8] bits.
    const auto bytes = std::as_bytes(std::span(data + 1, size - 1));
    if (!bytes.empty()) {
      const double h = shannon::byte_entropy(bytes);
      if (!(h >= 0.0 && h <= 8.0 + 1e-14)) __builtin_trap();
    }
    if ((mode & 128U) != 0) {
      run<float>(data + 1, size - 1, mode);
    } else {
      run<double>(data + 1, size - 1, mode);
    }
  } catch (const shannon::error&) {
  }
  return 0;
}
