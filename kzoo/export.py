"""Exporting models for TF Serving.

Layout (what `tensorflow_model_server --model_config_file` expects):

    <export_dir>/models.config
    <export_dir>/<model_name>/<version>/saved_model.pb
    <export_dir>/<model_name>/<version>/variables/

The exported `serving_default` signature takes raw `uint8` images, so a
TF Serving client sends pixels and needs no Python pre- or post-processing;
the SavedModel loads with TensorFlow alone (no Keras, no kzoo).

Command line: a model trained under another Keras backend (JAX, PyTorch;
the recipes save it as `RUN_DIR/backbone.keras`) is exported on a machine
with TensorFlow by

    KERAS_BACKEND=tensorflow python -m kzoo.export embedding \\
        RUN_DIR/backbone.keras --export-dir saved_models --model-name NAME

and any other kind (detector, landmarks, audio or text embeddings, fill
the blanks) from the spec the run wrote beside its `.keras` file:

    KERAS_BACKEND=tensorflow python -m kzoo.export spec \\
        RUN_DIR/MODEL_NAME.export.json

(`main`; `python -m kzoo.export embedding --help` / `spec --help` list the
options).
"""

import argparse
import numbers
import operator
import os
import re
import shutil
import tempfile
import unicodedata

from kzoo._tensorflow import require_tensorflow, require_tensorflow_backend

require_tensorflow("kzoo.export")

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


def export_embedding_model(model, export_dir="saved_models",
                           model_name="embedding", version=None,
                           image_shape=(32, 32, 3), normalize=True,
                           write_config=True, verbose=False,
                           output_key="embeddings"):
    """Exports an image embedding model as a TF Serving SavedModel.

    The `serving_default` signature takes `images`, `uint8`
    `[None, H, W, 3]`, casts them to `float32` inside the graph, runs
    `model(images, training=False)` (the model holds its own rescaling, as
    kzoo backbones do) and returns `embeddings`, `float32` `[None, D]`,
    L2-normalised when `normalize` (a zero vector stays zero, never NaN).
    The version is written to a temporary hidden sibling directory and
    renamed at the end, so TF Serving never sees a half-written version.

    Args:
        model: a Keras model mapping `float32` images with pixel values in
            `[0, 255]` to feature vectors `[B, D]`.
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name (a directory under `export_dir`;
            letters, digits, `_`, `.` and `-`). Defaults to `"embedding"`.
        version: integer version; `None` means one more than the largest
            version already exported (1 for the first). An existing version
            is never overwritten. Defaults to `None`.
        image_shape: `(H, W, 3)` of the served images. Defaults to
            `(32, 32, 3)`.
        normalize: L2-normalise the embeddings. Defaults to `True`.
        write_config: (re)write `<export_dir>/models.config` listing every
            exported model under `export_dir`. Defaults to `True`.
        verbose: print Keras' export summary. Defaults to `False`.
        output_key: the signature's output name (`"probabilities"` for a
            classifier exported with `normalize=False`). Defaults to
            `"embeddings"`.

    Returns:
        The version directory `<export_dir>/<model_name>/<version>`, as a
        string.

    Example:

    >>> kzoo.export.export_embedding_model(
    ...     backbone, "saved_models", "simsiam_cifar10")
    'saved_models/simsiam_cifar10/1'
    """
    require_tensorflow_backend("kzoo.export.export_embedding_model")
    import tensorflow as tf

    image_shape = _check_image_shape(image_shape)
    final = _new_version_dir(export_dir, model_name, version)

    return _export_embeddings(
        model, final, lambda images: tf.cast(images, tf.float32),
        tf.TensorSpec((None,) + image_shape, tf.uint8, name="images"),
        normalize, export_dir, write_config, verbose, output_key=output_key)


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


