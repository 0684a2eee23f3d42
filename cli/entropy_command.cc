#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "shannon/io.h"
#include "shannon/measures.h"

namespace shannon::cli {

namespace {

struct entropy_settings {
  std::string p;
  common_settings common;
};

void run_entropy(const entropy_settings& s) {
  const options opt = s.common.to_options();
  const io::array p = io::read_array(s.p);
  const result r = with_precision({&p}, [&]<class T>() {
    return row_wise<T>(p, opt, [](auto pv, const options& o) { return entropy(pv, o); });
  });
  print_result("H(p)", "entropy", r, opt.base, s.common.as_json);
}

}  // namespace

command register_entropy_command(CLI::App& app) {
  auto s = std::make_shared<entropy_settings>();
  CLI::App* cmd = app.add_subcommand("entropy", "Entropy H(p) = -sum p_i log p_i");
  cmd->add_option("P", s->p, "Probability vector (or one per row)")
      ->required()
      ->type_name("LIST|FILE|-");
  add_common_options(*cmd, s->common);
  cmd->footer(command_footer(
      "The entropy is the expected information of p, its uncertainty: 0 when one event is\n"
      "certain, log n when n events are equally likely (0 log 0 counts as 0)."));
  return {cmd, [s] { run_entropy(*s); }};
}

}  // namespace shannon::cli
