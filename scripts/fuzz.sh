#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan, and runs each for N seconds (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSHANNON_BUILD_FUZZERS=ON -DSHANNON_SANITIZE="address;undefined" \
  -DSHANNON_BUILD_TESTS=OFF -DSHANNON_BUILD_CLI=OFF -DSHANNON_BUILD_PYTHON=OFF \
  -DSHANNON_BUILD_BENCH=OFF -DSHANNON_INSTALL=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target npy_fuzzer text_fuzzer measures_fuzzer
for name in npy_fuzzer text_fuzzer measures_fuzzer; do
  corpus=build-fuzz/corpus/$name
  mkdir -p "$corpus"
  if [ -d "fuzz/corpus/$name" ]; then cp -n fuzz/corpus/$name/* "$corpus"/ 2>/dev/null || true; fi
  echo "fuzz: $name for ${seconds}s"
  OMP_NUM_THREADS=1 build-fuzz/bin/$name -max_total_time="$seconds" -rss_limit_mb=4096 \
    -print_final_stats=0 "$corpus" 2>&1 | tail -n 2
done