def export_audio_embedding_model(model, export_dir="saved_models",
                                 model_name="audio_embedding", version=None,
                                 num_samples=8000, normalize=True,
                                 write_config=True, verbose=False):
    """Exports a raw-waveform embedding model as a TF Serving SavedModel.

    The `serving_default` signature takes `waveforms`, `float32` `[None,
    None]` (a batch of clips of one length, samples in `[-1, 1]`), brings
    them to `num_samples` in the graph with `kzoo.data.fit_length`'s policy
    (centre crop, or centred zero padding), runs `model(waveforms,
    training=False)` and returns `embeddings`, `float32` `[None, D]`,
    L2-normalised when `normalize`.

    Args:
        model: a Keras model mapping `float32` waveforms `[B, num_samples]`
            to vectors `[B, D]` (e.g. `kzoo.models.audio_encoder` and a
            projection).
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name. Defaults to `"audio_embedding"`.
        version: integer version or `None` (the next one). Defaults to
            `None`.
        num_samples: the model's clip length. Defaults to `8000`.
        normalize: L2-normalise the embeddings. Defaults to `True`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory, as a string.
    """
    require_tensorflow_backend("kzoo.export.export_audio_embedding_model")
    import tensorflow as tf

    if not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError("`num_samples` must be a positive integer. "
                         f"Received: num_samples={num_samples!r}")
    final = _new_version_dir(export_dir, model_name, version)

    def fit_length(waveforms):
        x = tf.cast(waveforms, tf.float32)
        n = tf.shape(x)[1]
        start = tf.maximum(n - num_samples, 0) // 2
        x = x[:, start:start + num_samples]
        missing = num_samples - tf.shape(x)[1]
        before = missing // 2
        x = tf.pad(x, [[0, 0], [before, missing - before]])
        return tf.ensure_shape(x, (None, num_samples))

    return _export_embeddings(
        model, final, fit_length,
        tf.TensorSpec((None, None), tf.float32, name="waveforms"),
        normalize, export_dir, write_config, verbose)


def export_text_embedding_model(model, vocabulary, sequence_length,
                                export_dir="saved_models",
                                model_name="text_embedding", version=None,
                                normalize=True, write_config=True,
                                verbose=False):
    """Exports a character-level text embedding model for TF Serving.

    The `serving_default` signature takes `texts`, `string` `[None]`
    (UTF-8; invalid bytes become U+FFFD), composes the decomposed forms of
    the vocabulary's accented characters (NFC for every character the
    model knows) and collapses whitespace (as `kzoo.data.normalize_text`),
    maps characters to ids with
    `kzoo.data.char_vectorizer(vocabulary, sequence_length)` (the ids the
    model was trained on), runs `model(ids, training=False)` and returns
    `embeddings`, `float32` `[None, D]`, L2-normalised when `normalize`.

    Args:
        model: a Keras model mapping `int32` ids `[B, sequence_length]` to
            vectors `[B, D]`.
        vocabulary: the model's character vocabulary.
        sequence_length: the model's input length.
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name. Defaults to `"text_embedding"`.
        version: integer version or `None` (the next one). Defaults to
            `None`.
        normalize: L2-normalise the embeddings. Defaults to `True`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory, as a string.
    """
    require_tensorflow_backend("kzoo.export.export_text_embedding_model")
    import tensorflow as tf

    from kzoo.data.masked_text import char_vectorizer

    final = _new_version_dir(export_dir, model_name, version)
    vectorizer = char_vectorizer(vocabulary, sequence_length)
    vectorizer(tf.constant([""]))  # builds it (ExportArchive needs that)
    normalize_texts = _text_normalizer(vocabulary)

    def to_ids(texts):
        return tf.cast(vectorizer(normalize_texts(texts)), tf.int32)

    return _export_embeddings(
        model, final, to_ids, tf.TensorSpec((None,), tf.string, name="texts"),
        normalize, export_dir, write_config, verbose, track=[vectorizer])


def _text_normalizer(vocabulary):
    """The served form of `kzoo.data.normalize_blanks`, in TensorFlow ops.

    Invalid UTF-8 bytes become U+FFFD (an unknown character), not an
    error. `tf.strings` has no Unicode normaliser, so NFC is applied to
    the characters the model knows: each decomposed form ("a" + U+0301)
    that composes to a vocabulary character ("á") is replaced by it.
    Whitespace runs become one space and the ends are stripped.
    """
    import tensorflow as tf

    compositions = [(re.escape(unicodedata.normalize("NFD", c)), c)
                    for c in vocabulary
                    if unicodedata.normalize("NFD", c) != c]

    def normalize(texts):
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8",
                                             errors="replace")
        for decomposed, composed in compositions:
            texts = tf.strings.regex_replace(texts, decomposed, composed)
        return tf.strings.regex_replace(tf.strings.strip(texts), r"\s+",
                                        " ")

    return normalize


