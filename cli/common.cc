#include "common.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "shannon/error.h"

namespace shannon::cli {

options common_settings::to_options() const {
  options opt;
  opt.base = log_base::parse(base);
  opt.normalize = normalize;
  return opt;
}

void add_base_option(CLI::App& cmd, std::string& base) {
  const CLI::Validator valid_base(
      [](std::string& text) -> std::string {
        try {
          (void)log_base::parse(text);
          return {};
        } catch (const error& e) {
          return e.what();
        }
      },
      "BASE", "log_base");
  cmd.add_option("-b,--base", base,
                 "Unit: bits or 2 (default), nats or e, hartleys or 10, or a number > 1")
      ->check(valid_base)
      ->option_text("BASE");
}

void add_common_options(CLI::App& cmd, common_settings& settings) {
  add_base_option(cmd, settings.base);
  cmd.add_flag("-n,--normalize", settings.normalize,
               "Divide each input (each row) by its sum first: counts, weights");
  cmd.add_flag("-j,--json", settings.as_json, "Print one JSON document instead of text");
}

std::string_view input_help() {
  return "Inputs: an inline list (0.5,0.25,0.25); a .npy file (float32 or float64, 2-D for\n"
         "one result per row); a .csv or .txt file (numbers separated by commas or spaces,\n"
         "one row per line); or - for standard input. float32 .npy inputs are computed in\n"
         "float, all others in double. Put -- before a list that starts with a minus sign:\n"
         "  shannon entropy -- -0.1,1.1\n"
         "Exit status: 0 success, 1 invalid data or unreadable input, 2 usage error.\n";
}

std::string command_footer(std::string_view about) {
  return fmt::format("{}\n\n{}", about, input_help());
}

void require_single_stdin(std::initializer_list<std::string_view> specs) {
  int count = 0;
  for (const std::string_view spec : specs) count += spec == "-" ? 1 : 0;
  if (count > 1) throw usage_error("only one input can be read from standard input (-)");
}

bool all_float32(std::initializer_list<const io::array*> arrays) {
  for (const io::array* a : arrays) {
    if (a->source != io::dtype::float32) return false;
  }
  return true;
}

double displayed(double v) { return v; }

double displayed(float v) {
  if (!std::isfinite(v)) return static_cast<double>(v);
  return std::strtod(fmt::format("{}", v).c_str(), nullptr);
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

std::string format_fixed(double v, int decimals) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.{}f}", v, decimals);
}

std::string format_list(std::span<const double> values) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) text += ", ";
    text += format_number(values[i]);
  }
  return text;
}

std::string format_values(const result& r) {
  const std::span<const double> all(r.values);
  if (r.shape.empty()) return format_number(r.values.at(0));
  if (r.shape.size() == 1) return "[" + format_list(all) + "]";
  const std::size_t cols = r.shape[1];
  std::string text = "[";
  for (std::size_t i = 0; i < r.shape[0]; ++i) {
    if (i != 0) text += ", ";
    text += "[" + format_list(all.subspan(i * cols, cols)) + "]";
  }
  return text + "]";
}

json json_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

json json_base(const log_base& base) {
  const double b = base.value();
  if (b == std::floor(b) && b < 1e15) return static_cast<long long>(b);
  return b;
}

std::string log_name(const log_base& base) {
  if (base == bits) return "log2";
  if (base == nats) return "ln";
  if (base == hartleys) return "log10";
  return "log_" + format_number(base.value());
}

namespace {

json json_values(const result& r) {
  json out = json::array();
  if (r.shape.size() == 2) {
    const std::size_t cols = r.shape[1];
    for (std::size_t i = 0; i < r.shape[0]; ++i) {
      json row = json::array();
      for (std::size_t j = 0; j < cols; ++j) row.push_back(json_number(r.values[i * cols + j]));
      out.push_back(std::move(row));
    }
    return out;
  }
  for (const double v : r.values) out.push_back(json_number(v));
  return out;
}

}  // namespace

void print_result(std::string_view label, std::string_view measure, const result& r,
                  const log_base& base, bool as_json, const json& extra) {
  if (!as_json) {
    fmt::print("{} = {} {}\n", label, format_values(r), base.unit_name());
    return;
  }
  json doc;
  doc["measure"] = measure;
  if (r.shape.empty()) {
    doc["value"] = json_number(r.values.at(0));
  } else {
    doc["values"] = json_values(r);
  }
  doc["unit"] = base.unit_name();
  doc["base"] = json_base(base);
  doc["dtype"] = r.single_precision ? "float32" : "float64";
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) doc[key] = value;
  }
  fmt::print("{}\n", doc.dump());
}

}  // namespace shannon::cli
