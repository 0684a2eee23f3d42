#include <fmt/format.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "shannon/error.h"
#include "shannon/io.h"
#include "shannon/measures.h"
#include "table.h"

namespace shannon::cli {

namespace {

constexpr int kDecimals = 6;

struct explain_settings {
  std::string p;
  std::string q;
  common_settings common;
};

void require_one_row(const io::array& a, std::string_view name) {
  if (a.is_matrix() && a.rows() != 1) {
    throw shape_mismatch(
        fmt::format("explain takes one distribution per input; {} has {} rows", name, a.rows()));
  }
}

/// p_i times an information value, with the convention 0 log 0 = 0 (0 * inf = 0).
double share(double p, double information) { return p == 0.0 ? 0.0 : p * information; }

/// The values the table shows: the inputs divided by their sums when --normalize asks for it.
std::vector<double> shown_inputs(const io::array& a, bool normalize) {
  std::vector<double> v = a.values;
  if (!normalize) return v;
  double sum = 0.0;
  for (const double x : v) sum += x;
  for (double& x : v) x /= sum;
  return v;
}

struct explanation {
  std::vector<double> p, q, info_p, info_q;
  double entropy_p = 0, cross_pq = 0, kl_pq = 0, kl_qp = 0;
  bool single_precision = false;
};

template <class T>
explanation explain(const io::array& pa, const io::array& qa, const options& opt) {
  const std::vector<T> p = values_as<T>(pa);
  const std::vector<T> q = values_as<T>(qa);
  explanation e;
  e.single_precision = std::is_same_v<T, float>;
  e.entropy_p = displayed(entropy(std::span<const T>(p), opt));
  e.cross_pq = displayed(cross_entropy(std::span<const T>(p), std::span<const T>(q), opt));
  e.kl_pq = displayed(kl_divergence(std::span<const T>(p), std::span<const T>(q), opt));
  e.kl_qp = displayed(kl_divergence(std::span<const T>(q), std::span<const T>(p), opt));
  options info_opt = opt;
  info_opt.normalize = false;
  const std::vector<double> p_shown = shown_inputs(pa, opt.normalize);
  const std::vector<double> q_shown = shown_inputs(qa, opt.normalize);
  const std::vector<T> p_table(p_shown.begin(), p_shown.end());
  const std::vector<T> q_table(q_shown.begin(), q_shown.end());
  e.p = displayed(p_table);
  e.q = displayed(q_table);
  e.info_p = displayed(information(std::span<const T>(p_table), info_opt));
  e.info_q = displayed(information(std::span<const T>(q_table), info_opt));
  return e;
}

void print_text(const explanation& e, const log_base& base) {
  const std::string unit = base.unit_name();
  const std::string log = log_name(base);
  fmt::print("p = ({})\nq = ({})\n\n", format_list(e.p), format_list(e.q));
  fmt::print(
      "Per event: I_p = -{0} p_i and I_q = -{0} q_i (information in {1}), and each\n"
      "event's share of H(p) = sum p_i I_p, H(p,q) = sum p_i I_q and D(p||q).\n\n",
      log, unit);
  text_table table({"i", "p_i", "q_i", fmt::format("I_p [{}]", unit), fmt::format("I_q [{}]", unit),
                    "p_i I_p", "p_i I_q", "p_i (I_q - I_p)"});
  for (std::size_t i = 0; i < e.p.size(); ++i) {
    table.add_row({std::to_string(i), format_fixed(e.p[i], kDecimals),
                   format_fixed(e.q[i], kDecimals), format_fixed(e.info_p[i], kDecimals),
                   format_fixed(e.info_q[i], kDecimals),
                   format_fixed(share(e.p[i], e.info_p[i]), kDecimals),
                   format_fixed(share(e.p[i], e.info_q[i]), kDecimals),
                   format_fixed(share(e.p[i], e.info_q[i] - e.info_p[i]), kDecimals)});
  }
  fmt::print("{}\n", table.render());

  const double difference = e.cross_pq - e.entropy_p;
  const auto line = [&](std::string_view name, std::string_view formula, double v,
                        std::string_view note) {
    fmt::print("  {:<8}{:<23}= {} {}{}\n", name, formula, format_number(v), unit, note);
  };
  line("H(p)", "= sum p_i I_p", e.entropy_p, "");
  line("H(p,q)", "= sum p_i I_q", e.cross_pq, "");
  line("D(p||q)", "= sum p_i (I_q - I_p)", e.kl_pq, "   (kl_divergence)");
  line("", "= H(p,q) - H(p)", difference, "   (difference of the totals above)");
  line("D(q||p)", "", e.kl_qp,
       e.kl_qp == e.kl_pq ? "   (equal to D(p||q) here)" : "   (!= D(p||q): not symmetric)");
  fmt::print("\n  Gibbs' inequality H(p) <= H(p,q): {} <= {}: {}\n", format_number(e.entropy_p),
             format_number(e.cross_pq),
             e.kl_pq >= 0 ? "holds, since D(p||q) >= 0\n  (equality only when q = p)" : "FAILS");
}

void print_json(const explanation& e, const log_base& base) {
  json doc;
  doc["measure"] = "explain";
  doc["unit"] = base.unit_name();
  doc["base"] = json_base(base);
  doc["dtype"] = e.single_precision ? "float32" : "float64";
  json rows = json::array();
  for (std::size_t i = 0; i < e.p.size(); ++i) {
    json row;
    row["i"] = i;
    row["p"] = json_number(e.p[i]);
    row["q"] = json_number(e.q[i]);
    row["I_p"] = json_number(e.info_p[i]);
    row["I_q"] = json_number(e.info_q[i]);
    row["p_I_p"] = json_number(share(e.p[i], e.info_p[i]));
    row["p_I_q"] = json_number(share(e.p[i], e.info_q[i]));
    row["p_I_q_minus_I_p"] = json_number(share(e.p[i], e.info_q[i] - e.info_p[i]));
    rows.push_back(std::move(row));
  }
  doc["rows"] = std::move(rows);
  json totals;
  totals["entropy"] = json_number(e.entropy_p);
  totals["cross_entropy"] = json_number(e.cross_pq);
  totals["kl_divergence"] = json_number(e.kl_pq);
  totals["cross_entropy_minus_entropy"] = json_number(e.cross_pq - e.entropy_p);
  totals["kl_divergence_reverse"] = json_number(e.kl_qp);
  totals["gibbs_holds"] = e.kl_pq >= 0;
  doc["totals"] = std::move(totals);
  fmt::print("{}\n", doc.dump());
}

void run_explain(const explain_settings& s) {
  const options opt = s.common.to_options();
  require_single_stdin({s.p, s.q});
  const io::array p = io::read_array(s.p);
  const io::array q = io::read_array(s.q);
  require_one_row(p, "P");
  require_one_row(q, "Q");
  const explanation e = with_precision({&p, &q}, [&]<class T>() { return explain<T>(p, q, opt); });
  if (s.common.as_json) {
    print_json(e, opt.base);
  } else {
    print_text(e, opt.base);
  }
}

}  // namespace

command register_explain_command(CLI::App& app) {
  auto s = std::make_shared<explain_settings>();
  CLI::App* cmd =
      app.add_subcommand("explain", "Derive H(p), H(p,q), D(p||q) and D(q||p) event by event");
  cmd->add_option("P", s->p, "True distribution")->required()->type_name("LIST|FILE|-");
  cmd->add_option("Q", s->q, "Predicted distribution of the same length")
      ->required()
      ->type_name("LIST|FILE|-");
  add_common_options(*cmd, s->common);
  cmd->footer(command_footer(
      "Prints a table with p_i, q_i, I_p = -log p_i, I_q = -log q_i and the products\n"
      "p_i I_p, p_i I_q, p_i (I_q - I_p), then H(p), H(p,q), D(p||q) = H(p,q) - H(p),\n"
      "D(q||p) and Gibbs' inequality H(p) <= H(p,q)."));
  return {cmd, [s] { run_explain(*s); }};
}

}  // namespace shannon::cli
