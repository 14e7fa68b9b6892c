"""Barlow Twins: a backbone, a wide projector, a cross-correlation loss."""

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.layers.mlp_head import MLPHead
from kzoo.losses.barlow_twins_loss import BarlowTwinsLoss
from kzoo.models.two_view_model import VIEW_ARGS
from kzoo.models.two_view_model import TwoViewModel


@kzoo_export("kzoo.models.BarlowTwins")
@fill_doc(view_args=VIEW_ARGS)
class BarlowTwins(TwoViewModel):
    """Barlow Twins (Zbontar et al., 2021) as a `keras.Model` that trains
    with `fit`.

    Encoder `f` = backbone; projector `g` = MLP of three linear layers, the
    first two followed by batch norm and ReLU (no biases: the batch norms,
    and the loss's own standardisation after the last layer, cancel them).
    For two augmented views of `N` images, `z_i = g(f(x_i))`, and the loss
    (`kzoo.losses.BarlowTwinsLoss`) standardises each dimension of `z1` and
    `z2` over the batch and pushes their `D x D` cross-correlation matrix
    to the identity: `sum_i (1 - c_ii)^2 + lambda_ * sum_{i != j} c_ij^2`.
    No negatives, no predictor, no stop-gradient: the off-diagonal
    (redundancy reduction) term is what prevents collapse.

    Feed it a dataset whose elements are dicts `{"view_1": x1, "view_2": x2}`
    (`kzoo.data.two_view_dataset`); no compiled loss is needed. Called on a
    two-view dict the model returns `{"z1", "z2"}`; called on an image
    tensor, the backbone features `f(x)` (what Barlow Twins evaluates and
    what you export). Regularisation losses (`model.losses`) are added to
    the training loss; weight decay is better given to the optimizer. `fit`
    also logs `z_std` (see `kzoo.models.TwoViewModel`; ~1 healthy, ~0
    collapsed).

    The loss is a sum over the `D^2` entries of `c`, so its scale (and
    its gradients') grows with the projector width (the paper's starts near
    `D`). Train it with an optimizer whose step does not follow the loss's
    scale: the paper uses LARS, keras-io `keras.optimizers.Lamb`; Adam
    works too. Plain SGD at the learning rates of other SSL losses wrecks
    the backbone (see `recipes/barlow_twins_cifar.py`).

    Under `tf.distribute` the loss's standardisation and cross-correlation
    use each replica's local batch (the paper computes them over the global
    batch, all-reducing `c`); each replica's loss is scaled so the summed
    gradients are those of the mean of the replicas' losses.

    Args:
        backbone: a `keras.Model` mapping images to features `[B, F]`.
        projection_dims: widths of the projector's linear layers; the last
            one is the embedding size `D`, each earlier one is followed by
            batch norm and ReLU. The paper uses `(8192, 8192, 8192)` on
            ImageNet (ResNet-50); keras-io's CIFAR-10 example uses three
            layers of 5000 on a ResNet-34. Defaults to `(5000, 5000, 5000)`
            (keras-io's; solo-learn and lightly use 2048 on CIFAR).
        lambda_: weight of the off-diagonal term. Defaults to `0.0051`
            (the paper's).
        synchronized_bn: cross-replica batch statistics in the projector.
            Defaults to `False`.
        collapse_monitor: log `z_std` during `fit` / `evaluate`. Defaults
            to `True`.
        {view_args}

    Example:

    ```python
    backbone = kzoo.models.resnet18_cifar()
    model = kzoo.models.BarlowTwins(backbone, projection_dims=(2048,) * 3)
    model.compile(optimizer=keras.optimizers.Lamb(1e-3))
    model.fit(kzoo.data.two_view_dataset(images, batch_size=256), epochs=5)
    features = model.predict(test_images)  # backbone features
    ```

    Reference:
        - [Zbontar et al., 2021, "Barlow Twins: Self-Supervised Learning
          via Redundancy Reduction"](https://arxiv.org/abs/2103.03230).
        - [keras-io Barlow Twins example](
          https://keras.io/examples/vision/barlow_twins/).
    """

    def __init__(
        self,
        backbone,
        projection_dims=(5000, 5000, 5000),
        lambda_=0.0051,
        synchronized_bn=False,
        collapse_monitor=True,
        augmentation=None,
        **kwargs,
    ):
        super().__init__(
            backbone,
            synchronized_bn=synchronized_bn,
            collapse_monitor=collapse_monitor,
            augmentation=augmentation,
            **kwargs,
        )
        dims = [int(d) for d in projection_dims]
        if not dims or min(dims) < 1:
            raise ValueError(
                "`projection_dims` must be a non-empty list of positive "
                f"widths. Received: projection_dims={projection_dims!r}"
            )
        self.projection_dims = dims
        # BarlowTwinsLoss validates lambda_ (a non-negative number).
        self.view_loss = BarlowTwinsLoss(lambda_=lambda_)
        self.lambda_ = self.view_loss.lambda_
        self.projector = MLPHead(
            hidden_dims=dims[:-1],
            output_dim=dims[-1],
            use_bias=False,
            output_batch_norm=False,
            output_use_bias=False,
            synchronized=synchronized_bn,
            name="projector",
        )
        self._build_if_backbone_built()

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "projection_dims": list(self.projection_dims),
                "lambda_": self.lambda_,
            }
        )
        return config
