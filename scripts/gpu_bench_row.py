#!/usr/bin/env python3
"""One row of scripts/gpu-check.sh's table for a CUDA throughput run.

  gpu_bench_row.py BENCH_JSON SAMPLES_CSV IDLE_MIB

BENCH_JSON: cusweep_bench's --json output. SAMPLES_CSV: `nvidia-smi --query-gpu=memory.used,
utilization.gpu --format=csv,noheader,nounits -lms 100` taken during the run, or - for a run
on the CPU. Prints samples/s,
wall time, the GPU memory the run held (peak minus IDLE_MIB) and the mean utilization, which
NVML defines as the share of each sample period in which a kernel was running: kernel time over
wall time.
"""
import json
import sys


def main(bench_json, samples_csv, idle_mib):
    with open(bench_json) as f:
        run = json.load(f)
    text = f"{run['samples_per_s']:.0f} samples/s, {run['wall_s']:.1f} s"
    if samples_csv == "-":
        print(text)
        return
    memory, utilization = [], []
    with open(samples_csv) as f:
        for line in f:
            fields = [x.strip() for x in line.split(",")]
            if len(fields) != 2 or not all(x.isdigit() for x in fields):
                continue  # a line cut off when the sampler was stopped, or "[N/A]"
            memory.append(int(fields[0]))
            utilization.append(int(fields[1]))
    if memory:
        text += (f", GPU memory +{max(memory) - int(idle_mib)} MiB, kernels running "
                 f"{sum(utilization) / len(utilization):.0f}% of the time "
                 f"({len(utilization)} samples)")
    else:
        text += ", no GPU samples"
    print(text)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
