#!/usr/bin/env bash
# Installs from Debian's archive the packages shannon needs that are missing.
#   scripts/install-deps.sh build   what building the library, the CLI and the Python module needs
#   scripts/install-deps.sh test    that, plus what the tests, sanitizers, fuzzers and benchmarks need
set -euo pipefail

build_packages=(
  g++ cmake make pkg-config
  libhwy-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  pybind11-dev python3-dev python3-numpy
  libgtest-dev libgmock-dev libbenchmark-dev
)
test_packages=(
  python3-scipy python3-torch python3-mpmath python3-pytest python3-hypothesis
  clang libclang-rt-14-dev libomp-dev clang-format clang-tidy
)

case "${1:-build}" in
  build) wanted=("${build_packages[@]}") ;;
  test) wanted=("${build_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#wanted[@]} packages are installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
