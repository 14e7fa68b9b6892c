"""Training-step speed on this CPU: fused batch norm and bfloat16.

Keras 3's `BatchNormalization` runs about ten element-wise and reduction
ops per layer (moments, normalisation, their gradients) on TensorFlow's
plain CPU kernels; `kzoo.layers.BatchNormalization` runs TensorFlow's fused
kernel (oneDNN) instead. Under `mixed_bfloat16` the convolutions and
matrix products run in bfloat16 (on AMX tiles where the CPU has them), but
Keras' element-wise ops then run on emulated bfloat16. This script times
one training step of four kzoo models in four variants, each in a fresh
process (`--steps` timed steps after a warm-up, the fastest of
`--repeats`), on batches already in memory:

* `keras_bn_float32`: Keras' batch norm, float32 (Keras 3 as shipped);
* `keras_bn_bfloat16`: Keras' batch norm, `mixed_bfloat16`;
* `fused_bn_float32`: kzoo's fused batch norm, float32;
* `fused_bn_bfloat16`: kzoo's fused batch norm, `mixed_bfloat16` (what the
  presets trained with).

Models: SimSiam's ResNet-20 step (two views of 128 CIFAR-sized images),
the YOLO detector (tiny darknet, 8 images at 320 px), the landmark CNN
(32 faces at 96 px) and the masked character transformer (64 pieces of
128 characters; no batch norm, so only the precision matters).

It prints the CPU model, its matrix / bfloat16 ISA flags and the ISA oneDNN
reports for the convolutions of each precision (`ONEDNN_VERBOSE=1` on one
step), then a table of examples/s and the ratio to `keras_bn_float32`.
Only ratios within one run mean anything.

`--quality` adds the check that bfloat16 learns as well as float32: the
`make demo` run (SimCLR, ResNet-20, scikit-learn's digits, 15 epochs) at
both precisions and `--quality-seeds` seeds, kNN accuracy of each.

    python benchmarks/bench_precision.py
    python benchmarks/bench_precision.py --quality
"""

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ("keras_bn_float32", "keras_bn_bfloat16", "fused_bn_float32",
            "fused_bn_bfloat16")
MODELS = ("simsiam_resnet20", "yolo_tiny_darknet", "landmarks_cnn",
          "masked_char_transformer")


def _build(name, np, keras, kzoo):
    """`(model, dataset factory, examples per step)` of `name`."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    if name == "simsiam_resnet20":
        model = kzoo.models.SimSiam(kzoo.models.resnet20_cifar())
        model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9))
        x = rng.integers(0, 256, (4, 128, 32, 32, 3)).astype("float32")
        data = {"view_1": x, "view_2": x[::-1].copy()}
        return model, tf.data.Dataset.from_tensor_slices(data), 128
    if name == "yolo_tiny_darknet":
        backbone = kzoo.models.tiny_darknet(input_shape=(320, 320, 3))
        model = kzoo.models.YOLODetector(backbone, num_classes=3,
                                         num_boxes=5, anchors=np.full(
                                             (5, 2), 0.1, "float32"))
        model.compile(optimizer=keras.optimizers.AdamW(1e-3))
        x = rng.integers(0, 256, (4, 8, 320, 320, 3)).astype("float32")
        # Ten random boxes per image, as the recipe's targets.
        corner = rng.uniform(0, 280, (4 * 8, 10, 2))
        boxes = np.concatenate(
            [corner, corner + rng.uniform(10, 40, (4 * 8, 10, 2))], -1)
        classes = rng.integers(0, 3, (4 * 8, 10))
        y = model.target_encoder()(boxes.astype("float32"),
                                   classes.astype("int32"))
        y = np.asarray(y).reshape((4, 8) + tuple(y.shape[1:]))
        return model, tf.data.Dataset.from_tensor_slices((x, y)), 8
    if name == "landmarks_cnn":
        sys.path.insert(0, os.path.join(ROOT, "recipes"))
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "landmarks_faces", os.path.join(ROOT, "recipes",
                                            "landmarks_faces.py"))
        recipe = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(recipe)
        model = recipe.build_model(96)
        model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                      loss=kzoo.losses.LandmarkLoss(coordinate_scale=96.0))
        x = rng.integers(0, 256, (4, 32, 96, 96, 3)).astype("float32")
        points = rng.uniform(20, 76, (4 * 32, 68, 2)).astype("float32")
        y = kzoo.data.keypoint_targets(points, np.ones((4 * 32, 68)), 96)
        y = {k: np.asarray(v).reshape((4, 32) + tuple(v.shape[1:]))
             for k, v in y.items()}
        return model, tf.data.Dataset.from_tensor_slices((x, y)), 32
    if name == "masked_char_transformer":
        encoder = kzoo.models.char_transformer(120, 128, dim=128, depth=3,
                                               heads=4, mlp_dim=256,
                                               conv_layers=2)
        model = kzoo.models.masked_language_model(encoder, 120)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True))
        x = rng.integers(3, 120, (4, 64, 128)).astype("int32")
        return model, tf.data.Dataset.from_tensor_slices((x, x)), 64
    raise ValueError(name)


def worker(model_name, variant, steps, repeats):
    """One model and variant in this (fresh) process; one JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if variant.startswith("keras_bn"):
        os.environ["KZOO_FUSED_BATCH_NORM"] = "0"
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    import kzoo

    if variant.endswith("bfloat16"):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    model, ds, per_step = _build(model_name, np, keras, kzoo)
    ds = ds.repeat().prefetch(2)
    model.fit(ds, steps_per_epoch=4, epochs=1, verbose=0)  # warm-up
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        history = model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    loss = float(history.history["loss"][-1])
    print(json.dumps({"model": model_name, "variant": variant,
                      "examples_per_second": steps * per_step / best,
                      "seconds": best, "steps": steps,
                      "examples_per_step": per_step,
                      "loss_finite": bool(np.isfinite(loss))}))


