// The seed's numbers through the installed library: prints H, H(p,q) and D(p||q).
#include <cstdio>
#include <vector>

#include "shannon/shannon.h"

int main() {
  const std::vector<double> p{0.5, 0.5};
  const std::vector<double> q{0.25, 0.75};
  std::printf("H(p) = %.17g bits\n", shannon::entropy(p));
  std::printf("H(p,q) = %.17g bits\n", shannon::cross_entropy(p, q));
  std::printf("D(p||q) = %.17g bits\n", shannon::kl_divergence(p, q));
  try {
    shannon::entropy(std::vector<double>{0.5, -0.1, 0.6});
  } catch (const shannon::error& e) {
    std::printf("error: %s\n", e.what());
  }
  return shannon::entropy(p) == 1.0 ? 0 : 1;
}
