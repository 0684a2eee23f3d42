// Shared pieces of the shannon subcommands: options, input loading, precision
// dispatch and output formatting.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "shannon/io.h"
#include "shannon/measures.h"
#include "shannon/units.h"

namespace shannon::cli {

/// JSON documents keep their keys in insertion order.
using json = nlohmann::ordered_json;

/// Exit status of a successful run.
inline constexpr int kExitSuccess = 0;
/// Exit status for invalid data, unreadable files and any other runtime failure.
inline constexpr int kExitDataError = 1;
/// Exit status for a malformed command line.
inline constexpr int kExitUsageError = 2;

/// A command-line misuse found after parsing; main reports it with kExitUsageError.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A parsed subcommand and the action that runs it once the command line is parsed.
struct command {
  CLI::App* app = nullptr;
  std::function<void()> run;
};

/// The options every measure subcommand understands.
struct common_settings {
  std::string base = "bits";
  bool normalize = false;
  bool as_json = false;

  /// The library options these settings select; the base text was validated at parse time.
  [[nodiscard]] options to_options() const;
};

/// Adds --base to `cmd`, rejecting text that log_base::parse does not accept as a usage error.
void add_base_option(CLI::App& cmd, std::string& base);

/// Adds --base, --normalize and --json to `cmd`, bound to `settings`.
void add_common_options(CLI::App& cmd, common_settings& settings);

/// The help text describing the accepted input forms, shared by the subcommands.
std::string_view input_help();

/// A subcommand's help footer: `about` (a few wrapped lines) followed by input_help().
std::string command_footer(std::string_view about);

/// Throws usage_error if more than one of `specs` reads standard input.
void require_single_stdin(std::initializer_list<std::string_view> specs);

/// True when every array came from float32 data, so the float overloads apply.
bool all_float32(std::initializer_list<const io::array*> arrays);

/// The values of `a` converted to T (exact for float32 sources when T is float).
template <class T>
std::vector<T> values_as(const io::array& a) {
  return std::vector<T>(a.values.begin(), a.values.end());
}

/// The value to print for a computed result: a float becomes the double nearest
/// its shortest decimal form, so output shows float precision, not float noise.
double displayed(double v);
double displayed(float v);

/// Every element of `v` passed through displayed().
template <class T>
std::vector<double> displayed(const std::vector<T>& v) {
  std::vector<double> out;
  out.reserve(v.size());
  for (const T x : v) out.push_back(displayed(x));
  return out;
}

/// Calls f.template operator()<float>() when every array is float32, otherwise the double version.
template <class F>
auto with_precision(std::initializer_list<const io::array*> arrays, F&& f) {
  return all_float32(arrays) ? f.template operator()<float>() : f.template operator()<double>();
}

/// Computed values with their shape: {} for one value, {n} for a list, {rows, cols} for a matrix.
struct result {
  std::vector<double> values;
  std::vector<std::size_t> shape;
  bool single_precision = false;
};

/// A one-argument row-wise measure of `p`: one value, or one value per row of a 2-D p.
template <class T, class F>
result row_wise(const io::array& p, const options& opt, F&& measure) {
  const std::vector<T> pv = values_as<T>(p);
  if (p.is_matrix()) {
    const matrix_view<T> pm(std::span<const T>(pv), p.rows(), p.cols());
    return {displayed(measure(pm, opt)), {pm.rows}, std::is_same_v<T, float>};
  }
  return {{displayed(measure(std::span<const T>(pv), opt))}, {}, std::is_same_v<T, float>};
}

/// A two-argument measure of p and q: one value, or one per row when either is 2-D
/// (a 1-D input then counts as one row, and the library checks that the shapes agree).
template <class T, class F>
result pair_wise(const io::array& p, const io::array& q, const options& opt, F&& measure) {
  const std::vector<T> pv = values_as<T>(p);
  const std::vector<T> qv = values_as<T>(q);
  if (p.is_matrix() || q.is_matrix()) {
    const matrix_view<T> pm(std::span<const T>(pv), p.rows(), p.cols());
    const matrix_view<T> qm(std::span<const T>(qv), q.rows(), q.cols());
    return {displayed(measure(pm, qm, opt)), {pm.rows}, std::is_same_v<T, float>};
  }
  return {{displayed(measure(std::span<const T>(pv), std::span<const T>(qv), opt))},
          {},
          std::is_same_v<T, float>};
}

/// Shortest round-trip text of v; infinities as "inf" and "-inf".
std::string format_number(double v);

/// v with `decimals` fixed decimals; infinities as "inf" and "-inf".
std::string format_fixed(double v, int decimals);

/// The values of r as "1.5", "[1, 2]" or "[[1, 2], [3, 4]]" following its shape.
std::string format_values(const result& r);

/// The values of a list joined by ", " in shortest round-trip form.
std::string format_list(std::span<const double> values);

/// A JSON number, or the strings "inf", "-inf" and "nan" where JSON has no number.
json json_number(double v);

/// The base as a JSON number: an integer when it is one (2, 10), else the double (e).
json json_base(const log_base& base);

/// The logarithm's name in formulas: "log2", "ln", "log10" or "log_b" with b.
std::string log_name(const log_base& base);

/// Prints one result as "<label> = <values> <unit>", or as one JSON document whose
/// "measure" is `measure`, with "value" or "values", "unit", "base" and `extra` keys.
void print_result(std::string_view label, std::string_view measure, const result& r,
                  const log_base& base, bool as_json, const json& extra = {});

}  // namespace shannon::cli
