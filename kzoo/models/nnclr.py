"""NNCLR: a support set of past embeddings gives each view its positive."""

import keras
from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo._docs import fill_doc
from kzoo.layers.mlp_head import MLPHead
from kzoo.losses.nnclr_loss import NNCLRLoss
from kzoo.models.two_view_model import VIEW_ARGS
from kzoo.models.two_view_model import TwoViewModel


@kzoo_export("kzoo.models.NNCLR")
@fill_doc(view_args=VIEW_ARGS)
class NNCLR(TwoViewModel):
    """NNCLR (Dwibedi et al., 2021) as a `keras.Model` that trains with `fit`.

    Each view's projection `z` (backbone, then an MLP projector) is looked
    up in a support set `Q` of the projections of past batches: its nearest
    neighbour by cosine similarity, `NN(z)`, replaces it as the anchor, and
    the loss (`kzoo.losses.NNCLRLoss`) asks `NN(z1_i)` to pick the other
    view `p2_i` among the batch's second views, and the same with the views
    swapped. `p` is the prediction head's output (`predictor_hidden_dim`),
    or `z` itself without one (keras-io's example). The neighbours come
    from a non-trainable buffer, so no gradient flows through them.

    The support set is a FIFO queue of `queue_size` L2-normalised
    projections of the first view, updated after each training step's
    lookup (the newest batch first). It starts as random unit vectors.
    Under `tf.distribute` the global batch's projections are gathered
    (replica order = batch order), so every replica writes the same queue
    and a step on N replicas equals the single-device step; under JAX's
    `DataParallel` the step already sees the global batch.

    Called on a two-view dict the model returns `{"z1", "z2", "p1", "p2",
    "nn1", "nn2"}`; called on an image tensor, the backbone features.

    Args:
        backbone: a `keras.Model` mapping images to features `[B, F]`.
        projection_dim: output width of the projector. Defaults to `128`
            (keras-io's `nnclr`).
        projection_hidden_dims: hidden widths of the projector. Defaults to
            `None` (one layer as wide as the backbone features).
        predictor_hidden_dim: hidden width of the prediction head, or
            `None` for none. Defaults to `None` (keras-io's; the paper uses
            4096).
        queue_size: support-set size. Defaults to `10000` (keras-io's).
        temperature: softmax temperature. Defaults to `0.1` (keras-io's,
            the paper's).
        synchronized_bn: cross-replica batch statistics in the heads.
            Defaults to `False`.
        seed: seed of the initial (random) support set. Defaults to `None`.
        {view_args}

    Example:

    ```python
    model = kzoo.models.NNCLR(kzoo.models.resnet20_cifar(), queue_size=4096)
    model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    model.fit(kzoo.data.two_view_dataset(images, batch_size=256), epochs=5)
    ```

    Reference:
        - [Dwibedi et al., 2021, "With a Little Help from My Friends"](
          https://arxiv.org/abs/2104.14548).
        - [keras-io, "Self-supervised contrastive learning with NNCLR"](
          https://keras.io/examples/vision/nnclr/).
    """

    def __init__(self, backbone, projection_dim=128,
                 projection_hidden_dims=None, predictor_hidden_dim=None,
                 queue_size=10000, temperature=0.1, synchronized_bn=False,
                 seed=None, augmentation=None, **kwargs):
        super().__init__(backbone, synchronized_bn=synchronized_bn,
                         augmentation=augmentation, **kwargs)
        self.projection_dim = check_positive_int(projection_dim,
                                                 "projection_dim")
        self.projection_hidden_dims = (
            None if projection_hidden_dims is None
            else [int(d) for d in projection_hidden_dims])
        self.predictor_hidden_dim = (
            None if predictor_hidden_dim is None
            else check_positive_int(predictor_hidden_dim,
                                    "predictor_hidden_dim"))
        self.queue_size = check_positive_int(queue_size, "queue_size")
        self.seed = seed
        self.view_loss = NNCLRLoss(temperature=temperature)
        self.temperature = self.view_loss.temperature
        self.projector = None
        self.predictor = None
        self._build_if_backbone_built()

    def build_heads(self, feature_shape):
        hidden = self.projection_hidden_dims
        if hidden is None:
            hidden = [int(feature_shape[-1])]
        if self.projector is None:
            self.projector = MLPHead(
                hidden_dims=hidden, output_dim=self.projection_dim,
                output_batch_norm=True, output_use_bias=False,
                synchronized=self.synchronized_bn, name="projector")
            if self.predictor_hidden_dim is not None:
                self.predictor = MLPHead(
                    hidden_dims=[self.predictor_hidden_dim],
                    output_dim=self.projection_dim, output_batch_norm=False,
                    output_use_bias=True, synchronized=self.synchronized_bn,
                    name="predictor")
        self.projector.build(feature_shape)
        z_shape = tuple(feature_shape[:-1]) + (self.projection_dim,)
        if self.predictor is not None:
            self.predictor.build(z_shape)
        if not hasattr(self, "queue"):
            start = keras.random.normal((self.queue_size, self.projection_dim),
                                        seed=self.seed)
            self.queue = self.add_weight(
                shape=(self.queue_size, self.projection_dim),
                initializer=lambda shape, dtype=None: kops.l2_normalize(start),
                trainable=False, name="support_set",
                aggregation="only_first_replica")

    def nearest_neighbours(self, z):
        """The support-set rows most cosine-similar to the rows of `z`."""
        queue = ops.cast(ops.convert_to_tensor(self.queue), "float32")
        similarity = ops.matmul(kops.l2_normalize(ops.cast(z, "float32")),
                                ops.transpose(queue))
        return ops.stop_gradient(
            ops.take(queue, ops.argmax(similarity, axis=1), axis=0))

    def _enqueue(self, z):
        """Puts the global batch's normalised `z` at the queue's head."""
        batch = ops.stop_gradient(kops.l2_normalize(ops.cast(
            kops.gather_replicas(z), "float32")))
        queue = ops.cast(ops.convert_to_tensor(self.queue), "float32")
        self.queue.assign(ops.concatenate([batch, queue],
                                          axis=0)[:self.queue_size])

    def forward_views(self, x1, x2, training=False):
        z1 = self.encode(x1, training=training)
        z2 = self.encode(x2, training=training)
        if self.predictor is not None:
            p1 = self.predictor(z1, training=training)
            p2 = self.predictor(z2, training=training)
        else:
            p1, p2 = z1, z2
        out = {"z1": z1, "z2": z2, "p1": p1, "p2": p2,
               "nn1": self.nearest_neighbours(z1),
               "nn2": self.nearest_neighbours(z2)}
        if training:
            self._enqueue(z1)
        return out

    def get_config(self):
        config = super().get_config()
        config.update({
            "projection_dim": self.projection_dim,
            "projection_hidden_dims": (
                None if self.projection_hidden_dims is None
                else list(self.projection_hidden_dims)),
            "predictor_hidden_dim": self.predictor_hidden_dim,
            "queue_size": self.queue_size, "temperature": self.temperature,
            "seed": self.seed})
        return config
