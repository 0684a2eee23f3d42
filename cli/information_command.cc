#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "shannon/io.h"
#include "shannon/measures.h"

namespace shannon::cli {

namespace {

struct information_settings {
  std::string p;
  common_settings common;
};

void run_information(const information_settings& s) {
  const options opt = s.common.to_options();
  const io::array p = io::read_array(s.p);
  const result r = with_precision({&p}, [&]<class T>() {
    const std::vector<T> pv = values_as<T>(p);
    return result{displayed(information(std::span<const T>(pv), opt)), p.shape,
                  std::is_same_v<T, float>};
  });
  print_result("I(p)", "information", r, opt.base, s.common.as_json);
}

}  // namespace

command register_information_command(CLI::App& app) {
  auto s = std::make_shared<information_settings>();
  CLI::App* cmd =
      app.add_subcommand("information", "Information I(p_i) = -log p_i of each probability");
  cmd->add_option("P", s->p, "Probabilities in [0, 1]; they need not sum to 1")
      ->required()
      ->type_name("LIST|FILE|-");
  add_common_options(*cmd, s->common);
  cmd->footer(command_footer(
      "The information of an event is how surprising it is: 0 for a certain event, 1 bit\n"
      "for a fair coin's heads, inf for an impossible event. A 2-D input gives a matrix."));
  return {cmd, [s] { run_information(*s); }};
}

}  // namespace shannon::cli
