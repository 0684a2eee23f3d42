#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "demo.h"
#include "shannon/units.h"

namespace shannon::cli {

command register_demo_command(CLI::App& app) {
  auto base = std::make_shared<std::string>("bits");
  CLI::App* cmd = app.add_subcommand(
      "demo", "Walk through the tutorial's examples, from information to the loss");
  add_base_option(*cmd, *base);
  cmd->footer(
      "Needs no input. Sections: information, entropy, cross entropy, KL divergence and the\n"
      "cross-entropy loss, every number computed by the library.");
  return {cmd, [base] { run_demo(log_base::parse(*base)); }};
}

}  // namespace shannon::cli