def export_fill_blanks_model(model, vocabulary, sequence_length=None,
                             export_dir="saved_models",
                             model_name="fill_blanks", version=None,
                             max_extra=3, write_config=True, verbose=False):
    """Exports a character masked language model as a text-in, text-out
    SavedModel: the served form of `kzoo.models.fill_blanks`.

    Two signatures, both taking `texts`, `string` `[None]` (UTF-8, with
    `_` for each unknown character; normalised as
    `kzoo.data.normalize_blanks`, invalid bytes becoming U+FFFD):

    - `serving_default` returns `completions`, `string` `[None]`: each `_`
      replaced by one character, most-confident first (one forward pass
      per blank), as `fill_blanks(model, text, vocabulary)`.
    - `free_length` returns `completions` with the length of each run of
      blanks chosen too (1 to `len(run) + max_extra` characters, scored by
      mean pseudo-log-likelihood), as `fill_blanks(..., free_length=True,
      max_extra=max_extra)`. It costs about `(len(run) + max_extra) *
      sequence_length` sequences per run; use it for single sentences.

    Characters outside the vocabulary are kept as written (the model sees
    them as unknown). A text longer than `sequence_length` characters (or,
    for `free_length`, one whose shortest candidate is) fails the request
    with an `InvalidArgument` error that says so.

    Args:
        model: a masked language model mapping `int32` ids
            `[B, sequence_length]` to logits `[B, sequence_length, V]`,
            `V = len(vocabulary) + 2`.
        vocabulary: the model's vocabulary (`kzoo.data.char_vocabulary`).
        sequence_length: the model's input length. Defaults to the
            model's.
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name. Defaults to `"fill_blanks"`.
        version: integer version or `None` (the next one). Defaults to
            `None`.
        max_extra: for `free_length`, how many characters longer than
            written a run may become. Defaults to `3`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory, as a string.
    """
    require_tensorflow_backend("kzoo.export.export_fill_blanks_model")
    import tensorflow as tf

    from kzoo.data.masked_text import MASK_ID, PAD_ID, char_vectorizer

    length = int(sequence_length or model.inputs[0].shape[1])
    vocab_size = len(vocabulary) + 2
    if int(max_extra) < 0:
        raise ValueError("`max_extra` must be >= 0. "
                         f"Received: max_extra={max_extra}")
    final = _new_version_dir(export_dir, model_name, version)
    vectorizer = char_vectorizer(vocabulary, length)
    vectorizer(tf.constant([""]))  # builds it (ExportArchive needs that)
    normalize_texts = _text_normalizer(vocabulary)
    # id -> character; the special ids are never written.
    id_to_char = tf.constant(["", "", ""] + list(vocabulary[1:]))
    # Padding, unknown and the mask itself are never predicted.
    special = tf.constant([-1e9] * (MASK_ID + 1)
                          + [0.0] * (vocab_size - MASK_ID - 1))

    def logits_of(ids):
        return tf.cast(model(ids, training=False), tf.float32)

    def fill_fixed(ids):
        """`kzoo.models`' most-confident-first filling, a batch at once."""
        def body(ids):
            probs = tf.nn.softmax(logits_of(ids) + special, axis=-1)
            blank = tf.equal(ids, MASK_ID)
            confidence = tf.where(blank, tf.reduce_max(probs, -1), -1.0)
            position = tf.argmax(confidence, axis=1, output_type=tf.int32)
            write = tf.logical_and(
                tf.one_hot(position, length, on_value=True, off_value=False),
                tf.reduce_any(blank, axis=1, keepdims=True))
            return (tf.where(write, tf.argmax(probs, -1, output_type=tf.int32),
                             ids),)

        return tf.while_loop(lambda ids: tf.reduce_any(ids == MASK_ID), body,
                             (ids,), maximum_iterations=length)[0]

    def check_length(n, what):
        return tf.debugging.assert_less_equal(
            n, tf.cast(length, n.dtype),
            message=f"{what} longer than the {length} characters the "
                    "model takes")

    def to_ids(texts):
        return tf.cast(vectorizer(texts), tf.int32)

    def serve(texts):
        texts = normalize_texts(texts)
        chars = tf.strings.unicode_split(texts, "UTF-8")
        with tf.control_dependencies(
                [check_length(tf.reduce_max(chars.row_lengths()), "text")]):
            filled = fill_fixed(to_ids(texts))
        chars = chars.to_tensor(default_value="",
                                shape=[None, length])
        chars = tf.where(tf.equal(chars, "_"), tf.gather(id_to_char, filled),
                         chars)
        return {"completions": tf.strings.reduce_join(chars, axis=1)}

    def pseudo_log_likelihood(ids):
        """Mean `log p(x_i | x without i)` of each row of `ids` `[K, L]`."""
        k = tf.shape(ids)[0]
        eye = tf.eye(length, dtype=tf.bool)
        batch = tf.where(eye[None], MASK_ID, ids[:, None, :])  # [K, L, L]
        logits = logits_of(tf.reshape(batch, [-1, length]))
        logits = tf.reshape(logits, [k, length, length, vocab_size])
        diag = tf.linalg.diag_part(tf.transpose(logits, [0, 3, 1, 2]))
        diag = tf.transpose(diag, [0, 2, 1])  # [K, L, V]: position i, i masked
        logp = tf.gather(tf.nn.log_softmax(diag, -1), ids, batch_dims=2)
        real = tf.cast(ids != PAD_ID, tf.float32)
        return tf.reduce_sum(logp * real, 1) / tf.reduce_sum(real, 1)

    max_run = length + int(max_extra)
    blank_runs = tf.constant(["_" * k for k in range(1, max_run + 1)])

    def fill_one_free(text):
        def body(text):
            chars = tf.strings.unicode_split(text, "UTF-8")
            n = tf.size(chars)
            blank = tf.cast(tf.equal(chars, "_"), tf.int32)
            start = tf.argmax(blank, output_type=tf.int32)
            run = tf.argmin(tf.concat([blank[start:], [0]], 0),
                            output_type=tf.int32)
            prefix = tf.strings.reduce_join(chars[:start])
            suffix = tf.strings.reduce_join(chars[start + run:])
            most = tf.minimum(run + int(max_extra), length - n + run)
            with tf.control_dependencies(
                    [check_length(n - run + 1, "text (with one character per "
                                  "run of blanks)")]):
                ks = tf.range(1, most + 1)
            candidates = tf.strings.join(
                [prefix, tf.gather(blank_runs, ks - 1), suffix])
            filled = fill_fixed(to_ids(candidates))
            best = tf.argmax(pseudo_log_likelihood(filled),
                             output_type=tf.int32)
            written = tf.gather(id_to_char,
                                filled[best, start:start + ks[best]])
            return (tf.strings.join([prefix, tf.strings.reduce_join(written),
                                     suffix]),)

        return tf.while_loop(
            lambda text: tf.strings.regex_full_match(text, "(?s).*_.*"),
            body, (text,), maximum_iterations=length)[0]

    def serve_free(texts):
        texts = normalize_texts(texts)
        return {"completions": tf.map_fn(fill_one_free, texts,
                                         fn_output_signature=tf.string)}

    spec = tf.TensorSpec((None,), tf.string, name="texts")
    return _write_saved_model(
        final, export_dir, {"serving_default": (serve, [spec]),
                            "free_length": (serve_free, [spec])},
        track=(model, vectorizer), write_config=write_config,
        verbose=verbose)


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


