#!/usr/bin/env bash
# Sets up, builds and runs every test (ctest). CUDA tests skip with a reason without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh -DCUSWEEP_TESTS=ON -DCUSWEEP_BENCH=ON
cd build
ctest -j "${CUSWEEP_TEST_JOBS:-2}" --output-on-failure --timeout 900
