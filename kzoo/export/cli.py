"""`python -m kzoo.export`: export a saved `.keras` model, or replay a spec.

`embedding` exports a backbone saved by a run under JAX or PyTorch;
`spec` replays the `NAME.export.json` a run wrote beside its `.keras`
file, with the writer its kind names (`kzoo._export_spec.KINDS`).
"""

import argparse
import os

from kzoo.export._writer import _check_image_shape
from kzoo.export._writer import rest_request_example
from kzoo.export.detection import export_detection_model
from kzoo.export.embeddings import export_audio_embedding_model
from kzoo.export.embeddings import export_embedding_model
from kzoo.export.embeddings import export_fill_blanks_model
from kzoo.export.embeddings import export_text_embedding_model
from kzoo.export.landmarks import export_landmark_model

# The writers a spec's kind may name (kzoo._export_spec.KINDS' values).
_WRITERS = {writer.__name__: writer for writer in (
    export_embedding_model, export_audio_embedding_model,
    export_text_embedding_model, export_fill_blanks_model,
    export_detection_model, export_landmark_model)}


def _parse_image_shape(text):
    """argparse type: `H,W,C` positive integers."""
    try:
        return _check_image_shape(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected H,W,C (positive integers), got {text!r}")


def main(argv=None):
    """`python -m kzoo.export embedding MODEL.keras [options]`.

    Loads a `.keras` image embedding model (e.g. the `backbone.keras` a
    recipe saves under the JAX or PyTorch backend) under the TensorFlow
    backend, with kzoo's classes registered, and exports it with
    `export_embedding_model`: `EXPORT_DIR/MODEL_NAME/<version>/`, the uint8
    `images` -> L2-normalised `embeddings` signature, and `models.config`.
    Prints the version directory and a REST request example.

    Options: `--export-dir` (default `saved_models`), `--model-name`
    (default: the name of the folder holding the file, which for a recipe
    run is the run's model name), `--version` (default: the next one),
    `--image-shape H,W,C` (default: the model's input shape) and
    `--normalize / --no-normalize` (default: normalise).

    `python -m kzoo.export spec RUN_DIR/NAME.export.json` exports any
    other kind: the `.keras` model the spec names with the writer and
    options it records (what a recipe run under JAX or PyTorch writes in
    place of its SavedModel: `kzoo.runs.Run.export_model`). Options:
    `--export-dir`, `--model-name` (default: the spec's) and `--version`.

    Args:
        argv: the arguments. Defaults to `None` (`sys.argv[1:]`).

    Returns:
        The version directory, as a string.

    Example:

    ```
    KERAS_BACKEND=tensorflow python -m kzoo.export embedding \\
        runs/simsiam_cifar10/backbone.keras --export-dir saved_models \\
        --model-name simsiam_cifar10
    ```
    """
    parser = argparse.ArgumentParser(
        prog="python -m kzoo.export",
        description="Export a saved Keras model for TF Serving (run it "
        "under the TensorFlow backend: KERAS_BACKEND=tensorflow).")
    kinds = parser.add_subparsers(dest="kind", required=True,
                                  metavar="{embedding,spec}")
    embedding = kinds.add_parser(
        "embedding", help="an image embedding model: uint8 images -> "
        "L2-normalised embeddings (export_embedding_model).",
        description="Export an image embedding model saved as .keras "
        "(uint8 [N, H, W, 3] images -> embeddings) for TF Serving.")
    embedding.add_argument(
        "model", help="the .keras file, e.g. RUN_DIR/backbone.keras.")
    embedding.add_argument(
        "--export-dir", default="saved_models",
        help="TF Serving base directory. Default: saved_models.")
    embedding.add_argument(
        "--model-name", default=None,
        help="served model name (letters, digits, '_', '.', '-'). Default: "
        "the name of the folder holding MODEL (a recipe's run directory is "
        "named after its model).")
    embedding.add_argument(
        "--version", type=int, default=None,
        help="version number. Default: one more than the largest exported.")
    embedding.add_argument(
        "--image-shape", type=_parse_image_shape, default=None,
        metavar="H,W,C", help="served image shape. Default: the model's "
        "input shape.")
    embedding.add_argument(
        "--normalize", action=argparse.BooleanOptionalAction, default=True,
        help="L2-normalise the embeddings. Default: --normalize.")
    from_spec = kinds.add_parser(
        "spec", help="any kind, from the spec a run saved beside its .keras "
        "file off the TensorFlow backend (RUN_DIR/NAME.export.json).",
        description="Export a model saved as .keras under another backend, "
        "with the writer and options its spec names (kzoo.export's "
        "export_*_model functions).")
    from_spec.add_argument("spec", help="the NAME.export.json file.")
    from_spec.add_argument(
        "--export-dir", default=None,
        help="TF Serving base directory. Default: the run's --export-dir, "
        "from the spec.")
    from_spec.add_argument(
        "--model-name", default=None,
        help="served model name. Default: the spec's.")
    from_spec.add_argument(
        "--version", type=int, default=None,
        help="version number. Default: one more than the largest exported.")
    args = parser.parse_args(argv)

    import keras

    if keras.backend.backend() != "tensorflow":
        parser.error(
            "exporting a SavedModel needs Keras' TensorFlow backend; run it "
            "as KERAS_BACKEND=tensorflow python -m kzoo.export ... "
            f"(this process: {keras.backend.backend()})")
    if args.kind == "spec":
        return _export_from_spec(parser, args)
    if not os.path.isfile(args.model):
        parser.error(f"no such file: {args.model}")
    model_name = args.model_name or os.path.basename(
        os.path.dirname(os.path.abspath(args.model)))
    import kzoo  # noqa: F401  (registers kzoo's serialisable classes)

    model = keras.models.load_model(args.model, compile=False)
    image_shape = args.image_shape
    if image_shape is None:
        image_shape = tuple(model.input_shape[1:])
        if None in image_shape:
            parser.error(f"the model's input shape {model.input_shape} is "
                         "not fixed: pass --image-shape H,W,C")
    version_dir = export_embedding_model(
        model, args.export_dir, model_name, version=args.version,
        image_shape=image_shape, normalize=args.normalize)
    print(f"SavedModel: {version_dir}")
    print(rest_request_example(model_name, image_shape))
    return version_dir


def _export_from_spec(parser, args):
    """`python -m kzoo.export spec FILE`: the writer and options of FILE."""
    import json

    import keras

    from kzoo import _export_spec

    if not os.path.isfile(args.spec):
        parser.error(f"no such file: {args.spec}")
    try:
        spec = _export_spec.read_spec(args.spec)
    except (ValueError, json.JSONDecodeError) as e:
        parser.error(str(e))
    if not os.path.isfile(spec["model"]):
        parser.error(f"the spec's model is missing: {spec['model']}")
    import kzoo  # noqa: F401  (registers kzoo's serialisable classes)

    model = keras.models.load_model(spec["model"], compile=False)
    writer = _WRITERS[_export_spec.KINDS[spec["kind"]]]
    model_name = args.model_name or spec["model_name"]
    version_dir = writer(
        model, export_dir=args.export_dir or spec["export_dir"],
        model_name=model_name, version=args.version, **spec["options"])
    print(f"SavedModel ({spec['kind']}): {version_dir}")
    return version_dir
