#!/usr/bin/env bash
# The one script to run on a machine with a GPU (under 8 minutes): build with CUDA, run the
# whole test suite (CUDA tests included), run a short sweep on CUDA and on the CPU, compare
# their per-trial metrics, and print one summary table. Writes its logs to ${OUT:-/tmp}.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/cusweep-gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

start=$(date +%s)
scripts/setup.sh --test >"$out/setup.log" 2>&1 || echo "setup failed (see setup.log)"
CUSWEEP_BUILD_JOBS=${CUSWEEP_BUILD_JOBS:-16} scripts/build.sh -DCMAKE_CUDA_ARCHITECTURES=90 \
  >"$out/build.log" 2>&1
build_rc=$?
build/cusweep devices | tee "$out/devices.txt"

(cd build && ctest -j 8 --output-on-failure --timeout 600) >"$out/ctest.log" 2>&1
test_rc=$?
cuda_tests=$(grep -cE 'cuda|Cuda' "$out/ctest.log" || true)
cuda_skipped=$(grep -E '(cuda|Cuda).*Skipped' "$out/ctest.log" | wc -l)

cfg=examples/gpu_check.json
build/cusweep run "$cfg" --backend cuda --quiet --out "$out/sweep_cuda" >"$out/sweep_cuda.log" 2>&1
cuda_rc=$?
build/cusweep run "$cfg" --backend cpu --quiet --out "$out/sweep_cpu" >"$out/sweep_cpu.log" 2>&1
cpu_rc=$?
python3 scripts/compare_runs.py "$out/sweep_cpu" "$out/sweep_cuda" | tee "$out/compare.txt"
compare_rc=${PIPESTATUS[0]}

printf '\n%-28s %s\n' "check" "result"
printf '%-28s %s\n' "build (sm_90)" "$([ $build_rc -eq 0 ] && echo ok || echo "FAILED rc=$build_rc")"
printf '%-28s %s\n' "ctest" "$(tail -n 3 "$out/ctest.log" | grep -E 'tests passed|tests failed' || echo "rc=$test_rc")"
printf '%-28s %s\n' "cuda test lines / skipped" "$cuda_tests / $cuda_skipped"
printf '%-28s %s\n' "sweep cuda (rc, wall)" "$cuda_rc, $(grep -o '([0-9.]* s on [^)]*' "$out/sweep_cuda.log" | head -1)"
printf '%-28s %s\n' "sweep cpu (rc, wall)" "$cpu_rc, $(grep -o '([0-9.]* s on cpu' "$out/sweep_cpu.log" | head -1)"
printf '%-28s %s\n' "cuda vs cpu metrics" "$([ $compare_rc -eq 0 ] && echo agree || echo DIFFER)"
printf '%-28s %ss\n' "total" "$(($(date +%s) - start))"
[ $build_rc -eq 0 ] && [ $test_rc -eq 0 ] && [ $cuda_rc -eq 0 ] && [ $compare_rc -eq 0 ]
