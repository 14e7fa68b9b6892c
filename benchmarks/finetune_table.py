"""Few labels, every pretrained encoder: one table (recipes/finetune_cifar.py).

For each label fraction (SimCLR's 1% and 10% of CIFAR-10, class-balanced,
the same images for every encoder: `kzoo.data.balanced_subset`, label
seed 0) and each encoder, runs `recipes/finetune_cifar.py` and reads its
`metrics.json`: the linear probe on the frozen features of the labelled
images and the test accuracy after fine-tuning the whole network. The row
`random` is the same network from random initialisation: its fine-tuning
is the from-scratch baseline, its probe the random-feature baseline. The
supervised-contrastive preset was pretrained with *all* CIFAR-10 labels:
its row is a reference, not a few-label result.

Each run's result is appended to `--results` as soon as it finishes and
runs already there are skipped (the table can be built over several
sessions); `--report` only rewrites the markdown table beside it.

    python benchmarks/finetune_table.py --data-dir ../shared/datasets
    python benchmarks/finetune_table.py --fractions 0.01 --encoders random,simclr_resnet20_cifar10
    python benchmarks/finetune_table.py --report
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ENCODERS = ("random", "simclr_resnet20_cifar10", "simsiam_resnet20_cifar10",
            "barlow_twins_resnet20_cifar10", "deepcluster_resnet20_cifar10",
            "supcon_resnet20_cifar10")
REFERENCE_ONLY = {"supcon_resnet20_cifar10":
                  "pretrained with all 50,000 labels: a reference"}
RESULTS = os.path.join(ROOT, "benchmarks", "results", "finetune_table.json")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"),
                        help="datasets root holding cifar10/. Default: "
                        "$KZOO_DATA_DIR.")
    parser.add_argument("--fractions", type=float, nargs="+",
                        default=[0.01, 0.1],
                        help="label fractions. Default: 0.01 0.1.")
    parser.add_argument("--encoders", default=",".join(ENCODERS),
                        help="comma-separated encoders (presets, 'random'). "
                        "Default: all the CIFAR-10 ResNet-20 presets.")
    parser.add_argument("--extra", default="",
                        help="more flags for every run (quoted), e.g. "
                        "'--epochs 5 --limit 5000' for a smoke table.")
    parser.add_argument("--runs-dir",
                        default=os.path.join("runs", "finetune_table"),
                        help="where the runs go. Default: "
                        "runs/finetune_table.")
    parser.add_argument("--results", default=RESULTS,
                        help="results JSON (appended). Default: "
                        "benchmarks/results/finetune_table.json.")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite the markdown table.")
    return parser.parse_args(argv)


def load(path):
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {"what": __doc__.split("\n\n")[0], "runs": []}


def markdown(results):
    """The table: one row per encoder, probe and fine-tune per fraction."""
    runs = results["runs"]
    fractions = sorted({r["label_fraction"] for r in runs})
    encoders = [e for e in ENCODERS if any(r["encoder"] == e for r in runs)]
    encoders += sorted({r["encoder"] for r in runs} - set(encoders))
    head = ["encoder"]
    for f in fractions:
        head += [f"{100 * f:g}% probe", f"{100 * f:g}% fine-tuned"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for e in encoders:
        row = [e + (" (reference: all labels in pretraining)"
                    if e in REFERENCE_ONLY else
                    " (from scratch)" if e == "random" else "")]
        for f in fractions:
            found = [r for r in runs
                     if r["encoder"] == e and r["label_fraction"] == f]
            if found:
                m = found[-1]
                row += [f"{100 * m['probe_accuracy']:.2f}%",
                        f"{100 * m['finetune_accuracy']:.2f}%"]
            else:
                row += ["", ""]
        lines.append("| " + " | ".join(row) + " |")
    cpus = sorted({r.get("cpu", "?") for r in runs})
    lines += ["", f"CIFAR-10 test accuracy (10,000 images). Machine: "
              f"{'; '.join(cpus)}. Commands: `{results['runs'][0]['command']}`"
              " and the same with each encoder and fraction." if runs else ""]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    from kzoo._results import markdown_path
    from kzoo._results import write_json
    from kzoo._results import write_markdown
    results = load(args.results)
    md_path = markdown_path(args.results)
    if not args.report:
        from kzoo._machine import cpu_description

        done = {(r["encoder"], r["label_fraction"], r.get("extra", ""))
                for r in results["runs"]}
        for fraction in args.fractions:
            for encoder in args.encoders.split(","):
                if (encoder, fraction, args.extra) in done:
                    print(f"skip {encoder} {fraction}: in {args.results}")
                    continue
                out = os.path.join(args.runs_dir,
                                   f"{encoder}_{100 * fraction:g}pct")
                cmd = [sys.executable, os.path.join(ROOT, "recipes",
                                                    "finetune_cifar.py"),
                       "--encoder", encoder, "--label-fraction",
                       f"{fraction:g}", "--no-scratch", "--output-dir", out,
                       "--export-dir", "", *shlex.split(args.extra)]
                if args.data_dir:
                    cmd += ["--data-dir", args.data_dir]
                print("$", shlex.join(cmd), flush=True)
                start = time.time()
                subprocess.run(cmd, check=True, cwd=ROOT)
                with open(os.path.join(out, "metrics.json")) as f:
                    m = json.load(f)
                keys = ("probe_accuracy", "random_init_probe_accuracy",
                        "finetune_accuracy", "labelled_images",
                        "fit_seconds", "wall_time_seconds")
                results["runs"].append({
                    "encoder": encoder, "label_fraction": fraction,
                    "extra": args.extra, "cpu": cpu_description(),
                    "seconds": round(time.time() - start, 1),
                    "command": "python recipes/finetune_cifar.py "
                    + shlex.join(cmd[2:]).replace(ROOT + "/", ""),
                    **{k: m.get(k) for k in keys}})
                write_json(args.results, results)
    write_markdown(md_path, markdown(results))
    print(f"wrote {md_path}")


if __name__ == "__main__":
    main()