def detection_serving_fn(detector, image_size):
    """The computation of `export_detection_model`'s `serving_default`.

    Returns a function mapping `uint8` images `[B, H, W, 3]` (any `H`, `W`)
    to the final detections in input-image pixels: letterboxed to
    `image_size` (`kzoo.data.letterbox_images`), `detector`, boxes mapped
    back (`kzoo.data.unletterbox_boxes`), padding rows zeroed. Wrap it in
    `tf.function` to run it outside an export (recipes evaluate through it,
    so their figures come from the computation they serve).

    Under another Keras backend (JAX, PyTorch; TensorFlow installed) the
    same function runs eagerly, not in `tf.function`: the letterboxing and
    the box mapping in TensorFlow, the detector on the backend
    (`predict_on_batch` for a `keras.Model`: compiled on JAX), so a
    recipe trained there is evaluated through the same steps.

    Args:
        detector: a callable mapping `float32` images `[B, image_size,
            image_size, 3]` to `kzoo.layers.NonMaxSuppression`'s dict.
        image_size: the detector's square input size.

    Returns:
        A function `images -> {"boxes", "classes", "scores",
        "num_detections"}`.
    """
    import keras
    import tensorflow as tf

    from kzoo.data.detection import letterbox_images
    from kzoo.data.detection import unletterbox_boxes

    size = int(image_size)
    on_tensorflow = keras.backend.backend() == "tensorflow"

    def run_detector(x):
        if on_tensorflow:
            return (detector(x, training=False)
                    if isinstance(detector, keras.Layer) else detector(x))
        x = x.numpy()
        out = (detector.predict_on_batch(x)
               if isinstance(detector, keras.Model) else detector(x))
        return {k: tf.convert_to_tensor(keras.ops.convert_to_numpy(v))
                for k, v in out.items()}

    def serve(images):
        height = tf.shape(images)[1]
        width = tf.shape(images)[2]
        x, scale, offset = letterbox_images(images, size)
        out = run_detector(x)
        classes = tf.cast(out["classes"], tf.int32)
        valid = classes >= 0
        boxes = unletterbox_boxes(tf.cast(out["boxes"], tf.float32), scale,
                                  offset, height, width)
        boxes = tf.where(valid[..., None], boxes, tf.zeros_like(boxes))
        scores = tf.where(valid, tf.cast(out["scores"], tf.float32), 0.0)
        return {"boxes": boxes, "classes": classes, "scores": scores,
                "num_detections": tf.cast(out["num_detections"], tf.int32)}

    return serve


