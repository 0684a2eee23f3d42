// `cross-entropy P Q` and `kl P Q`: the two-distribution measures, one
// registration for both.
#include <memory>
#include <string>
#include <string_view>

#include "commands.h"
#include "common.h"
#include "shannon/io.h"
#include "shannon/measures.h"

namespace shannon::cli {
namespace {

struct pair_settings {
  std::string p;
  std::string q;
  common_settings common;
};

/// What distinguishes one two-distribution subcommand from the other.
struct pair_measure {
  std::string_view name;
  std::string_view description;
  std::string_view label;
  std::string_view json_name;
  std::string_view about;
};

template <class Measure>
command register_pair_command(CLI::App& app, const pair_measure& m, Measure measure) {
  auto s = std::make_shared<pair_settings>();
  CLI::App* cmd = app.add_subcommand(std::string(m.name), std::string(m.description));
  cmd->add_option("P", s->p, "True distribution (or one per row)")
      ->required()
      ->type_name("LIST|FILE|-");
  cmd->add_option("Q", s->q, "Predicted distribution, same shape as P")
      ->required()
      ->type_name("LIST|FILE|-");
  add_common_options(*cmd, s->common);
  cmd->footer(command_footer(m.about));
  return {cmd, [s, m, measure] {
            const options opt = s->common.to_options();
            require_single_stdin({s->p, s->q});
            const io::array p = io::read_array(s->p);
            const io::array q = io::read_array(s->q);
            const result r = with_precision(
                {&p, &q}, [&]<class T>() { return pair_wise<T>(p, q, opt, measure); });
            print_result(m.label, m.json_name, r, opt.base, s->common.as_json);
          }};
}

}  // namespace

command register_cross_entropy_command(CLI::App& app) {
  return register_pair_command(
      app,
      {"cross-entropy", "Cross entropy H(p,q) = -sum p_i log q_i", "H(p,q)", "cross_entropy",
       "The average information of the truth p as estimated by the prediction q; it is at\n"
       "least H(p) (Gibbs' inequality) and inf when q_i = 0 where p_i > 0."},
      [](auto pv, auto qv, const options& o) { return cross_entropy(pv, qv, o); });
}

command register_kl_command(CLI::App& app) {
  return register_pair_command(
      app,
      {"kl", "KL divergence D(p||q) = sum p_i log(p_i / q_i)", "D(p||q)", "kl_divergence",
       "The relative entropy D(p||q) = H(p,q) - H(p) >= 0: how far the prediction q is from\n"
       "the truth p, 0 only when q = p. It is not symmetric: D(p||q) != D(q||p)."},
      [](auto pv, auto qv, const options& o) { return kl_divergence(pv, qv, o); });
}

}  // namespace shannon::cli
