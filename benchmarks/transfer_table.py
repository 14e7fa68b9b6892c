"""How well do the CIFAR-10 encoders transfer? One table, one command.

("How well do self-supervised models transfer?", Ericsson et al. 2021,
https://arxiv.org/abs/2011.13377, cited in the course.) Every CIFAR-10
ResNet-20 preset, frozen, on the other image data here, beside the same
network at random initialisation and beside supervised CIFAR-10
pretraining (the SupCon preset, trained with all CIFAR-10 labels):

- `digits`: scikit-learn's handwritten digits (32 x 32, 10 classes; its
  fixed 80/20 split);
- `bccd_cells`: BCCD's blood cells cropped from their boxes (3 classes,
  split by image: `kzoo.data.load_bccd_cells`); the classes are unequal
  (85% red cells), so the balanced accuracy is given too;
- `faces`: the facial_keypoints faces (32 x 32 crops), on the people
  `recipes/face_verification.py` holds out (never trained on by anything):
  verification ROC AUC of all cross-video pairs of a person against as
  many pairs of different people, and the person-search Recall@1 with a
  video's own frames excluded.

Frozen figures: weighted kNN accuracy (k=20, T=0.1, the training split as
the memory bank) and a linear probe on standardised features (100 epochs,
`kzoo.eval.linear_probe`). With `--finetune`, each encoder is also
fine-tuned end to end on each classification set
(`recipes/finetune_cifar.py --label-fraction 1`; the `random` row is then
training from scratch).

Results go to `--results` (JSON, rewritten after each encoder) and the
markdown table beside it.

    python benchmarks/transfer_table.py --data-dir ../shared/datasets
    python benchmarks/transfer_table.py --finetune --epochs 30
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ENCODERS = ("random", "simclr_resnet20_cifar10", "simsiam_resnet20_cifar10",
            "barlow_twins_resnet20_cifar10", "deepcluster_resnet20_cifar10",
            "supcon_resnet20_cifar10")
SUPERVISED = "supcon_resnet20_cifar10"
DATASETS = ("digits", "bccd_cells", "faces")
RESULTS = os.path.join(ROOT, "benchmarks", "results", "transfer_table.json")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"),
                        help="datasets root (bccd/, facial_keypoints/). "
                        "Default: $KZOO_DATA_DIR.")
    parser.add_argument("--encoders", default=",".join(ENCODERS),
                        help="comma-separated presets and 'random'. Default: "
                        "every CIFAR-10 ResNet-20 preset that exists.")
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated, of {DATASETS}. Default: all.")
    parser.add_argument("--knn-k", type=int, default=20,
                        help="kNN neighbours. Default: 20 (not CIFAR's 200: "
                        "BCCD's rarest class has 292 training cells, its "
                        "red cells 3,348, and 200 neighbours let them "
                        "outvote the rest).")
    parser.add_argument("--probe-epochs", type=int, default=100,
                        help="linear probe epochs. Default: 100.")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N images of each split (smoke runs).")
    parser.add_argument("--finetune", action="store_true",
                        help="also fine-tune each encoder on digits and "
                        "bccd_cells (recipes/finetune_cifar.py).")
    parser.add_argument("--epochs", type=int, default=30,
                        help="fine-tuning epochs. Default: 30.")
    parser.add_argument("--runs-dir",
                        default=os.path.join("runs", "transfer_table"),
                        help="fine-tuning runs. Default: runs/transfer_table.")
    parser.add_argument("--results", default=RESULTS,
                        help="results JSON. Default: "
                        "benchmarks/results/transfer_table.json.")
    return parser.parse_args(argv)


def load_encoder(name):
    """The ResNet-20 backbone of a preset, or a random one (seed 0)."""
    import keras

    from kzoo import models
    from kzoo import presets

    if name == "random":
        keras.utils.set_random_seed(0)
        return models.resnet20_cifar()
    return presets.load(name).get_layer("resnet20_cifar")


def load_data(name, data_dir, limit):
    from kzoo import data

    if name == "faces":
        faces = data.load_face_identities(data_dir, size=32, limit=limit)
        test_people = data.held_out_people(faces.file_names, 0.2, seed=0)
        return data.select_faces(faces, test_people)
    with warnings.catch_warnings():  # BCCD's two degenerate boxes (counted)
        warnings.simplefilter("ignore")
        if name == "bccd_cells":
            return (data.load_bccd_cells("train", data_dir, limit=limit),
                    data.load_bccd_cells("test", data_dir, limit=limit))
        return (data.load_dataset(name, "train", data_dir, limit),
                data.load_dataset(name, "test", data_dir, limit))


def frozen(backbone, name, loaded, probe_epochs, knn_k=20):
    """The frozen evaluation of `backbone` on dataset `name`."""
    import numpy as np

    from kzoo import eval as kz_eval

    if name == "faces":
        e = kz_eval.embed(backbone, loaded.images)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        i, j, y = kz_eval.verification_pairs(loaded.people, loaded.videos)
        d = np.linalg.norm(e[i] - e[j], axis=1)
        r1 = kz_eval.recall_at_k(e, loaded.people,
                                 query_groups=loaded.videos)
        return {"roc_auc": kz_eval.roc_auc(d, y), "recall_at_1": r1,
                "people": len(loaded.names), "faces": len(loaded.images)}
    train, test = loaded
    tr = kz_eval.embed(backbone, train.images)
    te = kz_eval.embed(backbone, test.images)
    k = min(knn_k, len(tr))
    pred = kz_eval.knn_predict(tr, train.labels, te, k=k, temperature=0.1)
    pred = np.asarray(pred)
    recalls = [np.mean(pred[test.labels == c] == c)
               for c in np.unique(test.labels)]
    probe = kz_eval.linear_probe(tr, train.labels, te, test.labels,
                                 epochs=probe_epochs, seed=0)
    return {"knn_accuracy": float(np.mean(pred == test.labels)),
            "knn_balanced_accuracy": float(np.mean(recalls)),
            "probe_accuracy": probe["accuracy"], "knn_k": k,
            "train_images": len(tr), "test_images": len(te)}


def finetune(encoder, name, args):
    out = os.path.join(args.runs_dir, f"{encoder}_{name}")
    cmd = [sys.executable, os.path.join(ROOT, "recipes", "finetune_cifar.py"),
           "--dataset", name, "--encoder", encoder, "--label-fraction", "1",
           "--epochs", str(args.epochs), "--no-scratch", "--output-dir", out,
           "--export-dir", ""]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    return {"finetune_accuracy": m["finetune_accuracy"],
            "finetune_seconds": m["fit_seconds"]["finetune"]}


def markdown(results):
    rows = results["rows"]
    lines = ["| encoder | digits kNN | digits probe | cells kNN (balanced) "
             "| cells probe | faces ROC AUC | faces Recall@1 |",
             "|---|---|---|---|---|---|---|"]

    def pct(x):
        return "" if x is None else f"{100 * x:.2f}%"

    for enc, r in rows.items():
        d, c, f = (r.get(k, {}) for k in ("digits", "bccd_cells", "faces"))
        label = enc + (" (supervised CIFAR-10)" if enc == SUPERVISED else
                       " (random init)" if enc == "random" else "")
        cells_knn = (f"{pct(c.get('knn_accuracy'))} "
                     f"({pct(c.get('knn_balanced_accuracy'))})" if c else "")
        lines.append(
            f"| {label} | {pct(d.get('knn_accuracy'))}"
            + (f" / ft {pct(d['finetune_accuracy'])}"
               if "finetune_accuracy" in d else "")
            + f" | {pct(d.get('probe_accuracy'))} | {cells_knn}"
            + (f" / ft {pct(c['finetune_accuracy'])}"
               if "finetune_accuracy" in c else "")
            + f" | {pct(c.get('probe_accuracy'))} | "
            f"{'' if not f else format(f['roc_auc'], '.4f')} | "
            f"{pct(f.get('recall_at_1'))} |")
    lines += ["", f"Machine: {results['cpu']}. Command: "
              f"`{results['command']}` ({results['seconds']:.0f} s)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    from kzoo import presets
    from kzoo._machine import cpu_description
    from kzoo._results import markdown_path
    from kzoo._results import write_json
    from kzoo._results import write_markdown

    encoders = [e for e in args.encoders.split(",")
                if e == "random" or e in presets.names()]
    datasets = args.datasets.split(",")
    start = time.time()
    loaded = {d: load_data(d, args.data_dir, args.limit) for d in datasets}
    results = {"what": __doc__.split("\n\n")[0], "cpu": cpu_description(),
               "command": "python benchmarks/transfer_table.py "
               + " ".join(a for a in (argv or sys.argv[1:])), "rows": {}}
    for encoder in encoders:
        backbone = load_encoder(encoder)
        row = results["rows"].setdefault(encoder, {})
        for name in datasets:
            row[name] = frozen(backbone, name, loaded[name],
                               args.probe_epochs, args.knn_k)
            if args.finetune and name != "faces":
                row[name].update(finetune(encoder, name, args))
            print(encoder, name, json.dumps(row[name]), flush=True)
        results["seconds"] = round(time.time() - start, 1)
        write_json(args.results, results)
    md = write_markdown(markdown_path(args.results), markdown(results))
    print(f"wrote {args.results} and {md}")
    return results


if __name__ == "__main__":
    main()
