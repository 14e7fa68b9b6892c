"""What every two-view self-supervised model shares (SimSiam, SimCLR,
Barlow Twins)."""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.models.backbone_config import backbone_from_config
from kzoo.ops import l2_normalize
from kzoo.ops import add_regularization_losses


@kzoo_export("kzoo.models.normalized_embedding_std")
def normalized_embedding_std(z):
    """Spread of L2-normalised embeddings over a batch; ~0 means collapse.

    The mean over the `D` dimensions of the per-dimension standard deviation
    (biased: divided by `N`) of the L2-normalised rows of `z`, times
    `sqrt(D)`. Embeddings spread uniformly over the unit sphere (e.g.
    isotropic Gaussian vectors) have per-dimension variance `1 / D`, so the
    value is about 1 for large batches (slightly below: `sqrt((N - 1) / N)`
    from the biased variance); it is 0 when every embedding points the same
    way (complete collapse) and stays low when the embeddings occupy a
    small cone or a few dimensions. lightly's "collapse level"
    (`collapse_level = max(0, 1 - std * sqrt(D))`, with std averaged over
    dimensions) is `1 - normalized_embedding_std(z)`, up to lightly's
    Bessel-corrected std. No gradient flows through it.

    Formula:

    ```python
    zn = z / ||z||                                      # rows, [N, D]
    z_std = sqrt(D) * mean_j(sqrt(mean_i((zn_ij - mean_i(zn_ij)) ** 2)))
    ```

    Args:
        z: `[N, D]` embeddings.

    Returns:
        Scalar float32 tensor in `[0, 1]` (the per-dimension variances of
        unit vectors sum to at most 1, so `mean_j(std_j) <= 1 / sqrt(D)`).

    Reference:
        - [Chen & He, 2021, "SimSiam"](https://arxiv.org/abs/2011.10566),
          section 4.1 (std of the l2-normalised output).
    """
    zn = l2_normalize(ops.stop_gradient(z))
    centered = zn - ops.mean(zn, axis=0, keepdims=True)
    std = ops.sqrt(ops.mean(ops.square(centered), axis=0))
    d = ops.cast(ops.shape(zn)[-1], "float32")
    return ops.mean(std) * ops.sqrt(d)


# The Args of the two-view models' on-device views (SimSiam, SimCLR,
# Barlow Twins), written once.
VIEW_ARGS = """augmentation: optional layer drawing one random view of a batch of
    images; `fit` then takes raw image batches and the model makes
    the two views itself, on the device (see
    `kzoo.models.TwoViewModel`). Defaults to `None` (the views come
    from the input pipeline).
**kwargs: base `keras.Model` arguments (`name`, ...)."""


