"""Exporting models for TF Serving.

Layout (what `tensorflow_model_server --model_config_file` expects):

    <export_dir>/models.config
    <export_dir>/<model_name>/<version>/saved_model.pb
    <export_dir>/<model_name>/<version>/variables/

The exported `serving_default` signature takes raw `uint8` images, so a
TF Serving client sends pixels and needs no Python pre- or post-processing.
"""

import json
import os
import re
import shutil
import tempfile


def _versions(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(d) for d in os.listdir(model_dir)
        if d.isdigit()
        and os.path.isfile(os.path.join(model_dir, d, "saved_model.pb"))
    )


def export_embedding_model(model, export_dir="saved_models",
                           model_name="embedding", version=None,
                           image_shape=(32, 32, 3), normalize=True,
                           write_config=True, verbose=False):
    """Exports an image embedding model as a TF Serving SavedModel.

    The `serving_default` signature takes `images`, `uint8`
    `[None, H, W, 3]`, casts them to `float32` inside the graph, runs
    `model(images, training=False)` (the model holds its own rescaling, as
    kzoo backbones do) and returns `embeddings`, `float32` `[None, D]`,
    L2-normalised when `normalize` (a zero vector stays zero, never NaN).
    The version is written to a temporary sibling directory and renamed at
    the end, so TF Serving never sees a half-written version.

    Args:
        model: a Keras model mapping float images in `[0, 255]` to `[B, D]`.
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name (a directory under `export_dir`).
            Defaults to `"embedding"`.
        version: integer version; `None` means one more than the largest
            version already exported (1 for the first). Defaults to `None`.
        image_shape: `(H, W, 3)` of the served images. Defaults to
            `(32, 32, 3)`.
        normalize: L2-normalise the embeddings. Defaults to `True`.
        write_config: (re)write `<export_dir>/models.config` listing every
            exported model. Defaults to `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory, as a string.

    Example:

    >>> kzoo.export.export_embedding_model(backbone, "saved_models",
    ...                                    "simsiam_cifar10")
    'saved_models/simsiam_cifar10/1'
    """
    import keras
    import tensorflow as tf

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", model_name or ""):
        raise ValueError(
            "`model_name` must be a non-empty name of letters, digits, '_', "
            f"'.' or '-'. Received: model_name={model_name!r}"
        )
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3:
        raise ValueError(
            f"`image_shape` must be (H, W, C). Received: image_shape={image_shape}"
        )
    model_dir = os.path.join(export_dir, model_name)
    existing = _versions(model_dir)
    if version is None:
        version = (existing[-1] + 1) if existing else 1
    elif int(version) != version or version < 0:
        raise ValueError(
            f"`version` must be a non-negative integer. Received: version={version}"
        )
    elif int(version) in existing:
        raise ValueError(
            f"{model_dir}/{version} already exists; TF Serving versions are "
            f"immutable. Received: version={version}"
        )
    version = int(version)

    def serve(images):
        x = tf.cast(images, tf.float32)
        emb = tf.cast(model(x, training=False), tf.float32)
        if normalize:
            emb = emb * tf.math.rsqrt(tf.maximum(
                tf.reduce_sum(tf.square(emb), axis=-1, keepdims=True), 1e-12))
        return {"embeddings": emb}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", serve,
        input_signature=[tf.TensorSpec((None,) + image_shape, tf.uint8,
                                       name="images")],
    )
    os.makedirs(model_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir)
    final = os.path.join(model_dir, str(version))
    try:
        target = os.path.join(tmp, "model")
        archive.write_out(target, verbose=verbose)
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if write_config:
        write_models_config(export_dir)
    return final


def write_models_config(export_dir="saved_models", model_names=None):
    """Writes TF Serving's `models.config` for the models under `export_dir`.

    One `config` entry per model directory holding at least one integer
    version with a `saved_model.pb` (or exactly `model_names`), with
    absolute base paths, in TF Serving's text protobuf format.

    Args:
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_names: names to list. Defaults to `None` (all exported models).

    Returns:
        The path of the written file.
    """
    if model_names is None:
        model_names = sorted(
            d for d in os.listdir(export_dir)
            if _versions(os.path.join(export_dir, d))
        )
    entries = []
    for name in model_names:
        base = os.path.abspath(os.path.join(export_dir, name))
        entries.append(
            "  config {\n"
            f"    name: {json.dumps(name)}\n"
            f"    base_path: {json.dumps(base)}\n"
            '    model_platform: "tensorflow"\n'
            "  }\n"
        )
    path = os.path.join(export_dir, "models.config")
    with open(path + ".tmp", "w") as f:
        f.write("model_config_list {\n" + "".join(entries) + "}\n")
    os.replace(path + ".tmp", path)
    return path


def rest_request_example(model_name, image_shape=(32, 32, 3),
                         host="localhost", port=8501):
    """The `curl` command a TF Serving REST client sends (abbreviated).

    Args:
        model_name: served model name.
        image_shape: `(H, W, 3)` of the served images. Defaults to
            `(32, 32, 3)`.
        host: server host. Defaults to `"localhost"`.
        port: REST port. Defaults to `8501`.

    Returns:
        A multi-line string.
    """
    h, w, c = image_shape
    pixel = "[" + ", ".join(["255"] + ["0"] * (c - 1)) + "]"
    return (
        f"TF Serving REST request (one {h}x{w}x{c} uint8 image):\n"
        f"  curl -X POST http://{host}:{port}/v1/models/{model_name}:predict \\\n"
        f"    -d '{{\"signature_name\": \"serving_default\", \"instances\": "
        f"[[[{pixel}, ...{w} pixels...], ...{h} rows...]]}}'\n"
        f"  -> {{\"predictions\": [[...embedding floats...]]}}"
    )


def load_serving_fn(version_dir):
    """The `serving_default` function of an exported version directory."""
    import tensorflow as tf

    return tf.saved_model.load(version_dir).signatures["serving_default"]
