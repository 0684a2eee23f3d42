// Losses that train classifiers.
#pragma once

#include <cstddef>
#include <span>

#include "shannon/measures.h"

namespace shannon {

/// The seed's cross-entropy loss for a one-hot truth: -log_b q[target_class], the KL
/// divergence D(p||q) = H(p,q) of the one-hot p; q is validated as a probability vector
/// (or normalized), and q[target_class] = 0 gives +inf. Error <= 1 ulp.
double cross_entropy_loss(std::span<const double> q, std::size_t target_class,
                          const options& opt = {});
float cross_entropy_loss(std::span<const float> q, std::size_t target_class,
                         const options& opt = {});

}  // namespace shannon
