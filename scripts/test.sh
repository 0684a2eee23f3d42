#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test:
# the release build's ctest (C++, CLI, Python, install), then the
# sanitizer build's C++ tests, a short fuzzing run and the format check.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
scripts/install-deps.sh test

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=/usr/bin/python3 \
  -DSHANNON_BUILD_TESTS=ON -DSHANNON_BUILD_CLI=ON -DSHANNON_BUILD_PYTHON=ON -DSHANNON_BUILD_BENCH=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" 2>&1 | tee build/ctest-release.log

echo "== address and undefined-behaviour sanitizers"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHANNON_SANITIZE="address;undefined" \
  -DSHANNON_BUILD_PYTHON=OFF -DSHANNON_BUILD_BENCH=OFF -DSHANNON_BUILD_CLI=ON -DSHANNON_BUILD_TESTS=ON
cmake --build build-sanitize -j"$jobs"
ctest --test-dir build-sanitize --output-on-failure -j"$jobs" -E "install|python"

echo "== fuzzing (libFuzzer, ${SHANNON_FUZZ_SECONDS:-20} s per target)"
scripts/fuzz.sh "${SHANNON_FUZZ_SECONDS:-20}"

echo "== format and lint"
scripts/lint.sh

# The release suite's closing lines, last, for whoever reads the end of the log.
echo "== summary"
tail -n 3 build/ctest-release.log
