#!/usr/bin/python3
"""PyTorch baseline for cusweep's reference benchmark workload.

Trains the trials of a cusweep sweep config (default: reference_workload.json next to this
script) in PyTorch, as cusweep trains them, and reports samples/s for the benchmark table.
Run with Debian's PyTorch: `apt-get install -y python3-torch`, then
`/usr/bin/python3 bench/torch_baseline.py --mode sequential --json out.json`.

Modes:
  sequential     one process, torch.set_num_threads(2) and 2 OpenBLAS threads, trials one
                 after another.
  two-processes  a Pool of 2 forked workers, 1 intra-op, 1 inter-op and 1 OpenBLAS thread
                 each, taking trials from a queue (cusweep's CPU backend: one thread per slot,
                 2 slots).

Only grid parameters are enumerated: cusweep's random draws come from its own generator,
which this script does not reproduce, so a config with random parameters is refused.
"""

import argparse
import gzip
import json
import math
import multiprocessing
import os
import resource
import sys
import time


def _blas_threads(argv):
    """OpenBLAS threads per process: the mode's thread budget (see the module docstring)."""
    for i, arg in enumerate(argv):
        if arg == "--mode=two-processes" or (arg == "--mode"
                                             and argv[i + 1:i + 2] == ["two-processes"]):
            return "1"
    return "2"


# Debian's torch does its float GEMMs in OpenBLAS, which starts one thread per core when it
# loads, whatever torch.set_num_threads says. Two processes would then run 4 GEMM threads on
# 2 cores, spinning in sched_yield for each other: the two-process figure swung between 84k and
# 160k samples/s from run to run on the project's Xeon. The budget is set before torch loads;
# a value the user set is kept, and recorded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", _blas_threads(sys.argv[1:]))

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as e:
    sys.exit(
        f"error: cannot import torch and numpy ({e}) with {sys.executable}.\n"
        "hint: install Debian's PyTorch with `apt-get install -y python3-torch` and run this "
        "script with /usr/bin/python3 (the Debian package is not visible to other Pythons)."
    )

EXIT_BAD_INPUT = 2  # as cusweep: 2 on a bad config, data or command line

# cusweep's defaults (README, "Config reference"), where they differ from HF's or matter here.
DEFAULT_MODEL = {"architecture": "mlp", "hidden_sizes": [128], "activation": "relu"}
DEFAULT_TRAINING = {
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
    "num_train_epochs": 3,
    "weight_decay": 0.0,
    "warmup_ratio": 0.0,
    "lr_scheduler_type": "linear",
    "optim": "adamw",
    "momentum": 0.9,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "seed": 42,
}
OPTIM_ALIASES = {"adamw": "adamw", "adamw_torch": "adamw", "adamw_hf": "adamw", "sgd": "sgd"}
SCHEDULERS = ("linear", "constant", "constant_with_warmup", "cosine")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}  # GELU: exact (erf), as cusweep
# Top-level keys that do not change what a trial trains.
IGNORED_TOP_KEYS = {
    "name", "description", "$schema", "metrics", "average", "objective", "direction",
    "objective_scope", "sampler", "max_concurrent_trials", "seed", "backend",
    "report_interval_s",
}
DATA_KEYS = {"format", "dir", "scaling"}
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "eval_images": "t10k-images-idx3-ubyte.gz",
    "eval_labels": "t10k-labels-idx1-ubyte.gz",
}


