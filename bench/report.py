#!/usr/bin/env python3
"""Reads the JSON files scripts/bench.sh wrote into a folder, prints one table with the
ratios the throughput targets are stated in, and writes them all to FOLDER/bench.json."""
import json
import os
import sys


def load(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "runs/bench"
    cus = load(folder, "cusweep.json")
    fused = load(folder, "cusweep_fused4.json")
    seq = load(folder, "torch_sequential.json")
    two = load(folder, "torch_two_processes.json")
    sgemm = load(folder, "sgemm.json")
    overhead = load(folder, "overhead.json")
    scaling = {c: load(folder, f"scaling_c{c}.json") for c in (1, 2, 4, 8, 32)}
    counts = {n: load(folder, f"trials_{n}.json") for n in (8, 32, 128)}
    samplers = load(folder, "samplers.json")
    blas = {"openblas": sgemm}  # the ceiling run is OpenBLAS's
    blas.update({lib: load(folder, f"blas_{lib}.json")
                 for lib in ("blis", "eigen_avx2", "eigen_avx512")})

    rows = []
    def row(name, value, unit="", target="", met=None):
        if met is not None:
            target += ": met" if met else ": MISSED"
        rows.append((name, value, unit, target))

    if cus and cus.get("trials", 32) < 32:
        row(f"NOTE: {cus['trials']} of the 32 reference trials (--quick)",
            "not the reference workload's figures")
    if cus:
        row("cusweep samples/s (2 concurrent)", f"{cus['samples_per_s']:.0f}")
        row("cusweep trials/s", f"{cus['trials_per_s']:.3f}")
        row("cusweep training GFLOP/s", f"{cus['train_gflops_per_s']:.1f}")
        row("cusweep wall", f"{cus['wall_s']:.1f}", "s")
        row("cusweep peak memory", f"{cus['peak_rss_mb']:.0f}", "MB")
        row("cusweep mean eval_accuracy", f"{cus['mean_eval_accuracy']:.4f}")
    if fused:
        row("cusweep fused trials (groups of 4) samples/s", f"{fused['samples_per_s']:.0f}")
    best_torch = None
    for label, t in (("PyTorch sequential, 2 threads", seq), ("PyTorch 2 processes x 1 thread", two)):
        if t:
            row(f"{label}: samples/s", f"{t['samples_per_s']:.0f}")
            row(f"{label}: mean eval_accuracy", f"{t['mean_eval_accuracy']:.4f}")
            if "openblas_coretype" in t:
                row(f"{label}: OpenBLAS kernels", t["openblas_coretype"])
            if "openblas_threads" in t:
                row(f"{label}: OpenBLAS threads per process", str(t["openblas_threads"]))
            if "flush_subnormals" in t:
                row(f"{label}: subnormals", "flushed" if t["flush_subnormals"] else "kept")
            if best_torch is None or t["samples_per_s"] > best_torch["samples_per_s"]:
                best_torch = t
    if cus and best_torch:
        ratio = cus["samples_per_s"] / best_torch["samples_per_s"]
        row("cusweep / best PyTorch samples/s", f"{ratio:.2f}", "x", ">= 5x", ratio >= 5)
        row("accuracy difference (cusweep - PyTorch)",
            f"{cus['mean_eval_accuracy'] - best_torch['mean_eval_accuracy']:+.4f}")
    # The ceiling is that of the GEMM cusweep ran: OpenBLAS, or Eigen for AVX-512 where
    # OpenBLAS is held to narrower kernels (host/cpu_gemm.h).
    gemm_lib = "openblas"
    if cus and cus.get("cpu_gemm") == "eigen-avx512" and blas.get("eigen_avx512"):
        gemm_lib = "eigen_avx512"
        sgemm = blas["eigen_avx512"]
        row("cusweep's GEMMs", "Eigen AVX-512", "", cus.get("cpu_gemm_why", ""))
    if sgemm and cus:
        shapes = {s["name"]: s["gflops"] for s in sgemm["shapes"]}
        # The workload mixes batch sizes 32..256 equally by trial count; weight the step
        # ceilings by the samples each batch size trains (equal) -> harmonic mean of times.
        steps = [shapes[k] for k in shapes if k.startswith("step_")]
        ceiling = len(steps) / sum(1.0 / g for g in steps)
        row("sgemm ceiling at the workload's shapes", f"{ceiling:.1f}", "GFLOP/s")
        row("sgemm ceiling, square 1024", f"{shapes['square_1024']:.1f}", "GFLOP/s")
        if "core" in sgemm:
            chosen = sgemm.get("core_chosen_by") or "picked by OpenBLAS"
            row("OpenBLAS kernels (cusweep and the ceiling)", f"{sgemm['core']} ({chosen})")
        elif gemm_lib != "openblas":
            row("sgemm ceiling measured with", gemm_lib)
        share = 100 * cus["train_gflops_per_s"] / ceiling
        row("cusweep training FLOP/s / ceiling", f"{share:.0f}", "%", ">= 60%", share >= 60)
    for lib, b in blas.items():
        if b:
            steps = [s["gflops"] for s in b["shapes"] if s["name"].startswith("step_")]
            worst = max(s.get("max_relative_error", 0) for s in b["shapes"])
            row(f"{lib}: sgemm at the workload's shapes (2 threads)",
                f"{len(steps) / sum(1.0 / g for g in steps):.1f}", "GFLOP/s",
                f"max rel err {worst:.1e}")
    if overhead:
        ms = overhead["outside_training_ms_per_trial"]
        row("time outside training per trial", f"{ms:.3f}", "ms", "< 1 ms", ms < 1)
    for c, s in scaling.items():
        if s:
            row(f"samples/s at {c} concurrent", f"{s['samples_per_s']:.0f}")
    # Growth of the sweep's own peak (the data loader's is left out) per extra concurrent
    # trial, from each concurrency to the next. Up to the cores each extra trial also brings
    # the epoch workspace of the core it trains on; beyond them trials wait their turn and
    # share those workspaces, and what the target measures is what each one keeps.
    levels = [(c, s) for c, s in scaling.items() if s]
    peak = lambda s: s.get("sweep_peak_rss_mb", s["peak_rss_mb"])
    for (c0, s0), (c1, s1) in zip(levels, levels[1:]):
        growth = (peak(s1) - peak(s0)) / (c1 - c0)
        cores = s1.get("cpu_training_at_once", 0)
        # 101,770 parameters, gradients and AdamW's two moments, 4 bytes each
        judged = c0 >= cores > 0
        target = ("< model state (1.63 MB)" if judged
                  else f"(a core's workspace too: {cores} train at once)" if cores else "")
        row(f"peak memory per extra trial, {c0} -> {c1} concurrent", f"{growth:.2f}", "MB",
            target, growth < 1.63 if judged else None)
    for n, s in counts.items():
        if s:
            row(f"wall time, {n} trials", f"{s['wall_s']:.1f}", "s")
    for n, s in counts.items():
        if s:  # at 2 concurrent trials whatever their number: flat unless memory is kept
            row(f"peak memory, {n} trials (2 concurrent)", f"{peak(s):.0f}", "MB")

    if samplers:
        row("Hartmann-6 median regret, random (100 trials)",
            f"{samplers['random_median_regret']:.4f}")
        tpe, rnd = samplers["tpe_median_regret"], samplers["random_median_regret"]
        row("Hartmann-6 median regret, TPE (100 trials)", f"{tpe:.4f}", "", "<= half of random",
            tpe <= rnd / 2)
        ms = samplers["tpe_suggest_ms_1000"]
        row("TPE suggestion with 1,000 finished trials", f"{ms:.2f}", "ms", "< 10 ms", ms < 10)
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"\n{'measure':<{width}}  {'value':>10} {'unit':<8} target")
    for name, value, unit, target in rows:
        print(f"{name:<{width}}  {value:>10} {unit:<8} {target}")
    everything = {"cusweep": cus, "cusweep_fused4": fused, "torch_sequential": seq, "torch_two_processes": two,
                  "sgemm": sgemm, "overhead": overhead,
                  "scaling": {str(c): s for c, s in scaling.items()},
                  "trial_counts": {str(n): s for n, s in counts.items()},
                  "samplers": samplers, "blas": blas,
                  "table": [{"measure": r[0], "value": r[1], "unit": r[2], "target": r[3]}
                            for r in rows]}
    with open(os.path.join(folder, "bench.json"), "w") as f:
        json.dump(everything, f, indent=2)
    print(f"\nwritten: {os.path.join(folder, 'bench.json')}")


if __name__ == "__main__":
    main()