@kzoo_export("kzoo.models.TwoViewModel", serializable=False)  # a base class
class TwoViewModel(keras.Model):
    """Base of the two-view models: a backbone, heads, a loss on two views.

    The base of `kzoo.models.SimSiam`, `kzoo.models.SimCLR` and
    `kzoo.models.BarlowTwins`. A subclass builds its heads in `__init__`,
    sets `self.view_loss` (a `keras.losses.Loss` taking the dict of outputs
    as `y_pred`) and a `self.projector`, and defines
    `build_heads(feature_shape)`. `encode(images)` is the projection
    `projector(backbone(images))`; `forward_views(x1, x2, training)` returns
    `{"z1", "z2"}`, the two views' projections (SimSiam overrides it to add
    its predictor's outputs). This class gives them the same interface:

    - called on a dict `{"view_1": x1, "view_2": x2}` (what
      `kzoo.data.two_view_dataset` yields), the model returns the heads'
      outputs; called on an image tensor, the backbone features (what you
      evaluate and export);
    - views made on the accelerator: with an `augmentation` layer, `fit`
      takes batches of raw images (e.g. `kzoo.arrays.TwoViewArrays`, no
      TensorFlow needed) and a training call applies `augmentation` twice
      to each batch (two independent draws) and returns the heads' outputs
      on the two views; an inference call (`predict`, `training=False`)
      still returns the backbone features of the images as given. The
      augmentation's output is what the backbone reads: kzoo's backbones
      take pixels in `[0, 255]` (the range `kzoo.data.two_view_dataset`
      yields), while `kzoo.layers.SimSiamAugment` returns `[0, 1]` (and
      reads float inputs as `[0, 1]`), so give it `uint8` pixels and follow
      it with `keras.layers.Rescaling(255.0)`, as in the example
      (`kzoo.runs.pixel_view_augmentation` builds it);
    - `fit` needs no compiled loss: `compute_loss` applies `view_loss`
      (reduced by `keras.losses.Loss`, scaled per replica under
      `tf.distribute`) and adds the regularisation losses `model.losses`;
    - a collapse monitor: with `collapse_monitor=True` (the default),
      `fit` and `evaluate` log `z_std`, the batch-averaged
      `normalized_embedding_std` of the embeddings the loss sees for view 1
      (`y_pred[collapse_embedding_key]`, `"z1"` for the three models): about
      1 when the embeddings spread over the unit sphere, 0 when they have
      collapsed to one direction. It is a `keras.metrics.Mean` updated in
      `compute_metrics`, outside the loss and the gradient tape, reset by
      Keras each epoch;
    - `get_config` / `from_config` serialise the backbone, so a compiled
      model survives a `.keras` save and load.

    Args:
        backbone: a `keras.Model` mapping images to features `[B, F]`.
        synchronized_bn: cross-replica batch statistics in the heads.
            Defaults to `False`.
        collapse_monitor: log the `z_std` metric during `fit` / `evaluate`.
            Defaults to `True`.
        augmentation: optional layer making one random view of a batch of
            images (`training=True`), applied twice per training step.
            Defaults to `None`: the views come from the input pipeline.
        **kwargs: base `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    # Views drawn on the device, from uint8 batches (any backend):
    augmentation = keras.Sequential(
        [keras.Input((None, None, 3), dtype="uint8"),  # pixels in [0, 255]
         kzoo.layers.SimSiamAugment(seed=0),  # -> [0, 1]
         keras.layers.Rescaling(255.0)],  # -> [0, 255], as the backbone reads
        name="augmentation")
    model = kzoo.models.SimSiam(kzoo.models.resnet20_cifar(),
                                augmentation=augmentation)
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.6))
    model.fit(kzoo.arrays.TwoViewArrays(images, batch_size=128, seed=0),
              epochs=5, shuffle=False)
    ```
    """

    # Key of the forward_views output whose spread `z_std` reports.
    collapse_embedding_key = "z1"

    def __init__(
        self, backbone, synchronized_bn=False, collapse_monitor=True,
        augmentation=None, **kwargs
    ):
        super().__init__(**kwargs)
        if augmentation is not None and not isinstance(
                augmentation, keras.layers.Layer):
            raise ValueError(
                "`augmentation` must be a `keras.layers.Layer` (or `None`). "
                f"Received: augmentation={augmentation!r}"
            )
        self.backbone = backbone
        self.augmentation = augmentation
        self.synchronized_bn = synchronized_bn
        self.collapse_monitor = bool(collapse_monitor)
        # Assigned as an attribute, the metric is tracked by Keras: it is in
        # `model.metrics` (so reset at each epoch) and its result is logged.
        self.z_std_tracker = (
            keras.metrics.Mean(name="z_std") if self.collapse_monitor else None
        )

    def _build_if_backbone_built(self):
        if getattr(self.backbone, "built", False) and self.backbone.inputs:
            self.build(tuple(self.backbone.inputs[0].shape))

    def build(self, input_shape=None):
        if not self.backbone.built:
            self.backbone.build(input_shape)
        if self.augmentation is not None and not self.augmentation.built:
            # Built here, not on its first call: that call is traced inside
            # the compiled training step (under JAX, stateless).
            self.augmentation.build(
                tuple(input_shape) if input_shape is not None
                else tuple(self.backbone.inputs[0].shape))
        self.build_heads(tuple(self.backbone.outputs[0].shape))
        self.built = True

    def encode(self, images, training=False):
        """Projection `z = projector(backbone(x))` for a batch of images."""
        return self.projector(
            self.backbone(images, training=training), training=training
        )

    def forward_views(self, x1, x2, training=False):
        """The two views' projections `{"z1", "z2"}`."""
        return {"z1": self.encode(x1, training=training),
                "z2": self.encode(x2, training=training)}

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            if set(inputs) != {"view_1", "view_2"}:
                raise ValueError(
                    f"{type(self).__name__} takes a dict with keys 'view_1' "
                    "and 'view_2' (or an image tensor). "
                    f"Received: inputs keys={sorted(inputs)}"
                )
            return self.forward_views(
                inputs["view_1"], inputs["view_2"], training=training)
        if training and self.augmentation is not None:
            # Two calls, two independent draws of the layer's seeds.
            return self.forward_views(
                self.augmentation(inputs, training=True),
                self.augmentation(inputs, training=True), training=True)
        return self.backbone(inputs, training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not isinstance(y_pred, dict):
            # predict()/evaluate() on plain images: there is no view loss.
            return None
        # Loss.__call__ reduces to the local batch mean and scales it by
        # 1 / num_replicas under tf.distribute.
        loss = self.view_loss(None, y_pred, sample_weight=sample_weight)
        loss = add_regularization_losses(loss, self.losses)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self.z_std_tracker is not None and isinstance(y_pred, dict):
            self.z_std_tracker.update_state(
                normalized_embedding_std(y_pred[self.collapse_embedding_key])
            )
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "synchronized_bn": self.synchronized_bn,
                "collapse_monitor": self.collapse_monitor,
                "augmentation": (
                    None if self.augmentation is None
                    else keras.saving.serialize_keras_object(
                        self.augmentation)),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = backbone_from_config(config)
        if isinstance(config.get("augmentation"), dict):
            config["augmentation"] = keras.saving.deserialize_keras_object(
                config["augmentation"])
        return cls(**config)
