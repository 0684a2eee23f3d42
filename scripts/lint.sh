#!/usr/bin/env bash
# clang-format and clang-tidy (.clang-format, .clang-tidy) over the sources; needs a
# configured build/ for compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/check-format.sh
mapfile -t files < <(git ls-files 'src/*.cc' 'cli/*.cc' 'python/*.cc')
findings=$(printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet 2>&1 \
  | grep -E "(warning|error):" || true)
if [ -n "$findings" ]; then
  printf '%s\n' "$findings" >&2
  echo "lint: clang-tidy found problems" >&2
  exit 1
fi
echo "lint: clang-tidy clean on ${#files[@]} files"
