// shannon_bandwidth: the streaming bandwidth of this machine, the floor that
// bench/compare.py divides shannon's times by. Prints one JSON object:
//   read_GBps  bytes read per second summing a buffer far larger than L3
//   rmw_GBps   bytes read + bytes written per second negating it in place
//   copy_GBps  bytes read + bytes written per second writing -src to another buffer
// each the best over every unroll factor of the best of --runs passes, on all
// cores (OpenMP; OMP_NUM_THREADS to change), plus the per-unroll figures: the
// floor is real when the larger unroll factors are no faster.
//
//   shannon_bandwidth [--mb 1024] [--runs 7] [--unroll U] [--no-copy] [--table]
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "stream.h"

namespace {

using namespace shannon_bench;

struct sweep {
  std::vector<double> gbps;  // one per kUnrolls entry
  double best = 0.0;
  int best_unroll = 0;
};

template <class Pass>
sweep measure(double bytes_per_pass, int runs, const std::vector<int>& unrolls, Pass&& pass) {
  sweep s;
  for (const int unroll : unrolls) {
    pass(unroll);  // warm-up
    double best = 1e300;
    for (int r = 0; r < runs; ++r) {
      const double t0 = now_seconds();
      pass(unroll);
      best = std::min(best, now_seconds() - t0);
    }
    const double gbps = bytes_per_pass / best / 1e9;
    s.gbps.push_back(gbps);
    if (gbps > s.best) {
      s.best = gbps;
      s.best_unroll = unroll;
    }
  }
  return s;
}

std::string json_sweep(const sweep& s, const std::vector<int>& unrolls) {
  std::string out = "{";
  for (std::size_t i = 0; i < s.gbps.size(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s\"%d\": %.3f", i ? ", " : "", unrolls[i], s.gbps[i]);
    out += buf;
  }
  return out + "}";
}

const char* isa() {
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "sse2";
}

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: shannon_bandwidth [--mb MB] [--runs N] [--unroll U] [--no-copy] [--table]\n"
               "  --mb MB      buffer size in MB (10^6 bytes), default 1024; keep it >> L3\n"
               "  --runs N     timed passes per unroll factor (best is kept), default 7\n"
               "  --unroll U   only this unroll factor (1, 2, 4, 8 or 16), default all\n"
               "  --no-copy    skip the copy figure (copy_GBps is then 0)\n"
               "  --table      also print a human-readable table to stderr\n");
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  double mb = 1024.0;
  int runs = 7;
  bool table = false;
  bool copy_too = true;
  std::vector<int> unrolls(std::begin(kUnrolls), std::end(kUnrolls));
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mb" && i + 1 < argc) {
      mb = std::atof(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--unroll" && i + 1 < argc) {
      const int u = std::atoi(argv[++i]);
      if (std::find(std::begin(kUnrolls), std::end(kUnrolls), u) == std::end(kUnrolls)) usage(2);
      unrolls = {u};
    } else if (a == "--no-copy") {
      copy_too = false;
    } else if (a == "--table") {
      table = true;
    } else if (a == "-h" || a == "--help") {
      usage(0);
    } else {
      usage(2);
    }
  }
  if (mb < 1.0 || runs < 1) usage(2);

  const std::size_t n = static_cast<std::size_t>(mb * 1e6 / sizeof(float)) / 64 * 64;
  const double bytes = static_cast<double>(n * sizeof(float));
  auto a = big_alloc<float>(n);
  auto b = big_alloc<float>(copy_too ? n : 0);
  for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<float>(i & 1023) * 1e-3F;

  volatile float sink = 0.0F;
  const sweep read =
      measure(bytes, runs, unrolls, [&](int u) { sink = sink + stream_read(a.get(), n, u); });
  const sweep rmw = measure(2 * bytes, runs, unrolls, [&](int u) { stream_rmw(a.get(), n, u); });
  const sweep copy = copy_too ? measure(2 * bytes, runs, unrolls,
                                        [&](int u) { stream_copy(a.get(), b.get(), n, u); })
                              : sweep{std::vector<double>(unrolls.size(), 0.0), 0.0, 0};

  if (table) {
    std::fprintf(stderr, "%-8s %10s %10s %10s   (GB/s, %d threads, %.0f MB, best of %d)\n",
                 "unroll", "read", "rmw", "copy", omp_get_max_threads(), bytes / 1e6, runs);
    for (std::size_t i = 0; i < read.gbps.size(); ++i) {
      std::fprintf(stderr, "%-8d %10.2f %10.2f %10.2f\n", unrolls[i], read.gbps[i], rmw.gbps[i],
                   copy.gbps[i]);
    }
  }
  std::printf(
      "{\"read_GBps\": %.3f, \"rmw_GBps\": %.3f, \"copy_GBps\": %.3f,\n"
      " \"read_unroll\": %d, \"rmw_unroll\": %d, \"copy_unroll\": %d,\n"
      " \"buffer_bytes\": %.0f, \"threads\": %d, \"runs\": %d, \"isa\": \"%s\",\n"
      " \"sweep\": {\"read\": %s,\n           \"rmw\": %s,\n           \"copy\": %s}}\n",
      read.best, rmw.best, copy.best, read.best_unroll, rmw.best_unroll, copy.best_unroll, bytes,
      omp_get_max_threads(), runs, isa(), json_sweep(read, unrolls).c_str(),
      json_sweep(rmw, unrolls).c_str(), json_sweep(copy, unrolls).c_str());
  return 0;
}