class BadInput(Exception):
    """A config, data or command-line problem: reported in one message, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Config and trials


def check_keys(section, known, where):
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise BadInput(f"{where}: key(s) {unknown} are not handled by this baseline; "
                       f"handled: {sorted(known)}")


def load_config(path):
    try:
        with open(path) as f:
            config = json.load(f)
    except OSError as e:
        raise BadInput(f"cannot read config {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: line {e.lineno}: {e.msg}")

    known_top = IGNORED_TOP_KEYS | {"data", "model", "training", "search_space", "n_trials"}
    check_keys(config, known_top, path)
    check_keys(config.get("data", {}), DATA_KEYS, f"{path}: data")
    check_keys(config.get("model", {}), DEFAULT_MODEL, f"{path}: model")
    check_keys(config.get("training", {}), DEFAULT_TRAINING, f"{path}: training")
    return config


def expand_trials(config, path):
    """The trials' settings in cusweep's order: grid parameters in alphabetical order of their
    names (nlohmann::json sorts keys), the first varying slowest; trial i takes combination
    i mod grid size."""
    space = config.get("search_space", {})
    for name, spec in space.items():
        if not isinstance(spec, dict) or spec.get("type") != "grid":
            raise BadInput(f"{path}: search_space.{name} is not a grid parameter; this baseline "
                           "enumerates grids only (cusweep's random draws are not reproduced)")
        if name not in DEFAULT_MODEL and name not in DEFAULT_TRAINING:
            raise BadInput(f"{path}: search_space.{name} is not a model or training key")
    names = sorted(space)
    grid_size = math.prod(len(space[n]["values"]) for n in names)

    base = {**DEFAULT_MODEL, **config.get("model", {}),
            **DEFAULT_TRAINING, **config.get("training", {})}
    trials = []
    for index in range(int(config.get("n_trials", 1))):
        settings = dict(base, index=index)
        combination = index % grid_size
        for name in reversed(names):  # mixed radix, last name fastest
            values = space[name]["values"]
            settings[name] = values[combination % len(values)]
            combination //= len(values)
        check_settings(settings, path)
        trials.append(settings)
    return trials


def check_settings(s, path):
    if s["architecture"] not in ("mlp", "softmax_regression"):
        raise BadInput(f"{path}: architecture '{s['architecture']}': use mlp or softmax_regression")
    if s["activation"] not in ACTIVATIONS:
        raise BadInput(f"{path}: activation '{s['activation']}': use one of {list(ACTIVATIONS)}")
    if s["optim"] not in OPTIM_ALIASES:
        raise BadInput(f"{path}: optim '{s['optim']}': use one of {list(OPTIM_ALIASES)}")
    if s["lr_scheduler_type"] not in SCHEDULERS:
        raise BadInput(f"{path}: lr_scheduler_type '{s['lr_scheduler_type']}': "
                       f"use one of {list(SCHEDULERS)}")


# ---------------------------------------------------------------------------------------------
# Data


def read_idx(path, expected_dims):
    """An IDX file (gzipped) as a numpy uint8 array; header: 2 zero bytes, type 0x08 (ubyte),
    number of dims, then one big-endian uint32 per dim."""
    if not os.path.isfile(path):
        raise BadInput(f"data file missing: {path}\nhint: Fashion-MNIST's four gzipped IDX "
                       "files must be in data.dir")
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0:3] != b"\x00\x00\x08" or raw[3] != expected_dims:
        raise BadInput(f"{path}: bad IDX magic {raw[:4].hex()}, expected 000008{expected_dims:02x}")
    header = 4 + 4 * expected_dims
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=expected_dims, offset=4))
    if len(raw) - header != math.prod(shape):
        raise BadInput(f"{path}: {len(raw) - header} data bytes, header says {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_data(config, config_path):
    data = config.get("data")
    if not data or data.get("format") != "idx" or "dir" not in data:
        raise BadInput(f"{config_path}: data must be {{\"format\": \"idx\", \"dir\": ...}}")
    scaling = data.get("scaling", "standard")
    if scaling not in ("unit", "none"):
        raise BadInput(f"{config_path}: data.scaling '{scaling}': this baseline does unit or none")
    folder = os.path.join(os.path.dirname(os.path.abspath(config_path)), data["dir"])

    arrays = {}
    for key, name in IDX_FILES.items():
        arrays[key] = read_idx(os.path.join(folder, name), 3 if key.endswith("images") else 1)

    def images(a):  # [rows, 784] float32; scaled in numpy so the parent starts no torch threads
        x = a.reshape(a.shape[0], -1).astype(np.float32)
        return torch.from_numpy(x / np.float32(255) if scaling == "unit" else x)

    def labels(a):
        return torch.from_numpy(a.astype(np.int64))

    return (images(arrays["train_images"]), labels(arrays["train_labels"]),
            images(arrays["eval_images"]), labels(arrays["eval_labels"]))


# ---------------------------------------------------------------------------------------------
# Training


def build_model(s, in_features, num_classes):
    layers, width = [], in_features
    hidden = s["hidden_sizes"] if s["architecture"] == "mlp" else []
    for h in hidden:
        layers += [nn.Linear(width, h), ACTIVATIONS[s["activation"]]()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def lr_factor(step, total_steps, warmup_steps, kind):
    """HF's schedules (transformers.optimization) as LambdaLR factors, 0-based step."""
    if kind == "constant":
        return 1.0
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    if kind == "constant_with_warmup":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if kind == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return max(0.0, 1.0 - progress)  # linear


