"""DCGAN (Radford et al., 2016): a generator and a discriminator in one
`keras.Model` that trains with `fit` on every backend."""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo.ops import add_regularization_losses


@kzoo_export("kzoo.models.dcgan_generator")
def dcgan_generator(latent_dim=128, image_size=32, channels=3, width=64,
                    name="dcgan_generator"):
    """DCGAN's generator: noise `[B, latent_dim]` -> images in `[-1, 1]`.

    A dense projection to a `4 x 4 x 4*width` map, then strided transposed
    convolutions (kernel 4) halving the channels and doubling the side up
    to `image_size`, each followed by batch norm and ReLU, and a last one
    to `channels` with tanh (Radford et al. 2016, section 3).

    Args:
        latent_dim: noise width. Defaults to `128`.
        image_size: output side, `4 * 2 ** k`. Defaults to `32`.
        channels: output channels. Defaults to `3`.
        width: channels of the last hidden map. Defaults to `64`.
        name: model name. Defaults to `"dcgan_generator"`.

    Returns:
        A functional `keras.Model`.
    """
    steps = _upsampling_steps(image_size)
    z = keras.Input((check_positive_int(latent_dim, "latent_dim"),),
                    name="noise")
    filters = width * 2 ** (steps - 1)
    x = keras.layers.Dense(4 * 4 * filters, use_bias=False)(z)
    x = keras.layers.Reshape((4, 4, filters))(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for _ in range(steps - 1):
        filters //= 2
        x = keras.layers.Conv2DTranspose(filters, 4, strides=2,
                                         padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                     activation="tanh", dtype="float32")(x)
    return keras.Model(z, x, name=name)


def _upsampling_steps(image_size):
    size, steps = check_positive_int(image_size, "image_size"), 0
    while size > 4 and size % 2 == 0:
        size, steps = size // 2, steps + 1
    if size != 4 or steps < 1:
        raise ValueError("`image_size` must be 4 x a power of 2 (8, 16, 32, "
                         f"64, ...). Received: image_size={image_size}")
    return steps


@kzoo_export("kzoo.models.dcgan_discriminator")
def dcgan_discriminator(image_size=32, channels=3, width=64,
                        name="dcgan_discriminator"):
    """DCGAN's discriminator: images in `[-1, 1]` -> one logit.

    Strided convolutions (kernel 4) doubling the channels from `width`
    down to a `4 x 4` map, LeakyReLU(0.2) after each, batch norm after all
    but the first (Radford et al. 2016), then a dense logit. The model has
    a second output, `features`: the global average of every block's map,
    concatenated (the paper's use of the discriminator as a feature
    extractor pools every layer too).

    Returns:
        A functional `keras.Model` with outputs `[logit [B, 1], features]`.
    """
    steps = _upsampling_steps(image_size)
    images = keras.Input((image_size, image_size, channels), name="images")
    x, pooled, filters = images, [], width
    for i in range(steps):
        x = keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                                use_bias=i == 0)(x)
        if i:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.LeakyReLU(0.2)(x)
        pooled.append(keras.layers.GlobalAveragePooling2D()(x))
        filters *= 2
    logit = keras.layers.Dense(1, dtype="float32", name="logit")(
        keras.layers.Flatten()(x))
    features = keras.layers.Concatenate(name="features")(pooled)
    return keras.Model(images, [logit, features], name=name)


@kzoo_export("kzoo.models.dcgan_features")
def dcgan_features(discriminator, name="dcgan_features"):
    """The discriminator as an image encoder: pixels in `[0, 255]` ->
    its pooled block features (what is evaluated and exported)."""
    shape = discriminator.inputs[0].shape[1:]
    images = keras.Input(shape, name="images")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(images)
    return keras.Model(images, discriminator(scaled)[1], name=name)


def _bce_logits(logits, target):
    """Mean binary cross-entropy of logits against a constant target."""
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.maximum(logits, 0.0) - logits * target
                    + ops.log1p(ops.exp(-ops.abs(logits))))


