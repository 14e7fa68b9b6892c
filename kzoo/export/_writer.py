"""The one SavedModel writer of every export, and TF Serving's layout.

Version directories (new, never overwritten, renamed into place when
complete), `models.config`, the REST example and the loader. A task's
export is its serving signatures handed to `_write_saved_model`.
"""

import numbers
import operator
import os
import re
import shutil
import tempfile

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


def _versions(model_dir, require_saved_model=True):
    """Sorted integer version directories under `model_dir`."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(d) for d in os.listdir(model_dir)
        if d.isascii() and d.isdigit() and os.path.isdir(os.path.join(model_dir, d))
        and (not require_saved_model
             or os.path.isfile(os.path.join(model_dir, d, "saved_model.pb")))
    )


def _pbtxt_string(value):
    """Quotes `value` as a protobuf text-format string literal."""
    out = []
    for byte in str(value).encode("utf-8"):
        ch = chr(byte)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _check_model_name(model_name):
    if not isinstance(model_name, str) or not _NAME_RE.fullmatch(model_name):
        raise ValueError(
            "`model_name` must be a non-empty name of letters, digits, '_', "
            f"'.' or '-'. Received: model_name={model_name!r}"
        )


def _check_image_shape(image_shape):
    try:
        shape = tuple(operator.index(d) for d in image_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            "`image_shape` must be (H, W, C) positive integers. "
            f"Received: image_shape={image_shape!r}"
        )
    return shape


def _image_size(image_size):
    """`image_size`, checked to be a positive integer."""
    if (isinstance(image_size, bool)
            or not isinstance(image_size, numbers.Integral)
            or image_size < 1):
        raise ValueError("`image_size` must be a positive integer. "
                         f"Received: image_size={image_size!r}")
    return int(image_size)


def _any_size_images_spec():
    """The image exports' input: `uint8` `[None, None, None, 3]`."""
    import tensorflow as tf

    return tf.TensorSpec((None, None, None, 3), tf.uint8, name="images")


def _new_version_dir(export_dir, model_name, version):
    """`<export_dir>/<model_name>/<version>`, checked to be new (not created)."""
    _check_model_name(model_name)
    model_dir = os.path.join(export_dir, model_name)
    # Every integer directory counts (even one without saved_model.pb), so
    # a new version never lands on an existing directory.
    existing = _versions(model_dir, require_saved_model=False)
    if version is None:
        version = (existing[-1] + 1) if existing else 1
    else:
        if (isinstance(version, bool)
                or not isinstance(version, numbers.Integral) or version < 0):
            raise ValueError(
                "`version` must be a non-negative integer or None. "
                f"Received: version={version!r}"
            )
        version = int(version)
        if version in existing or os.path.exists(
                os.path.join(model_dir, str(version))):
            raise ValueError(
                f"{os.path.join(model_dir, str(version))} already exists and "
                "TF Serving versions are immutable; pass a new version or "
                f"version=None. Received: version={version}"
            )
    return os.path.join(model_dir, str(version))


def _write_saved_model(final, export_dir, endpoints, track=(),
                       write_config=True, verbose=False):
    """The one SavedModel writer of every export: a task is its signatures.

    Args:
        final: the new version directory (`_new_version_dir`).
        export_dir: the TF Serving base directory (for `models.config`).
        endpoints: `{signature name: (function, input signature)}`; each
            function returns a dict, whose keys become the signature's
            output names. Registered under the literal name
            "serving_default", a signature gets no alias from Keras.
        track: the Keras layers and models whose variables the functions
            use. Defaults to `()`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        `final`.
    """
    import keras

    archive = keras.export.ExportArchive()
    for layer in track:
        archive.track(layer)
    for name, (function, input_signature) in endpoints.items():
        archive.add_endpoint(name, function,
                             input_signature=list(input_signature))
    return _write_archive(archive, final, export_dir, write_config, verbose)


