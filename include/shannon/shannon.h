// shannon: information, entropy, cross entropy, KL divergence and the
// cross-entropy loss, exact to the last bit and as fast as memory allows.
#pragma once

#include "shannon/error.h"     // IWYU pragma: export
#include "shannon/losses.h"    // IWYU pragma: export
#include "shannon/measures.h"  // IWYU pragma: export
#include "shannon/units.h"     // IWYU pragma: export
#include "shannon/version.h"   // IWYU pragma: export
