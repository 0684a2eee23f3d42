#include <fmt/format.h>

#include <charconv>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>

#include "commands.h"
#include "common.h"
#include "loss_logits.h"
#include "shannon/io.h"
#include "shannon/losses.h"

namespace shannon::cli {

namespace {

struct loss_settings {
  std::string q;
  std::string target;
  common_settings common;
  logits_loss_settings logits;
};

std::size_t parse_class_index(const std::string& text) {
  std::size_t index = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, index);
  if (text.empty() || ec != std::errc() || ptr != end) {
    throw usage_error("--target: '" + text + "' is not a class index (0, 1, 2, ...)");
  }
  return index;
}

/// The seed's loss of a probability vector q (or each row of a 2-D q) against one-hot class K.
void run_probability_loss(const loss_settings& s) {
  if (s.q.empty()) throw usage_error("loss needs Q, the predicted probabilities");
  const std::size_t target = parse_class_index(s.target);
  const options opt = s.common.to_options();
  const io::array q = io::read_array(s.q);
  const result r = with_precision({&q}, [&]<class T>() {
    const std::vector<T> qv = values_as<T>(q);
    const std::span<const T> all(qv);
    if (!q.is_matrix()) {
      return result{
          {displayed(cross_entropy_loss(all, target, opt))}, {}, std::is_same_v<T, float>};
    }
    std::vector<double> losses;
    losses.reserve(q.rows());
    for (std::size_t i = 0; i < q.rows(); ++i) {
      losses.push_back(
          displayed(cross_entropy_loss(all.subspan(i * q.cols(), q.cols()), target, opt)));
    }
    return result{losses, {q.rows()}, std::is_same_v<T, float>};
  });
  json extra;
  extra["target"] = target;
  print_result(fmt::format("L(q, class {}) = -{} q[{}]", target, log_name(opt.base), target),
               "cross_entropy_loss", r, opt.base, s.common.as_json, extra);
}

}  // namespace

command register_loss_command(CLI::App& app) {
  auto s = std::make_shared<loss_settings>();
  CLI::App* cmd = app.add_subcommand(
      "loss", "Cross-entropy loss: -log q[K] of probabilities, or of logits with --logits");
  cmd->add_option("Q", s->q, "Predicted probabilities (or one vector per row)")
      ->type_name("LIST|FILE|-");
  cmd->add_option("-t,--target", s->target,
                  "The true class K counted from 0; with --logits, class indices [rows] or "
                  "probabilities [rows, classes] (required)")
      ->required()
      ->option_text("K|FILE");
  add_common_options(*cmd, s->common);
  add_logits_options(*cmd, s->logits);
  cmd->footer(command_footer(
      "With a one-hot truth p (1 for class K, 0 elsewhere) H(p) = 0, so the loss\n"
      "D(p||q) = H(p,q) = -log q[K]. A 2-D Q gives one loss per row, all for class K.\n"
      "With --logits X the loss is PyTorch's cross_entropy of softmax(X), in nats\n"
      "unless --base says otherwise:\n"
      "  shannon loss --logits X.npy --target T.npy --label-smoothing 0.1 --grad-out G.npy"));
  return {cmd, [s, cmd] {
            if (s->logits.logits.empty()) {
              run_probability_loss(*s);
              return;
            }
            if (!s->q.empty()) throw usage_error("give either Q or --logits, not both");
            run_logits_loss(s->logits, s->target, s->common, cmd->count("--base") > 0);
          }};
}

}  // namespace shannon::cli
