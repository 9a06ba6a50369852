#!/usr/bin/env bash
# The one script to run on a machine with a GPU (a few minutes; every step under a time limit
# and all of them inside GPU_CHECK_BUDGET seconds, 300 by default, so that a hang in one step
# still leaves the rows of the others and the logs): the test suite's CUDA cases, required
# (CUSWEEP_REQUIRE_CUDA=1: a skip fails; the CPU cases run in CI on every change),
# a short sweep on CUDA and on the CPU with their per-trial metrics compared, and the reference
# workload on CUDA at 1, 8, 32 and 128 concurrent trials with GPU memory and kernel time over
# wall time. Prints one table, row by row as each step ends, and again at the end.
#
# Two ways to get the programs:
# - .gpu/cusweep-gpu.tar.xz present (made by scripts/gpu-bundle.sh on a machine without a GPU):
#   used as they are, with the libraries they carry; for GPU machines that cannot install
#   anything. Device tool: command `bash scripts/gpu-check.sh`, carry [".gpu"].
# - otherwise: scripts/setup.sh --test and a CUDA build here (needs apt and a Debian 12 base).
# Logs go to /tmp/cusweep-gpu-check; with $OUT set, summary.txt and gpu-check-logs.tgz there.
set -uo pipefail
cd "$(dirname "$0")/.."
with_libs=()
logs=/tmp/cusweep-gpu-check
rm -rf "$logs"
mkdir -p "$logs"
summary=$logs/summary.txt
# Each row goes to $OUT/summary.txt at once too: a run stopped at its time limit keeps them.
[ -n "${OUT:-}" ] && rm -f "$OUT/summary.txt"
row() { printf '%-30s %s\n' "$1" "$2" | tee -a "$summary" ${OUT:+"$OUT/summary.txt"}; }
finish() {
  echo
  echo "== summary"
  cat "$summary"
  [ -n "${OUT:-}" ] && tar -C /tmp -czf "$OUT/gpu-check-logs.tgz" cusweep-gpu-check
}
trap finish EXIT
start=$(date +%s)
# 300 s: with a machine's start, a session's 15 minutes of device time leave room for a rerun.
deadline=$((start + ${GPU_CHECK_BUDGET:-300}))
# A step's time limit: what it asks for, or less when the budget is running out (15 s kept for
# the summary and the logs).
lim() {
  local rest=$((deadline - $(date +%s) - 15))
  [ "$rest" -lt 1 ] && rest=1
  echo $(($1 < rest ? $1 : rest))
}

gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)
row "gpu" "$gpu"
build="build-gpu"
if [ -f .gpu/cusweep-gpu.tar.xz ]; then
  mkdir -p "$build"
  # tar needs the xz program for .tar.xz, which minimal images lack; Python's tarfile does not.
  tar -C "$build" -xJf .gpu/cusweep-gpu.tar.xz 2>"$logs/unpack.log" ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      .gpu/cusweep-gpu.tar.xz "$build" 2>>"$logs/unpack.log"
  build_rc=$?
  # The tests find the cusweep binary and the examples where the bundle was built.
  built_in=$(cat .gpu/source_dir 2>/dev/null || echo "$PWD")
  if [ "$built_in" != "$PWD" ] && [ ! -e "$built_in" ]; then
    mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"
  fi
  # CUDA's runtime and cuBLAS come from this machine: wherever its toolkit or wheels hold them,
  # the toolkit's (/usr/local/cuda*, what cusweep was built with) first; the search bounded, as
  # a Python environment under /opt can be large.
  cuda_dirs=$(timeout 30 find /usr/local /usr/lib /opt -name 'libcublas.so.13*' -o \
    -name 'libcudart.so.13*' 2>/dev/null | xargs -r -n1 dirname | sort -u |
    awk '/^\/usr\/local\/cuda/ { print; next } { rest = rest $0 "\n" } END { printf "%s", rest }' |
    paste -sd:)
  # Only cusweep's programs get the carried libraries (run through "${with_libs[@]}"): python3
  # and nvidia-smi keep this machine's own.
  with_libs=(env "LD_LIBRARY_PATH=$PWD/$build/lib${cuda_dirs:+:$cuda_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  if [ ! -e /usr/share/datasets/fashion-mnist ] && [ -d .gpu/fashion-mnist ]; then
    mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu/fashion-mnist" /usr/share/datasets/fashion-mnist
  fi
  row "programs" "$([ $build_rc -eq 0 ] && echo "carried (.gpu), built in $built_in" || echo "FAILED to unpack")"
else
  timeout "$(lim 240)" scripts/setup.sh --test >"$logs/setup.log" 2>&1 ||
    echo "setup failed (see setup.log)"
  CUSWEEP_BUILD_DIR=$build CUSWEEP_BUILD_JOBS=${CUSWEEP_BUILD_JOBS:-16} timeout "$(lim 420)" \
    scripts/build.sh -DCMAKE_CUDA_ARCHITECTURES=90 -DCUSWEEP_TESTS=ON >"$logs/build.log" 2>&1
  build_rc=$?
  row "programs" "$([ $build_rc -eq 0 ] && echo "built here (sm_90)" || echo "build FAILED rc=$build_rc")"
fi
bin=$build/cusweep
# Which CUDA runtime and cuBLAS the programs load, for reading a failure.
row "cuda libraries" "$("${with_libs[@]}" ldd "$bin" 2>&1 | awk '/libcudart|libcublas\./ {print $3}' |
  paste -sd' ')"
