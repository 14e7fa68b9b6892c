"""The recipes on Keras' TensorFlow and JAX backends: same flags, same
seeds, the headline figure of each beside its baseline.

Every recipe that reads `tf.data` (all but the two-view self-supervised
ones, compared in the README on digits with `make demo`'s flags) is run
under `--backend tensorflow` and `--backend jax` with the same flags and
seeds, at a short CPU budget chosen so that each run takes about a minute
on 2 cores (`RECIPES`; far below the recipes' default budgets, so the
figures are not the recipes' results: they compare backends). From each run's
`metrics.json` it reads the headline figure and its baseline (the same
evaluation at random initialisation; for landmarks the mean training
shape), and reports, per backend, the mean over seeds and the spread.

Each run's result is appended to `--results` as soon as it finishes and
runs already there are skipped (the table can be built over several
sessions); `--report` only rebuilds `recipe_backends.md` beside it.

    python benchmarks/recipe_backends.py --data-dir ../shared/datasets
    python benchmarks/recipe_backends.py --recipes yolo_bccd --seeds 0,1
    python benchmarks/recipe_backends.py --report
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "recipe_backends.json")

DIGITS = ["--dataset", "digits"]
# the self-supervised recipes: 3 epochs, kNN at the end only
SSL = DIGITS + ["--epochs", "3", "--knn-every", "0"]
KNN = ("knn_accuracy", "random_init_knn_accuracy", "random init", True)
# recipe -> (flags of the comparison budget ({data}: --data-dir), headline
# metric, its baseline metric, what the baseline is, higher is better).
# One recipe per code path: the pretext recipes share kzoo.runs.run_pretext
# (rotation: classification; jigsaw: tiles; colorization: regression), so
# denoising, masked patches and supervised are left out for time.
RECIPES = {
    "rotation_cifar": (SSL, *KNN),
    "jigsaw_cifar": (SSL, *KNN),
    "colorization_cifar": (SSL, *KNN),
    "deepcluster_cifar": (SSL, *KNN),
    "vae_cifar": (SSL, *KNN),
    # SupCon and triplet train with batch norm from a few steps per epoch
    # on digits: at 3 epochs (~20 steps) the moving statistics are still
    # near their initial values and both score below random init, so
    # they get more steps.
    "supcon_cifar": (DIGITS + ["--epochs", "6", "--batch-size", "64",
                               "--no-baseline"], "test_accuracy",
                     "random_init_test_accuracy", "random init", True),
    "triplet_cifar": (DIGITS + ["--epochs", "12", "--eval-every", "0"],
                      "recall_at_1", "random_init_recall_at_1",
                      "random init", True),
    "siamese_contrastive": (["--epochs", "5"], "roc_auc",
                            "random_init_roc_auc", "random init", True),
    "yolo_bccd": (["--data-dir", "{data}", "--epochs", "4", "--image-size",
                   "192", "--map-every", "0", "--png-images", "0"],
                  "voc_mAP", "random_init_voc_mAP", "random init", True),
    # At 800 faces x 3 epochs both backends were worse than the mean
    # shape (NME 0.365 vs 0.285): twice the faces, 8 epochs.
    "landmarks_faces": (["--data-dir", "{data}", "--limit", "1600",
                         "--epochs", "8", "--png-faces", "1"],
                        "test_nme", "mean_shape_test_nme",
                        "mean training shape", False),
    "masked_text": (["--data-dir", "{data}", "--epochs", "4"],
                    "test_masked_accuracy", "random_init_test_masked_accuracy",
                    "random init", True),
    # The dual encoders barely move in their first epochs (at 6 both
    # backends stayed at chance): 15 epochs.
    "audio_image_contrastive": (["--data-dir", "{data}", "--epochs", "15"],
                                "audio_to_image_recall@1",
                                "random_init_audio_to_image_recall@1",
                                "random init", True),
    "audio_text_contrastive": (["--data-dir", "{data}", "--epochs", "15"],
                               "audio_to_text_recall@1",
                               "random_init_audio_to_text_recall@1",
                               "random init", True),
}
BACKENDS = ("tensorflow", "jax")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"),
                        help="the shared datasets root. Default: "
                        "$KZOO_DATA_DIR.")
    parser.add_argument("--recipes", default=",".join(RECIPES),
                        help="comma-separated recipe names. Default: all.")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated backends. Default: "
                        "tensorflow,jax.")
    parser.add_argument("--seeds", default="0,1",
                        help="comma-separated seeds. Default: 0,1.")
    parser.add_argument("--results", default=RESULTS,
                        help=f"results file (JSON). Default: {RESULTS}.")
    parser.add_argument("--work-dir", default="/tmp/kzoo_recipe_backends",
                        help="where the runs write. Default: "
                        "/tmp/kzoo_recipe_backends.")
    parser.add_argument("--report", action="store_true",
                        help="only rebuild the table from --results.")
    return parser.parse_args(argv)


def load(path):
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {"runs": []}


def run_one(recipe, backend, seed, args):
    flags, key, base_key, _, _ = RECIPES[recipe]
    flags = [f.replace("{data}", args.data_dir or "") for f in flags]
    out = os.path.join(args.work_dir, f"{recipe}_{backend}_{seed}")
    # A killed run's backup/ would make the recipe resume it: start afresh.
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, os.path.join(ROOT, "recipes", recipe + ".py"),
               "--backend", backend, *flags, "--seed", str(seed),
               "--output-dir", out, "--export-dir", ""]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.time()
    proc = subprocess.run(command, capture_output=True, text=True, env=env,
                          cwd=ROOT)
    seconds = round(time.time() - start, 1)
    if proc.returncode != 0:
        raise SystemExit(f"{recipe} on {backend} failed:\n"
                         f"{proc.stderr[-3000:]}")
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    return {"recipe": recipe, "backend": backend, "seed": seed,
            "metric": key, "value": metrics[key], "baseline_metric": base_key,
            "baseline": metrics[base_key], "wall_seconds": seconds,
            "command": "KERAS_BACKEND=" + backend + " " + shlex.join(
                ["python", f"recipes/{recipe}.py", *command[2:]])}


def report(results, path):
    from kzoo._results import markdown_path
    from kzoo._results import write_markdown

    rows = ["| recipe (metric) | TensorFlow: trained (baseline) per seed | "
            "JAX: trained (baseline) per seed | mean TF / JAX | "
            "gap JAX - TF | seed spread (max - min, per backend) |",
            "|---|---|---|---|---|---|"]
    for recipe, (_, key, _, base_name, higher) in RECIPES.items():
        runs = [r for r in results["runs"] if r["recipe"] == recipe]
        if not runs:
            continue
        cells, means, spreads = [], [], []
        for backend in BACKENDS:
            mine = sorted((r for r in runs if r["backend"] == backend),
                          key=lambda r: r["seed"])
            cells.append(", ".join(
                f"{r['value']:.4f} ({r['baseline']:.4f})" for r in mine)
                or "not run")
            values = [r["value"] for r in mine]
            means.append(sum(values) / len(values) if values else None)
            spreads.append(max(values) - min(values) if len(values) > 1
                           else None)
        mean = " / ".join("-" if m is None else f"{m:.4f}" for m in means)
        gap = ("-" if None in means else f"{means[1] - means[0]:+.4f}")
        spread = " / ".join("-" if s is None else f"{s:.4f}"
                            for s in spreads)
        better = "higher" if higher else "lower"
        rows.append(f"| {recipe} ({key}, {better} is better; baseline: "
                    f"{base_name}) | {cells[0]} | {cells[1]} | {mean} | "
                    f"{gap} | {spread} |")
    machine = results.get("machine", "")
    text = ("# Recipes on the TensorFlow and JAX backends\n\n"
            f"Machine: {machine}. Written by `python "
            "benchmarks/recipe_backends.py`; each run's command is in "
            "recipe_backends.json.\n\n" + "\n".join(rows) + "\n")
    md = write_markdown(markdown_path(path), text)
    print(text)
    return md


def main(argv=None):
    args = parse_args(argv)
    from kzoo._results import write_json
    results = load(args.results)
    if not args.report:
        results["machine"] = (f"{platform.machine()}, {os.cpu_count()} CPU "
                              f"cores, {platform.platform()}")
        recipes = args.recipes.split(",")
        for recipe in recipes:
            if recipe not in RECIPES:
                raise SystemExit(f"unknown recipe {recipe!r}; one of "
                                 f"{sorted(RECIPES)}")
        # every recipe at the first seed before any at the second
        for seed in (int(s) for s in args.seeds.split(",")):
            for recipe in recipes:
                for backend in args.backends.split(","):
                    done = [r for r in results["runs"]
                            if (r["recipe"], r["backend"], r["seed"])
                            == (recipe, backend, seed)]
                    if done:
                        continue
                    row = run_one(recipe, backend, seed, args)
                    print(f"{recipe} {backend} seed {seed}: {row['metric']} "
                          f"{row['value']:.4f} (baseline "
                          f"{row['baseline']:.4f}), {row['wall_seconds']} s",
                          flush=True)
                    results["runs"].append(row)
                    write_json(args.results, results)
    report(results, args.results)


if __name__ == "__main__":
    main()
