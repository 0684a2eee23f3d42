// `shannon demo`: the tutorial's examples, one function per section, every number
// computed by the library.
#pragma once

#include <string>

#include "shannon/measures.h"
#include "shannon/units.h"

namespace shannon::cli {

/// What every demo section needs: the library options and how to name the unit.
struct demo_context {
  options opt;
  std::string unit;
  std::string log;
};

/// Section 1: information of events and its additivity for independent events.
void demo_information(const demo_context& ctx);

/// Section 2: entropy of coins and four-event systems, uniform against concentrated.
void demo_entropy(const demo_context& ctx);

/// Section 3: cross entropy of one truth against several predictions, and Gibbs' inequality.
void demo_cross_entropy(const demo_context& ctx);

/// Section 4: KL divergence as H(p,q) - H(p), and its asymmetry.
void demo_kl_divergence(const demo_context& ctx);

/// Section 5: the cross-entropy loss of a one-hot truth.
void demo_cross_entropy_loss(const demo_context& ctx);

/// Section 6: softmax regression trained with the loss and its gradient, its loss
/// falling toward the conditional entropy of the labels.
void demo_training(const demo_context& ctx);

/// Prints every section in order, in unit `base`.
void run_demo(const log_base& base);

}  // namespace shannon::cli
