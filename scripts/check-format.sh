#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format's layout.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror
echo "check-format: $(git ls-files '*.h' '*.cc' | wc -l) files formatted"
