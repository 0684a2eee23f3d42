// Registration of the shannon subcommands, one function per subcommand.
#pragma once

#include <CLI/CLI.hpp>

#include "common.h"

namespace shannon::cli {

/// Adds `information P`: element-wise -log p_i.
command register_information_command(CLI::App& app);

/// Adds `entropy P`: H(p), one value per row of a 2-D P.
command register_entropy_command(CLI::App& app);

/// Adds `cross-entropy P Q`: H(p,q), one value per row pair of 2-D inputs.
command register_cross_entropy_command(CLI::App& app);

/// Adds `kl P Q`: D(p||q), one value per row pair of 2-D inputs.
command register_kl_command(CLI::App& app);

/// Adds `loss Q --target K`: the one-hot cross-entropy loss -log q_K.
command register_loss_command(CLI::App& app);

/// Adds `explain P Q`: the tutorial's derivation of H(p), H(p,q) and D(p||q) as a table.
command register_explain_command(CLI::App& app);

/// Adds `demo`: the tutorial's examples computed by the library.
command register_demo_command(CLI::App& app);

}  // namespace shannon::cli
