"""Trained models that ship with kzoo: `names()`, `load(name)`, `card(name)`.

A preset is a directory of kzoo's package data,
`kzoo/presets/files/<name>/`, holding the inference model a user needs
(`model.keras`; a dual encoder holds one file per tower) and `card.json`,
its model card: task, data and split, the exact training command, seed,
budget, wall time, the CPU it ran on, kzoo's commit, every metric beside
its random-init or trivial baseline, the data's licence, and the sha256 of
each file. Names follow KerasHub's habit, `<recipe>_<backbone>_<data>`
(`simclr_resnet20_cifar10`), so the recipe that trained a preset is in its
name; the card's `command` retrains it.

Loading is offline and safe: each file's size and sha256 are checked
against the card first (a changed or truncated file is refused with an
error naming it), then `keras.saving.load_model(..., safe_mode=True,
compile=False)` rebuilds the model from kzoo's and Keras' registered
classes (no arbitrary code, no lambda). Every preset loads on the
TensorFlow, JAX and PyTorch backends and computes in float32 (presets
trained under `--mixed-precision bfloat16` are saved as float32 copies).

Inputs (as the SavedModel exports): image presets take RGB images at their
training size, `uint8` or floats in `[0, 255]`; audio presets raw 8 kHz
waveforms in `[-1, 1]` of the card's length; text presets take ids from
`tokenizer(name)`, which maps strings to ids in plain Python on any
backend.

    >>> import kzoo
    >>> kzoo.presets.names()
    ['simclr_resnet20_cifar10', ...]
    >>> model = kzoo.presets.load("simclr_resnet20_cifar10")
    >>> embeddings = model.predict(images_uint8)     # [N, 64], unit norm
    >>> kzoo.presets.card("simclr_resnet20_cifar10")["headline"]
    {'metric': 'knn_accuracy', 'value': ..., 'baseline': ..., ...}
"""

import copy
import hashlib
import json
import os

FORMAT = "kzoo-preset-1"
CARD = "card.json"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")


class PresetError(ValueError):
    """An unknown preset name, or a preset whose files fail their check."""


def names():
    """The shipped presets' names, sorted."""
    if not os.path.isdir(ROOT):
        return []
    return sorted(d for d in os.listdir(ROOT)
                  if os.path.isfile(os.path.join(ROOT, d, CARD)))


def path(name):
    """The directory of preset `name`.

    Raises:
        PresetError: for an unknown name (the message lists the known ones).
    """
    known = names()
    if not isinstance(name, str) or name not in known:
        listed = ", ".join(known) if known else "none are installed"
        raise PresetError(f"unknown preset {name!r}; the presets are: "
                          f"{listed}. Received: name={name!r}")
    return os.path.join(ROOT, name)


def card(name):
    """The model card of preset `name`, as a dict (a copy)."""
    with open(os.path.join(path(name), CARD), encoding="utf-8") as f:
        data = json.load(f)
    if data.get("format") != FORMAT:
        raise PresetError(f"preset {name!r}: {CARD} is not a {FORMAT} card. "
                          f"Received: format={data.get('format')!r}")
    return copy.deepcopy(data)


def sha256(file_path):
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(file_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(name):
    """Checks every file the card lists (size, then sha256).

    Returns:
        The card.

    Raises:
        PresetError: naming the file, for a missing, truncated or changed
            file.
    """
    data = card(name)
    directory = path(name)
    for file_name, expected in sorted(data["files"].items()):
        file_path = os.path.join(directory, file_name)
        if not os.path.isfile(file_path):
            raise PresetError(f"preset {name!r}: {file_path} is missing; "
                              "reinstall kzoo or restore the file")
        size = os.path.getsize(file_path)
        if size != expected["bytes"]:
            raise PresetError(
                f"preset {name!r}: {file_path} has {size} bytes, its card "
                f"says {expected['bytes']} (truncated or replaced); refusing "
                "to load it. Reinstall kzoo or restore the file.")
        found = sha256(file_path)
        if found != expected["sha256"]:
            raise PresetError(
                f"preset {name!r}: the sha256 of {file_path} is {found}, its "
                f"card says {expected['sha256']} (the file was changed); "
                "refusing to load it. Reinstall kzoo or restore the file.")
    return data


def load(name, part=None):
    """Loads preset `name` with its trained weights (offline, safe mode).

    Args:
        name: a name from `names()`.
        part: for a preset of several models (dual encoders: e.g.
            `"audio"` and `"image"`), which one; `None` loads the card's
            `default_part`. Single-model presets take `None` only.
            Defaults to `None`.

    Returns:
        The `keras.Model`, for inference (not compiled).

    Raises:
        PresetError: unknown name or part, or a file that fails its check.
    """
    import keras

    import kzoo  # noqa: F401  (registers kzoo's serialisable classes)

    data = verify(name)
    models = data["models"]
    part = part or data.get("default_part")
    if part is None and len(models) == 1:
        part = next(iter(models))
    if part not in models:
        raise PresetError(f"preset {name!r} has the parts {sorted(models)}. "
                          f"Received: part={part!r}")
    file_path = os.path.join(path(name), models[part]["file"])
    return keras.saving.load_model(file_path, compile=False, safe_mode=True)


def tokenizer(name):
    """The text tokenizer of preset `name` (text presets only).

    Returns:
        A `kzoo.presets.CharTokenizer`: strings -> `int32` ids of the
        model's vocabulary and sequence length, in plain Python.
    """
    from kzoo.presets._tokenizer import CharTokenizer

    data = card(name)
    if "tokenizer" not in data:
        raise PresetError(f"preset {name!r} ({data['task']}) takes no text. "
                          f"Received: name={name!r}")
    return CharTokenizer(**data["tokenizer"])


def __getattr__(attr):
    if attr == "CharTokenizer":
        from kzoo.presets._tokenizer import CharTokenizer

        return CharTokenizer
    raise AttributeError(f"module 'kzoo.presets' has no attribute {attr!r}")
