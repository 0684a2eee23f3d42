// A balanced sum of a few vectors, shared by the kernel sources: per-target code,
// included after hwy/highway.h by a source compiled through foreach_target.h.

// Per-target include guard, as Highway's own -inl.h headers have.
#if defined(SHANNON_KERNELS_SUM_TREE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SHANNON_KERNELS_SUM_TREE_INL_H_
#undef SHANNON_KERNELS_SUM_TREE_INL_H_
#else
#define SHANNON_KERNELS_SUM_TREE_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace shannon::kernels::HWY_NAMESPACE {

/// The sum of K = 1, 2, 4 or 8 vectors as a balanced tree (depth log2 K).
template <std::size_t K, class V>
HWY_INLINE V sum_tree(const V* v) {
  if constexpr (K == 1) {
    return v[0];
  } else {
    return hwy::HWY_NAMESPACE::Add(sum_tree<K / 2>(v), sum_tree<K / 2>(v + K / 2));
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace shannon::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // SHANNON_KERNELS_SUM_TREE_INL_H_
