"""One accelerator run of the self-supervised recipes on Keras' JAX backend.

What issue 12 asks of a lent GPU (an H200 with JAX and no TensorFlow), as
one command that fits a 10-minute call:

1. throughput of SimSiam, SimCLR and Barlow Twins (ResNet-18, batch 512,
   the two views drawn on the device inside the step): each recipe trains
   `--throughput-epochs` on the first `--throughput-limit` CIFAR-10 images;
   its `metrics.json` gives the training images/s;
2. SimSiam with ResNet-18 on all of CIFAR-10 for as many epochs as the
   remaining `--budget` allows (estimated from step 1), then kNN accuracy
   (k = 200, T = 0.1) of the trained and of the randomly initialised
   backbone (the recipe's evaluation).

Everything is written under `--out` (the device tool's `$OUT`):
`summary.json` plus each recipe's `metrics.json` / `args.json` /
`history.csv`. Checkpoints stay on the machine: a ResNet-18 SimSiam with
its SGD momentum is ~145 MB, over what one call can bring back (64 MiB), so
a run does not resume across calls.

Preparation on the CPU machine (once per session; both folders are
ignored by git, and carried):

    echo /.whl/ >> .git/info/exclude; echo /.cifar/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: \\
        --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \\
        --platform manylinux2014_x86_64 -d .whl keras==3.15.1 namex optree
    mkdir -p .cifar && tar -C ../shared/datasets -czf .cifar/cifar10.tar.gz cifar10

and the device call (`run`): command `python3 -m pip install -q --no-index
--no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl &&
PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 benchmarks/device_ssl.py
--out $OUT`, carry `[".whl", ".cifar"]`, timeout_s 590.

On the CPU (a smoke test of this script, not a measurement):

    python benchmarks/device_ssl.py --out /tmp/ds --backbone resnet20 \\
        --batch-size 64 --throughput-limit 256 --limit 512 --budget 60
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("simsiam", "simclr", "barlow_twins")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True,
                   help="where summary.json and the runs go ($OUT).")
    p.add_argument("--data-tar", default=os.path.join(
        ROOT, ".cifar", "cifar10.tar.gz"),
        help="CIFAR-10 JPEG folders as a tar(.gz) holding cifar10/. "
        "Default: .cifar/cifar10.tar.gz.")
    p.add_argument("--data-dir", default=None,
                   help="an unpacked datasets folder instead of --data-tar.")
    p.add_argument("--backend", default="jax",
                   help="Keras backend. Default: jax.")
    p.add_argument("--backbone", default="resnet18",
                   help="Default: resnet18 (lightly's CIFAR-10 benchmark).")
    p.add_argument("--batch-size", type=int, default=512,
                   help="global batch. Default: 512.")
    p.add_argument("--budget", type=float, default=540,
                   help="seconds for the whole script. Default: 540.")
    p.add_argument("--throughput-epochs", type=int, default=2,
                   help="epochs of each throughput run (the first compiles). "
                   "Default: 2.")
    p.add_argument("--throughput-limit", type=int, default=10240,
                   help="training images of the throughput runs. "
                   "Default: 10240.")
    p.add_argument("--limit", type=int, default=None,
                   help="training images of the SimSiam run (smoke tests). "
                   "Default: all.")
    p.add_argument("--max-epochs", type=int, default=800,
                   help="cap of the SimSiam run's epochs. Default: 800.")
    return p.parse_args(argv)


def recipe(method, args, out_dir, extra):
    """Runs one recipe; returns (its metrics.json, wall seconds)."""
    cmd = [sys.executable, os.path.join(ROOT, "recipes", f"{method}_cifar.py"),
           "--backend", args.backend, "--data-dir", args.data_dir,
           "--backbone", args.backbone, "--batch-size", str(args.batch_size),
           "--output-dir", out_dir, "--export-dir", "", "--knn-every", "0",
           "--probe-epochs", "0", *extra]
    start = time.time()
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return json.load(f), time.time() - start


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    os.makedirs(args.out, exist_ok=True)
    if args.data_dir is None:
        args.data_dir = "/tmp/kzoo_datasets"
        with tarfile.open(args.data_tar) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(args.data_dir, filter="data")
            else:
                tar.extractall(args.data_dir)
    summary = {"argv": sys.argv, "device": device_name(args.backend),
               "throughput": {}}
    for method in METHODS:
        metrics, wall = recipe(
            method, args, os.path.join(args.out, f"{method}_throughput"),
            ["--epochs", str(args.throughput_epochs),
             "--limit", str(args.throughput_limit),
             "--feature-probe-epochs", "1"])
        summary["throughput"][method] = {
            "wall_seconds": wall,
            **{k: v for k, v in metrics.items()
               if "per_second" in k or "seconds" in k}}
        print(method, summary["throughput"][method], flush=True)
    # SimSiam for what is left: epoch time from its throughput run.
    rate = summary["throughput"]["simsiam"].get(
        "train_images_per_second") or 1.0
    n = args.limit or 50000
    left = args.budget - (time.time() - start) - 90  # evaluation, start-up
    epochs = max(1, min(args.max_epochs, int(left * rate / n)))
    extra = ["--epochs", str(epochs), "--learning-rate", "0.1",
             "--momentum", "0.9"]
    if args.limit:
        extra += ["--limit", str(args.limit)]
    metrics, wall = recipe("simsiam", args, os.path.join(args.out, "simsiam"),
                           extra)
    summary["simsiam"] = {"epochs": epochs, "wall_seconds": wall,
                          **{k: v for k, v in metrics.items()
                             if k.startswith(("knn", "random_init_knn",
                                              "train_"))}}
    summary["total_seconds"] = time.time() - start
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


def device_name(backend):
    """The accelerator as the backend names it (context for the figures)."""
    code = ("import jax; print(jax.devices()[0].device_kind)"
            if backend == "jax" else
            "import torch; print(torch.cuda.get_device_name() "
            "if torch.cuda.is_available() else 'cpu')")
    try:
        return subprocess.run([sys.executable, "-c", code], check=True,
                              capture_output=True, text=True,
                              timeout=120).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return "unknown"


if __name__ == "__main__":
    main()
