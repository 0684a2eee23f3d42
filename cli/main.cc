// The shannon command-line tool: parses the command line, runs one subcommand and
// maps failures to exit statuses (0 success, 1 invalid data or I/O, 2 usage).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "common.h"
#include "shannon/error.h"
#include "shannon/version.h"

namespace shannon::cli {
namespace {

std::string version_text() { return fmt::format("shannon {} (simd: {})", version(), active_isa()); }

/// Prints a usage error other than the parser's; returns its exit status.
int usage_failure(const std::exception& e) {
  fmt::print(stderr, "shannon: usage error: {}\n", e.what());
  return kExitUsageError;
}

std::string usage_message(const CLI::App* /*app*/, const CLI::Error& e) {
  return fmt::format(
      "shannon: usage error: {}\nRun 'shannon --help' or 'shannon COMMAND --help'.\n", e.what());
}

/// The arguments after the program name, reversed as CLI11 expects, with inline lists such as
/// "-.5,1.5" written "-0.5,1.5" so that CLI11 reads them as values, not as options.
std::vector<std::string> reversed_arguments(int argc, char** argv) {
  std::vector<std::string> args;
  bool positional_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    positional_only = positional_only || arg == "--";
    if (!positional_only && arg.size() > 2 && arg[0] == '-' && arg[1] == '.' &&
        std::isdigit(static_cast<unsigned char>(arg[2])) != 0) {
      arg.insert(1, "0");
    }
    args.push_back(std::move(arg));
  }
  return {args.rbegin(), args.rend()};
}

int run(int argc, char** argv) {
  CLI::App app(
      "shannon: information, entropy, cross entropy, KL divergence and the cross-entropy "
      "loss, exact to the last bit.",
      "shannon");
  app.set_version_flag("--version", &version_text, "Print the version and the SIMD target");
  app.require_subcommand(1);
  app.failure_message(&usage_message);
  app.footer(fmt::format(
      "Results are in bits unless --base says otherwise; --json prints one JSON document.\n"
      "New to the measures? Start with: shannon demo\n\n{}",
      input_help()));

  const std::vector<command> commands = {
      register_information_command(app),   register_entropy_command(app),
      register_cross_entropy_command(app), register_kl_command(app),
      register_loss_command(app),          register_explain_command(app),
      register_demo_command(app)};

  // SHANNON_FORCE_ISA naming a target this build or CPU lacks is a usage error, whatever
  // the command (--version included).
  try {
    (void)active_isa();
  } catch (const invalid_option& e) {
    return usage_failure(e);
  }

  try {
    std::vector<std::string> args = reversed_arguments(argc, argv);
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitSuccess : kExitUsageError;
  }

  try {
    for (const command& c : commands) {
      if (c.app->parsed()) c.run();
    }
  } catch (const usage_error& e) {
    return usage_failure(e);
  } catch (const error& e) {
    fmt::print(stderr, "shannon: error: {}\n", e.what());
    return kExitDataError;
  }
  if (std::fflush(stdout) != 0) {
    fmt::print(stderr, "shannon: error: cannot write the output\n");
    return kExitDataError;
  }
  return kExitSuccess;
}

}  // namespace
}  // namespace shannon::cli

int main(int argc, char** argv) {
  try {
    return shannon::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shannon: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "shannon: error: unknown failure\n");
  }
  return shannon::cli::kExitDataError;
}
