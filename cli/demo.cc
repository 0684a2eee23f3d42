#include "demo.h"

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common.h"
#include "shannon/losses.h"
#include "shannon/measures.h"
#include "table.h"

namespace shannon::cli {

namespace {

constexpr int kDecimals = 4;

std::string fixed(double v) { return format_fixed(v, kDecimals); }

std::string tuple(std::span<const double> values) { return "(" + format_list(values) + ")"; }

std::string yes_no(bool holds) { return holds ? "yes" : "NO"; }

void heading(int number, std::string_view title) {
  fmt::print("\n{}. {}\n{}\n", number, title,
             std::string(display_width(std::string(title)) + 3, '='));
}

void say(std::string_view text) { fmt::print("{}\n", text); }

void show(const text_table& table) { fmt::print("\n{}\n", table.render()); }

struct event {
  std::string_view name;
  std::string_view p_text;
  double p;
};

}  // namespace

void demo_information(const demo_context& ctx) {
  heading(1, "Information (信息量)");
  say(fmt::format(
      "I(x) = -{} p(x). An unlikely event is surprising, so its occurrence carries much\n"
      "information; a likely event carries little, a certain one none.",
      ctx.log));
  const std::array events = {
      event{"a certain event", "1", 1.0},
      event{"a fair coin shows heads", "1/2", 1.0 / 2},
      event{"two fair coins both show heads", "1/4", 1.0 / 4},
      event{"a die shows 6", "1/6", 1.0 / 6},
      event{"three fair coins all show heads", "1/8", 1.0 / 8},
      event{"a 1-in-100 event", "1/100", 1.0 / 100},
      event{"a 1-in-a-million event", "1/1000000", 1.0 / 1000000},
      event{"an impossible event", "0", 0.0},
  };
  std::vector<double> p(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) p[i] = events[i].p;
  const std::vector<double> info = information(std::span<const double>(p), ctx.opt);
  text_table table({"event x", "p(x)", fmt::format("I(x) [{}]", ctx.unit)});
  for (std::size_t i = 0; i < events.size(); ++i) {
    table.add_row({std::string(events[i].name), std::string(events[i].p_text), fixed(info[i])});
  }
  show(table);

  say("Independent events add up: P(AB) = P(A) P(B) gives I(AB) = I(A) + I(B),\n"
      "because the logarithm turns the product into a sum.");
  const double p_a = 1.0 / 2;
  const double p_b = 1.0 / 6;
  const std::vector<double> joint = {p_a, p_b, p_a * p_b};
  const std::vector<double> joint_info = information(std::span<const double>(joint), ctx.opt);
  text_table additivity({"event", "probability", fmt::format("information [{}]", ctx.unit)});
  additivity.add_row({"A: a coin shows heads", "P(A) = 1/2", fixed(joint_info[0])});
  additivity.add_row({"B: a die shows 6", "P(B) = 1/6", fixed(joint_info[1])});
  additivity.add_row({"AB: both at once", "P(A) P(B) = 1/12", fixed(joint_info[2])});
  show(additivity);
  say(fmt::format("I(A) + I(B) = {} + {} = {} {} = I(AB)", fixed(joint_info[0]),
                  fixed(joint_info[1]), fixed(joint_info[0] + joint_info[1]), ctx.unit));
}

void demo_entropy(const demo_context& ctx) {
  heading(2, "Entropy (熵)");
  say(fmt::format(
      "H(p) = sum p_i I(p_i) = -sum p_i {} p_i: the expected information of a system of\n"
      "events, i.e. how uncertain its outcome is. The uniform distribution of n events is the\n"
      "most uncertain, with H = {} n; concentrating the probability lowers H.",
      ctx.log, ctx.log));
  struct sample_system {
    std::string_view name;
    std::vector<double> p;
  };
  const std::array systems = {
      sample_system{"fair coin", {0.5, 0.5}},
      sample_system{"biased coin", {0.9, 0.1}},
      sample_system{"two-headed coin", {1.0, 0.0}},
      sample_system{"uniform, 4 events", {0.25, 0.25, 0.25, 0.25}},
      sample_system{"concentrated, 4 events", {0.5, 0.25, 0.125, 0.125}},
      sample_system{"concentrated, 4 events", {0.1, 0.1, 0.1, 0.7}},
  };
  text_table table(
      {"system", "p", fmt::format("H(p) [{}]", ctx.unit), fmt::format("max {} n", ctx.log)});
  for (const sample_system& s : systems) {
    const double h = entropy(std::span<const double>(s.p), ctx.opt);
    const double h_max = information(1.0 / static_cast<double>(s.p.size()), ctx.opt.base);
    table.add_row({std::string(s.name), tuple(s.p), fixed(h), fixed(h_max)});
  }
  show(table);

  const std::vector<double>& p = systems[4].p;
  const std::vector<double> info = information(std::span<const double>(p), ctx.opt);
  std::string terms;
  for (std::size_t i = 0; i < p.size(); ++i) {
    terms +=
        fmt::format("{}{} x {}", i == 0 ? "" : " + ", format_number(p[i]), format_number(info[i]));
  }
  say(fmt::format("Term by term for p = {}:\n  H(p) = {} = {} {}", tuple(p), terms,
                  format_number(entropy(std::span<const double>(p), ctx.opt)), ctx.unit));
}

namespace {

constexpr std::array<double, 2> kTruth = {0.5, 0.5};

constexpr std::array<std::array<double, 2>, 5> kPredictions = {
    {{0.5, 0.5}, {0.25, 0.75}, {0.125, 0.875}, {0.01, 0.99}, {0.0, 1.0}}};

}  // namespace

void demo_cross_entropy(const demo_context& ctx) {
  heading(3, "Cross entropy (交叉熵)");
  const double h = entropy(std::span<const double>(kTruth), ctx.opt);
  say(
      fmt::format("H(p,q) = sum p_i I(q_i) = -sum p_i {} q_i: the average information of the true\n"
                  "distribution p as estimated by a predicted distribution q. Truth p = {}, whose\n"
                  "entropy is H(p) = {} {}.",
                  ctx.log, tuple(kTruth), format_number(h), ctx.unit));
  text_table table({"prediction q", fmt::format("H(p,q) [{}]", ctx.unit), "H(p,q) >= H(p)"});
  for (const std::array<double, 2>& q : kPredictions) {
    const double hpq =
        cross_entropy(std::span<const double>(kTruth), std::span<const double>(q), ctx.opt);
    table.add_row({tuple(q), fixed(hpq), yes_no(hpq >= h)});
  }
  show(table);
  say("The closer q is to p, the smaller the cross entropy, and it never goes below H(p)\n"
      "(Gibbs' inequality); it equals H(p) only when q = p.");
}

void demo_kl_divergence(const demo_context& ctx) {
  heading(4, "KL divergence (KL散度, relative entropy 相对熵)");
  say(fmt::format(
      "D(p||q) = sum p_i (I(q_i) - I(p_i)) = H(p,q) - H(p) = sum p_i {} (p_i / q_i): the\n"
      "extra information paid for using q in place of the truth p. It is >= 0, and 0 only\n"
      "when q = p, which is why it measures how far a prediction is from the truth.",
      ctx.log));
  const std::span<const double> p(kTruth);
  const double h = entropy(p, ctx.opt);
  text_table table(
      {"prediction q", "H(p,q)", "H(p)", "H(p,q) - H(p)", fmt::format("D(p||q) [{}]", ctx.unit)});
  for (const std::array<double, 2>& q : kPredictions) {
    const double hpq = cross_entropy(p, std::span<const double>(q), ctx.opt);
    const double d = kl_divergence(p, std::span<const double>(q), ctx.opt);
    table.add_row({tuple(q), fixed(hpq), fixed(h), fixed(hpq - h), fixed(d)});
  }
  show(table);

  say("It is not symmetric: D(p||q) takes p as the truth, D(q||p) takes q as the truth.");
  struct distribution_pair {
    std::vector<double> p;
    std::vector<double> q;
  };
  const std::array pairs = {distribution_pair{{0.5, 0.5}, {0.25, 0.75}},
                            distribution_pair{{0.9, 0.1}, {0.5, 0.5}},
                            distribution_pair{{0.1, 0.1, 0.1, 0.7}, {0.25, 0.25, 0.25, 0.25}}};
  text_table asymmetry(
      {"p", "q", fmt::format("D(p||q) [{}]", ctx.unit), fmt::format("D(q||p) [{}]", ctx.unit)});
  for (const distribution_pair& pq : pairs) {
    const std::span<const double> a(pq.p);
    const std::span<const double> b(pq.q);
    asymmetry.add_row({tuple(pq.p), tuple(pq.q), fixed(kl_divergence(a, b, ctx.opt)),
                       fixed(kl_divergence(b, a, ctx.opt))});
  }
  show(asymmetry);
  say("Both directions are >= 0, but they differ: the first argument is the one taken as\n"
      "the truth, so a loss compares the true labels against the model's prediction.");
}

void demo_cross_entropy_loss(const demo_context& ctx) {
  heading(5, "Cross-entropy loss (交叉熵损失函数)");
  const std::vector<double> truth = {0.0, 0.0, 1.0, 0.0};
  constexpr std::size_t kClass = 2;
  const double h = entropy(std::span<const double>(truth), ctx.opt);
  say(fmt::format(
      "A classifier should predict q = p, so its loss is D(p||q) = H(p,q) - H(p). In\n"
      "classification the truth is one-hot: the sample is class 3 of 4, p = {}\n"
      "(index {} counting from 0). Then H(p) = {} {}, so the loss is\n"
      "D(p||q) = H(p,q) = -{} q_3: only the probability given to the true class counts.",
      tuple(truth), kClass, format_number(h), ctx.unit, ctx.log));
  const std::array predictions = {
      std::vector<double>{0.25, 0.25, 0.25, 0.25}, std::vector<double>{0.1, 0.1, 0.7, 0.1},
      std::vector<double>{0.05, 0.05, 0.85, 0.05}, std::vector<double>{0.01, 0.01, 0.97, 0.01},
      std::vector<double>{0.4, 0.3, 0.2, 0.1},     std::vector<double>{0.0, 0.0, 1.0, 0.0}};
  text_table table({"prediction q", "q_3", "H(p,q)", "D(p||q)",
                    fmt::format("loss -{} q_3 [{}]", ctx.log, ctx.unit)});
  const std::span<const double> p(truth);
  for (const std::vector<double>& q : predictions) {
    const std::span<const double> qs(q);
    table.add_row({tuple(q), format_number(q[kClass]), fixed(cross_entropy(p, qs, ctx.opt)),
                   fixed(kl_divergence(p, qs, ctx.opt)),
                   fixed(cross_entropy_loss(qs, kClass, ctx.opt))});
  }
  show(table);
  say("The more probability the prediction puts on the true class, the lower the loss;\n"
      "a perfect prediction scores 0. Training a classifier minimizes this loss.");
}

void run_demo(const log_base& base) {
  demo_context ctx;
  ctx.opt.base = base;
  ctx.unit = base.unit_name();
  ctx.log = log_name(base);
  fmt::print(
      "The tutorial's examples, step by step: information, entropy, cross entropy, KL\n"
      "divergence and the cross-entropy loss. Every number is computed by libshannon, in {}.\n",
      ctx.unit);
  using section = void (*)(const demo_context&);
  constexpr std::array<section, 6> kSections = {&demo_information,        &demo_entropy,
                                                &demo_cross_entropy,      &demo_kl_divergence,
                                                &demo_cross_entropy_loss, &demo_training};
  for (const section s : kSections) s(ctx);
}

}  // namespace shannon::cli
