"""The SimSiam training step on Keras' TensorFlow, JAX and PyTorch backends.

Keras fixes its backend per process, so this script launches one worker
process per backend (`KERAS_BACKEND=tensorflow|jax|torch`) and compares
them in the same run. Every worker builds the same model, the recipe's
(`recipes/simsiam_cifar.py`): `kzoo.models.SimSiam` on
`kzoo.models.resnet20_cifar`, projector 2048-2048, predictor bottleneck
512, SGD momentum 0.6 with weight decay 5e-4 on a cosine decay from 0.03;
compiles it, warms up (`--warmup` steps, the first one traces/compiles),
then times `--steps` single `train_on_batch` calls (each returns the loss
as a Python float, so every timed step has finished). The batches are the
same random uint8 pixels, cast to float32, for every backend, made into
backend tensors before timing (no host-to-device copy in the step).

Variants:

* `two_views`: the two views are ready batches, `{"view_1", "view_2"}`
  (augmentation done elsewhere, as by `kzoo.data.two_view_dataset`);
* `augment_in_step`: one batch of uint8 images per step, augmented twice
  inside the compiled step by a `kzoo.layers.SimSiamAugment` given to the
  model (`augmentation=`), when `kzoo.models.TwoViewModel` takes one;
  otherwise reported as skipped, with the reason.

Reported per backend and variant: median and fastest step time,
two-view images/s (`batch / median step`), and the ratio of each
backend's images/s to TensorFlow's (the CPU default) for the same variant
(and `augment_in_step` / `two_views` per backend). With `--rounds R` the
workers are interleaved (tensorflow, jax, torch, tensorflow, ...; each
round a fresh process) and the statistics pool every round's timed steps,
so a drift in the machine's load does not favour one backend.

Same weights everywhere: Keras' initialisers draw different numbers on
each backend for the same seed (`keras.utils.set_random_seed` seeds each
backend's own generator), so the first worker saves its initial weights
(`.weights.h5`, backend-neutral) and every later one loads them; the
first-step losses (before any update, on the same batch) must then agree
across backends for `two_views`, which the script reports
(`first_loss_agreement`). With `augment_in_step` they differ: each
backend's generator draws other views from the same seed.

Compilation (`jit_compile`): by default each backend's own choice, Keras'
`"auto"`: TensorFlow on CPU: no XLA (`tf.function` graph); JAX: `jax.jit`
(XLA); PyTorch: eager (no `torch.compile`). `--jit` / `--no-jit` force
it on every backend (`--no-jit` on JAX runs the step op by op, eagerly;
`--jit` on PyTorch is `torch.compile`, which can recompile on its second
call: keep `--warmup` at a few steps). The value used is in the output.

Threads (`--threads N`, default: every CPU this process may run on): the
same intra-op count on every backend. Each worker sets `OMP_NUM_THREADS=N`
before importing anything and, when `N` is below the CPUs available,
restricts itself to `N` CPUs (`os.sched_setaffinity`, Linux), which is
what XLA's CPU thread pool sizes itself from (JAX has no thread-count
setting). Then: TensorFlow `tf.config.threading` intra-op `N` (inter-op
left at TensorFlow's default, its own choice from the CPU count); PyTorch
`torch.set_num_threads(N)` (inter-op pool left at its default; eager
Keras does not use it); JAX: XLA's CPU client, sized by the affinity
mask. What each backend reports back is in the output (`threads`).

A backend that is not installed (or whose import fails) is reported as
skipped with the reason, not as a failure. Only ratios within one run mean
anything; absolute times depend on the machine and its load and are
context. The results go to `--results` (JSON) with the machine, versions
and the commands that reproduce them (also printed).

    python benchmarks/bench_backends.py
    python benchmarks/bench_backends.py --backends tensorflow,jax --rounds 3
    python benchmarks/bench_backends.py --jit --variants two_views
    python benchmarks/bench_backends.py --steps 2 --warmup 1 --rounds 1 \\
        --batch-size 8 --image-size 16 --results /tmp/b.json   # smoke test
"""

import argparse
import importlib.util
import inspect
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.relpath(os.path.abspath(__file__), ROOT)

BACKENDS = ("tensorflow", "jax", "torch")
# The module each backend needs (looked up without importing it).
BACKEND_MODULES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"),
                   "torch": ("torch",)}
BASELINE = "tensorflow"

VARIANTS = {
    "two_views": "two ready views per step ({'view_1', 'view_2'})",
    "augment_in_step": "uint8 images, SimSiamAugment twice inside the step",
}

