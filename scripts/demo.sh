#!/usr/bin/env bash
# The main job: set up, build, and run the 16-trial Fashion-MNIST sweep
# (examples/fashion_mnist.json) with a live trial table; results go to runs/fashion_mnist/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DCUSWEEP_TESTS=OFF
build/cusweep run examples/fashion_mnist.json --out runs/fashion_mnist "$@"
