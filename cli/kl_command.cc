#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "shannon/io.h"
#include "shannon/measures.h"

namespace shannon::cli {

namespace {

struct kl_settings {
  std::string p;
  std::string q;
  common_settings common;
};

void run_kl(const kl_settings& s) {
  const options opt = s.common.to_options();
  require_single_stdin({s.p, s.q});
  const io::array p = io::read_array(s.p);
  const io::array q = io::read_array(s.q);
  const result r = with_precision({&p, &q}, [&]<class T>() {
    return pair_wise<T>(
        p, q, opt, [](auto pv, auto qv, const options& o) { return kl_divergence(pv, qv, o); });
  });
  print_result("D(p||q)", "kl_divergence", r, opt.base, s.common.as_json);
}

}  // namespace

command register_kl_command(CLI::App& app) {
  auto s = std::make_shared<kl_settings>();
  CLI::App* cmd = app.add_subcommand("kl", "KL divergence D(p||q) = sum p_i log(p_i / q_i)");
  cmd->add_option("P", s->p, "True distribution (or one per row)")
      ->required()
      ->type_name("LIST|FILE|-");
  cmd->add_option("Q", s->q, "Predicted distribution, same shape as P")
      ->required()
      ->type_name("LIST|FILE|-");
  add_common_options(*cmd, s->common);
  cmd->footer(command_footer(
      "The relative entropy D(p||q) = H(p,q) - H(p) >= 0: how far the prediction q is from\n"
      "the truth p, 0 only when q = p. It is not symmetric: D(p||q) != D(q||p)."));
  return {cmd, [s] { run_kl(*s); }};
}

}  // namespace shannon::cli
