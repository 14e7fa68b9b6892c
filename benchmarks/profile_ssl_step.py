"""Where the SimSiam training step's time goes on this CPU, one change at a time.

`bench_simsiam.py` compares kzoo's step with an eager loop; this script
profiles the step itself. Every variant trains the same SimSiam (ResNet-20,
batch 128, SGD) for `--steps` timed steps, `--repeats` times after an
8-step warm-up (the fastest repeat counts), each in a fresh process (thread pools and the oneDNN switch are fixed when TensorFlow
starts), and prints its two-view images/s and its ratio to the baseline:

* `baseline`: `fit` on batches already in memory (real CIFAR-10 images
  with `--data-dir`, random pixels without), TensorFlow's default thread
  pools;
* thread pools: `intra1_inter1`, `intra2_inter1`, `intra2_inter2`
  (`tf.config.threading`);
* `onednn_off`: `TF_ENABLE_ONEDNN_OPTS=0` (Eigen kernels instead of oneDNN);
* `bfloat16`: Keras' `mixed_bfloat16` policy (this CPU has AVX-512 BF16);
* `xla`: `jit_compile=True`;
* `steps_per_execution4`: four steps per `tf.function` call;
* `pipeline`: the real input, `kzoo.data.two_view_dataset` on CIFAR-10
  (augmentation sharing the same 2 cores), instead of ready batches;
* `pipeline_private1`: the same with the pipeline limited to one thread of
  its own (`tf.data.Options().threading`);
* `batch256`: batch 256 (images/s per two views, same step otherwise).

Only ratios within one run mean anything (absolute speeds depend on the
machine's load); the results go to `--results` (JSON) with the machine.

    python benchmarks/profile_ssl_step.py --data-dir ../shared/datasets
    python benchmarks/profile_ssl_step.py --variants baseline,bfloat16
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VARIANTS = {
    "baseline": "fit on in-memory batches, default thread pools",
    "intra1_inter1": "intra-op 1 thread, inter-op 1",
    "intra2_inter1": "intra-op 2 threads, inter-op 1",
    "intra2_inter2": "intra-op 2 threads, inter-op 2",
    "onednn_off": "TF_ENABLE_ONEDNN_OPTS=0 (Eigen kernels)",
    "bfloat16": "mixed_bfloat16 policy",
    "xla": "jit_compile=True (XLA)",
    "steps_per_execution4": "4 steps per tf.function call",
    "pipeline": "real two_view_dataset input (augmentation on the same cores)",
    "pipeline_private1": "real input, pipeline on 1 private thread",
    "batch256": "batch 256",
}


def worker(variant, steps, batch_size, data_dir, repeats):
    """One variant in this (fresh) process; prints one JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if variant == "onednn_off":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    sys.path.insert(0, ROOT)
    import numpy as np
    import tensorflow as tf
    import keras

    import kzoo

    if variant.startswith("intra"):
        intra, inter = variant[len("intra"):].split("_inter")
        tf.config.threading.set_intra_op_parallelism_threads(int(intra))
        tf.config.threading.set_inter_op_parallelism_threads(int(inter))
    if variant == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if variant == "batch256":
        batch_size = 256

    keras.utils.set_random_seed(0)
    model = kzoo.models.SimSiam(kzoo.models.resnet20_cifar())
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9),
                  jit_compile=variant == "xla",
                  steps_per_execution=4 if variant == "steps_per_execution4"
                  else 1)

    images = None
    if data_dir:
        try:
            images = kzoo.data.load_dataset("cifar10", "train", data_dir,
                                            limit=20000).images
        except kzoo.data.DataUnavailableError:
            # $KZOO_DATA_DIR set but without CIFAR-10 (a clean clone's CI):
            # the ready-batch variants use random pixels; the pipeline
            # variants cannot run.
            if variant.startswith("pipeline"):
                raise
    if variant.startswith("pipeline"):
        ds = kzoo.data.two_view_dataset(images, batch_size, seed=0).repeat()
        if variant == "pipeline_private1":
            options = tf.data.Options()
            options.threading.private_threadpool_size = 1
            ds = ds.with_options(options)
    else:
        # Ready batches: real CIFAR-10 images when there are some (random
        # pixels otherwise), the same 4 batches over and over.
        rng = np.random.default_rng(1)
        if images is None:
            images = rng.integers(0, 256, (8 * batch_size, 32, 32, 3))
        pick = images[:8 * batch_size].astype("float32")
        batches = {"view_1": pick[:4 * batch_size].reshape(
                       4, batch_size, 32, 32, 3),
                   "view_2": pick[4 * batch_size:].reshape(
                       4, batch_size, 32, 32, 3)}
        ds = tf.data.Dataset.from_tensor_slices(batches).repeat().prefetch(2)

    model.fit(ds, steps_per_epoch=8, epochs=1, verbose=0)  # warm-up
    best, loss = None, float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        history = model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
        loss = float(history.history["loss"][-1])
    seconds = best
    print(json.dumps({"variant": variant, "images_per_second":
                      steps * batch_size / seconds, "seconds": seconds,
                      "steps": steps, "batch_size": batch_size,
                      "loss_finite": bool(np.isfinite(loss))}))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=16,
                        help="timed training steps per variant. Default: 16.")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of --steps per variant, after an "
                        "8-step warm-up; the fastest counts. Default: 3.")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="batch size (two views each). Default: 128.")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: "
                        + ", ".join(VARIANTS) + ". Default: all.")
    parser.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"),
                        help="root of the CIFAR-10 image folders (needed by "
                        "the pipeline variants). Default: $KZOO_DATA_DIR.")
    parser.add_argument("--results", default=os.path.join(
        ROOT, "benchmarks", "results", "profile_ssl_step.json"),
        help="where to write the results (JSON).")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.steps, args.batch_size, args.data_dir,
                      args.repeats)

    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from "
                     f"{list(VARIANTS)}. Received: --variants={args.variants}")
    if any(v.startswith("pipeline") for v in variants) and not args.data_dir:
        parser.error("the pipeline variants read CIFAR-10: pass --data-dir "
                     "or set KZOO_DATA_DIR.")
    rows = []
    for variant in variants:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", variant,
               "--steps", str(args.steps), "--batch-size",
               str(args.batch_size), "--repeats", str(args.repeats)]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines()
                 if line.startswith("{")]
        if proc.returncode or not lines:
            print(f"{variant}: failed (exit {proc.returncode}): "
                  f"{proc.stderr.strip().splitlines()[-1:]}")
            rows.append({"variant": variant, "failed": True})
            continue
        row = json.loads(lines[-1])
        rows.append(row)
        print(f"{variant:22s} {row['images_per_second']:7.1f} img/s  "
              f"({VARIANTS[variant]})", flush=True)

    base = next((r["images_per_second"] for r in rows
                 if r["variant"] == "baseline" and not r.get("failed")), None)
    print("\n| variant | what | two-view images/s | vs baseline |")
    print("|---|---|---|---|")
    for r in rows:
        if r.get("failed"):
            print(f"| {r['variant']} | {VARIANTS[r['variant']]} | failed | |")
            continue
        ratio = f"{r['images_per_second'] / base:.2f}x" if base else ""
        r["ratio_to_baseline"] = (r["images_per_second"] / base
                                  if base else None)
        print(f"| {r['variant']} | {VARIANTS[r['variant']]} | "
              f"{r['images_per_second']:.1f} | {ratio} |")
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump({"machine": f"{platform.machine()}, {os.cpu_count()} CPU "
                   "cores", "steps": args.steps, "repeats": args.repeats,
                   "batch_size": args.batch_size,
                   "date": time.strftime("%Y-%m-%d"),
                   "command": " ".join(["python", "benchmarks/"
                                        "profile_ssl_step.py"] + sys.argv[1:]),
                   "rows": rows}, f, indent=1)
    print(f"\nwrote {args.results}")


if __name__ == "__main__":
    main()
