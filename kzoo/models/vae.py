"""A variational autoencoder whose encoder is a kzoo backbone."""

import keras
from keras import layers
from keras import ops

from kzoo._api import kzoo_export
from kzoo.layers.batch_normalization import BatchNormalization
from kzoo.models.backbone_config import backbone_from_config
from kzoo.models.encoder_decoder import conv_decoder
from kzoo.ops import add_regularization_losses
from kzoo.ops import scale_for_replicas


@kzoo_export("kzoo.models.VAE")
class VAE(keras.Model):
    """Variational autoencoder (Kingma & Welling, 2014) on a kzoo backbone.

    The course's "generative networks" pretext: the encoder is the backbone
    (pooled features `h`) followed by a linear layer giving the mean and
    log-variance of a diagonal Gaussian `q(z | x)`; a sample
    `z = mean + exp(log_var / 2) * eps` is decoded by a dense layer to a
    `4 x 4` (for 32 px images) feature map and `conv_decoder` to pixels in
    `[0, 1]` (sigmoid). What is evaluated like the other methods is the
    backbone's `h`.

    Formula (per image, summed over pixels and latent dimensions, then
    averaged over the batch):

    ```python
    reconstruction = sum(binary_crossentropy(x / 255, x_hat))
    kl = -0.5 * sum(1 + log_var - mean ** 2 - exp(log_var))
    loss = reconstruction + beta * kl
    ```

    Binary cross-entropy on `[0, 1]` pixels is keras-io's VAE example's
    reconstruction term (a Bernoulli decoder); its minimum for a grey pixel
    is not 0, so the logged value never reaches 0.

    Feed `fit` a dataset of image batches (pixels in `[0, 255]`; no
    targets). Called on images the model returns `{"reconstruction",
    "mean", "log_var"}`; `encode(images)` gives the mean of `q(z | x)`,
    `decode(z)` images in `[0, 1]`, `sample(n)` new images. `fit` logs
    `loss`, `reconstruction_loss` and `kl_loss`.

    Args:
        backbone: a kzoo backbone (`[B, H, W, 3]` pixels in `[0, 255]` ->
            `[B, F]`); `H` and `W` must be 4 times a power of 2.
        latent_dim: dimension of `z`. Defaults to `128`.
        beta: weight of the KL term (`beta`-VAE, Higgins et al. 2017; 1 is
            the ELBO). Defaults to `1.0`.
        decoder_filters: widths of the decoder stages. Defaults to
            `(128, 64, 32)`.
        seed: seed of the sampling noise. Defaults to `None`.
        **kwargs: base `keras.Model` arguments.

    Example:

    ```python
    vae = kzoo.models.VAE(kzoo.models.resnet20_cifar())
    vae.compile(keras.optimizers.Adam(1e-3))
    vae.fit(tf.data.Dataset.from_tensor_slices(images).batch(128), epochs=5)
    samples = vae.sample(16)  # [16, 32, 32, 3] in [0, 1]
    ```

    Reference:
        - [Kingma & Welling, 2014, "Auto-Encoding Variational Bayes"](
          https://arxiv.org/abs/1312.6114).
        - [keras-io VAE example](https://keras.io/examples/generative/vae/).
    """

    def __init__(self, backbone, latent_dim=128, beta=1.0,
                 decoder_filters=(128, 64, 32), seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(latent_dim) < 1:
            raise ValueError(
                f"`latent_dim` must be >= 1. Received: latent_dim={latent_dim}")
        if not beta >= 0:
            raise ValueError(f"`beta` must be >= 0. Received: beta={beta}")
        self.backbone = backbone
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.decoder_filters = [int(f) for f in decoder_filters]
        self.seed = seed
        self.image_shape = tuple(int(d) for d in backbone.inputs[0].shape[1:])
        h, w = self.image_shape[0] // 8, self.image_shape[1] // 8
        if h < 1 or w < 1:
            raise ValueError(
                "The images must be at least 8 px on each side. Received: "
                f"backbone input shape={self.image_shape}")
        self.posterior = layers.Dense(2 * self.latent_dim, name="posterior",
                                      dtype="float32")
        top = self.decoder_filters[0] if self.decoder_filters else 128
        self.decoder = keras.Sequential([
            keras.Input((self.latent_dim,)),
            layers.Dense(h * w * top, name="dense"),
            layers.Reshape((h, w, top)),
            BatchNormalization(),
            layers.ReLU(),
            conv_decoder((h, w, top), self.image_shape,
                         filters=self.decoder_filters,
                         output_activation="sigmoid", name="upsampler"),
        ], name="decoder")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(
            name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.posterior.build((None, int(backbone.outputs[0].shape[-1])))
        self.built = True

    def encode(self, images, training=False):
        """Mean and log-variance of `q(z | x)`, each `[B, latent_dim]`."""
        stats = self.posterior(self.backbone(images, training=training))
        mean, log_var = ops.split(stats, 2, axis=-1)
        # Clipped so exp(log_var) stays finite in float32 whatever the
        # encoder outputs early in training.
        return mean, ops.clip(log_var, -20.0, 20.0)

    def decode(self, z, training=False):
        """Images in `[0, 1]` from latents `z`."""
        return self.decoder(z, training=training)

    def sample(self, num_images, seed=None):
        """`num_images` new images in `[0, 1]`, decoded from `z ~ N(0, I)`."""
        z = keras.random.normal((num_images, self.latent_dim),
                                seed=seed if seed is not None
                                else self.seed_generator)
        return self.decode(z)

    def call(self, images, training=False):
        mean, log_var = self.encode(images, training=training)
        if training:
            eps = keras.random.normal(ops.shape(mean),
                                      seed=self.seed_generator)
            z = mean + ops.exp(0.5 * log_var) * eps
        else:
            z = mean
        return {"reconstruction": self.decode(z, training=training),
                "mean": mean, "log_var": log_var}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        target = ops.cast(x, "float32") / 255.0
        recon = ops.clip(ops.cast(y_pred["reconstruction"], "float32"),
                         1e-7, 1.0 - 1e-7)
        bce = -(target * ops.log(recon) + (1.0 - target) * ops.log1p(-recon))
        reconstruction = ops.sum(ops.reshape(bce, (ops.shape(bce)[0], -1)),
                                 axis=-1)
        mean, log_var = y_pred["mean"], y_pred["log_var"]
        kl = -0.5 * ops.sum(1.0 + log_var - ops.square(mean)
                            - ops.exp(log_var), axis=-1)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        loss = ops.mean(reconstruction + self.beta * kl)
        loss = scale_for_replicas(loss)
        loss = add_regularization_losses(loss, self.losses)
        return loss

    @property
    def metrics(self):
        return super().metrics + [self.reconstruction_tracker,
                                  self.kl_tracker]

    def get_config(self):
        config = super().get_config()
        config.update({
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "latent_dim": self.latent_dim,
            "beta": self.beta,
            "decoder_filters": list(self.decoder_filters),
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**backbone_from_config(config))
