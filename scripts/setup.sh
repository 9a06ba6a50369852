#!/usr/bin/env bash
# Installs what cusweep needs on Debian 12 (only the packages that are missing).
#   scripts/setup.sh          build and run: compiler, CMake, libraries, Fashion-MNIST
#   scripts/setup.sh --test   also the test-only packages (GoogleTest, scikit-learn's CSVs,
#                             PostgreSQL for the tests of shared studies)
#   scripts/setup.sh --bench  also the benchmark baselines (Debian's PyTorch, BLIS)
# The CUDA toolkit is not a Debian package: when /usr/local/cuda is present the CUDA backend
# is built too; without it Debian's Thrust serves the CPU build.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config nlohmann-json3-dev libcli11-dev
  libfmt-dev zlib1g-dev libsqlite3-dev libpqxx-dev libopenblas-dev libeigen3-dev libthrust-dev
  dataset-fashion-mnist)
case "${1:-}" in
  --test) packages+=(libgtest-dev libgmock-dev python3-sklearn clang-format postgresql) ;;
  --bench) packages+=(python3-torch libblis-dev) ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
