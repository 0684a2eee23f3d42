// `shannon loss --logits X --target T`: the batched cross-entropy loss of logits.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common.h"

namespace shannon::cli {

/// The options of the logits mode of `loss`; empty strings are options not given.
struct logits_loss_settings {
  std::string logits;
  std::string weight;
  std::string reduction = "mean";
  std::string grad_out;
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  double z_loss = 0.0;
  double softcap = 0.0;
};

/// Adds --logits, --weight, --ignore-index, --reduction, --label-smoothing, --z-loss,
/// --softcap and --grad-out to `cmd`.
void add_logits_options(CLI::App& cmd, logits_loss_settings& s);

/// Computes the loss of s.logits against `target` (class indices, 1-D, or probabilities,
/// 2-D), prints it, and writes the gradient to s.grad_out when given. The base defaults
/// to nats, as in PyTorch, unless `base_given`.
void run_logits_loss(const logits_loss_settings& s, const std::string& target,
                     const common_settings& common, bool base_given);

}  // namespace shannon::cli
