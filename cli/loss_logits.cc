#include "loss_logits.h"

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shannon/error.h"
#include "shannon/io.h"
#include "shannon/losses.h"

namespace shannon::cli {
namespace {

/// Class indices from a 1-D array; a value that is not a whole number is a data error.
std::vector<std::int64_t> class_indices(const io::array& t, const std::string& spec) {
  std::vector<std::int64_t> out;
  out.reserve(t.values.size());
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    const double v = t.values[i];
    if (!(std::floor(v) == v) || std::fabs(v) > 9.0e18) {
      throw invalid_option(
          fmt::format("{}: target[{}] = {} is not a class index", spec, i, format_number(v)));
    }
    out.push_back(static_cast<std::int64_t>(v));
  }
  return out;
}

template <class T>
void run(const logits_loss_settings& s, const io::array& x, const io::array& t,
         const std::string& target_spec, const common_settings& common, const log_base& base) {
  if (!x.is_matrix()) {
    throw shape_mismatch(s.logits + ": logits must be a 2-D array [rows, classes], got " +
                         std::to_string(x.values.size()) + " values in 1-D");
  }
  const std::vector<T> logits = values_as<T>(x);
  const matrix_view<T> lv(std::span<const T>(logits), x.rows(), x.cols());
  std::vector<T> weight;
  if (!s.weight.empty()) weight = values_as<T>(io::read_array(s.weight));

  cross_entropy_options<T> opt;
  opt.weight = weight;
  opt.ignore_index = s.ignore_index;
  opt.reduce = parse_reduction(s.reduction);
  opt.label_smoothing = s.label_smoothing;
  opt.z_loss = s.z_loss;
  opt.softcap = s.softcap;
  opt.base = base;

  std::vector<T> loss(opt.reduce == reduction::none ? lv.rows : 1);
  std::vector<T> grad(s.grad_out.empty() ? 0 : logits.size());
  const loss_outputs<T> out{loss, grad, {}};
  std::vector<T> probs;
  if (t.is_matrix()) {
    probs = values_as<T>(t);
    cross_entropy_loss(lv, matrix_view<T>(std::span<const T>(probs), t.rows(), t.cols()), opt, out);
  } else {
    cross_entropy_loss(lv, std::span<const std::int64_t>(class_indices(t, target_spec)), opt, out);
  }
  if (!s.grad_out.empty()) {
    if constexpr (std::is_same_v<T, float>) {
      io::write_npy(s.grad_out, grad, x.shape);
    } else {
      io::write_npy(s.grad_out, grad, x.shape, io::dtype::float64);
    }
  }

  result r;
  r.values = displayed(loss);
  if (opt.reduce == reduction::none) r.shape = {lv.rows};
  r.single_precision = std::is_same_v<T, float>;
  json extra;
  extra["reduction"] = s.reduction;
  extra["rows"] = lv.rows;
  extra["classes"] = lv.cols;
  extra["target"] = t.is_matrix() ? "probabilities" : "class indices";
  if (!s.grad_out.empty()) extra["grad"] = s.grad_out;
  print_result(fmt::format("cross-entropy loss ({} over {} rows of {} classes)", s.reduction,
                           lv.rows, lv.cols),
               "cross_entropy_loss", r, base, common.as_json, extra);
  if (!s.grad_out.empty() && !common.as_json) {
    fmt::print("gradient d loss / d logits written to {} ({} x {} {})\n", s.grad_out, lv.rows,
               lv.cols, std::is_same_v<T, float> ? "float32" : "float64");
  }
}

}  // namespace

void add_logits_options(CLI::App& cmd, logits_loss_settings& s) {
  cmd.add_option("--logits", s.logits,
                 "Logits [rows, classes] (.npy, .csv or -): the batched loss of softmax(logits)")
      ->type_name("FILE|-");
  cmd.add_option("--weight", s.weight, "With --logits: one weight per class")
      ->type_name("LIST|FILE");
  cmd.add_option("--ignore-index", s.ignore_index,
                 "With --logits: class index whose rows are ignored (default -100)");
  cmd.add_option("--reduction", s.reduction, "With --logits: mean (default), sum or none")
      ->check(CLI::IsMember({"mean", "sum", "none"}));
  cmd.add_option("--label-smoothing", s.label_smoothing,
                 "With --logits: eps in [0, 1] mixed in from the uniform distribution");
  cmd.add_option("--z-loss", s.z_loss, "With --logits: adds scale * logsumexp^2 per row");
  cmd.add_option("--softcap", s.softcap, "With --logits: logits become cap * tanh(x / cap)");
  cmd.add_option("--grad-out", s.grad_out,
                 "With --logits: write d loss / d logits to this .npy file")
      ->type_name("FILE");
}

void run_logits_loss(const logits_loss_settings& s, const std::string& target,
                     const common_settings& common, bool base_given) {
  if (common.normalize) throw usage_error("--normalize applies to Q, not to --logits");
  require_single_stdin({s.logits, target, s.weight});
  const log_base base = base_given ? common.to_options().base : nats;
  const io::array x = io::read_array(s.logits);
  const io::array t = io::read_array(target);
  if (x.source == io::dtype::float32) {
    run<float>(s, x, t, target, common, base);
  } else {
    run<double>(s, x, t, target, common, base);
  }
}

}  // namespace shannon::cli
