#!/usr/bin/env bash
# The one script to run on a machine with a GPU (under 9 minutes): build with CUDA, run the
# whole test suite (CUDA tests included), run a short sweep on CUDA and on the CPU, compare
# their per-trial metrics, and print one summary table. Writes its logs to ${OUT:-/tmp}.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/cusweep-gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt" ||
  echo "nvidia-smi: no GPU visible; the CUDA checks below will fail or skip"

start=$(date +%s)
scripts/setup.sh --test >"$out/setup.log" 2>&1 || echo "setup failed (see setup.log)"
export CUSWEEP_BUILD_DIR=${CUSWEEP_BUILD_DIR:-build-gpu}
bin=$CUSWEEP_BUILD_DIR/cusweep
CUSWEEP_BUILD_JOBS=${CUSWEEP_BUILD_JOBS:-16} scripts/build.sh -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCUSWEEP_TESTS=ON >"$out/build.log" 2>&1
build_rc=$?
$bin devices | tee "$out/devices.txt"

(cd "$CUSWEEP_BUILD_DIR" && ctest -j 8 --output-on-failure --timeout 600) >"$out/ctest.log" 2>&1
test_rc=$?
cuda_tests=$(grep -cE 'cuda|Cuda' "$out/ctest.log" || true)
cuda_skipped=$(grep -E '(cuda|Cuda).*Skipped' "$out/ctest.log" | wc -l)

cfg=examples/gpu_check.json
$bin run "$cfg" --backend cuda --quiet --out "$out/sweep_cuda" >"$out/sweep_cuda.log" 2>&1
cuda_rc=$?
$bin run "$cfg" --backend cpu --quiet --out "$out/sweep_cpu" >"$out/sweep_cpu.log" 2>&1
cpu_rc=$?
python3 scripts/compare_runs.py "$out/sweep_cpu" "$out/sweep_cuda" | tee "$out/compare.txt"
compare_rc=${PIPESTATUS[0]}

# The reference workload on the GPU at several concurrencies (one stream per slot), with the
# GPU memory in use and the utilization sampled every 100 ms: peak memory minus the idle figure
# is what the sweep holds; NVML's utilization is the share of each period in which a kernel
# ran, so its mean over the run is kernel time / wall time.
# "8u" is 8 slots with fusion off, to see what fused trials (auto: 8 per slot) bring; 128 runs
# the 32 trials of the workload 4 times over (--trials 128) so that every slot has one.
concurrencies=(1 8 32 128 8u)
gpu_memory_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; }
idle_mib=$(gpu_memory_mib)
bench_rows=()
for c in "${concurrencies[@]}"; do
  fused=$([ "$c" = 8u ] && echo 1 || echo 0)
  trials=$([ "$c" = 128 ] && echo "--trials 128" || echo "")
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -lms 100 \
    >"$out/gpu_c$c.csv" 2>/dev/null &
  sampler=$!
  # shellcheck disable=SC2086
  if timeout 90 "$CUSWEEP_BUILD_DIR/bench/cusweep_bench" throughput --backend cuda \
      --concurrency "${c%u}" --fused "$fused" $trials --json "$out/bench_cuda_c$c.json" \
      >"$out/bench_cuda_c$c.log" 2>&1; then
    kill "$sampler" 2>/dev/null
    bench_rows+=("$(python3 scripts/gpu_bench_row.py "$out/bench_cuda_c$c.json" \
      "$out/gpu_c$c.csv" "${idle_mib:-0}")")
  else
    kill "$sampler" 2>/dev/null
    bench_rows+=("failed (see bench_cuda_c$c.log)")
  fi
done

printf '\n%-28s %s\n' "check" "result"
printf '%-28s %s\n' "build (sm_90)" "$([ $build_rc -eq 0 ] && echo ok || echo "FAILED rc=$build_rc")"
printf '%-28s %s\n' "ctest" "$(grep -E 'tests passed|tests failed' "$out/ctest.log" || echo "rc=$test_rc")"
printf '%-28s %s\n' "cuda test lines / skipped" "$cuda_tests / $cuda_skipped"
printf '%-28s %s\n' "sweep cuda (rc, wall)" "$cuda_rc, $(grep -o '([0-9.]* s on [^)]*' "$out/sweep_cuda.log" | head -1)"
printf '%-28s %s\n' "sweep cpu (rc, wall)" "$cpu_rc, $(grep -o '([0-9.]* s on cpu' "$out/sweep_cpu.log" | head -1)"
printf '%-28s %s\n' "cuda vs cpu metrics" "$([ $compare_rc -eq 0 ] && echo agree || echo DIFFER)"
i=0
for c in "${concurrencies[@]}"; do
  printf '%-28s %s\n' "bench cuda, $c concurrent" "${bench_rows[$i]}"
  i=$((i + 1))
done
printf '%-28s %ss\n' "total" "$(($(date +%s) - start))"
[ $build_rc -eq 0 ] && [ $test_rc -eq 0 ] && [ $cuda_rc -eq 0 ] && [ $compare_rc -eq 0 ]
