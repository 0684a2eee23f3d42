// The four measures of the seed: information, entropy, cross entropy and KL
// divergence, for float and double inputs, in any base.
//
// Precision contract (docs/numerics.md): every result is within a relative
// error of 1e-12 (double inputs) or 1e-6 (float inputs) of the exact value of
// the inputs as given, for every length, for distributions that are nearly
// identical and for tiny or subnormal probabilities. Conventions: 0 log 0 = 0;
// information(0) = +inf; a q_i = 0 where p_i > 0 gives +inf.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shannon/error.h"
#include "shannon/units.h"

namespace shannon {

/// How the measures read their inputs and in which unit they answer.
struct options {
  /// The unit of the result; bits unless chosen otherwise.
  log_base base = bits;
  /// Divide each input by its sum first (counts or weights), as scipy.stats.entropy does.
  bool normalize = false;
  /// Skip validation: the caller promises valid probability vectors.
  bool unchecked = false;
};

/// A read-only row-major matrix; the row-wise overloads answer one value per row.
template <class T>
struct matrix_view {
  std::span<const T> data;
  std::size_t rows = 0;
  std::size_t cols = 0;

  matrix_view() = default;
  /// Throws shape_mismatch unless data.size() == rows * cols.
  matrix_view(std::span<const T> d, std::size_t r, std::size_t c) : data(d), rows(r), cols(c) {
    if (r * c != d.size() || (c != 0 && r != d.size() / c)) {
      throw shape_mismatch("matrix of " + std::to_string(r) + " x " + std::to_string(c) +
                           " needs " + std::to_string(r * c) + " values, got " +
                           std::to_string(d.size()));
    }
  }
  [[nodiscard]] std::span<const T> row(std::size_t i) const { return data.subspan(i * cols, cols); }
};

/// The tolerance on |sum(p) - 1| that validation allows: 32 eps(T) sqrt(n).
template <class T>
double sum_tolerance(std::size_t n);

// ---- information I(p) = -log_b p ---------------------------------------------

/// -log_b p for one probability p in [0, 1], error <= 1 ulp; information(0) = +inf.
double information(double p, log_base base = bits);

/// Element-wise -log_b p_i of probabilities in [0, 1] (p need not sum to 1), error <= 2 ulp; 0
/// gives +inf.
void information(std::span<const double> p, std::span<double> out, const options& opt = {});
void information(std::span<const float> p, std::span<float> out, const options& opt = {});
std::vector<double> information(std::span<const double> p, const options& opt = {});
std::vector<float> information(std::span<const float> p, const options& opt = {});

// ---- entropy H(p) = -sum p_i log_b p_i ---------------------------------------

/// Shannon entropy of a probability vector, 0 log 0 = 0; relative error <= 1e-12 (double), 1e-6
/// (float).
double entropy(std::span<const double> p, const options& opt = {});
float entropy(std::span<const float> p, const options& opt = {});
/// Entropy of each row; out has one element per row.
void entropy(matrix_view<double> p, std::span<double> out, const options& opt = {});
void entropy(matrix_view<float> p, std::span<float> out, const options& opt = {});
std::vector<double> entropy(matrix_view<double> p, const options& opt = {});
std::vector<float> entropy(matrix_view<float> p, const options& opt = {});

// ---- cross entropy H(p, q) = -sum p_i log_b q_i --------------------------------

/// Cross entropy of truth p and prediction q; +inf when some p_i > 0 has q_i = 0; error as entropy.
double cross_entropy(std::span<const double> p, std::span<const double> q, const options& opt = {});
float cross_entropy(std::span<const float> p, std::span<const float> q, const options& opt = {});
/// Cross entropy of each row pair; p and q have the same shape.
void cross_entropy(matrix_view<double> p, matrix_view<double> q, std::span<double> out,
                   const options& opt = {});
void cross_entropy(matrix_view<float> p, matrix_view<float> q, std::span<float> out,
                   const options& opt = {});
std::vector<double> cross_entropy(matrix_view<double> p, matrix_view<double> q,
                                  const options& opt = {});
std::vector<float> cross_entropy(matrix_view<float> p, matrix_view<float> q,
                                 const options& opt = {});

// ---- KL divergence D(p || q) = sum p_i log_b (p_i / q_i) ------------------------

/// Relative entropy, summed directly without cancellation: exactly 0 when p == q,
/// relative error <= 1e-12 (double) / 1e-6 (float) even when D is 1e-10 or smaller;
/// +inf when some p_i > 0 has q_i = 0.
double kl_divergence(std::span<const double> p, std::span<const double> q, const options& opt = {});
float kl_divergence(std::span<const float> p, std::span<const float> q, const options& opt = {});
/// KL divergence of each row pair.
void kl_divergence(matrix_view<double> p, matrix_view<double> q, std::span<double> out,
                   const options& opt = {});
void kl_divergence(matrix_view<float> p, matrix_view<float> q, std::span<float> out,
                   const options& opt = {});
std::vector<double> kl_divergence(matrix_view<double> p, matrix_view<double> q,
                                  const options& opt = {});
std::vector<float> kl_divergence(matrix_view<float> p, matrix_view<float> q,
                                 const options& opt = {});

// ---- byte entropy: H of the byte values of data -------------------------------

/// Occurrences of each byte value 0..255.
using byte_histogram = std::array<std::uint64_t, 256>;

/// The occurrences of each byte value in data, exact; on all cores for large data.
byte_histogram byte_counts(std::span<const std::byte> data);
/// Adds the occurrences of each byte value in data to counts, for data read in pieces.
void add_byte_counts(std::span<const std::byte> data, byte_histogram& counts);
/// Entropy of the distribution counts_i / sum(counts) from the integers themselves (no
/// normalized copy), relative error <= 4e-15; throws invalid_distribution when the counts
/// are empty, sum to 0 or overflow 64 bits.
double entropy_of_counts(std::span<const std::uint64_t> counts, log_base base = bits);
/// Entropy of the byte values of data, in bits per byte by default (0 to 8):
/// entropy_of_counts(byte_counts(data)); throws invalid_distribution for empty data.
double byte_entropy(std::span<const std::byte> data, log_base base = bits);

}  // namespace shannon