@kzoo_export("kzoo.models.DCGAN")
class DCGAN(keras.Model):
    """DCGAN as one `keras.Model`: `fit(images)` trains both networks.

    Each step draws noise `z` (from the input, `{"images", "noise"}`, so a
    seed gives the same noise on any strategy, or from `seed`), makes
    `G(z)`, and minimises, with one optimizer over both networks,

    ```python
    d_loss = BCE(D(x), 1) + BCE(D(stop_gradient(G(z))), 0)
    g_loss = BCE(D'(G(z)), 1)       # D' = D with stop-gradient weights
    ```

    `D'` is the discriminator called statelessly on stop-gradient copies of
    its weights (`Layer.stateless_call`), so `g_loss` moves only the
    generator and `d_loss` only the discriminator: with Adam, whose state
    is per weight, this is the two optimizers of the paper updated from the
    same point (simultaneous updates; the reference alternates, the
    discriminator step first). `g_loss` is the non-saturating loss. The
    real and fake batches go through the discriminator separately, as in
    the reference. No backend-specific `train_step`: the same code trains
    on TensorFlow, JAX and PyTorch.

    Images are pixels in `[0, 255]` (scaled to `[-1, 1]` inside). Called
    on an image tensor the model returns the discriminator's features;
    `generate(noise)` returns images in `[0, 1]`. `fit` logs `d_loss`,
    `g_loss`, and `d_real` / `d_fake`, the discriminator's mean
    probability on real and generated images.

    Args:
        generator: `noise [B, latent_dim] -> [-1, 1]` images
            (`kzoo.models.dcgan_generator`).
        discriminator: `[-1, 1]` images -> `[logit, features]`
            (`kzoo.models.dcgan_discriminator`).
        seed: seed of the noise drawn when the input has none. Defaults to
            `None`.
        **kwargs: base `keras.Model` arguments.

    Example:

    ```python
    gan = kzoo.models.DCGAN(kzoo.models.dcgan_generator(),
                            kzoo.models.dcgan_discriminator())
    gan.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    gan.fit(x_train.astype("float32"), batch_size=128, epochs=5)
    samples = gan.generate(np.random.normal(size=(16, 128)))
    ```

    Reference:
        - [Radford et al., 2016, "Unsupervised Representation Learning
          with Deep Convolutional Generative Adversarial Networks"](
          https://arxiv.org/abs/1511.06434).
    """

    def __init__(self, generator, discriminator, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("d_loss", "g_loss", "d_real", "d_fake")}
        self.build(tuple(discriminator.inputs[0].shape))

    def build(self, input_shape=None):
        self.built = True

    def generate(self, noise, training=False):
        """Images in `[0, 1]` from `[B, latent_dim]` noise."""
        return (self.generator(noise, training=training) + 1.0) / 2.0

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) and not training:
            scaled = ops.cast(inputs, "float32") / 127.5 - 1.0
            return self.discriminator(scaled, training=False)[1]
        if not isinstance(inputs, dict):
            inputs = {"images": inputs}
        images = ops.cast(inputs["images"], "float32") / 127.5 - 1.0
        noise = inputs.get("noise")
        if noise is None:
            noise = keras.random.normal(
                (ops.shape(images)[0], self.latent_dim),
                seed=self.seed_generator)
        fake = self.generator(noise, training=training)
        d_real = self.discriminator(images, training=training)[0]
        d_fake = self.discriminator(ops.stop_gradient(fake),
                                    training=training)[0]
        frozen = [ops.stop_gradient(v)
                  for v in self.discriminator.trainable_variables]
        outputs, _ = self.discriminator.stateless_call(
            frozen, [v.value for v in
                     self.discriminator.non_trainable_variables],
            fake, training=training)
        return {"d_real": d_real, "d_fake": d_fake, "g_fake": outputs[0]}

    def _gan_losses(self, y_pred):
        d_loss = (_bce_logits(y_pred["d_real"], 1.0)
                  + _bce_logits(y_pred["d_fake"], 0.0))
        return d_loss, _bce_logits(y_pred["g_fake"], 1.0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        if not isinstance(y_pred, dict):
            return None  # predict() on images: features, no loss
        d_loss, g_loss = self._gan_losses(y_pred)
        return add_regularization_losses(d_loss + g_loss, self.losses)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            d_loss, g_loss = self._gan_losses(y_pred)
            self.trackers["d_loss"].update_state(d_loss)
            self.trackers["g_loss"].update_state(g_loss)
            self.trackers["d_real"].update_state(ops.mean(ops.sigmoid(
                ops.cast(y_pred["d_real"], "float32"))))
            self.trackers["d_fake"].update_state(ops.mean(ops.sigmoid(
                ops.cast(y_pred["d_fake"], "float32"))))
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(
                self.discriminator),
            "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config):
        import copy

        config = copy.deepcopy(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