def export_detection_model(detector, export_dir="saved_models",
                           model_name="detector", version=None,
                           image_size=320, class_names=None,
                           write_config=True, verbose=False):
    """Exports a detector whose `serving_default` returns final detections.

    The signature takes `images`, `uint8` `[None, None, None, 3]` (any
    height and width, one common size per request), letterboxes them to
    `image_size` x `image_size` inside the graph (`kzoo.data.letterbox_images`:
    aspect ratio kept, grey padding), runs `detector`, and maps the boxes
    back to the pixels of the *input* images
    (`kzoo.data.unletterbox_boxes`). It returns, padded to the detector's
    `max_detections` K and sorted by descending score:

    - `boxes`: `float32` `[B, K, 4]`, `(x_min, y_min, x_max, y_max)` in
      input-image pixels, clipped to the image; padding rows are 0;
    - `classes`: `int32` `[B, K]`, class indices, -1 on padding rows;
    - `scores`: `float32` `[B, K]`, 0 on padding rows;
    - `num_detections`: `int32` `[B]`, the number of real rows.

    A second signature, `class_names`, takes no input and returns the
    `string` `[C]` class names, so a client can label the indices. A TF
    Serving client needs no Python post-processing; the SavedModel loads
    with TensorFlow alone.

    Args:
        detector: a callable (e.g. `kzoo.models.YOLODetector`'s inference
            model) mapping `float32` images `[B, image_size, image_size, 3]`
            with pixel values in `[0, 255]` to the dict of
            `kzoo.layers.NonMaxSuppression` with `xyxy` pixel boxes.
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name. Defaults to `"detector"`.
        version: integer version, `None` for the next one. Defaults to
            `None`.
        image_size: the detector's square input size. Defaults to `320`.
        class_names: names of the classes, in index order; `None` serves
            `"0"`, `"1"`, ... only if `detector` has a `num_classes`
            attribute. Defaults to `None`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory `<export_dir>/<model_name>/<version>`.

    Example:

    >>> kzoo.export.export_detection_model(
    ...     detector.inference_model(), "saved_models", "yolo_bccd",
    ...     image_size=320, class_names=["Platelets", "RBC", "WBC"])
    'saved_models/yolo_bccd/1'
    """
    require_tensorflow_backend("kzoo.export.export_detection_model")
    import keras
    import tensorflow as tf

    size = _image_size(image_size)
    if class_names is None:
        num_classes = getattr(detector, "num_classes", None)
        if num_classes is None:
            raise ValueError(
                "Pass `class_names` (the detector has no `num_classes` "
                f"attribute). Received: class_names={class_names!r}")
        class_names = [str(i) for i in range(num_classes)]
    class_names = [str(c) for c in class_names]
    final = _new_version_dir(export_dir, model_name, version)
    serve = detection_serving_fn(detector, size)

    names = tf.constant(class_names, dtype=tf.string)

    def serve_class_names():
        return {"class_names": tf.identity(names)}

    return _write_saved_model(
        final, export_dir,
        {"serving_default": (serve, [_any_size_images_spec()]),
         "class_names": (serve_class_names, [])},
        track=[detector] if isinstance(detector, keras.Layer) else [],
        write_config=write_config, verbose=verbose)


