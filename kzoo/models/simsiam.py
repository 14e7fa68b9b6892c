"""SimSiam: a backbone, a projector, a predictor and a stop-gradient."""

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.layers.mlp_head import MLPHead
from kzoo.losses.simsiam_loss import SimSiamLoss
from kzoo.models.two_view_model import VIEW_ARGS
from kzoo.models.two_view_model import TwoViewModel


@kzoo_export("kzoo.models.SimSiam")
@fill_doc(view_args=VIEW_ARGS)
class SimSiam(TwoViewModel):
    """SimSiam (Chen & He, 2021) as a `keras.Model` that trains with `fit`.

    Encoder `f` = backbone + projector MLP; predictor `h` = bottleneck MLP.
    For two augmented views `x1, x2`: `z_i = f(x_i)`, `p_i = h(z_i)`, and the
    loss is `D(p1, z2) / 2 + D(p2, z1) / 2`, with `D` the negative cosine
    similarity and a stop-gradient on `z` (`kzoo.losses.SimSiamLoss`).

    Feed it a dataset whose elements are dicts `{"view_1": x1, "view_2": x2}`
    of image batches (see `kzoo.data.two_view_dataset`); batches are global,
    and under `tf.distribute` each replica's loss is scaled so the summed
    gradients equal those of the global-batch mean. Called on a plain image
    tensor, the model returns the backbone features (what you evaluate and
    export); called on a two-view dict it returns `{"p1", "p2", "z1", "z2"}`.

    Regularization losses of the backbone and heads (`model.losses`) are
    added to the training loss. The paper's weight decay is better given to
    the optimizer (`keras.optimizers.SGD(weight_decay=5e-4)`), which keeps
    the logged `loss` the pure SimSiam loss (in `[-1, 1]`; a value stuck at
    -1 early is the sign of collapse).

    Args:
        backbone: a `keras.Model` mapping images to features `[B, F]`.
        projection_dim: output width of the projector (and predictor).
            Defaults to `2048` (the paper's and keras-io's value).
        projection_hidden_dims: hidden widths of the projector. The paper
            uses two hidden layers on ImageNet and one on CIFAR (as
            keras-io does). Defaults to `(2048,)`.
        predictor_dim: bottleneck width of the predictor. Defaults to `512`.
        synchronized_bn: cross-replica batch statistics in the heads.
            Defaults to `False`.
        {view_args}

    Example:

    ```python
    backbone = kzoo.models.resnet20_cifar()
    model = kzoo.models.SimSiam(backbone)
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.6))
    model.fit(kzoo.data.two_view_dataset(images, batch_size=128), epochs=5)
    features = model.predict(test_images)  # backbone features
    ```

    Reference:
        - [Chen & He, 2021, "Exploring Simple Siamese Representation
          Learning"](https://arxiv.org/abs/2011.10566).
        - [keras-io SimSiam example](
          https://keras.io/examples/vision/simsiam/).
    """

    def __init__(
        self,
        backbone,
        projection_dim=2048,
        projection_hidden_dims=(2048,),
        predictor_dim=512,
        synchronized_bn=False,
        augmentation=None,
        **kwargs,
    ):
        super().__init__(backbone, synchronized_bn=synchronized_bn,
                         augmentation=augmentation, **kwargs)
        self.projection_dim = int(projection_dim)
        self.projection_hidden_dims = [int(d) for d in projection_hidden_dims]
        self.predictor_dim = int(predictor_dim)
        self.projector = MLPHead(
            hidden_dims=self.projection_hidden_dims,
            output_dim=self.projection_dim,
            output_batch_norm=True,
            output_use_bias=False,
            synchronized=synchronized_bn,
            name="projector",
        )
        self.predictor = MLPHead(
            hidden_dims=[self.predictor_dim],
            output_dim=self.projection_dim,
            output_batch_norm=False,
            output_use_bias=True,
            synchronized=synchronized_bn,
            name="predictor",
        )
        self.view_loss = SimSiamLoss()
        self._build_if_backbone_built()

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)
        self.predictor.build(feature_shape[:-1] + (self.projection_dim,))

    def forward_views(self, x1, x2, training=False):
        z1 = self.encode(x1, training=training)
        z2 = self.encode(x2, training=training)
        p1 = self.predictor(z1, training=training)
        p2 = self.predictor(z2, training=training)
        return {"p1": p1, "p2": p2, "z1": z1, "z2": z2}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "projection_dim": self.projection_dim,
                "projection_hidden_dims": list(self.projection_hidden_dims),
                "predictor_dim": self.predictor_dim,
            }
        )
        return config
