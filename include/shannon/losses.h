// Losses that train classifiers: the cross-entropy loss of logits (with
// PyTorch's semantics and gradient), the KL-divergence loss and the binary
// cross-entropy loss of logits. docs/losses.md states every formula.
//
// Conventions shared by all losses:
// - Inputs are row-major matrices (matrix_view); a row is a sample, a column a class.
// - A call fills a loss_outputs: `loss` takes 1 value (reduction mean, sum or
//   batchmean) or one per row (none; one per element for the element-wise losses);
//   `grad`, when not empty, takes d(loss as reduced)/d(input) in the input's shape.
//   For reduction none it is the gradient of the sum of the unreduced losses, so that
//   autograd multiplies it by the upstream gradient. `grad` may be the input buffer
//   itself (in place); any other overlap with an input is refused.
// - Checked mode (the default) refuses NaN inputs and values outside their domain
//   with a shannon::error naming the argument, the row and the column. Shapes,
//   options and class indices are checked even when unchecked.
// - On error nothing is returned; `grad` (and, in place, the logits) may have been
//   partly overwritten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "shannon/measures.h"
#include "shannon/units.h"

namespace shannon {

/// The seed's cross-entropy loss for a one-hot truth: -log_b q[target_class], the KL
/// divergence D(p||q) = H(p,q) of the one-hot p; q is validated as a probability vector
/// (or normalized), and q[target_class] = 0 gives +inf. Error <= 1 ulp.
double cross_entropy_loss(std::span<const double> q, std::size_t target_class,
                          const options& opt = {});
float cross_entropy_loss(std::span<const float> q, std::size_t target_class,
                         const options& opt = {});

// ---- options and outputs ---------------------------------------------------------

/// How the per-row (or per-element) losses are reduced, as in torch.nn.functional.
enum class reduction {
  none,       ///< one loss per row (cross entropy) or per element (kl_div, BCE)
  mean,       ///< cross entropy: sum / weight of the rows not ignored; others: sum / elements
  sum,        ///< the sum of the losses
  batchmean,  ///< kl_div_loss only: sum / rows
};

/// Parses "none", "mean", "sum" or "batchmean"; throws invalid_option naming the text otherwise.
reduction parse_reduction(std::string_view name);

/// The name parse_reduction reads back: "none", "mean", "sum" or "batchmean".
std::string_view reduction_name(reduction r);

/// Options of cross_entropy_loss; the defaults are PyTorch's.
template <class T>
struct cross_entropy_options {
  /// Class weights, empty (all 1) or one finite weight >= 0 per class.
  std::span<const T> weight;
  /// Class-index targets equal to this are ignored: they add 0 to the loss and the gradient.
  std::int64_t ignore_index = -100;
  /// none, mean or sum (batchmean is refused).
  reduction reduce = reduction::mean;
  /// eps in [0, 1]: the target becomes (1 - eps) target + eps / C (weighted as PyTorch does).
  double label_smoothing = 0.0;
  /// Scale >= 0 of the z-loss scale * lse^2 added per row (PaLM, Liger), unweighted.
  double z_loss = 0.0;
  /// cap > 0: logits become cap * tanh(x / cap) first (Gemma 2), -inf staying -inf; 0 = off.
  double softcap = 0.0;
  /// The unit of the loss (and its gradient): nats like PyTorch unless chosen otherwise.
  log_base base = nats;
  /// Skip the value checks (NaN or +inf logits, target rows that are not distributions).
  bool unchecked = false;
};

/// Where a loss call writes; spans that are empty are not computed.
template <class T>
struct loss_outputs {
  /// 1 value, or one per row (per element for kl_div and BCE) for reduction none; required.
  std::span<T> loss;
  /// d loss / d input in the input's shape, or empty; may be the input buffer itself.
  std::span<T> grad;
  /// cross_entropy_loss only: the natural-log logsumexp of each (softcapped) row, or empty.
  std::span<T> lse;
};

// ---- cross entropy of logits -----------------------------------------------------

/// Cross-entropy loss of logits [N, C] against class indices [N] with PyTorch's semantics
/// (log_softmax then weighted NLL, label smoothing, ignore_index), plus z_loss and softcap;
/// stable for logits of any magnitude and for -inf (masked) classes; loss within 2e-6
/// (float) or 1e-12 (double) relative of the exact value, gradient within a few ulp.
/// Mean divides by the weight of the rows not ignored, and gives 0 (not NaN) when that is 0.
void cross_entropy_loss(matrix_view<float> logits, std::span<const std::int64_t> target,
                        const cross_entropy_options<float>& opt, loss_outputs<float> out);
void cross_entropy_loss(matrix_view<double> logits, std::span<const std::int64_t> target,
                        const cross_entropy_options<double>& opt, loss_outputs<double> out);

/// Cross-entropy loss of logits [N, C] against probability targets [N, C] (soft labels,
/// each row a distribution): weighted -sum_j w_j p_j log_softmax_j; mean divides by N;
/// ignore_index does not apply. Precision as for class indices.
void cross_entropy_loss(matrix_view<float> logits, matrix_view<float> target_probs,
                        const cross_entropy_options<float>& opt, loss_outputs<float> out);
void cross_entropy_loss(matrix_view<double> logits, matrix_view<double> target_probs,
                        const cross_entropy_options<double>& opt, loss_outputs<double> out);

/// The reduced loss alone (reduction mean or sum; none throws invalid_option).
float cross_entropy_loss(matrix_view<float> logits, std::span<const std::int64_t> target,
                         const cross_entropy_options<float>& opt = {});
double cross_entropy_loss(matrix_view<double> logits, std::span<const std::int64_t> target,
                          const cross_entropy_options<double>& opt = {});
float cross_entropy_loss(matrix_view<float> logits, matrix_view<float> target_probs,
                         const cross_entropy_options<float>& opt = {});
double cross_entropy_loss(matrix_view<double> logits, matrix_view<double> target_probs,
                          const cross_entropy_options<double>& opt = {});

/// Loss and gradient in one pass with the gradient written over the logits [rows x cols]
/// (as Liger does): no second N x C buffer. `loss` takes 1 value or `rows` (none).
void cross_entropy_loss_in_place(std::span<float> logits_and_grad, std::size_t rows,
                                 std::size_t cols, std::span<const std::int64_t> target,
                                 const cross_entropy_options<float>& opt, std::span<float> loss,
                                 std::span<float> lse = {});
void cross_entropy_loss_in_place(std::span<double> logits_and_grad, std::size_t rows,
                                 std::size_t cols, std::span<const std::int64_t> target,
                                 const cross_entropy_options<double>& opt, std::span<double> loss,
                                 std::span<double> lse = {});
void cross_entropy_loss_in_place(std::span<float> logits_and_grad, std::size_t rows,
                                 std::size_t cols, matrix_view<float> target_probs,
                                 const cross_entropy_options<float>& opt, std::span<float> loss,
                                 std::span<float> lse = {});
void cross_entropy_loss_in_place(std::span<double> logits_and_grad, std::size_t rows,
                                 std::size_t cols, matrix_view<double> target_probs,
                                 const cross_entropy_options<double>& opt, std::span<double> loss,
                                 std::span<double> lse = {});

// ---- KL divergence loss ------------------------------------------------------------

/// Options of kl_div_loss; the defaults are PyTorch's.
struct kl_div_options {
  /// none, sum, mean (over all elements) or batchmean (over rows).
  reduction reduce = reduction::mean;
  /// The target holds log p rather than p.
  bool log_target = false;
  /// Skip the value checks (NaN, +inf input, negative or infinite p).
  bool unchecked = false;
};

/// PyTorch's kl_div: element-wise p (log p - input) with input = log q (0 where p = 0), or
/// exp(t) (t - input) with log_target; gradient -p (or -exp(t)) times the reduction's scale.
/// A 1-D input of n values is n rows of 1 column (batchmean divides by n, as PyTorch does).
/// Each element is within a few ulp of p (|ln p| + |input|); the mean of nothing is 0.
void kl_div_loss(matrix_view<float> input, matrix_view<float> target, const kl_div_options& opt,
                 loss_outputs<float> out);
void kl_div_loss(matrix_view<double> input, matrix_view<double> target, const kl_div_options& opt,
                 loss_outputs<double> out);
/// The reduced loss alone (reduction none throws invalid_option).
float kl_div_loss(matrix_view<float> input, matrix_view<float> target,
                  const kl_div_options& opt = {});
double kl_div_loss(matrix_view<double> input, matrix_view<double> target,
                   const kl_div_options& opt = {});

// ---- binary cross entropy of logits ----------------------------------------------------

/// Options of binary_cross_entropy_with_logits; the defaults are PyTorch's.
template <class T>
struct bce_options {
  /// Element weights >= 0: empty, 1 (for all), one per column (broadcast over rows) or one
  /// per element.
  std::span<const T> weight;
  /// Weights >= 0 of the positive term: empty, 1 (for all) or one per column (class).
  std::span<const T> pos_weight;
  /// none, mean (over all elements) or sum.
  reduction reduce = reduction::mean;
  /// Skip the value checks (NaN logits, targets outside [0, 1], negative weights).
  bool unchecked = false;
};

/// PyTorch's binary_cross_entropy_with_logits: w [pw y softplus(-x) + (1 - y) softplus(x)]
/// per element, stable for any |x| (including +-inf, where a zero coefficient gives 0);
/// gradient w [(1 - y) sigmoid(x) - pw y sigmoid(-x)] times the reduction's scale.
/// A 1-D input of n values is 1 row of n columns. Relative error per element <= 1e-12
/// (double) or 1e-6 (float).
void binary_cross_entropy_with_logits(matrix_view<float> logits, matrix_view<float> target,
                                      const bce_options<float>& opt, loss_outputs<float> out);
void binary_cross_entropy_with_logits(matrix_view<double> logits, matrix_view<double> target,
                                      const bce_options<double>& opt, loss_outputs<double> out);
/// The reduced loss alone (reduction none throws invalid_option).
float binary_cross_entropy_with_logits(matrix_view<float> logits, matrix_view<float> target,
                                       const bce_options<float>& opt = {});
double binary_cross_entropy_with_logits(matrix_view<double> logits, matrix_view<double> target,
                                        const bce_options<double>& opt = {});

}  // namespace shannon
