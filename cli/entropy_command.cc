#include <fmt/core.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "shannon/io.h"
#include "shannon/measures.h"

namespace shannon::cli {

namespace {

struct entropy_settings {
  std::string p;
  bool bytes = false;
  common_settings common;
};

/// `entropy --bytes FILE`: the entropy of the byte values of a file, in units per byte.
void run_byte_entropy(const entropy_settings& s) {
  if (s.common.normalize) {
    throw usage_error("--normalize does not apply to --bytes (bytes are counted)");
  }
  const options opt = s.common.to_options();
  const byte_histogram counts = io::count_file_bytes(s.p);
  const std::string name = s.p == "-" ? "<stdin>" : s.p;
  std::uint64_t total = 0;
  std::size_t distinct = 0;
  for (const std::uint64_t c : counts) {
    total += c;
    distinct += c != 0 ? 1 : 0;
  }
  if (total == 0) {
    throw invalid_distribution(name + " is empty: byte entropy needs at least one byte");
  }
  const double h = entropy_of_counts(counts, opt.base);
  if (s.common.as_json) {
    json doc;
    doc["measure"] = "byte_entropy";
    doc["value"] = json_number(h);
    doc["unit"] = opt.base.unit_name();
    doc["base"] = json_base(opt.base);
    doc["dtype"] = "float64";
    doc["file"] = name;
    doc["bytes"] = total;
    doc["distinct"] = distinct;
    fmt::print("{}\n", doc.dump());
    return;
  }
  fmt::print("H(bytes of {}) = {} {} per byte ({} bytes, {} of the 256 values occur)\n", name,
             format_number(h), opt.base.unit_name(), total, distinct);
}

void run_entropy(const entropy_settings& s) {
  if (s.bytes) return run_byte_entropy(s);
  const options opt = s.common.to_options();
  const io::array p = io::read_array(s.p);
  const result r = with_precision({&p}, [&]<class T>() {
    return row_wise<T>(p, opt, [](auto pv, const options& o) { return entropy(pv, o); });
  });
  print_result("H(p)", "entropy", r, opt.base, s.common.as_json);
}

}  // namespace

command register_entropy_command(CLI::App& app) {
  auto s = std::make_shared<entropy_settings>();
  CLI::App* cmd = app.add_subcommand("entropy", "Entropy H(p) = -sum p_i log p_i");
  cmd->add_option("P", s->p, "Probability vector (or one per row); with --bytes, any file")
      ->required()
      ->type_name("LIST|FILE|-");
  cmd->add_flag("--bytes", s->bytes,
                "Entropy of the byte values of the file P (or - for standard input), per byte");
  add_common_options(*cmd, s->common);
  cmd->footer(command_footer(
      "The entropy is the expected information of p, its uncertainty: 0 when one event is\n"
      "certain, log n when n events are equally likely (0 log 0 counts as 0).\n"
      "With --bytes the distribution is that of the byte values of a file: 8 bits per\n"
      "byte at most, for bytes that are all equally frequent (random or compressed data)."));
  return {cmd, [s] { run_entropy(*s); }};
}

}  // namespace shannon::cli
