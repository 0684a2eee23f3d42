// Which SIMD target the kernels run on: Highway's choice for this CPU, or the
// one named by force_isa() or SHANNON_FORCE_ISA.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "kernels/kernels.h"
#include "shannon/error.h"
#include "shannon/version.h"

namespace shannon {
namespace {

struct isa_name {
  std::int64_t target;
  const char* name;
};

constexpr isa_name kIsaNames[] = {
    {HWY_AVX3_DL, "avx512dl"}, {HWY_AVX3, "avx512"},   {HWY_AVX2, "avx2"},     {HWY_SSE4, "sse4"},
    {HWY_SSSE3, "ssse3"},      {HWY_EMU128, "scalar"}, {HWY_SCALAR, "scalar"},
};

std::string name_of(std::int64_t target) {
  for (const auto& entry : kIsaNames) {
    if (entry.target == target) return entry.name;
  }
  return hwy::TargetName(target);
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

void select(std::string_view isa, const char* what) {
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    if (name_of(target) == isa) {
      hwy::GetChosenTarget().Update(target);
      return;
    }
  }
  throw invalid_option(std::string(what) + " = '" + std::string(isa) +
                       "' is not available here; available: " + joined(available_isas()));
}

}  // namespace

std::string_view version() { return SHANNON_VERSION; }

std::vector<std::string> available_isas() {
  std::vector<std::string> names;
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    names.push_back(name_of(target));
  }
  return names;
}

std::string active_isa() { return name_of(kernels::active_target()); }

void force_isa(std::string_view isa) {
  kernels::ensure_isa();
  select(isa, "isa");
}

namespace kernels {

void ensure_isa() {
  // A failed attempt (unknown name) throws and is retried at the next call.
  static const bool done = [] {
    const char* forced = std::getenv("SHANNON_FORCE_ISA");
    if (forced != nullptr && *forced != '\0') select(forced, "SHANNON_FORCE_ISA");
    return true;
  }();
  (void)done;
}

}  // namespace kernels
}  // namespace shannon