# Variants whose first-step loss must agree across backends: with the
# augmentation in the step, each backend's random generator (TensorFlow's,
# JAX's threefry, PyTorch's) draws different views from the same seed.
COMPARABLE_FIRST_LOSS = ("two_views",)

RESULT_PREFIX = "BENCH_BACKENDS_RESULT "
# Recipe defaults (recipes/simsiam_cifar.py, keras-io's SimSiam example).
RECIPE = {"projection_dim": 2048, "predictor_dim": 512,
          "learning_rate": 0.03, "momentum": 0.6, "weight_decay": 5e-4,
          # decay_steps of the recipe's cosine schedule: 5 epochs of
          # 50000 // 128 steps.
          "decay_steps": 5 * (50000 // 128)}
N_BATCHES = 4  # distinct batches, cycled


def available_cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def machine():
    info = {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "python":
            platform.python_version(), "cpu_count": os.cpu_count(),
            "cpus_available": len(available_cpus())}
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f
                     if line.startswith("model name")]
        if names:
            info["cpu_model"] = names[0]
    except OSError:
        pass
    try:
        info["load_average_at_start"] = [round(x, 2)
                                         for x in os.getloadavg()]
    except (AttributeError, OSError):
        pass
    return info


# ---------------------------------------------------------------- worker --


def emit(row):
    print(RESULT_PREFIX + json.dumps(row), flush=True)


def set_threads_before_import(threads):
    """Backend-neutral part: environment and CPU affinity, before any
    backend is imported (thread pools are sized when they start)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    cpus = available_cpus()
    if threads < len(cpus) and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus[:threads])


def set_backend_threads(backend, threads):
    """Each backend's own intra-op setting; returns what it reports."""
    info = {"requested": threads, "cpus_available": len(available_cpus()),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        info["tf_intra_op"] = \
            tf.config.threading.get_intra_op_parallelism_threads()
        # 0: TensorFlow's own default (chosen from the CPU count).
        info["tf_inter_op"] = \
            tf.config.threading.get_inter_op_parallelism_threads()
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_num_interop_threads"] = torch.get_num_interop_threads()
    elif backend == "jax":
        import jax

        # No thread-count setting: XLA's CPU pool follows the affinity mask.
        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    return info


def backend_version(backend):
    module = {"tensorflow": "tensorflow", "jax": "jax",
              "torch": "torch"}[backend]
    return sys.modules[module].__version__


def augmentation_unsupported_reason(models):
    """Why the `augment_in_step` variant cannot run with this kzoo (None if
    it can). The hook for `kzoo.models.TwoViewModel(augmentation=...)`."""
    params = inspect.signature(models.TwoViewModel.__init__).parameters
    if "augmentation" not in params and "augmentation" not in \
            inspect.signature(models.SimSiam.__init__).parameters:
        return ("kzoo.models.TwoViewModel / SimSiam take no `augmentation` "
                "argument in this checkout")
    return None


def build_model(args, variant):
    import keras

    from kzoo import layers, models

    keras.utils.set_random_seed(args.seed)
    s = args.image_size
    kwargs = {}
    if variant == "augment_in_step":
        # SimSiamAugment returns [0, 1] pixels; kzoo's backbones read
        # [0, 255] (TwoViewModel's docstring).
        kwargs["augmentation"] = keras.Sequential(
            [layers.SimSiamAugment(seed=args.seed),
             keras.layers.Rescaling(255.0)], name="augmentation")
    backbone = models.resnet20_cifar(input_shape=(s, s, 3))
    model = models.SimSiam(
        backbone, projection_dim=RECIPE["projection_dim"],
        projection_hidden_dims=[RECIPE["projection_dim"]],
        predictor_dim=RECIPE["predictor_dim"], **kwargs)
    return model


def make_batches(args, variant):
    """The same pixels on every backend: `N_BATCHES` batches, as backend
    tensors, made before timing."""
    import numpy as np
    from keras import ops

    rng = np.random.default_rng(args.seed + 1)
    shape = (N_BATCHES, args.batch_size, args.image_size, args.image_size, 3)
    view_1 = rng.integers(0, 256, shape, dtype=np.uint8)
    view_2 = rng.integers(0, 256, shape, dtype=np.uint8)
    if variant == "augment_in_step":
        # One uint8 batch per step; the model's augmentation converts it
        # to [0, 1] floats and makes the two views.
        return [ops.convert_to_tensor(view_1[i]) for i in range(N_BATCHES)]
    # The backbone takes float pixels in [0, 255] (it rescales itself).
    return [{"view_1": ops.convert_to_tensor(view_1[i].astype("float32")),
             "view_2": ops.convert_to_tensor(view_2[i].astype("float32"))}
            for i in range(N_BATCHES)]


def worker(args):
    """One backend and variant in this (fresh) process; emits one row."""
    backend, variant = args.worker_backend, args.worker_variant
    row = {"backend": backend, "variant": variant}
    started = time.perf_counter()
    set_threads_before_import(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("KERAS_BACKEND") != backend:
        raise SystemExit(f"KERAS_BACKEND must be {backend!r}. Received: "
                         f"{os.environ.get('KERAS_BACKEND')!r}")
    sys.path.insert(0, ROOT)
    try:
        import keras
        threads = set_backend_threads(backend, args.threads)
    except ImportError as e:
        return emit({**row, "skipped": f"cannot import the {backend} "
                     f"backend: {e}"})
    if keras.backend.backend() != backend:
        raise SystemExit(f"Keras runs {keras.backend.backend()!r}, not "
                         f"{backend!r}")
    import numpy as np

    from kzoo import models

    if variant == "augment_in_step":
        reason = augmentation_unsupported_reason(models)
        if reason:
            return emit({**row, "skipped": reason,
                         "variant_unsupported": True})

    imported = time.perf_counter()
    model = build_model(args, variant)
    if args.init_weights and os.path.exists(args.init_weights):
        model.load_weights(args.init_weights)
        row["initial_weights"] = "loaded"
    elif args.init_weights:
        model.save_weights(args.init_weights)
        row["initial_weights"] = "saved"
    schedule = keras.optimizers.schedules.CosineDecay(
        RECIPE["learning_rate"], decay_steps=RECIPE["decay_steps"])
    model.compile(optimizer=keras.optimizers.SGD(
        schedule, momentum=RECIPE["momentum"],
        weight_decay=RECIPE["weight_decay"]),
        jit_compile="auto" if args.jit is None else args.jit)
    batches = make_batches(args, variant)
    built = time.perf_counter()

    start = time.perf_counter()
    logs = model.train_on_batch(batches[0], return_dict=True)
    first_step = time.perf_counter() - start  # includes tracing/compiling
    first_loss = float(logs["loss"])
    for i in range(1, args.warmup):
        model.train_on_batch(batches[i % N_BATCHES], return_dict=True)
    times, losses = [], []
    for i in range(args.steps):
        batch = batches[(args.warmup + i) % N_BATCHES]
        start = time.perf_counter()
        logs = model.train_on_batch(batch, return_dict=True)
        times.append(time.perf_counter() - start)
        losses.append(float(logs["loss"]))
    emit({**row, "version": backend_version(backend),
          "keras_version": keras.__version__,
          "jit_compile": model.jit_compile,
          "jit_compile_requested": "auto" if args.jit is None else args.jit,
          "threads": threads, "import_seconds": imported - started,
          "build_seconds": built - imported,
          "first_step_seconds": first_step,
          "first_loss": first_loss, "last_loss": losses[-1],
          "losses": losses,
          "loss_finite": bool(np.all(np.isfinite([first_loss] + losses))),
          "step_seconds": times})


# ---------------------------------------------------------------- parent --


def missing_module(backend):
    for module in BACKEND_MODULES[backend]:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    return None


def worker_command(args, backend, variant, init_weights=None):
    cmd = [sys.executable, os.path.join(ROOT, SCRIPT), "--worker-backend",
           backend, "--worker-variant", variant, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size",
           str(args.batch_size), "--image-size", str(args.image_size),
           "--threads", str(args.threads), "--seed", str(args.seed)]
    if args.jit is not None:
        cmd.append("--jit" if args.jit else "--no-jit")
    if init_weights:
        cmd += ["--init-weights", init_weights]
    return cmd


def run_worker(args, backend, variant, init_weights):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(
            worker_command(args, backend, variant, init_weights), env=env,
            capture_output=True, text=True, timeout=args.worker_timeout,
            cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"backend": backend, "variant": variant, "failed":
                f"timed out after {args.worker_timeout} s"}
    lines = [line[len(RESULT_PREFIX):] for line in proc.stdout.splitlines()
             if line.startswith(RESULT_PREFIX)]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        return {"backend": backend, "variant": variant, "failed":
                f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


def summarize(args, runs, variants, backends):
    """One row per (variant, backend): statistics over every round."""
    rows = []
    for variant in variants:
        for backend in backends:
            done = [r for r in runs if r["variant"] == variant
                    and r["backend"] == backend]
            row = {"variant": variant, "backend": backend}
            ok = [r for r in done if "step_seconds" in r]
            if not ok:
                bad = done[-1] if done else {"skipped": "not run"}
                for key in ("skipped", "failed"):
                    if key in bad:
                        row[key] = bad[key]
                rows.append(row)
                continue
            times = [t for r in ok for t in r["step_seconds"]]
            median, best = statistics.median(times), min(times)
            row.update({
                "version": ok[0]["version"],
                "jit_compile": ok[0]["jit_compile"],
                "threads": ok[0]["threads"],
                "rounds": len(ok), "timed_steps": len(times),
                "median_step_seconds": median, "min_step_seconds": best,
                "round_median_step_seconds": [
                    statistics.median(r["step_seconds"]) for r in ok],
                "images_per_second": args.batch_size / median,
                "best_images_per_second": args.batch_size / best,
                "first_step_seconds": [r["first_step_seconds"] for r in ok],
                "first_loss": ok[0]["first_loss"],
                "last_loss": ok[-1]["last_loss"],
                "loss_finite": all(r["loss_finite"] for r in ok),
                "initial_weights": [r.get("initial_weights") for r in ok]})
            failed = [r["failed"] for r in done if "failed" in r]
            if failed:
                row["failed_rounds"] = failed
            rows.append(row)
    for row in rows:
        base = next((r for r in rows if r["variant"] == row["variant"]
                     and r["backend"] == BASELINE
                     and "images_per_second" in r), None)
        views = next((r for r in rows if r["variant"] == "two_views"
                      and r["backend"] == row["backend"]
                      and "images_per_second" in r), None)
        if "images_per_second" in row:
            row["ratio_to_tensorflow"] = (
                row["images_per_second"] / base["images_per_second"]
                if base else None)
            if row["variant"] != "two_views":
                row["ratio_to_two_views"] = (
                    row["images_per_second"] / views["images_per_second"]
                    if views else None)
    return rows


def first_loss_agreement(rows, variants):
    """First-step losses per variant and their spread across backends.
    Comparable only for `two_views` (same weights, same pixels); with the
    augmentation in the step each backend's generator draws other views."""
    out = {}
    for variant in variants:
        losses = {r["backend"]: r["first_loss"] for r in rows
                  if r["variant"] == variant and "first_loss" in r}
        if len(losses) >= 2:
            values = list(losses.values())
            out[variant] = {"first_losses": losses,
                            "max_abs_diff": max(values) - min(values),
                            "comparable": variant in COMPARABLE_FIRST_LOSS}
    return out


def print_table(rows):
    print("\n| variant | backend | jit_compile | median step ms | min step ms "
          "| two-view images/s | vs tensorflow | vs two_views |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "images_per_second" not in r:
            why = ("skipped: " + r["skipped"]) if "skipped" in r else \
                ("failed: " + r.get("failed", "?"))
            print(f"| {r['variant']} | {r['backend']} | | {why} | | | | |")
            continue

        def ratio(key):
            return "" if r.get(key) is None else f"{r[key]:.2f}x"

        print(f"| {r['variant']} | {r['backend']} | {r['jit_compile']} | "
              f"{r['median_step_seconds'] * 1e3:.1f} | "
              f"{r['min_step_seconds'] * 1e3:.1f} | "
              f"{r['images_per_second']:.1f} | {ratio('ratio_to_tensorflow')}"
              f" | {ratio('ratio_to_two_views')} |")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated subset of: "
                        + ", ".join(BACKENDS) + ". Default: all.")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: "
                        + ", ".join(VARIANTS) + ". Default: all.")
    parser.add_argument("--steps", type=int, default=20,
                        help="timed steps per worker. Default: 20.")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed steps first (the first traces and "
                        "compiles). Default: 5.")
    parser.add_argument("--rounds", type=int, default=2,
                        help="worker processes per backend and variant, "
                        "interleaved across backends. Default: 2.")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="global batch (two views each). Default: 128.")
    parser.add_argument("--image-size", type=int, default=32,
                        help="image side (CIFAR: 32). Default: 32.")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="force jit_compile on (--jit) or off (--no-jit) "
                        "on every backend. Default: Keras' 'auto', each "
                        "backend's own (TF CPU: off, JAX: on, torch: off).")
    parser.add_argument("--threads", type=int, default=len(available_cpus()),
                        help="intra-op threads on every backend (and CPUs "
                        "each worker may use). Default: the CPUs available "
                        f"({len(available_cpus())} here).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker-timeout", type=int, default=1800,
                        help="seconds before a worker counts as failed. "
                        "Default: 1800.")
    parser.add_argument("--results", default=os.path.join(
        ROOT, "benchmarks", "results", "bench_backends.json"),
        help="where to write the results (JSON). Default: "
        "benchmarks/results/bench_backends.json.")
    parser.add_argument("--worker-backend", help=argparse.SUPPRESS)
    parser.add_argument("--worker-variant", help=argparse.SUPPRESS)
    parser.add_argument("--init-weights", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("steps", "warmup", "rounds", "batch_size", "image_size",
                 "threads"):
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive. "
                         f"Received: {value}")
    args.backend_list = [b for b in args.backends.split(",") if b]
    args.variant_list = [v for v in args.variants.split(",") if v]
    for given, known, flag in ((args.backend_list, BACKENDS, "--backends"),
                               (args.variant_list, VARIANTS, "--variants")):
        unknown = sorted(set(given) - set(known))
        if unknown or not given:
            parser.error(f"unknown or no {flag} {unknown}; choose from "
                         f"{list(known)}. Received: {flag}="
                         f"{getattr(args, flag[2:])}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker_backend:
        return worker(args)

    command = " ".join(["python", SCRIPT] + [shlex.quote(a) for a in (
        sys.argv[1:] if argv is None else argv)])
    skipped = {b: missing_module(b) for b in args.backend_list}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variant_list:
            # One initial state per variant, saved by its first worker.
            init = os.path.join(tmp, f"{variant}.weights.h5")
            unsupported = None
            for round_ in range(args.rounds):
                for backend in args.backend_list:
                    why = skipped[backend] or unsupported
                    if why:
                        if round_ == 0:
                            runs.append({"backend": backend, "variant":
                                         variant, "skipped": why})
                            print(f"{variant:16s} {backend:10s} skipped: "
                                  f"{why}", flush=True)
                        continue
                    run = run_worker(args, backend, variant, init)
                    runs.append(run)
                    if run.get("variant_unsupported"):
                        unsupported = run["skipped"]
                    if "skipped" in run and not run.get(
                            "variant_unsupported"):
                        skipped[backend] = run["skipped"]
                    if "step_seconds" in run:
                        med = statistics.median(run["step_seconds"])
                        print(f"{variant:16s} {backend:10s} round "
                              f"{round_ + 1}: median step {med * 1e3:.1f} "
                              f"ms, jit_compile={run['jit_compile']}, first "
                              f"loss {run['first_loss']:.6f}", flush=True)
                    else:
                        print(f"{variant:16s} {backend:10s} round "
                              f"{round_ + 1}: " + ("skipped: " + run[
                                  "skipped"] if "skipped" in run else
                                  "failed: " + run["failed"]), flush=True)

    rows = summarize(args, runs, args.variant_list, args.backend_list)
    agreement = first_loss_agreement(rows, args.variant_list)
    print_table(rows)
    for variant, a in agreement.items():
        print(f"\n{variant}: first-step losses (same initial weights, same "
              f"batch) " + ", ".join(f"{b} {v:.6f}" for b, v in
                                     a["first_losses"].items())
              + f"; max difference {a['max_abs_diff']:.2e}"
              + ("" if a["comparable"] else " (not comparable: each "
                 "backend's generator draws other augmented views)"))

    worker_commands = [
        f"KERAS_BACKEND={b} " + " ".join(
            shlex.quote(c) for c in ["python", SCRIPT] + worker_command(
                args, b, v)[2:])
        for v in args.variant_list for b in args.backend_list]
    print("\nReproduce: " + command)
    print("One worker alone (fresh initial weights, no cross-backend "
          "comparison):")
    for c in worker_commands:
        print("  " + c)
    result = {
        "benchmark": "SimSiam (ResNet-20) train_on_batch step per Keras "
        "backend", "date": time.strftime("%Y-%m-%d"),
        "machine": machine(), "command": command,
        "worker_commands": worker_commands,
        "config": {"batch_size": args.batch_size,
                   "image_size": args.image_size, "steps": args.steps,
                   "warmup": args.warmup, "rounds": args.rounds,
                   "threads": args.threads, "seed": args.seed,
                   "jit_compile_requested": "auto" if args.jit is None
                   else args.jit, **RECIPE},
        "baseline": BASELINE, "variants": {v: VARIANTS[v]
                                           for v in args.variant_list},
        "rows": rows, "first_loss_agreement": agreement, "runs": runs}
    os.makedirs(os.path.dirname(os.path.abspath(args.results)),
                exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nwrote {args.results}")
    return result


if __name__ == "__main__":
    main()
