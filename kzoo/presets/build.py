"""Building a preset from a recipe run: `python -m kzoo.presets build`.

Each preset has a spec in `kzoo.presets.specs.SPECS`: the recipe that
trains it, how its inference model is made from the run's saved `.keras`
files, which of the run's metrics go into the card beside which baseline,
its headline and target, the data and licence, and the re-measure
protocol. Building reads
the run directory (`args.json`, `metrics.json`, `history*.csv`, the
`.keras` files), assembles the float32 inference model, saves it, measures
it with `kzoo.presets.measure` on both subsets, and writes `card.json` with
the sha256 of every file.

    python -m kzoo.presets build simclr_resnet20_cifar10 \\
        --run runs/presets/simclr_resnet20_cifar10 --wall-time 6851 \\
        --commit 0123abc
"""

import csv
import datetime
import json
import os
import shutil
import subprocess

from kzoo._machine import cpu_description
from kzoo.presets.specs import SPECS


def train(name, data_dir, runs_dir="runs/presets", python=None):
    """Runs the recipe of preset `name` with its spec's flags (resumable).

    The run goes to `RUNS_DIR/NAME` with the preset's name as model name
    and no SavedModel export (`--export-dir ''`); its output is appended to
    `RUNS_DIR/NAME.log`. Running it again after an interruption resumes
    from the recipe's BackupAndRestore state. Each process's wall time is
    appended to `RUN/wall_times.json` (the card's wall time is their sum)
    and the kzoo commit to `RUN/commit.txt`: a run resumes at another
    commit only when no code it trains with changed in between
    (`training_code_changes`); the resuming commit is then recorded with
    that process's wall time.

    Returns:
        The recipe's exit code.
    """
    import sys
    import time

    spec = SPECS[name]
    python = python or sys.executable
    run = os.path.join(runs_dir, name)
    os.makedirs(run, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    commit = git_commit(root)
    commit_file = os.path.join(run, "commit.txt")
    resumed_at = None
    if os.path.isfile(commit_file):
        before = open(commit_file).read().strip()
        if commit and before != commit:
            changed = training_code_changes(root, before)
            if changed:
                raise SystemExit(
                    f"error: {run} was started at kzoo commit {before}, "
                    f"this checkout is {commit} and changes code the "
                    f"training runs ({', '.join(changed[:5])}); resume "
                    "there or remove the run directory")
            resumed_at = commit
    elif commit:
        with open(commit_file, "w") as f:
            f.write(commit + "\n")
    cmd = [python, os.path.join(root, spec["recipe"]), *spec["train_args"],
           "--data-dir", data_dir, "--output-dir", run, "--model-name", name,
           "--export-dir", ""]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.time()
    with open(os.path.join(runs_dir, f"{name}.log"), "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env=env).returncode
    times_file = os.path.join(run, "wall_times.json")
    times = (json.load(open(times_file)) if os.path.isfile(times_file)
             else [])
    times.append({"started": datetime.datetime.fromtimestamp(
                      start, datetime.timezone.utc).isoformat(
                      timespec="seconds"),
                  "seconds": round(time.time() - start, 1),
                  **({"kzoo_commit": resumed_at} if resumed_at else {}),
                  "exit_code": code, "cpu": cpu_description()})
    with open(times_file, "w") as f:
        json.dump(times, f, indent=2)
    return code


def _command(recorded):
    """`python recipes/<the run's argv>`. Runs recorded before args.json
    quoted its arguments lost the empty value of a final `--export-dir`:
    it is written back as `''`."""
    recorded = recorded.rstrip()
    if recorded.endswith(" --export-dir"):
        recorded += " ''"
    return "python " + os.path.join("recipes", recorded)


def _read_json(run, name):
    with open(os.path.join(run, name), encoding="utf-8") as f:
        return json.load(f)


def _history(run):
    """Every `history*.csv` of the run, as {file: [row dicts]}."""
    out = {}
    for name in sorted(os.listdir(run)):
        if name.startswith("history") and name.endswith(".csv"):
            with open(os.path.join(run, name), newline="") as f:
                out[name] = [{k: _number(v) for k, v in row.items()}
                             for row in csv.DictReader(f)]
    return out


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _image_embedding(run, spec, name):
    """uint8 / [0, 255] images -> L2-normalised backbone features."""
    import keras

    from kzoo.layers import L2Normalize
    from kzoo.models import float32_copy

    backbone = float32_copy(keras.saving.load_model(
        os.path.join(run, "backbone.keras"), compile=False))
    inputs = keras.Input(backbone.inputs[0].shape[1:], name="images")
    outputs = L2Normalize(name="embeddings")(backbone(inputs))
    return {"model": keras.Model(inputs, outputs, name=name)}


def _saved_model_file(run, name):
    """The run's float32 inference model saved by `Run.export_model`."""
    path = os.path.join(run, f"{name}.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the run saved no inference model "
                                "under the preset's name (train it with "
                                "--model-name NAME)")
    return path


def _detection(run, spec, name):
    """The run's inference model (detector, decoding, NMS), its NMS score
    threshold set to COCO evaluation's 0.001."""
    import keras

    from kzoo.models.precision import float32_copy

    model = float32_copy(keras.saving.load_model(
        _saved_model_file(run, name), compile=False))
    config = keras.saving.serialize_keras_object(model)

    def lower(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") == "NonMaxSuppression":
                obj["config"]["score_threshold"] = 0.001
            for v in obj.values():
                lower(v)
        elif isinstance(obj, list):
            for v in obj:
                lower(v)

    lower(config)
    config["config"]["name"] = name
    rebuilt = keras.saving.deserialize_keras_object(config)
    rebuilt.set_weights(model.get_weights())
    return {"model": rebuilt}


def _landmarks(run, spec, name):
    import keras

    from kzoo.models.precision import float32_copy

    model = float32_copy(keras.saving.load_model(
        _saved_model_file(run, name), compile=False))
    return {"model": model}


def _l2_wrapped(model, name):
    """`model` followed by `kzoo.layers.L2Normalize` (float32)."""
    import keras

    from kzoo.layers import L2Normalize
    from kzoo.models.precision import float32_copy

    model = float32_copy(model)
    inputs = keras.Input(model.inputs[0].shape[1:],
                         dtype=model.inputs[0].dtype,
                         name=model.inputs[0].name)
    outputs = L2Normalize(name="embeddings")(model(inputs))
    return keras.Model(inputs, outputs, name=name)


def _dual(run, spec, name):
    """Both towers of a dual encoder, each ending L2-normalised; the text
    tower's vocabulary and length from the run's export spec."""
    import keras

    parts = {}
    for part in spec["parts"]:
        model = keras.saving.load_model(
            _saved_model_file(run, f"{name}_{part}"), compile=False)
        parts[part] = _l2_wrapped(model, f"{name}_{part}")
    return parts


def _tokenizer_of(run, name, part):
    """`{"vocabulary", "sequence_length"}` of a text part's export spec."""
    stem = name if part == "model" else f"{name}_{part}"
    with open(os.path.join(run, f"{stem}.export.json"),
              encoding="utf-8") as f:
        options = json.load(f)["options"]
    length = options.get("sequence_length")
    return {"vocabulary": options["vocabulary"],
            "sequence_length": int(length) if length else None}


def _fill_blanks(run, spec, name):
    import keras

    from kzoo.models.precision import float32_copy

    model = float32_copy(keras.saving.load_model(
        _saved_model_file(run, name), compile=False))
    return {"model": model}


def _tower(run, spec, name):
    """The run's backbone as saved (float32), no normalisation."""
    import keras

    from kzoo.models.precision import float32_copy

    return {"model": float32_copy(keras.saving.load_model(
        os.path.join(run, "backbone.keras"), compile=False))}


def _classifier(run, spec, name):
    """SupCon's classifier (`Run.save_keras` as `NAME_classifier`)."""
    import keras

    from kzoo.models.precision import float32_copy

    trained = float32_copy(keras.saving.load_model(
        _saved_model_file(run, f"{name}_classifier"), compile=False))
    # The recipe's encoder is augmentation (RandomFlip / Rotation / Zoom,
    # identity at inference) + backbone; the preset keeps the backbone and
    # the head, so the graph holds no random ops (ONNX has none of
    # TensorFlow's stateless random kernels).
    encoder = trained.get_layer("encoder")
    backbone = next(layer for layer in encoder.layers
                    if isinstance(layer, keras.Model)
                    and layer.name != "augmentation")
    inputs = keras.Input(trained.inputs[0].shape[1:], name="images")
    x = backbone(inputs)
    for layer in trained.layers[trained.layers.index(encoder) + 1:]:
        x = layer(x)
    model = keras.Model(inputs, x, name=trained.name)
    model.trainable = False
    return {"model": model}


BUILDERS = {"image_embedding": _image_embedding, "detection": _detection,
            "tower": _tower, "classifier": _classifier,
            "landmarks": _landmarks, "dual": _dual,
            "fill_blanks": _fill_blanks}


def build(name, run, out_root=None, wall_time=None, commit=None,
          data_dir=None, notes=None):
    """Builds preset `name` from run directory `run`; returns its card.

    Args:
        name: a key of `SPECS`.
        run: the recipe's output directory.
        out_root: where preset directories go. Defaults to `None`
            (`kzoo.presets.ROOT`, the package data).
        wall_time: the run's wall time in seconds (all its processes, when
            it was resumed); `None` takes metrics.json's.
        commit: the kzoo commit that trained it. Defaults to `None` (the
            run's `commit.txt` if present, else unknown).
        data_dir: datasets root for the re-measure. Defaults to `None`.
        notes: free text for the card (e.g. a missed target's reason).
    """
    from kzoo import presets
    from kzoo.presets import measure as measure_lib

    if name not in SPECS:
        raise presets.PresetError(f"no spec for preset {name!r}; known: "
                                  f"{sorted(SPECS)}")
    spec = SPECS[name]
    args = _read_json(run, "args.json")
    metrics = _read_json(run, "metrics.json")
    parts = BUILDERS[spec["build"]](run, spec, name)
    out_root = out_root or presets.ROOT
    directory = os.path.join(out_root, name)
    tmp = directory + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    models, files = {}, {}
    for part, model in parts.items():
        file_name = "model.keras" if part == "model" else f"{part}.keras"
        model.save(os.path.join(tmp, file_name))
        models[part] = {"file": file_name}
    for file_name in sorted(os.listdir(tmp)):
        file_path = os.path.join(tmp, file_name)
        files[file_name] = {"bytes": os.path.getsize(file_path),
                            "sha256": presets.sha256(file_path)}

    table = []
    for key, what, base_key, base_what in spec["metrics"]:
        if key in metrics:
            table.append({"metric": key, "what": what,
                          "value": metrics[key],
                          "baseline": metrics.get(base_key),
                          "baseline_is": base_what})
    head = next(r for r in table if r["metric"] == spec["headline"])
    headline = {**head, "gain": (head["value"] - head["baseline"]
                                 if head["baseline"] is not None else None),
                "higher_is_better": not spec.get("lower_is_better", False)}
    target = spec.get("target")
    if target:
        value = (headline["gain"] if target["metric"].endswith("_gain")
                 else headline["value"])
        target = {**target, "measured": value,
                  "met": (value >= target["at_least"]
                          if "at_least" in target
                          else value <= target["at_most"])}
    if commit is None and os.path.isfile(os.path.join(run, "commit.txt")):
        commit = open(os.path.join(run, "commit.txt")).read().strip()
    times_file = os.path.join(run, "wall_times.json")
    processes = (json.load(open(times_file)) if os.path.isfile(times_file)
                 else None)
    if wall_time is None and processes:
        wall_time = round(sum(t["seconds"] for t in processes), 1)
    tokenizer = None
    if spec.get("tokenizer_part"):
        tokenizer = _tokenizer_of(run, name, spec["tokenizer_part"])
        if tokenizer["sequence_length"] is None:
            part = spec["tokenizer_part"]
            model = parts[part]
            tokenizer["sequence_length"] = int(model.inputs[0].shape[1])
    card = {
        "format": presets.FORMAT,
        "name": name,
        "task": spec["task"],
        "summary": spec["summary"],
        "recipe": spec["recipe"],
        "command": _command(args["command"]),
        "metrics_note": "values as the recipe measured them at the end of "
                        "training (at its --mixed-precision); the headline "
                        "value is re-measured from the shipped float32 file",
        "seed": args["args"].get("seed"),
        "precision": args["args"].get("mixed_precision", "float32"),
        "budget": {k: args["args"].get(k) for k in
                   ("epochs", "batch_size", "limit", "learning_rate")
                   if k in args["args"]},
        "train_examples": metrics.get("train_images"),
        "wall_time_seconds": wall_time or metrics.get("wall_time_seconds"),
        **({"processes": processes} if processes else {}),
        "fit_seconds": metrics.get("fit_seconds"),
        "images_per_second": metrics.get("images_per_second"),
        "cpu": cpu_description(),
        "machine": args.get("machine"),
        "versions": {k: args.get(k) for k in ("tensorflow", "keras",
                                               "python", "backend")},
        "kzoo_commit": commit,
        "trained": ((processes or [{}])[0].get("started")
                    or args.get("started")),
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "inputs": spec["inputs"],
        "outputs": spec["outputs"],
        "data": spec["data"],
        **({"class_names": spec["class_names"]} if "class_names" in spec
           else {}),
        "metrics": table,
        "headline": headline,
        "target": target,
        "curve": {"per_epoch": metrics.get("history"),
                  "history_csv": _history(run)},
        "models": models,
        **({"default_part": spec["default_part"]}
           if "default_part" in spec else {}),
        **({"tokenizer": tokenizer} if tokenizer else {}),
        **({"verification": {
            "distance": "l2",
            "threshold": metrics["verification_threshold"],
            "chosen_on": "validation pairs (20% of each training class)"}}
           if spec["task"] == "pair_verification" else {}),
        **({"audio": {**spec["audio"], "num_samples": int(
            parts["audio"].inputs[0].shape[1])}} if "audio" in spec else {}),
        "files": files,
        "notes": notes,
    }
    remeasure = dict(spec["remeasure"])
    card["remeasure"] = remeasure
    if os.path.exists(directory):
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    # Measured from the saved file, loaded as users load it.
    import keras

    loaded = {part: keras.saving.load_model(
        os.path.join(directory, spec_["file"]), compile=False,
        safe_mode=True) for part, spec_ in models.items()}
    from kzoo.presets.measure import MULTI_PART

    model = (loaded if remeasure["protocol"]["kind"] in MULTI_PART
             else loaded[remeasure["protocol"].get("part", "model")])
    for subset in ("full", "ci"):
        remeasure[subset] = measure_lib.measure(
            name, subset, data_dir=data_dir, model=model, card=card)
    # The headline is the shipped file's own figure (float32); the recipe's
    # (computed at the training precision) stays beside it.
    metric = remeasure["metric"]
    headline["run_value"] = headline["value"]
    headline["value"] = remeasure["full"][metric]
    if headline["baseline"] is not None:
        headline["gain"] = headline["value"] - headline["baseline"]
    if target:
        value = (headline["gain"] if target["metric"].endswith("_gain")
                 else headline["value"])
        target["measured"] = value
        target["met"] = (value >= target["at_least"] if "at_least" in target
                         else value <= target["at_most"])
    _write(directory, card)
    return card


def _write(directory, card):
    path = os.path.join(directory, "card.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    os.replace(path + ".tmp", path)


# Paths whose changes do not change what a training run computes: the
# presets' own files and cards, the command line, tests, docs, benchmarks.
_NOT_TRAINING = ("kzoo/presets/", "kzoo/cli.py", "kzoo/search.py",
                 "tests/", "benchmarks/", "docs/", "README.md",
                 "saved_models/", ".ci/")


def training_code_changes(root, before):
    """Files under `kzoo/` or `recipes/` (outside `_NOT_TRAINING`) that
    differ between commit `before` (its `+uncommitted` mark dropped) and
    this checkout's working tree; `["<unknown>"]` when git cannot tell.

    A run interrupted at one commit may resume at another only when this
    is empty: the resumed epochs then run the same code."""
    base = before.split("+")[0]
    try:
        out = subprocess.run(["git", "-C", root, "diff", "--name-only",
                              base, "--", "kzoo", "recipes"],
                             capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return ["<unknown>"]
    return [f for f in out if not f.startswith(_NOT_TRAINING)]


def git_commit(root):
    """HEAD of the checkout at `root`, with `+uncommitted` when tracked
    files differ from it (`None` outside a git checkout)."""
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain",
             "--untracked-files=no"], capture_output=True, text=True,
            check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+uncommitted" if dirty else "")