timeout "$(lim 30)" "${with_libs[@]}" "$bin" devices >"$logs/devices.txt" 2>&1
row "devices" "$(grep '^cuda' "$logs/devices.txt" || head -c 300 "$logs/devices.txt")"
row "cpu" "$(grep '^cpu' "$logs/devices.txt")"

mkdir -p "$logs/test_tmp"
CUSWEEP_REQUIRE_CUDA=1 TEST_TMPDIR=$logs/test_tmp/ timeout "$(lim 150)" "${with_libs[@]}" \
  "$build/cusweep_tests" --gtest_filter='*/cuda:*Cuda*:*CUDA*' >"$logs/tests.log" 2>&1
test_rc=$?
row "tests (CUDA required)" "rc $test_rc: $(grep -E '^\[  (PASSED|FAILED) +\] [0-9]+ test' "$logs/tests.log" |
  paste -sd' ') $(grep -cE '^\[       OK \] .*(Cuda|cuda)' "$logs/tests.log") CUDA cases passed"
grep -E '^\[  FAILED  \] ' "$logs/tests.log" | head -8 | sed 's/^/    /' |
  tee -a "$summary" ${OUT:+"$OUT/summary.txt"}

cfg=examples/gpu_check.json
timeout "$(lim 90)" "${with_libs[@]}" "$bin" run "$cfg" --backend cuda --quiet --out "$logs/sweep_cuda" >"$logs/sweep_cuda.log" 2>&1
cuda_rc=$?
row "sweep on cuda (rc, wall)" "$cuda_rc, $(grep -o '([0-9.]* s on [^)]*' "$logs/sweep_cuda.log" | head -1)"
timeout "$(lim 90)" "${with_libs[@]}" "$bin" run "$cfg" --backend cpu --quiet --out "$logs/sweep_cpu" >"$logs/sweep_cpu.log" 2>&1
cpu_rc=$?
row "sweep on cpu (rc, wall)" "$cpu_rc, $(grep -o '([0-9.]* s on cpu' "$logs/sweep_cpu.log" | head -1)"
python3 scripts/compare_runs.py "$logs/sweep_cpu" "$logs/sweep_cuda" >"$logs/compare.txt" 2>&1
compare_rc=$?
row "cuda vs cpu metrics" "$([ $compare_rc -eq 0 ] && echo agree || echo "DIFFER (compare.txt)")"
sed 's/^/    /' "$logs/compare.txt" | tail -6 | tee -a "$summary" ${OUT:+"$OUT/summary.txt"}

# The reference workload on the GPU at several concurrencies (one stream per slot), with the
# GPU memory in use and the utilization sampled every 100 ms: peak memory minus the idle figure
# is what the sweep holds; NVML's utilization is the share of each period in which a kernel
# ran, so its mean over the run is kernel time / wall time. "8u" is 8 slots with fusion off,
# to see what fused trials (auto: 8 per slot) bring; 128 runs the 32 trials of the workload 4
# times over (--trials 128) so that every slot has one.
idle_mib=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
for c in 1 8 32 128 8u; do
  fused=$([ "$c" = 8u ] && echo 1 || echo 0)
  trials=$([ "$c" = 128 ] && echo "--trials 128" || echo "")
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -lms 100 \
    >"$logs/gpu_c$c.csv" 2>/dev/null &
  sampler=$!
  # shellcheck disable=SC2086
  timeout "$(lim 45)" "${with_libs[@]}" "$build/bench/cusweep_bench" throughput --backend cuda --concurrency "${c%u}" \
    --fused "$fused" $trials --json "$logs/bench_cuda_c$c.json" >"$logs/bench_cuda_c$c.log" 2>&1
  bench_rc=$?
  kill "$sampler" 2>/dev/null
  if [ $bench_rc -eq 0 ]; then
    row "bench cuda, $c concurrent" "$(python3 scripts/gpu_bench_row.py \
      "$logs/bench_cuda_c$c.json" "$logs/gpu_c$c.csv" "${idle_mib:-0}")"
  else
    row "bench cuda, $c concurrent" "FAILED rc=$bench_rc (bench_cuda_c$c.log)"
  fi
done
timeout "$(lim 45)" "${with_libs[@]}" "$build/bench/cusweep_bench" throughput --backend cpu --concurrency 2 \
  --json "$logs/bench_cpu_c2.json" >"$logs/bench_cpu_c2.log" 2>&1 &&
  row "bench cpu, 2 concurrent" "$(python3 scripts/gpu_bench_row.py "$logs/bench_cpu_c2.json" - 0)"
row "total" "$(($(date +%s) - start)) s"
[ $build_rc -eq 0 ] && [ $test_rc -eq 0 ] && [ $cuda_rc -eq 0 ] && [ $compare_rc -eq 0 ]
