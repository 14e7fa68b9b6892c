"""Export specs: what a SavedModel export needs, written where TF is absent.

`kzoo.export`'s writers build TensorFlow graphs, so they run under Keras'
TensorFlow backend only. A model trained under JAX or PyTorch is saved as
`.keras` beside a small JSON spec naming the writer (`kind`) and its
options (vocabulary, image size, class names, ...); on a machine with
TensorFlow, `python -m kzoo.export spec FILE.export.json` replays the
export with exactly those options. This module is plain Python (no
TensorFlow, no Keras): `kzoo.runs` writes specs, `kzoo.export` reads them.

Spec fields: `format` (`FORMAT`), `kind` (one of `KINDS`), `model` (the
`.keras` file, relative to the spec's folder), `model_name`, `export_dir`
(as given to the run) and `options` (keyword arguments of the writer).
"""

import json
import os

FORMAT = "kzoo.export_spec/1"
# kind -> the kzoo.export writer it names
KINDS = {
    "embedding": "export_embedding_model",
    "audio_embedding": "export_audio_embedding_model",
    "text_embedding": "export_text_embedding_model",
    "fill_blanks": "export_fill_blanks_model",
    "detection": "export_detection_model",
    "landmarks": "export_landmark_model",
}
SUFFIX = ".export.json"


def spec_path(directory, model_name):
    """`DIRECTORY/MODEL_NAME.export.json`."""
    return os.path.join(directory, model_name + SUFFIX)


def write_spec(directory, kind, model_file, model_name, export_dir,
               options):
    """Writes the spec of one deferred export; returns its path.

    Args:
        directory: where the spec goes (beside `model_file`).
        kind: a key of `KINDS`.
        model_file: the saved `.keras` file, in `directory`.
        model_name: the served model name.
        export_dir: the TF Serving base directory the run was given.
        options: JSON-serialisable keyword arguments of the writer.
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {sorted(KINDS)}. "
                         f"Received: kind={kind!r}")
    spec = {"format": FORMAT, "kind": kind,
            "model": os.path.relpath(model_file, directory),
            "model_name": model_name, "export_dir": export_dir,
            "options": options}
    path = spec_path(directory, model_name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=2, ensure_ascii=False)
    return path


def read_spec(path):
    """The spec at `path`, with `model` made absolute.

    Raises:
        ValueError: for a file that is not a spec of this format, or an
            unknown kind.
    """
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    found = spec.get("format") if isinstance(spec, dict) else None
    if found != FORMAT:
        raise ValueError(f"{path} is not a kzoo export spec ({FORMAT}). "
                         f"Received: format={found!r}")
    if spec.get("kind") not in KINDS:
        raise ValueError(f"{path}: `kind` must be one of {sorted(KINDS)}. "
                         f"Received: kind={spec.get('kind')!r}")
    spec["model"] = os.path.join(os.path.dirname(os.path.abspath(path)),
                                 spec["model"])
    return spec
