// The bandwidth floor inside shannon_bench: BM_stream_read (sum a 1 GiB float
// buffer) and BM_stream_rmw (negate it in place), plus BM_stream_copy, on all
// cores, for every unroll factor. Bytes/s counts bytes read plus bytes written;
// the floor is real when the larger unroll factors are no faster.
#include <benchmark/benchmark.h>

#include <cstddef>

#include "stream.h"

namespace {

using namespace shannon_bench;

constexpr std::size_t kFloats = std::size_t{1} << 28;  // 1 GiB, 32x the L3

void BM_stream_read(benchmark::State& state) {
  const int unroll = static_cast<int>(state.range(0));
  auto a = big_alloc<float>(kFloats);
  for (auto _ : state) benchmark::DoNotOptimize(stream_read(a.get(), kFloats, unroll));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kFloats * sizeof(float)));
}

void BM_stream_rmw(benchmark::State& state) {
  const int unroll = static_cast<int>(state.range(0));
  auto a = big_alloc<float>(kFloats);
  for (auto _ : state) {
    stream_rmw(a.get(), kFloats, unroll);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * 2 * kFloats * sizeof(float)));
}

void BM_stream_copy(benchmark::State& state) {
  const int unroll = static_cast<int>(state.range(0));
  auto a = big_alloc<float>(kFloats);
  auto b = big_alloc<float>(kFloats);
  for (auto _ : state) {
    stream_copy(a.get(), b.get(), kFloats, unroll);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * 2 * kFloats * sizeof(float)));
}

void unrolls(benchmark::internal::Benchmark* b) {
  b->ArgName("unroll");
  for (const int u : kUnrolls) b->Arg(u);
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_stream_read)->Apply(unrolls);
BENCHMARK(BM_stream_rmw)->Apply(unrolls);
BENCHMARK(BM_stream_copy)->Apply(unrolls);

}  // namespace
