#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "shannon/io.h"
#include "shannon/measures.h"

namespace shannon::cli {

namespace {

struct cross_entropy_settings {
  std::string p;
  std::string q;
  common_settings common;
};

void run_cross_entropy(const cross_entropy_settings& s) {
  const options opt = s.common.to_options();
  require_single_stdin({s.p, s.q});
  const io::array p = io::read_array(s.p);
  const io::array q = io::read_array(s.q);
  const result r = with_precision({&p, &q}, [&]<class T>() {
    return pair_wise<T>(
        p, q, opt, [](auto pv, auto qv, const options& o) { return cross_entropy(pv, qv, o); });
  });
  print_result("H(p,q)", "cross_entropy", r, opt.base, s.common.as_json);
}

}  // namespace

command register_cross_entropy_command(CLI::App& app) {
  auto s = std::make_shared<cross_entropy_settings>();
  CLI::App* cmd = app.add_subcommand("cross-entropy", "Cross entropy H(p,q) = -sum p_i log q_i");
  cmd->add_option("P", s->p, "True distribution (or one per row)")
      ->required()
      ->type_name("LIST|FILE|-");
  cmd->add_option("Q", s->q, "Predicted distribution, same shape as P")
      ->required()
      ->type_name("LIST|FILE|-");
  add_common_options(*cmd, s->common);
  cmd->footer(command_footer(
      "The average information of the truth p as estimated by the prediction q; it is at\n"
      "least H(p) (Gibbs' inequality) and inf when q_i = 0 where p_i > 0."));
  return {cmd, [s] { run_cross_entropy(*s); }};
}

}  // namespace shannon::cli
