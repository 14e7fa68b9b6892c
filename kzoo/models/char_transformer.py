"""A small character transformer: text tower and masked language model."""

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export
from kzoo.data.masked_text import MASK_ID
from kzoo.data.masked_text import PAD_ID
from kzoo.data.masked_text import UNKNOWN_ID


@kzoo_export("kzoo.models.PositionEmbedding")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learnt embedding of each position to `[B, L, D]` inputs."""

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(self.sequence_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="positions")

    def call(self, x):
        length = ops.shape(x)[1]
        return x + ops.cast(self.positions[:length], x.dtype)[None]

    def get_config(self):
        config = super().get_config()
        config["sequence_length"] = self.sequence_length
        return config


@kzoo_export("kzoo.models.char_transformer")
def char_transformer(vocab_size, sequence_length=128, dim=128, depth=3,
                     heads=4, mlp_dim=256, dropout=0.1, pooled=False,
                     conv_layers=0, conv_kernel=5, name="char_transformer"):
    """Character ids -> contextual features: a pre-LN transformer encoder.

    Embedding of each character id (0 = padding, masked out of the
    attention) plus a learnt position embedding, `depth` blocks of
    multi-head self-attention and an MLP (GELU), each with layer norm
    before it and a residual around it, and a final layer norm (the
    encoder of BERT and ViT, pre-LN). With `pooled`, the features are
    averaged over the non-padding positions: one vector per text (the
    text tower of a dual encoder).

    Args:
        vocab_size: number of ids (`len(vocabulary) + 2`).
        sequence_length: longest input. Defaults to `128`.
        dim: width. Defaults to `128`.
        depth: blocks. Defaults to `3`.
        heads: attention heads. Defaults to `4`.
        mlp_dim: hidden width of each block's MLP. Defaults to `256`.
        dropout: dropout rate. Defaults to `0.1`.
        pooled: return `[B, dim]` (mean over characters) instead of
            `[B, L, dim]`. Defaults to `False`.
        conv_layers: residual 1-D convolutions (`conv_kernel` wide, GELU)
            before the attention blocks, on the characters only (padding
            is zeroed first): a local inductive bias that lets a small
            model read the neighbouring characters from the first steps,
            where attention must first learn relative positions from
            absolute ones. Defaults to `0`.
        conv_kernel: width of those convolutions. Defaults to `5`.
        name: model name. Defaults to `"char_transformer"`.

    Returns:
        A `keras.Model` taking `int32 [B, L]` ids.
    """
    if dim % heads:
        raise ValueError(f"`dim` must be a multiple of `heads`. Received: "
                         f"dim={dim}, heads={heads}")
    ids = keras.Input((sequence_length,), dtype="int32", name="char_ids")
    valid = ops.not_equal(ids, PAD_ID)
    attention_mask = ops.logical_and(valid[:, None, :], valid[:, :, None])
    x = keras.layers.Embedding(vocab_size, dim, name="char_embedding")(ids)
    x = PositionEmbedding(sequence_length, name="position_embedding")(x)
    x = keras.layers.Dropout(dropout)(x)
    keep = ops.cast(valid, x.dtype)[..., None]
    for i in range(conv_layers):
        h = keras.layers.Conv1D(dim, conv_kernel, padding="same",
                                activation="gelu", name=f"conv{i}")(x * keep)
        x = keras.layers.Add(name=f"conv{i}_add")([x, h * keep])
    for i in range(depth):
        h = keras.layers.LayerNormalization(epsilon=1e-6,
                                            name=f"block{i}_ln1")(x)
        h = keras.layers.MultiHeadAttention(
            heads, dim // heads, dropout=dropout, name=f"block{i}_attention")(
                h, h, attention_mask=attention_mask)
        x = keras.layers.Add(name=f"block{i}_add1")([x, h])
        h = keras.layers.LayerNormalization(epsilon=1e-6,
                                            name=f"block{i}_ln2")(x)
        h = keras.layers.Dense(mlp_dim, activation="gelu",
                               name=f"block{i}_mlp1")(h)
        h = keras.layers.Dropout(dropout)(h)
        h = keras.layers.Dense(dim, name=f"block{i}_mlp2")(h)
        x = keras.layers.Add(name=f"block{i}_add2")([x, h])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    if pooled:
        w = ops.cast(valid, x.dtype)[..., None]
        x = ops.sum(x * w, axis=1) / ops.maximum(ops.sum(w, axis=1), 1.0)
    return keras.Model(ids, x, name=name)


def _char_encoder(model):
    """The character transformer inside `model` (or `model` itself)."""
    names = {layer.name for layer in model.layers}
    if {"char_embedding", "position_embedding"} <= names:
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                return _char_encoder(layer)
            except ValueError:
                continue
    raise ValueError("`model` holds no character transformer (layers "
                     "'char_embedding' and 'position_embedding' of "
                     "`kzoo.models.char_transformer`). Received: "
                     f"model={model.name!r}")


@kzoo_export("kzoo.models.text_encoder_from_masked_model")
def text_encoder_from_masked_model(model, sequence_length=None, pooled=True,
                                   weights=True, name="text_encoder"):
    """A character transformer with the architecture (and by default the
    weights) of a masked language model's encoder.

    The encoder's settings (vocabulary size, width, blocks, heads, MLP
    width, convolutions, dropout) are read from its layers; the new model
    takes `sequence_length` characters and its position embedding is the
    first `sequence_length` rows of the encoder's. Padding is masked out
    of the attention and zeroed before the convolutions, so on a text of
    at most `sequence_length` characters the new model computes exactly
    what the encoder computes on the same text padded to its own length.
    Used to start the text tower of a dual encoder from
    `recipes/masked_text.py`'s model (`audio_text_contrastive.py
    --text-init`); its inputs are the ids of that model's vocabulary.

    Args:
        model: a `masked_language_model` (or its `char_transformer`), e.g.
            `kzoo.presets.load("masked_text_chartransformer_fortunes_pt")`.
        sequence_length: characters per input, at most the encoder's.
            Defaults to `None` (the encoder's).
        pooled: average the features over the characters (one vector per
            text). Defaults to `True`.
        weights: copy the encoder's weights; `False` keeps the new
            model's random initialisation (the same architecture as a
            baseline). Defaults to `True`.
        name: model name. Defaults to `"text_encoder"`.

    Returns:
        A `char_transformer` model.
    """
    encoder = _char_encoder(model)
    embedding = encoder.get_layer("char_embedding")
    positions = encoder.get_layer("position_embedding")
    length = positions.sequence_length
    if sequence_length is None:
        sequence_length = length
    if not isinstance(sequence_length, int) or not (
            1 <= sequence_length <= length):
        raise ValueError(f"`sequence_length` must be an integer in [1, "
                         f"{length}] (the encoder's length). Received: "
                         f"sequence_length={sequence_length!r}")
    layers = {layer.name: layer for layer in encoder.layers}
    depth = sum(f"block{i}_attention" in layers for i in range(len(layers)))
    conv_layers = sum(f"conv{i}" in layers for i in range(len(layers)))
    attention = layers["block0_attention"]
    new = char_transformer(
        embedding.input_dim, sequence_length, dim=embedding.output_dim,
        depth=depth, heads=attention.num_heads,
        mlp_dim=layers["block0_mlp1"].units, dropout=attention.dropout,
        pooled=pooled, conv_layers=conv_layers,
        conv_kernel=(layers["conv0"].kernel_size[0] if conv_layers else 5),
        name=name)
    if weights:
        for layer in new.layers:
            if not layer.weights:
                continue
            values = layers[layer.name].get_weights()
            if layer.name == "position_embedding":
                values = [values[0][:sequence_length]]
            layer.set_weights(values)
    return new


@kzoo_export("kzoo.models.load_masked_model")
def load_masked_model(source):
    """`(model, vocabulary)` of a masked character model: a preset name or
    a `recipes/masked_text.py` run directory (its
    `masked_language_model.keras` and `vocabulary.json`).

    Raises:
        ValueError: `source` is neither such a directory nor a preset.
    """
    import json
    import os

    if os.path.isdir(source):
        path = os.path.join(source, "masked_language_model.keras")
        vocab_path = os.path.join(source, "vocabulary.json")
        if not (os.path.isfile(path) and os.path.isfile(vocab_path)):
            raise ValueError(
                "A masked_text.py run directory holds "
                "masked_language_model.keras and vocabulary.json. "
                f"Received: source={source!r}")
        with open(vocab_path, encoding="utf-8") as f:
            return keras.saving.load_model(path, compile=False), json.load(f)
    from kzoo import presets

    if source not in presets.names():
        raise ValueError("`source` is neither a directory nor a preset "
                         "(kzoo.presets.names()). Received: "
                         f"source={source!r}")
    return presets.load(source), list(presets.tokenizer(source).vocabulary)


@kzoo_export("kzoo.models.masked_language_model")
def masked_language_model(encoder, vocab_size, name="masked_language_model"):
    """`encoder` features -> logits over the character ids, per position.

    Train with `keras.losses.SparseCategoricalCrossentropy(from_logits=True,
    reduction="mean_with_sample_weight")` and the masking weights of
    `kzoo.data.mask_characters` as `sample_weight`: the loss is the mean
    over the masked characters only.
    """
    ids = keras.Input(encoder.inputs[0].shape[1:], dtype="int32",
                      name="char_ids")
    logits = keras.layers.Dense(vocab_size, name="mlm_logits",
                                dtype="float32")(encoder(ids))
    return keras.Model(ids, logits, name=name)


def predict_logits(model, ids):
    """`model`'s float64 logits for a batch of ids, through Keras' compiled
    predict step (`predict_on_batch`: about 3x faster than an eager call
    for this small model on CPU). Off TensorFlow the batch is padded to a
    power of two, so a run of varying batch sizes compiles a few shapes,
    not one per size. A plain callable (no `predict_on_batch`) is called
    as it is."""
    ids = np.asarray(ids)
    if not hasattr(model, "predict_on_batch"):
        return np.asarray(keras.ops.convert_to_numpy(
            model(ids, training=False))).astype(np.float64)
    n = len(ids)
    if keras.backend.backend() != "tensorflow":
        size = 1 << max(0, n - 1).bit_length()
        ids = np.concatenate([ids, np.full((size - n,) + ids.shape[1:],
                                           PAD_ID, ids.dtype)])
    return np.asarray(keras.ops.convert_to_numpy(
        model.predict_on_batch(ids)))[:n].astype(np.float64)


def _fill_fixed(model, ids, vocabulary):
    """Fills the mask ids of `ids` (`[1, L]`) most-confident first."""
    special = [PAD_ID, UNKNOWN_ID, MASK_ID]
    ids = ids.copy()
    while True:
        blanks = np.flatnonzero(ids[0] == MASK_ID)
        if not len(blanks):
            return ids
        logits = predict_logits(model, ids)[0, blanks]
        logits[:, special] = -np.inf
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        best = int(np.argmax(probs.max(axis=1)))
        ids[0, blanks[best]] = int(np.argmax(probs[best]))


@kzoo_export("kzoo.models.pseudo_log_likelihood")
def pseudo_log_likelihood(model, ids):
    """Mean over the characters of `log p(x_i | x without i)` (Salazar et
    al., 2020): each character masked in turn, one batch."""
    ids = np.asarray(ids)
    n = int(np.sum(ids[0] != PAD_ID))
    batch = np.repeat(ids, n, axis=0)
    batch[np.arange(n), np.arange(n)] = MASK_ID
    logits = predict_logits(model, batch)
    picked = logits[np.arange(n), np.arange(n)]
    log_z = picked.max(1) + np.log(np.exp(
        picked - picked.max(1, keepdims=True)).sum(1))
    return float(np.mean(picked[np.arange(n), ids[0, :n]] - log_z))


@kzoo_export("kzoo.models.fill_blanks")
def fill_blanks(model, text, vocabulary, sequence_length=None,
                free_length=False, max_extra=3):
    """Replaces the `_` blanks of `text` by the model's characters.

    Blanks are filled most-confident first: each pass predicts all
    remaining blanks, writes the one with the highest probability, and
    predicts again with it visible, so later characters see the earlier
    ones. Special ids (padding, unknown, the mask itself) are never
    written; visible characters are returned as given.

    By default each `_` is one character (`"__pren_____"` asks for 11).
    With `free_length`, the length of each run of blanks is chosen too:
    every run, left to right, is tried at 1 to `len(run) + max_extra`
    characters, each candidate filled as above and scored by its mean
    pseudo-log-likelihood (`pseudo_log_likelihood`), and the best kept, so
    the course's `"__pren_____"` can become "aprender".

    Args:
        model: a masked language model (ids -> logits `[B, L, V]`).
        text: text with `_` for the unknown characters.
        vocabulary: the model's vocabulary (`kzoo.data.char_vocabulary`).
        sequence_length: the model's input length. Defaults to the
            model's.
        free_length: choose each blank run's length. Defaults to `False`.
        max_extra: with `free_length`, how many characters longer than
            written a run may become. Defaults to `3`.

    Returns:
        The completed text (`kzoo.models.fill_words` fills with the words
        of a lexicon instead).
    """
    import re

    from kzoo.data.masked_text import encode_characters
    from kzoo.data.masked_text import normalize_blanks

    length = sequence_length or model.inputs[0].shape[1]
    text = normalize_blanks(text)

    def complete(candidate):
        if len(candidate) > length:
            raise ValueError(f"`text` has {len(candidate)} characters; the "
                             f"model takes {length}. Received: "
                             f"text={candidate!r}")
        ids = _fill_fixed(model, encode_characters([candidate], vocabulary,
                                                   length), vocabulary)
        chars = list(candidate)
        for position in np.flatnonzero(np.array(chars) == "_"):
            chars[position] = vocabulary[ids[0, position] - 2]
        return "".join(chars), ids

    if not free_length:
        return complete(text)[0]
    runs = [(m.start(), m.end()) for m in re.finditer("_+", text)]
    # Runs are resolved left to right; `shift` tracks how earlier choices
    # moved the later runs.
    shift = 0
    for start, end in runs:
        start, end = start + shift, end + shift
        best = None
        for k in range(1, end - start + max_extra + 1):
            candidate = text[:start] + "_" * k + text[end:]
            if len(candidate) > length and k > 1:
                break  # (k == 1 too long: `complete` raises)
            filled, ids = complete(candidate)
            score = pseudo_log_likelihood(model, ids)
            if best is None or score > best[0]:
                best = (score, k, filled)
        _, k, filled = best
        # Keep this run's characters; later runs stay blanks.
        text = text[:start] + filled[start:start + k] + text[end:]
        shift += k - (end - start)
    return text
