"""SimCLR: a backbone, a projection head and the NT-Xent loss."""

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.layers.mlp_head import MLPHead
from kzoo.losses.nt_xent_loss import NTXentLoss
from kzoo.models.two_view_model import VIEW_ARGS
from kzoo.models.two_view_model import TwoViewModel


@kzoo_export("kzoo.models.SimCLR")
@fill_doc(view_args=VIEW_ARGS)
class SimCLR(TwoViewModel):
    """SimCLR (Chen et al., 2020) as a `keras.Model` that trains with `fit`.

    Encoder `f` = backbone; projection head `g` = MLP (hidden layers with
    batch norm and ReLU, then a linear output). For two augmented views of
    `N` images, `z_i = g(f(x_i))`, and the loss is NT-Xent over the `2N`
    views (`kzoo.losses.NTXentLoss`): each view's positive is the other view
    of its image, the other `2N - 2` views are its negatives.

    Feed it a dataset whose elements are dicts `{"view_1": x1, "view_2": x2}`
    (`kzoo.data.two_view_dataset`); no compiled loss is needed. Called on a
    two-view dict the model returns `{"z1", "z2"}`; called on an image
    tensor, the backbone features `f(x)` (what SimCLR evaluates and what
    you export). Regularisation losses (`model.losses`) are added to the
    training loss; weight decay is better given to the optimizer.

    The negatives of an anchor are all the other views of the global
    batch, as in the paper: under `tf.distribute` `kzoo.losses.NTXentLoss`
    gathers the replicas' embeddings (so a step on N replicas equals the
    single-device step), and under JAX's `keras.distribution.DataParallel`
    the loss runs on the sharded global batch.

    Args:
        backbone: a `keras.Model` mapping images to features `[B, F]`.
        projection_dim: output width of the projection head. Defaults to
            `128` (the paper's).
        projection_hidden_dims: hidden widths of the projection head.
            Defaults to `None` (one hidden layer as wide as the backbone
            features, the paper's head: 2048 for its ResNet-50).
        temperature: NT-Xent temperature. Defaults to `0.1` (the paper's
            ImageNet value; it uses `0.5` on CIFAR-10, appendix B.9).
        synchronized_bn: cross-replica batch statistics in the head.
            Defaults to `False`.
        {view_args}

    Example:

    ```python
    backbone = kzoo.models.resnet20_cifar()
    model = kzoo.models.SimCLR(backbone, temperature=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    model.fit(kzoo.data.two_view_dataset(images, batch_size=256), epochs=5)
    features = model.predict(test_images)  # backbone features
    ```

    Reference:
        - [Chen et al., 2020, "A Simple Framework for Contrastive Learning
          of Visual Representations"](https://arxiv.org/abs/2002.05709).
    """

    def __init__(
        self,
        backbone,
        projection_dim=128,
        projection_hidden_dims=None,
        temperature=0.1,
        synchronized_bn=False,
        augmentation=None,
        **kwargs,
    ):
        super().__init__(backbone, synchronized_bn=synchronized_bn,
                         augmentation=augmentation, **kwargs)
        self.projection_dim = int(projection_dim)
        self.projection_hidden_dims = (
            None if projection_hidden_dims is None
            else [int(d) for d in projection_hidden_dims])
        # NTXentLoss validates the temperature (positive, finite).
        self.view_loss = NTXentLoss(temperature=temperature)
        self.temperature = self.view_loss.temperature
        self.projector = None
        self._build_if_backbone_built()

    def build_heads(self, feature_shape):
        hidden = self.projection_hidden_dims
        if hidden is None:
            hidden = [int(feature_shape[-1])]
        if self.projector is None:
            self.projector = MLPHead(
                hidden_dims=hidden,
                output_dim=self.projection_dim,
                output_batch_norm=False,
                output_use_bias=True,
                synchronized=self.synchronized_bn,
                name="projector",
            )
        self.projector.build(feature_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "projection_dim": self.projection_dim,
                "projection_hidden_dims": (
                    None if self.projection_hidden_dims is None
                    else list(self.projection_hidden_dims)),
                "temperature": self.temperature,
            }
        )
        return config