def make_optimizer(model, s):
    # Weight decay on weights only: HF's Trainer (and cusweep) leave biases out.
    wd = float(s["weight_decay"])
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    lr = float(s["learning_rate"])
    if OPTIM_ALIASES[s["optim"]] == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(s["momentum"]))
    return torch.optim.AdamW(groups, lr=lr, betas=(float(s["adam_beta1"]), float(s["adam_beta2"])),
                             eps=float(s["adam_epsilon"]))


@torch.no_grad()
def evaluate(model, x_eval, y_eval, batch):
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, x_eval.shape[0], batch):
        logits = model(x_eval[i:i + batch])  # [rows, classes]
        y = y_eval[i:i + batch]
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(dim=1) == y).sum().item()
    return loss_sum / x_eval.shape[0], correct / x_eval.shape[0]


def train_trial(s, x_train, y_train, x_eval, y_eval):
    seed = int(s["seed"])
    batch = int(s["per_device_train_batch_size"])
    epochs = int(s["num_train_epochs"])
    rows = x_train.shape[0]

    torch.manual_seed(seed)
    model = build_model(s, x_train.shape[1], int(max(y_train.max(), y_eval.max())) + 1)
    optimizer = make_optimizer(model, s)
    total_steps = math.ceil(rows / batch) * epochs
    warmup_steps = math.ceil(float(s["warmup_ratio"]) * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup_steps, s["lr_scheduler_type"]))
    order = torch.Generator().manual_seed(seed)

    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(rows, generator=order)
        for i in range(0, rows, batch):  # the last partial batch too
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    train_s = time.perf_counter() - start

    start = time.perf_counter()
    eval_loss, eval_accuracy = evaluate(model, x_eval, y_eval, int(s["per_device_eval_batch_size"]))
    return {
        "index": s["index"],
        "per_device_train_batch_size": batch,
        "learning_rate": float(s["learning_rate"]),
        "seed": seed,
        "train_s": train_s,
        "train_samples": rows * epochs,
        "eval_s": time.perf_counter() - start,
        "eval_accuracy": eval_accuracy,
        "eval_loss": eval_loss,
    }


# Worker state for two-processes mode: set in the parent before the fork, shared copy-on-write.
_DATA = None


# cusweep's CPU optimizer steps flush subnormal states to zero (on Intel cores a subnormal costs
# a microcode assist; AdamW's m decays into that range between a border pixel's rare
# gradients). PyTorch gets the same arithmetic, unless --keep-subnormals.
_FLUSH_SUBNORMALS = True


def _init_worker():
    torch.set_flush_denormal(_FLUSH_SUBNORMALS)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


def _run_in_worker(settings):
    return train_trial(settings, *_DATA)


# ---------------------------------------------------------------------------------------------
# Driver


def print_trial(r):
    print(f"trial {r['index']:3d}  batch {r['per_device_train_batch_size']:4d}  "
          f"lr {r['learning_rate']:<7g} seed {r['seed']:2d}  train {r['train_s']:7.2f} s  "
          f"{r['train_samples'] / r['train_s']:9.0f} samples/s  "
          f"eval_accuracy {r['eval_accuracy']:.4f}", flush=True)


