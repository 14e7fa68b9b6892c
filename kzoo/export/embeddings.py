"""Embedding exports: images, raw audio, text; and the fill-the-blanks model.

Each is a signature (raw input in, the model's preprocessing in the graph)
given to the one writer, `kzoo.export._writer`.
"""

import re
import unicodedata

from kzoo._docs import fill_doc
from kzoo._tensorflow import require_tensorflow_backend
from kzoo.export._writer import _check_image_shape
from kzoo.export._writer import _export_embeddings
from kzoo.export._writer import _new_version_dir
from kzoo.export._writer import _write_saved_model


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


_WRITER_ARGS = """normalize: L2-normalise the embeddings. Defaults to `True`.
write_config: (re)write `<export_dir>/models.config`. Defaults to
    `True`.
verbose: print Keras' export summary. Defaults to `False`.
"""


@fill_doc(writer_args=_WRITER_ARGS)
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
        {writer_args}
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


@fill_doc(writer_args=_WRITER_ARGS)
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
        {writer_args}
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

    from kzoo.data.masked_text import MASK_ID
    from kzoo.data.masked_text import PAD_ID
    from kzoo.data.masked_text import char_vectorizer

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