def _write_archive(archive, final, export_dir, write_config, verbose):
    """Writes a `keras.export.ExportArchive` to the version dir `final`.

    The version is written to a temporary hidden sibling directory and
    renamed at the end, so TF Serving never sees a half-written version.
    """
    model_dir = os.path.dirname(final)
    os.makedirs(model_dir, exist_ok=True)
    # Hidden, non-integer sibling: TF Serving ignores it, even after a crash.
    tmp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(final)}-",
                           dir=model_dir)
    try:
        target = os.path.join(tmp, "model")
        archive.write_out(target, verbose=verbose)
        os.rename(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if write_config:
        write_models_config(export_dir)
    return final


def _export_embeddings(model, final, preprocess, input_spec, normalize,
                       export_dir, write_config, verbose, track=(),
                       output_key="embeddings"):
    """The embedding exports' one signature: `preprocess`, `model`, then
    L2 normalisation when `normalize` (a zero row stays zero, never NaN,
    as with `tf.math.l2_normalize`)."""
    import tensorflow as tf

    def serve(inputs):
        emb = tf.cast(model(preprocess(inputs), training=False), tf.float32)
        if normalize:
            emb = emb * tf.math.rsqrt(tf.maximum(
                tf.reduce_sum(tf.square(emb), axis=-1, keepdims=True), 1e-12))
        return {output_key: emb}

    return _write_saved_model(
        final, export_dir, {"serving_default": (serve, [input_spec])},
        track=(model, *track), write_config=write_config, verbose=verbose)


def write_models_config(export_dir="saved_models", model_names=None):
    """Writes TF Serving's `models.config` for the models under `export_dir`.

    The file is a `ModelServerConfig` in protobuf text format, with one
    `config` entry (name, absolute `base_path`, `model_platform:
    "tensorflow"`) per model, for
    `tensorflow_model_server --model_config_file=<export_dir>/models.config`.

    Args:
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_names: names to list, in order. `None` lists every directory
            under `export_dir` holding at least one integer version with a
            `saved_model.pb`, sorted. Defaults to `None`.

    Returns:
        The path of the written `models.config`, as a string.

    Example:

    >>> kzoo.export.write_models_config("saved_models")
    'saved_models/models.config'
    """
    if not os.path.isdir(export_dir):
        raise ValueError(
            f"`export_dir` must be an existing directory. "
            f"Received: export_dir={export_dir!r}"
        )
    if model_names is None:
        model_names = sorted(
            d for d in os.listdir(export_dir)
            if _versions(os.path.join(export_dir, d))
        )
    elif isinstance(model_names, str):
        model_names = [model_names]
    model_names = list(model_names)
    for name in model_names:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(
                "Each model name must be a non-empty name of letters, digits, "
                f"'_', '.' or '-'. Received: model_names={model_names!r}"
            )
    entries = []
    for name in model_names:
        base = os.path.abspath(os.path.join(export_dir, name))
        entries.append(
            "  config {\n"
            f"    name: {_pbtxt_string(name)}\n"
            f"    base_path: {_pbtxt_string(base)}\n"
            '    model_platform: "tensorflow"\n'
            "  }\n"
        )
    path = os.path.join(export_dir, "models.config")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("model_config_list {\n" + "".join(entries) + "}\n")
    os.replace(tmp, path)
    return path


def rest_request_example(model_name, image_shape=(32, 32, 3),
                         host="localhost", port=8501):
    """Returns the `curl` command of a TF Serving REST predict request.

    The JSON body is abbreviated: a real request sends each image as an
    `H x W x 3` nested list of integers in `[0, 255]`.

    Args:
        model_name: served model name.
        image_shape: `(H, W, 3)` of the served images. Defaults to
            `(32, 32, 3)`.
        host: server host. Defaults to `"localhost"`.
        port: REST port. Defaults to `8501`.

    Returns:
        A multi-line string.

    Example:

    >>> print(kzoo.export.rest_request_example("simsiam_cifar10"))
    """
    h, w, c = (int(d) for d in image_shape)
    pixel = "[" + ", ".join(["255"] + ["0"] * (c - 1)) + "]"
    return (
        f"TF Serving REST request (one {h}x{w}x{c} uint8 image):\n"
        f"  curl -X POST http://{host}:{port}/v1/models/{model_name}:predict \\\n"
        f"    -d '{{\"signature_name\": \"serving_default\", \"instances\": "
        f"[[[{pixel}, ...{w} pixels...], ...{h} rows...]]}}'\n"
        f"  -> {{\"predictions\": [[...embedding floats...]]}}"
    )


def load_serving_fn(version_dir):
    """Loads the `serving_default` signature of an exported version.

    Needs only TensorFlow; call it as `fn(images=uint8_batch)["embeddings"]`.

    Args:
        version_dir: a `<export_dir>/<model_name>/<version>` directory.

    Returns:
        The `serving_default` concrete function.

    Example:

    >>> serve = kzoo.export.load_serving_fn("saved_models/simsiam_cifar10/1")
    >>> serve(images=tf.zeros([2, 32, 32, 3], tf.uint8))["embeddings"].shape
    TensorShape([2, 128])
    """
    import tensorflow as tf

    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]
