#!/usr/bin/env bash
# Configures and builds cusweep into build/ (or $CUSWEEP_BUILD_DIR), Release. Extra arguments
# go to CMake, e.g. scripts/build.sh -DCUSWEEP_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${CUSWEEP_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# Two jobs: the machines this runs on have 2 cores, and nvcc's Thrust units take ~2 GiB each.
cmake --build "$build" -j "${CUSWEEP_BUILD_JOBS:-2}"
