#!/usr/bin/env bash
# The main job: set up, build, and run the 16-trial Fashion-MNIST sweep
# (examples/fashion_mnist.json) with a live trial table; results go to runs/fashion_mnist/
# (or --out DIR).
#   scripts/demo.sh [--resume] [other cusweep run flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DCUSWEEP_TESTS=OFF -DCUSWEEP_BENCH=OFF
# A rerun starts the sweep afresh (--overwrite) unless told to --resume the recorded one.
# Results go to runs/fashion_mnist unless told --out elsewhere.
replace=(--overwrite)
out=(--out runs/fashion_mnist)
for a in "$@"; do
  [[ "$a" == --resume || "$a" == --overwrite ]] && replace=()
  [[ "$a" == --out || "$a" == --out=* ]] && out=()
done
build/cusweep run examples/fashion_mnist.json "${out[@]}" "${replace[@]}" "$@"
