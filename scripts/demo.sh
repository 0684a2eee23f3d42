#!/usr/bin/env bash
# Installs what is missing, builds shannon and runs `shannon demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=/usr/bin/python3
cmake --build build -j"$(nproc)" --target shannon_cli
build/bin/shannon demo "$@"
