#!/usr/bin/env python3
"""Compares two cusweep result folders trial by trial (e.g. CPU against CUDA).

Usage: compare_runs.py DIR_A DIR_B [--loss-rtol 0.01] [--acc-atol 0.01]
Prints one row per trial and exits 1 when a trial's status differs or a metric is out of
tolerance. Summation order differs between BLAS kernels, so results agree only within float
tolerance, which grows with the number of training steps.
"""
import argparse
import json
import sys


def load(folder):
    try:
        with open(f"{folder}/trials.jsonl") as f:
            return {t["index"]: t for t in map(json.loads, f)}
    except OSError as e:
        sys.exit(f"error: {folder}: no results to compare ({e.strerror})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--loss-rtol", type=float, default=0.01)
    p.add_argument("--acc-atol", type=float, default=0.01)
    args = p.parse_args()
    a, b = load(args.a), load(args.b)
    ok = a.keys() == b.keys()
    print(f"{'trial':>5} {'status':>10} {'loss a':>9} {'loss b':>9} {'acc a':>7} {'acc b':>7}")
    for i in sorted(a.keys() & b.keys()):
        ta, tb = a[i], b[i]
        ma, mb = ta["metrics"], tb["metrics"]
        la, lb = ma.get("eval_loss", float("nan")), mb.get("eval_loss", float("nan"))
        aa, ab = ma.get("eval_accuracy", 0.0), mb.get("eval_accuracy", 0.0)
        good = ta["status"] == tb["status"]
        if ta["status"] == "TERMINATED" and good:
            good = abs(la - lb) <= args.loss_rtol * abs(la) and abs(aa - ab) <= args.acc_atol
        ok = ok and good
        print(f"{i:>5} {ta['status']:>10} {la:9.5f} {lb:9.5f} {aa:7.4f} {ab:7.4f}"
              f"{'' if good else '  <- differs'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
