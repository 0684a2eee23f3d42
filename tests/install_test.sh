#!/usr/bin/env bash
# Installs the build into a fresh prefix and builds examples/consumer against it,
# once with find_package and once with add_subdirectory.
set -euo pipefail
build=$1
source=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$source/examples/consumer" -B "$work/pkg" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/pkg" -j2 >/dev/null
"$work/pkg/consumer" | tee "$work/out.txt"
grep -q "H(p) = 1 bits" "$work/out.txt"
grep -q "p\[1\] = -0.1 is negative" "$work/out.txt"
cmake -S "$source/examples/consumer" -B "$work/sub" -DSHANNON_SOURCE_DIR="$source" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/sub" -j2 --target consumer >/dev/null
"$work/sub/consumer" >/dev/null
echo "install_test: find_package and add_subdirectory consumers work"