def export_landmark_model(model, export_dir="saved_models",
                          model_name="landmarks", version=None,
                          image_size=128, pad_value=0, write_config=True,
                          verbose=False):
    """Exports a landmark model whose `serving_default` returns input pixels.

    The signature takes `images`, `uint8` `[None, None, None, 3]` (any
    height and width, one common size per request), letterboxes them to
    `image_size` x `image_size` inside the graph
    (`kzoo.data.letterbox_keypoint_images`: aspect ratio kept, centred,
    `pad_value` padding; rounded to whole pixel values, as the `uint8`
    canvases of `kzoo.data.letterbox_keypoint_dataset`), runs `model`, and
    returns:

    - `landmarks`: `float32` `[B, K, 2]`, `(x, y)` in pixels of the *input*
      images (continuous coordinates: the image spans `[0, W] x [0, H]`,
      pixel `(i, j)` has its centre at `(j + 0.5, i + 0.5)`); the model's
      normalised points are multiplied by `image_size` and mapped back
      through the letterbox exactly (`kzoo.data.unletterbox_keypoints`),
      not clipped to the image;
    - `presence`: `float32` `[B]`, the sigmoid of the presence logit.

    The SavedModel loads with TensorFlow alone (no Keras, no kzoo).

    Args:
        model: a Keras model mapping `float32` images `[B, image_size,
            image_size, 3]` with pixel values in `[0, 255]` to the dict of
            `kzoo.layers.LandmarkHead` (`"landmarks"` normalised to the
            input, `"presence"` logits).
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name. Defaults to `"landmarks"`.
        version: integer version, `None` for the next one. Defaults to
            `None`.
        image_size: the model's square input size. Defaults to `128`.
        pad_value: letterbox padding value (the one used in training).
            Defaults to `0`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory `<export_dir>/<model_name>/<version>`.

    Example:

    >>> kzoo.export.export_landmark_model(model, "saved_models",
    ...                                   "landmarks_faces", image_size=96)
    'saved_models/landmarks_faces/1'
    """
    require_tensorflow_backend("kzoo.export.export_landmark_model")
    import tensorflow as tf

    from kzoo.data.keypoints import letterbox_keypoint_images
    from kzoo.data.keypoints import unletterbox_keypoints

    size = _image_size(image_size)
    final = _new_version_dir(export_dir, model_name, version)

    def serve(images):
        x, scale, offset = letterbox_keypoint_images(images, size, pad_value)
        # Whole pixel values, as the uint8 canvases the model trained on.
        x = tf.clip_by_value(tf.round(x), 0.0, 255.0)
        out = model(x, training=False)
        if not isinstance(out, dict) or "landmarks" not in out:
            raise ValueError(
                "`model` must return a dict with 'landmarks' (and "
                "'presence'), as kzoo.layers.LandmarkHead does. Received: "
                f"{type(out).__name__}")
        points = tf.cast(out["landmarks"], tf.float32) * float(size)
        result = {"landmarks": unletterbox_keypoints(points, scale, offset)}
        if "presence" in out:
            logit = tf.reshape(tf.cast(out["presence"], tf.float32), [-1])
            result["presence"] = tf.sigmoid(logit)
        return result

    return _write_saved_model(
        final, export_dir,
        {"serving_default": (serve, [_any_size_images_spec()])},
        track=[model], write_config=write_config, verbose=verbose)


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
    writer = globals()[_export_spec.KINDS[spec["kind"]]]
    model_name = args.model_name or spec["model_name"]
    version_dir = writer(
        model, export_dir=args.export_dir or spec["export_dir"],
        model_name=model_name, version=args.version, **spec["options"])
    print(f"SavedModel ({spec['kind']}): {version_dir}")
    return version_dir


if __name__ == "__main__":
    main()
