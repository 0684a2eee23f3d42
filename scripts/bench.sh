#!/usr/bin/env bash
# Benchmarks (docs/performance.md). Builds only what it runs, in a Release build dir.
#
#   scripts/bench.sh [compare.py options]     the side-by-side run: bandwidth floor, shannon,
#                                             NumPy/SciPy and PyTorch, times, ratios, targets
#                                             (about 5-10 minutes; --quick for a smoke test,
#                                             --wait-quiet 10 to wait for a quiet machine)
#   scripts/bench.sh --gbench [options]       the Google Benchmarks of every kernel (C++),
#                                             e.g. --gbench --benchmark_filter='entropy<float>'
#   scripts/bench.sh --bandwidth [options]    the bandwidth floor alone (shannon_bandwidth --table)
#
# Environment: BUILD_DIR (default build-bench), JOBS (parallel build jobs, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-bench}
jobs=${JOBS:-2}
python=/usr/bin/python3  # Debian's, with numpy, scipy and torch

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSHANNON_BUILD_TESTS=OFF \
    -DSHANNON_BUILD_BENCH=ON -DSHANNON_BUILD_PYTHON=ON -DPython_EXECUTABLE="$python"
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
if [ "$build_type" != "Release" ]; then
  echo "bench.sh: warning: $build is a '$build_type' build; timings want Release" >&2
fi

mode=compare
case "${1:-}" in
  --gbench) mode=gbench; shift ;;
  --bandwidth) mode=bandwidth; shift ;;
esac

case "$mode" in
  gbench)
    cmake --build "$build" -j"$jobs" --target shannon_bench
    exec "$build/bin/shannon_bench" --benchmark_counters_tabular=true "$@"
    ;;
  bandwidth)
    cmake --build "$build" -j"$jobs" --target shannon_bandwidth
    exec "$build/bin/shannon_bandwidth" --table "$@"
    ;;
  compare)
    cmake --build "$build" -j"$jobs" --target shannon_bandwidth _shannon shannon_cli
    exec "$python" bench/compare.py --build "$build" "$@"
    ;;
esac
