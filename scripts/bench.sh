#!/usr/bin/env bash
# The throughput benchmark (issue: fused trials and the PyTorch comparison), one command.
# Runs on the CPU (2 threads budget): the BLAS ceiling, cusweep on the reference workload
# (bench/reference_workload.json), the same trials in PyTorch (sequential with 2 threads; two
# processes with 1 thread each), scheduling overhead, scaling with concurrency and trial count.
# Prints one table (bench/report.py) and writes every figure to $OUT_DIR/bench.json.
#   scripts/bench.sh [--quick]     --quick: 4 trials instead of 32, for a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT_DIR:-runs/bench}
mkdir -p "$out"
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
max=$([ $quick -eq 1 ] && echo 4 || echo 0)

scripts/setup.sh --bench
CUSWEEP_BUILD_DIR=build-bench scripts/build.sh -DCUSWEEP_TESTS=OFF
bench=build-bench/bench/cusweep_bench

echo "== sgemm ceiling of OpenBLAS, which cusweep links (2 threads, 1 BLAS thread each)"
seconds=$([ $quick -eq 1 ] && echo 0.2 || echo 2)
build-bench/bench/cusweep_blas_openblas --threads 2 --seconds $seconds --json "$out/sgemm.json"
echo "== the same shapes in the other BLAS installed"
for lib in blis eigen_avx2 eigen_avx512; do
  [ -x build-bench/bench/cusweep_blas_$lib ] || continue
  build-bench/bench/cusweep_blas_$lib --threads 2 --seconds $seconds --json "$out/blas_$lib.json"
done
echo "== cusweep, reference workload, 2 concurrent trials"
$bench throughput --concurrency 2 --max-trials $max --json "$out/cusweep.json"
echo "== cusweep, the same with fused trials (groups of 4; off by default on the CPU)"
$bench throughput --concurrency 2 --max-trials $max --fused 4 --json "$out/cusweep_fused4.json"
# Debian's PyTorch does its GEMMs in the same OpenBLAS: give it the kernels cusweep runs
# (on CPUs OpenBLAS 0.3.21 does not know, its own choice is its slowest; see README).
core=$(build-bench/cusweep devices | sed -n 's/^cpu: .*, \([A-Za-z0-9_]*\) kernels.*/\1/p')
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$core}
echo "== PyTorch, sequential, 2 threads (OpenBLAS ${OPENBLAS_CORETYPE:-own choice} kernels)"
/usr/bin/python3 bench/torch_baseline.py --mode sequential --max-trials $max --json "$out/torch_sequential.json"
echo "== PyTorch, two processes, 1 thread each"
/usr/bin/python3 bench/torch_baseline.py --mode two-processes --max-trials $max --json "$out/torch_two_processes.json"
echo "== scheduling overhead"
$bench overhead --trials $([ $quick -eq 1 ] && echo 50 || echo 1000) --json "$out/overhead.json"
echo "== scaling with concurrency (separate processes, so peak memory is per setting)"
# 32 concurrent trials (on 2 cores) for the memory each extra trial keeps: 24 more than at 8.
for c in 1 2 4 8 32; do
  $bench throughput --concurrency $c --max-trials $([ $quick -eq 1 ] && echo 4 || echo 32) \
    --json "$out/scaling_c$c.json"
done
echo "== wall time against trial count (2 concurrent, 10,000 training images)"
for n in 8 32 128; do
  $bench throughput --concurrency 2 --trials $n --max-train-samples 10000 \
    --json "$out/trials_$n.json"
done
echo "== samplers: TPE against random search on Hartmann-6 (100 trials, 10 seeds)"
$bench samplers --seeds $([ $quick -eq 1 ] && echo 2 || echo 10) --json "$out/samplers.json"
python3 bench/report.py "$out"
