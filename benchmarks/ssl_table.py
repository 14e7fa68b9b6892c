"""One table of every self-supervised method in kzoo, at one budget.

Trains each method's recipe (the eight pretext / Barlow Twins recipes,
SimSiam, SimCLR) and a supervised cross-entropy encoder with the same
backbone (ResNet-20), data (CIFAR-10), budget (`--limit` training images,
`--epochs`, batch 128) and seeds, and reads each run's `metrics.json`: the
same weighted kNN (k=200, T=0.1; train split as the memory bank, test split
as queries) and the same linear probe on standardised features, for the
trained backbone and for the same backbone at random initialisation (every
recipe seeds Keras and builds the backbone first, so the random-init
backbone is the same in every run of a seed; the script checks it).

Each run's result is appended to `--results` (JSON) as soon as it
finishes, and runs already there are skipped: the table can be built over
several sessions. `--report` only rebuilds the outputs:
`ssl_table_<budget>.md` (the table in docs/ssl.md, with the budget, machine and
wall times) and `ssl_table_<budget>.png` (a bar chart of the kNN gain over
random init, with the spread over seeds), next to the results file; the
budget's name is `limit<N>_epochs<E>_batch<B>[_<tag>]`.

    python benchmarks/ssl_table.py --data-dir ../shared/datasets \\
        --limit 10000 --epochs 3 --seeds 26 [--methods rotation,simclr]
    python benchmarks/ssl_table.py --report
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# method -> (recipe, extra flags at the table's budget, what it is)
METHODS = {  # in the order they run: the cheap ones first
    "supervised": ("supervised_cifar.py", [],
                   "cross-entropy with the labels (reference row)"),
    # lr 0.06 / momentum 0.9 instead of keras-io's 0.03 / 0.6: chosen on a
    # validation split carved from train (benchmarks/simsiam_investigation.py)
    "simsiam": ("simsiam_cifar.py", ["--probe-epochs", "0",
                                     "--learning-rate", "0.06",
                                     "--momentum", "0.9"],
                "SimSiam, lr 0.06, momentum 0.9"),
    "simclr": ("simclr_cifar.py", [], "SimCLR, NT-Xent T=0.5"),
    "nnclr": ("nnclr_cifar.py", [], "NNCLR, support set 10,000, T=0.1"),
    "barlow_twins": ("barlow_twins_cifar.py", [], "Barlow Twins, 2048-d"),
    "rotation": ("rotation_cifar.py", [], "RotNet, 4 rotations per image"),
    "colorization": ("colorization_cifar.py", [], "colorization (ab of Lab)"),
    "denoising": ("denoising_cifar.py", [], "denoising AE, Gaussian 0.1"),
    "masked_patches": ("masked_patches_cifar.py", [],
                       "masked 4x4 patches, 75%"),
    # A ViT, not the ResNet-20: its own random-init baseline.
    "mae": ("mae_cifar.py", [], "MAE, ViT-tiny, 75% of 4x4 patches dropped"),
    "deepcluster": ("deepcluster_cifar.py", [], "DeepCluster, k-means"),
    "vae": ("vae_cifar.py", [], "VAE, 128-d latent"),
    # The discriminator, not the ResNet-20: its own random-init baseline.
    "dcgan": ("dcgan_cifar.py", ["--quality-samples", "0"],
              "DCGAN, the discriminator's pooled features"),
    "jigsaw": ("jigsaw_cifar.py", ["--num-permutations", "100"],
               "jigsaw, 100 permutations"),
}


# Why a method's random-init baseline is not the ResNet-20's.
OWN_ENCODER = {
    "mae": "its encoder is a ViT-tiny, not the ResNet-20",
    "dcgan": "its encoder is the DCGAN discriminator, not the ResNet-20",
}


def budget_key(args):
    key = f"limit{args.limit}_epochs{args.epochs}_batch{args.batch_size}"
    if getattr(args, "tag", ""):
        key += f"_{args.tag}"
    return key if args.dataset == "cifar10" else f"{args.dataset}_{key}"


def load(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return []


def save(path, results):
    from kzoo._results import write_json

    write_json(path, results, sort_keys=True)


def run_method(method, seed, args):
    recipe, extra, _ = METHODS[method]
    out = os.path.join(args.runs_dir, budget_key(args), f"{method}_s{seed}")
    cmd = [sys.executable, os.path.join(ROOT, "recipes", recipe),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--seed", str(seed), "--output-dir", out, "--export-dir", "",
           "--knn-every", "0", "--log-every", str(args.log_every),
           "--dataset", args.dataset, *extra,
           *shlex.split(args.recipe_args)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    print(f"== {method} seed {seed}: {' '.join(cmd[1:])}", flush=True)
    start = time.time()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    log_path = os.path.join(os.path.dirname(out), f"{method}_s{seed}.log")
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        print(f"   {method} failed (exit {proc.returncode}); see {log_path}",
              flush=True)
        return None
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    history = metrics.get("history", {})
    return {
        "method": method, "seed": seed, "budget": budget_key(args),
        "dataset": args.dataset,
        "limit": args.limit, "epochs": args.epochs,
        "recipe_args": args.recipe_args,
        "batch_size": args.batch_size,
        "test_images": metrics.get("test_images"),
        "knn": metrics["knn_accuracy"],
        "random_init_knn": metrics["random_init_knn_accuracy"],
        "probe": metrics["feature_linear_probe_accuracy"],
        "random_init_probe":
            metrics["random_init_feature_linear_probe_accuracy"],
        "loss_by_epoch": history.get("loss"),
        "z_std_by_epoch": history.get("z_std"),
        "wall_seconds": round(time.time() - start, 1),
        "fit_seconds": metrics.get("fit_seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "finished": time.strftime("%Y-%m-%d %H:%M"),
    }


def _mean_std(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, var ** 0.5


def _pct(mean, std=None, signed=False):
    text = f"{100 * mean:+.2f}" if signed else f"{100 * mean:.2f}"
    return text + (f" ± {100 * std:.2f}" if std is not None else "")


def summarise(results, budget):
    rows = {}
    for r in results:
        if r["budget"] == budget:
            rows.setdefault(r["method"], []).append(r)
    table = []
    for method in METHODS:
        runs = rows.get(method)
        if not runs:
            continue
        gains = [r["knn"] - r["random_init_knn"] for r in runs]
        probe_gains = [r["probe"] - r["random_init_probe"] for r in runs]
        table.append({
            "method": method, "seeds": sorted(r["seed"] for r in runs),
            "knn": _mean_std([r["knn"] for r in runs]),
            "knn_gain": _mean_std(gains),
            "probe": _mean_std([r["probe"] for r in runs]),
            "probe_gain": _mean_std(probe_gains),
            "minutes": sum(r["wall_seconds"] for r in runs) / len(runs) / 60,
            "losses": [r["loss_by_epoch"] or [] for r in runs],
        })
    # The shared random-init baseline of each seed: the value most runs of
    # that seed have (every recipe builds the same backbone first). A run
    # whose encoder sees other inputs (colorization: grey images) has its
    # own baseline; it is marked and listed.
    common = {}
    for seed in sorted({r["seed"] for rs in rows.values() for r in rs}):
        values = [(round(r["random_init_knn"], 6),
                   round(r["random_init_probe"], 6))
                  for rs in rows.values() for r in rs if r["seed"] == seed]
        common[seed] = max(set(values), key=values.count)
    own = []
    for row in table:
        for r in rows[row["method"]]:
            if (round(r["random_init_knn"], 6),
                    round(r["random_init_probe"], 6)) != common[r["seed"]]:
                row["own_baseline"] = True
                own.append((row["method"], r["seed"], r["random_init_knn"],
                            r["random_init_probe"]))
    return table, common, own


def _short(value):
    """A loss with 4 significant digits (losses range from 0.006 to 2,000)."""
    return f"{value:.4g}"


def _extra_flags(r):
    text = ""
    if r.get("recipe_args"):
        text += f" --recipe-args '{r['recipe_args']}'"
    tag = r["budget"].rsplit(f"batch{r['batch_size']}", 1)[-1].lstrip("_")
    if tag:
        text += f" --tag {tag}"
    return text


def write_report(results, budget, out_dir):
    from kzoo._results import write_markdown

    table, common, own = summarise(results, budget)
    if not table:
        print(f"no results for budget {budget}")
        return None
    runs = [r for r in results if r["budget"] == budget]
    r0 = runs[0]
    lines = [
        f"Budget: {r0['limit'] or 'all'} {r0.get('dataset', 'cifar10')} "
        "training images, "
        f"{r0['epochs']} epochs, batch {r0['batch_size']}, ResNet-20, "
        f"on {r0['machine']}; kNN (k=200, T=0.1) and a linear probe on "
        f"standardised features, on the {r0.get('test_images') or '?'} test "
        "images "
        "(`python benchmarks/ssl_table.py --limit "
        f"{r0['limit']} --epochs {r0['epochs']}{_extra_flags(r0)} --seeds "
        "...`); minutes "
        "are wall time per run, evaluation of both encoders included.",
        "",
        "| method | seeds | kNN | kNN gain over random init | linear probe "
        "| probe gain | minutes per run | mean loss of each epoch (per seed) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rk = _mean_std([v[0] for v in common.values()])
    rp = _mean_std([v[1] for v in common.values()])
    lines.append(f"| random init (same backbone) "
                 f"| {','.join(map(str, common))} | {_pct(*rk)} | 0 "
                 f"| {_pct(*rp)} | 0 | | |")
    for row in table:
        loss = "; ".join(" → ".join(_short(v) for v in losses)
                         for losses in row["losses"])
        lines.append(
            f"| {row['method']}{' *' if row.get('own_baseline') else ''} "
            f"| {','.join(map(str, row['seeds']))} "
            f"| {_pct(*row['knn'])} | **{_pct(*row['knn_gain'], signed=True)}**"
            f" | {_pct(*row['probe'])} "
            f"| {_pct(*row['probe_gain'], signed=True)} "
            f"| {row['minutes']:.1f} | {loss} |")
    lines.append("")
    lines.append("Gains are each run's trained minus its own random-init "
                 "encoder, averaged over seeds (± the standard deviation "
                 "over seeds). Random init per seed: " + "; ".join(
                     f"seed {seed}: kNN {_pct(v[0])}, probe {_pct(v[1])}"
                     for seed, v in common.items()) + ".")
    for method, seed, knn, probe in own:
        lines.append("")
        why = OWN_ENCODER.get(method, "evaluated on its encoder's own input")
        lines.append(f"\\* {method}, seed {seed}: {why}, so its random-init "
                     f"baseline is that encoder's: kNN {_pct(knn)}, probe "
                     f"{_pct(probe)}.")
    text = "\n".join(lines) + "\n"
    md = write_markdown(os.path.join(out_dir, f"ssl_table_{budget}.md"),
                        text)
    print(text)
    png = os.path.join(out_dir, f"ssl_table_{budget}.png")
    draw_chart(png, table)
    print(f"written: {md}, {png}")
    return text


def draw_chart(path, table):
    """Horizontal bars of the kNN gain (points), whiskers = seed std."""
    from PIL import Image
    from PIL import ImageDraw

    bar_h, gap, left, right, top = 22, 8, 150, 40, 40
    gains = [100 * row["knn_gain"][0] for row in table]
    lo, hi = min(0.0, *gains) - 1, max(0.0, *gains) + 1
    width = 640
    scale = (width - left - right) / (hi - lo)
    height = top + len(table) * (bar_h + gap) + 30
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    d.text((10, 10), "kNN accuracy gain over the random-init encoder "
           "(points)", fill="black")
    x0 = left + (0 - lo) * scale
    for i, (row, g) in enumerate(zip(table, gains)):
        y = top + i * (bar_h + gap)
        colour = (60, 140, 60) if g > 0 else (200, 70, 60)
        d.rectangle([min(x0, x0 + g * scale), y, max(x0, x0 + g * scale),
                     y + bar_h], fill=colour)
        std = row["knn_gain"][1]
        if std:
            c = x0 + g * scale
            d.line([c - 100 * std * scale, y + bar_h / 2,
                    c + 100 * std * scale, y + bar_h / 2], fill="black",
                   width=2)
        d.text((10, y + 5), row["method"], fill="black")
        d.text((x0 + g * scale + (4 if g >= 0 else -40), y + 5),
               f"{g:+.1f}", fill="black")
    d.line([x0, top - 5, x0, height - 25], fill="black")
    d.text((x0 - 10, height - 20), "random init", fill="black")
    img.save(path)


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"))
    p.add_argument("--dataset", choices=["cifar10", "digits"],
                   default="cifar10",
                   help="digits: scikit-learn's embedded 8x8 digits (tests, "
                   "smoke runs). Default: cifar10.")
    p.add_argument("--limit", type=int, default=10000,
                   help="training images (first N of each split; the test "
                   "split has 10,000). Default: 10000.")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seeds", default="26")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--recipe-args", default="",
                   help="extra flags given to every recipe of this call, "
                   "after the table's own (e.g. \"--learning-rate 0.3\"); "
                   "use with --tag. Default: none.")
    p.add_argument("--tag", default="",
                   help="suffix of the budget's name, so runs with other "
                   "--recipe-args are kept apart. Default: none.")
    p.add_argument("--results",
                   default=os.path.join(ROOT, "benchmarks", "results",
                                        "ssl_table.json"))
    p.add_argument("--runs-dir", default=os.path.join(ROOT, "runs",
                                                      "ssl_table"))
    p.add_argument("--report", action="store_true",
                   help="only rebuild ssl_table.md / .png from the results.")
    args = p.parse_args()
    budget = budget_key(args)
    results = load(args.results)
    if not args.report:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for method in args.methods.split(","):
                if method not in METHODS:
                    p.error(f"unknown method {method!r}; "
                            f"choose from {', '.join(METHODS)}")
                if any(r["method"] == method and r["seed"] == seed
                       and r["budget"] == budget for r in results):
                    print(f"== {method} seed {seed}: done, skipped")
                    continue
                r = run_method(method, seed, args)
                if r is None:
                    continue
                results = load(args.results) + [r]
                save(args.results, results)
                print(f"   {method}: kNN {100 * r['knn']:.2f} (random init "
                      f"{100 * r['random_init_knn']:.2f}), probe "
                      f"{100 * r['probe']:.2f} "
                      f"({100 * r['random_init_probe']:.2f}), "
                      f"{r['wall_seconds'] / 60:.1f} min", flush=True)
    write_report(results, budget, os.path.dirname(args.results))


if __name__ == "__main__":
    main()
