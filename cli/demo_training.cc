// Section 6 of the demo: softmax regression trained with the cross-entropy loss
// and its gradient, on data whose true label distributions are known.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>
#include <vector>

#include "common.h"
#include "demo.h"
#include "shannon/losses.h"
#include "shannon/measures.h"
#include "table.h"

namespace shannon::cli {
namespace {

constexpr std::size_t kSamples = 4000;
constexpr std::size_t kFeatures = 2;
constexpr std::size_t kClasses = 3;
constexpr std::array<std::size_t, 10> kReportedSteps = {0, 1, 2, 3, 5, 10, 20, 50, 100, 300};
constexpr double kLearningRate = 0.3;

/// A uniform number in [0, 1) from 53 bits of the generator, the same on every platform.
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-53; }

/// A standard normal number (Box-Muller), platform-independent unlike std::normal_distribution.
double normal(std::mt19937_64& rng) {
  const double u = 1.0 - uniform(rng);
  return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * uniform(rng));
}

/// Softmax of each row of `logits` [rows, kClasses].
std::vector<double> softmax_rows(const std::vector<double>& logits) {
  std::vector<double> out(logits.size());
  for (std::size_t i = 0; i < logits.size(); i += kClasses) {
    const double top = *std::max_element(logits.begin() + i, logits.begin() + i + kClasses);
    double sum = 0;
    for (std::size_t c = 0; c < kClasses; ++c) sum += out[i + c] = std::exp(logits[i + c] - top);
    for (std::size_t c = 0; c < kClasses; ++c) out[i + c] /= sum;
  }
  return out;
}

/// x W^T + b for x [kSamples, kFeatures], W [kClasses, kFeatures], b [kClasses].
std::vector<double> linear(const std::vector<double>& x, const std::vector<double>& w,
                           const std::vector<double>& b) {
  std::vector<double> out(kSamples * kClasses);
  for (std::size_t i = 0; i < kSamples; ++i) {
    for (std::size_t c = 0; c < kClasses; ++c) {
      double z = b[c];
      for (std::size_t f = 0; f < kFeatures; ++f) z += x[i * kFeatures + f] * w[c * kFeatures + f];
      out[i * kClasses + c] = z;
    }
  }
  return out;
}

struct data_set {
  std::vector<double> x;
  std::vector<std::int64_t> y;
  std::vector<double> true_probs;  // p(y | x) of the model that drew the labels
};

/// Points around the origin whose labels are drawn from a known softmax model, so
/// the labels keep some uncertainty even when the features are known.
data_set make_data() {
  const std::vector<double> true_w = {2.0, 0.0, -1.0, 1.7, -1.0, -1.7};
  const std::vector<double> true_b = {0.0, 0.3, -0.3};
  std::mt19937_64 rng(20241210);
  data_set data;
  data.x.resize(kSamples * kFeatures);
  for (double& v : data.x) v = 1.2 * normal(rng);
  data.true_probs = softmax_rows(linear(data.x, true_w, true_b));
  for (std::size_t i = 0; i < kSamples; ++i) {
    double u = uniform(rng);
    std::size_t c = 0;
    while (c + 1 < kClasses && u >= data.true_probs[i * kClasses + c]) {
      u -= data.true_probs[i * kClasses + c];
      ++c;
    }
    data.y.push_back(static_cast<std::int64_t>(c));
  }
  return data;
}

double accuracy(const std::vector<double>& logits, const std::vector<std::int64_t>& y) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < kSamples; ++i) {
    const auto row = logits.begin() + static_cast<std::ptrdiff_t>(i * kClasses);
    right += static_cast<std::int64_t>(std::max_element(row, row + kClasses) - row) == y[i];
  }
  return static_cast<double>(right) / kSamples;
}

}  // namespace

