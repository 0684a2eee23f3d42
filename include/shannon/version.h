// Version and the SIMD target the kernels run on.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shannon {

/// The library version, "MAJOR.MINOR.PATCH".
std::string_view version();

/// The instruction set the kernels use now: "scalar", "ssse3", "sse4", "avx2" or "avx512".
std::string active_isa();

/// Every instruction set compiled in and supported by this CPU, best first.
std::vector<std::string> available_isas();

/// Makes the kernels run on `isa` (one of available_isas()); throws invalid_option otherwise.
/// The environment variable SHANNON_FORCE_ISA does the same at the first call.
void force_isa(std::string_view isa);

}  // namespace shannon