def run_trials(trials, data, mode):
    global _DATA
    results = []
    start = time.perf_counter()
    if mode == "sequential":
        for s in trials:
            results.append(train_trial(s, *data))
            print_trial(results[-1])
    else:
        _DATA = data
        # fork: workers inherit the tensors without copying or reloading them.
        with multiprocessing.get_context("fork").Pool(2, initializer=_init_worker) as pool:
            for r in pool.imap_unordered(_run_in_worker, trials, chunksize=1):
                results.append(r)
                print_trial(r)
            pool.close()
            pool.join()
    wall_s = time.perf_counter() - start
    return sorted(results, key=lambda r: r["index"]), wall_s


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux. RUSAGE_CHILDREN is the largest single waited-for child,
    # not the sum over children; forked workers also count the parent's shared data pages.
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return self_mb, children_mb


def parse_args(argv):
    default_config = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "reference_workload.json")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config", nargs="?", default=default_config,
                   help="cusweep sweep config (default: %(default)s)")
    p.add_argument("--mode", choices=("sequential", "two-processes"), default="sequential")
    p.add_argument("--max-trials", type=int, default=0, metavar="N",
                   help="train only the first N trials (0: all)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    p.add_argument("--keep-subnormals", action="store_true",
                   help="compute on subnormal floats (PyTorch's default) instead of flushing "
                        "them to zero as cusweep's CPU optimizer steps do")
    args = p.parse_args(argv)
    if args.max_trials < 0:
        p.error(f"--max-trials {args.max_trials}: must be >= 0")
    return args


def main(argv):
    args = parse_args(argv)
    try:
        config = load_config(args.config)
        trials = expand_trials(config, args.config)
        if args.max_trials:
            trials = trials[:args.max_trials]
        start = time.perf_counter()
        data = load_data(config, args.config)
        data_load_s = time.perf_counter() - start
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    threads = 2 if args.mode == "sequential" else 1  # per process
    global _FLUSH_SUBNORMALS
    _FLUSH_SUBNORMALS = not args.keep_subnormals
    if args.mode == "sequential":
        torch.set_flush_denormal(_FLUSH_SUBNORMALS)  # before its threads start: they inherit it
        torch.set_num_threads(2)
    print(f"torch {torch.__version__}  mode {args.mode}  {threads} thread(s) per process  "
          f"{len(trials)} trials  train {tuple(data[0].shape)}  eval {tuple(data[2].shape)}  "
          f"data load {data_load_s:.2f} s  OMP_WAIT_POLICY "
          f"{os.environ.get('OMP_WAIT_POLICY', 'default')}", flush=True)

    results, wall_s = run_trials(trials, data, args.mode)

    samples = sum(r["train_samples"] for r in results)
    self_mb, children_mb = peak_rss_mb()
    peak_mb = self_mb + (children_mb if args.mode == "two-processes" else 0.0)
    mean_accuracy = sum(r["eval_accuracy"] for r in results) / len(results)
    summary = {
        "mode": args.mode,
        "threads": threads,
        "trials": [{k: r[k] for k in ("index", "per_device_train_batch_size", "learning_rate",
                                      "seed", "train_s", "eval_accuracy", "eval_loss")}
                   for r in results],
        "wall_s": wall_s,
        "samples_per_s": samples / wall_s,
        "trials_per_s": len(results) / wall_s,
        "peak_rss_mb": peak_mb,
        "peak_rss_self_mb": self_mb,
        "peak_rss_children_mb": children_mb,
        "data_load_s": data_load_s,
        "torch_version": torch.__version__,
        # libgomp's default (active) waiting spins; on a loaded 2-core machine 2 threads then
        # train several times slower than 1, so record the policy the run used.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        # Debian's torch does its float GEMMs in OpenBLAS (libblas.so.3): the kernels it ran.
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "OpenBLAS's own choice"),
        "openblas_threads": int(os.environ["OPENBLAS_NUM_THREADS"]),
        "flush_subnormals": _FLUSH_SUBNORMALS,
        "mean_eval_accuracy": mean_accuracy,
        "config": os.path.abspath(args.config),
    }
    print(f"{args.mode}: {len(results)} trials in {wall_s:.2f} s (training and evaluation, data "
          f"load {data_load_s:.2f} s excluded)  {summary['samples_per_s']:.0f} samples/s  "
          f"{summary['trials_per_s']:.3f} trials/s  mean eval_accuracy {mean_accuracy:.4f}  "
          f"peak RSS {peak_mb:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