void demo_training(const demo_context& ctx) {
  fmt::print("\n6. Training a classifier with the cross-entropy loss\n{}\n", std::string(52, '='));
  const data_set data = make_data();
  const matrix_view<double> truth(data.true_probs, kSamples, kClasses);
  const std::vector<double> row_entropy = entropy(truth, ctx.opt);
  double conditional = 0;
  for (const double h : row_entropy) conditional += h / kSamples;
  std::array<double, kClasses> counts{};
  for (const std::int64_t c : data.y) counts[static_cast<std::size_t>(c)] += 1;
  const double label_entropy = entropy(std::span<const double>(counts), {ctx.opt.base, true});

  fmt::print(
      "{} points in the plane, each labelled with one of {} classes drawn from a known\n"
      "distribution p(y|x): even knowing x, a label keeps H(Y|X) = {} {} of uncertainty\n"
      "on average (the mean entropy of the rows of p(y|x)); without x it has H(Y) = {} {}.\n"
      "A softmax regression q = softmax(W x + b) starts at W = 0, b = 0 (q uniform) and\n"
      "follows the gradient of the mean loss H(p,q) = -{} q_y, which the library returns\n"
      "with the loss: d loss / d logits = (softmax - one-hot) / N.\n",
      kSamples, kClasses, format_fixed(conditional, 4), ctx.unit, format_fixed(label_entropy, 4),
      ctx.unit, ctx.log);

  std::vector<double> w(kClasses * kFeatures, 0.0);
  std::vector<double> b(kClasses, 0.0);
  cross_entropy_options<double> opt;
  opt.base = ctx.opt.base;
  std::vector<double> loss(1);
  std::vector<double> grad(kSamples * kClasses);
  text_table table({"step", fmt::format("loss [{}]", ctx.unit), "loss - H(Y|X)", "accuracy"});
  for (std::size_t step = 0; step <= kReportedSteps.back(); ++step) {
    const std::vector<double> logits = linear(data.x, w, b);
    cross_entropy_loss(matrix_view<double>(logits, kSamples, kClasses),
                       std::span<const std::int64_t>(data.y), opt, {loss, grad, {}});
    if (std::find(kReportedSteps.begin(), kReportedSteps.end(), step) != kReportedSteps.end()) {
      table.add_row({std::to_string(step), format_fixed(loss[0], 4),
                     format_fixed(loss[0] - conditional, 4),
                     format_fixed(100 * accuracy(logits, data.y), 1) + " %"});
    }
    for (std::size_t i = 0; i < kSamples; ++i) {
      for (std::size_t c = 0; c < kClasses; ++c) {
        const double g = grad[i * kClasses + c];
        b[c] -= kLearningRate * g;
        for (std::size_t f = 0; f < kFeatures; ++f) {
          w[c * kFeatures + f] -= kLearningRate * g * data.x[i * kFeatures + f];
        }
      }
    }
  }
  fmt::print("\n{}\n", table.render());
  // The true model's own loss on these points: the floor the training loss approaches.
  double true_loss = 0;
  std::size_t bayes_right = 0;
  for (std::size_t i = 0; i < kSamples; ++i) {
    const std::span<const double> row = truth.row(i);
    const auto y = static_cast<std::size_t>(data.y[i]);
    true_loss += cross_entropy_loss(row, y, {ctx.opt.base, false, true}) / kSamples;
    bayes_right +=
        static_cast<std::size_t>(std::max_element(row.begin(), row.end()) - row.begin()) == y;
  }
  fmt::print(
      "The loss falls from {} 3 (the uniform guess) toward H(Y|X) = {} {}, the entropy\n"
      "the labels keep once x is known, which no model of x can remove. On these very\n"
      "points the true p(y|x) itself scores {} {} and is right {} % of the time: the\n"
      "trained model gets as close (a little closer, having fitted this sample).\n",
      ctx.log, format_fixed(conditional, 4), ctx.unit, format_fixed(true_loss, 4), ctx.unit,
      format_fixed(100.0 * static_cast<double>(bayes_right) / kSamples, 1));
}

}  // namespace shannon::cli