def cpu_facts():
    """CPU model name and the ISA flags that matter here."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile",
              "amx_bf16", "amx_int8")
    return {"cpu": model, "cores": os.cpu_count(),
            "isa_flags": [f for f in wanted if f in flags]}


ONEDNN_PROBE = """
import os, sys
sys.path.insert(0, {root!r})
import keras, numpy as np, tensorflow as tf, kzoo
if {bf16}:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
model = kzoo.models.SimSiam(kzoo.models.resnet20_cifar())
model.compile(optimizer=keras.optimizers.SGD(0.03))
x = np.random.default_rng(0).uniform(0, 255, (2, 16, 32, 32, 3)).astype("float32")
ds = tf.data.Dataset.from_tensor_slices({{"view_1": x, "view_2": x}})
model.fit(ds, epochs=1, verbose=0)
"""


def onednn_isa(bf16):
    """The implementations oneDNN reports for convolutions: `{impl: n}`."""
    env = dict(os.environ, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-c", ONEDNN_PROBE.format(root=ROOT, bf16=bf16)],
        capture_output=True, text=True, env=env, timeout=600)
    counts = collections.Counter()
    for line in proc.stdout.splitlines():
        parts = line.split(",")
        if len(parts) > 6 and parts[2] == "primitive" and parts[3] == "exec" \
                and parts[5] in ("convolution", "matmul", "inner_product"):
            counts[f"{parts[5]}: {parts[6]}"] += 1
    return dict(counts.most_common())


QUALITY_FLAGS = ["--dataset", "digits", "--epochs", "15", "--batch-size",
                 "64", "--learning-rate", "0.3", "--knn-every", "0",
                 "--export-dir", ""]


def quality(seeds, out_dir):
    """kNN accuracy of `make demo`'s run at both precisions, per seed."""
    rows = []
    for precision in ("float32", "bfloat16"):
        for seed in seeds:
            run = os.path.join(out_dir, f"quality_{precision}_{seed}")
            cmd = [sys.executable, os.path.join(ROOT, "recipes",
                                                "simclr_cifar.py"),
                   *QUALITY_FLAGS, "--seed", str(seed), "--mixed-precision",
                   precision, "--output-dir", run]
            start = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env=dict(os.environ,
                                           TF_CPP_MIN_LOG_LEVEL="2"))
            if proc.returncode:
                raise SystemExit(proc.stderr[-3000:])
            with open(os.path.join(run, "metrics.json")) as f:
                m = json.load(f)
            rows.append({"precision": precision, "seed": seed,
                         "knn_accuracy": m["knn_accuracy"],
                         "random_init_knn_accuracy":
                             m["random_init_knn_accuracy"],
                         "fit_seconds": m["fit_seconds"],
                         "wall_seconds": round(time.time() - start, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quality", action="store_true",
                        help="also the float32 vs bfloat16 learning check")
    parser.add_argument("--quality-only", action="store_true",
                        help="only the learning check")
    parser.add_argument("--quality-seeds", default="0,1,2")
    parser.add_argument("--results", default=os.path.join(
        ROOT, "benchmarks", "results", "bench_precision.json"))
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker, args.steps, args.repeats)

    facts = cpu_facts()
    print(f"CPU: {facts['cpu']}, {facts['cores']} cores; ISA: "
          f"{', '.join(facts['isa_flags']) or 'none of interest'}")
    results = {"machine": facts, "python": platform.python_version(),
               "command": "python benchmarks/bench_precision.py "
                          + " ".join(sys.argv[1:])}
    if os.path.isfile(args.results):
        with open(args.results) as f:
            previous = json.load(f)
        if previous.get("machine") == facts:
            results = {**previous, **results}
    if not args.quality_only:
        import tensorflow as tf
        import keras

        results["versions"] = {"tensorflow": tf.__version__,
                               "keras": keras.__version__}
        results["onednn"] = {"float32": onednn_isa(False),
                             "bfloat16": onednn_isa(True)}
        for precision, impls in results["onednn"].items():
            print(f"oneDNN kernels, {precision}: {impls}")
        rows = []
        for model_name in args.models.split(","):
            for variant in args.variants.split(","):
                cmd = [sys.executable, os.path.abspath(__file__), "--worker",
                       model_name, variant, "--steps", str(args.steps),
                       "--repeats", str(args.repeats)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                lines = [x for x in proc.stdout.splitlines()
                         if x.startswith("{")]
                if proc.returncode or not lines:
                    print(f"{model_name} {variant}: failed: "
                          f"{proc.stderr.strip().splitlines()[-1:]}")
                    rows.append({"model": model_name, "variant": variant,
                                 "failed": True})
                    continue
                rows.append(json.loads(lines[-1]))
                print(f"{model_name:24s} {variant:18s} "
                      f"{rows[-1]['examples_per_second']:8.1f} examples/s",
                      flush=True)
        base = {r["model"]: r["examples_per_second"] for r in rows
                if r["variant"] == "keras_bn_float32" and not r.get("failed")}
        print("\n| model | " + " | ".join(VARIANTS) + " |")
        print("|---|" + "---|" * len(VARIANTS))
        for model_name in args.models.split(","):
            cells = []
            for variant in VARIANTS:
                r = next((r for r in rows if r["model"] == model_name
                          and r["variant"] == variant), None)
                if r is None or r.get("failed"):
                    cells.append("-")
                    continue
                ratio = r["examples_per_second"] / base[model_name]
                r["ratio_to_keras_bn_float32"] = ratio
                cells.append(f"{r['examples_per_second']:.1f} ({ratio:.2f}x)")
            print(f"| {model_name} | " + " | ".join(cells) + " |")
        results["steps"] = rows
        results["steps_per_variant"] = args.steps
        results["repeats"] = args.repeats
    if args.quality or args.quality_only:
        seeds = [int(s) for s in args.quality_seeds.split(",")]
        rows = quality(seeds, os.path.join(ROOT, "runs", "bench_precision"))
        results["quality"] = {"flags": QUALITY_FLAGS, "runs": rows}
        for precision in ("float32", "bfloat16"):
            accs = [r["knn_accuracy"] for r in rows
                    if r["precision"] == precision]
            print(f"kNN, {precision}: " + ", ".join(
                f"{100 * a:.2f}%" for a in accs))
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(results, f, indent=2)
    print(f"results: {args.results}")


if __name__ == "__main__":
    main()
