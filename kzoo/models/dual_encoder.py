"""Two encoders, one embedding space: CLIP-style contrastive training."""

import copy
import math

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.losses.clip_loss import ClipLoss
from kzoo.ops import add_regularization_losses


@kzoo_export("kzoo.models.DualEncoder")
class DualEncoder(keras.Model):
    """Two modalities embedded in one space and trained with `ClipLoss`.

    CLIP's architecture (Radford et al., 2021) for any two inputs: `f_a`
    and `f_b` map each modality to features (any `keras.Model`: an audio
    tower on `LogMelSpectrogram`, an image CNN, a character encoder), a
    linear projection without bias maps each to `embedding_dim`, and the
    symmetric InfoNCE loss (`kzoo.losses.ClipLoss`) with a learnable
    temperature pulls each pair together and pushes the rest of the batch
    apart. The temperature is CLIP's: a trainable `t` with logit scale
    `exp(t)`, initialised to `1 / temperature` and clipped at
    `max_logit_scale` (100 in CLIP) so it cannot blow up.

    Feed it a dataset of `({"a": x_a, "b": x_b}, ids)` or `{"a": x_a, "b":
    x_b}`; `ids` (`[B]` integers: the word, the class) mark duplicates, which
    the loss leaves out of each other's softmax. No compiled loss is
    needed. `fit` logs `logit_scale`. Called on the dict, the model returns
    `{"a", "b", "scale"}`; `embed_a(x)` / `embed_b(x)` give one modality's
    L2-normalised embeddings (for retrieval and export).

    Args:
        encoder_a: `keras.Model`, first modality -> features `[B, F_a]`.
        encoder_b: `keras.Model`, second modality -> features `[B, F_b]`.
        embedding_dim: shared embedding width. Defaults to `128`.
        temperature: initial temperature. Defaults to `0.07` (CLIP's).
        learn_temperature: train `t`. Defaults to `True`.
        max_logit_scale: upper bound of `exp(t)`. Defaults to `100.0`.
        **kwargs: base `keras.Model` arguments.

    Example:

    ```python
    model = kzoo.models.DualEncoder(audio_tower, image_tower)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(dataset_of_pairs_and_ids, epochs=10)
    audio_embeddings = model.embed_a(waveforms)
    ```

    Reference:
        - [Radford et al., 2021, "CLIP"](https://arxiv.org/abs/2103.00020).
    """

    def __init__(self, encoder_a, encoder_b, embedding_dim=128,
                 temperature=0.07, learn_temperature=True,
                 max_logit_scale=100.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(embedding_dim, int) or embedding_dim <= 0:
            raise ValueError("`embedding_dim` must be a positive integer. "
                             f"Received: embedding_dim={embedding_dim!r}")
        if not 0 < 1.0 / temperature <= max_logit_scale:
            raise ValueError(
                "Need 0 < 1 / temperature <= max_logit_scale. Received: "
                f"temperature={temperature}, "
                f"max_logit_scale={max_logit_scale}")
        self.encoder_a = encoder_a
        self.encoder_b = encoder_b
        self.embedding_dim = embedding_dim
        self.temperature = float(temperature)
        self.learn_temperature = bool(learn_temperature)
        self.max_logit_scale = float(max_logit_scale)
        self.projection_a = keras.layers.Dense(
            embedding_dim, use_bias=False, name="projection_a")
        self.projection_b = keras.layers.Dense(
            embedding_dim, use_bias=False, name="projection_b")
        self.log_scale = self.add_weight(
            shape=(), name="log_logit_scale",
            initializer=keras.initializers.Constant(
                math.log(1.0 / self.temperature)),
            trainable=self.learn_temperature)
        self.loss_fn = ClipLoss(temperature=self.temperature)
        self.scale_tracker = keras.metrics.Mean(name="logit_scale")
        if all(getattr(e, "built", False) and getattr(e, "inputs", None)
               for e in (encoder_a, encoder_b)):
            self.build()  # functional towers: build now (BackupAndRestore)

    def build(self, input_shape=None):
        shapes = input_shape if isinstance(input_shape, dict) else {}
        for key, encoder, projection in [
                ("a", self.encoder_a, self.projection_a),
                ("b", self.encoder_b, self.projection_b)]:
            if not encoder.built:
                if key not in shapes:
                    return  # built on the first call instead
                encoder.build(shapes[key])
            features = encoder.compute_output_shape(
                tuple(encoder.inputs[0].shape) if getattr(
                    encoder, "inputs", None) else shapes[key])
            projection.build(tuple(features))
        self.built = True

    def logit_scale(self):
        """`exp(t)`, clipped to `max_logit_scale`."""
        return ops.exp(ops.minimum(self.log_scale,
                                   math.log(self.max_logit_scale)))

    @staticmethod
    def _normalize(x):
        return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1,
                                                keepdims=True), 1e-12))

    def embed_a(self, x, training=False):
        """L2-normalised embeddings of the first modality."""
        return self._normalize(self.projection_a(
            self.encoder_a(x, training=training)))

    def embed_b(self, x, training=False):
        """L2-normalised embeddings of the second modality."""
        return self._normalize(self.projection_b(
            self.encoder_b(x, training=training)))

    def embedding_model(self, modality):
        """A functional `keras.Model`: one modality's input -> projection.

        The un-normalised `projection(encoder(x))` of `"a"` or `"b"`, with
        the encoder's input shape and dtype, sharing this model's weights
        (what `kzoo.export` serves; the export L2-normalises). Needs a
        functional encoder.
        """
        if modality not in ("a", "b"):
            raise ValueError("`modality` must be 'a' or 'b'. Received: "
                             f"modality={modality!r}")
        encoder, projection = ((self.encoder_a, self.projection_a)
                               if modality == "a"
                               else (self.encoder_b, self.projection_b))
        spec = encoder.inputs[0]
        inputs = keras.Input(spec.shape[1:], dtype=spec.dtype)
        return keras.Model(inputs, projection(encoder(inputs)),
                           name=f"{encoder.name}_embedding")

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or set(inputs) != {"a", "b"}:
            keys = sorted(inputs) if isinstance(inputs, dict) else type(
                inputs).__name__
            raise ValueError(
                "DualEncoder takes a dict with keys 'a' and 'b' (use "
                f"embed_a / embed_b for one modality). Received: {keys}")
        return {"a": self.embed_a(inputs["a"], training=training),
                "b": self.embed_b(inputs["b"], training=training),
                "scale": self.logit_scale()}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        # ClipLoss gathers the replicas' embeddings under tf.distribute and
        # returns its share (1 / N) of the global-batch loss.
        loss = self.loss_fn(y, y_pred, sample_weight=sample_weight)
        loss = add_regularization_losses(loss, self.losses)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.scale_tracker.update_state(y_pred["scale"])
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder_a": keras.saving.serialize_keras_object(self.encoder_a),
            "encoder_b": keras.saving.serialize_keras_object(self.encoder_b),
            "embedding_dim": self.embedding_dim,
            "temperature": self.temperature,
            "learn_temperature": self.learn_temperature,
            "max_logit_scale": self.max_logit_scale,
        })
        return config

    @classmethod
    def from_config(cls, config):
        # A deep copy: deserialize_keras_object consumes the nested dicts.
        config = copy.deepcopy(config)
        for key in ("encoder_a", "encoder_b"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
