"""What every two-view self-supervised model shares (SimSiam, SimCLR)."""

import copy

import keras
from keras import ops

from kzoo.ops import scale_for_replicas


class TwoViewModel(keras.Model):
    """Base of the two-view models: a backbone, heads, a loss on two views.

    A subclass builds its heads in `__init__`, sets `self.view_loss` (a
    `keras.losses.Loss` taking the dict of outputs as `y_pred`), and defines
    `build_heads(feature_shape)` and `forward_views(x1, x2, training)`
    (returning that dict). This class gives them the same interface:

    - called on a dict `{"view_1": x1, "view_2": x2}` (what
      `kzoo.data.two_view_dataset` yields), the model returns the heads'
      outputs; called on an image tensor, the backbone features (what you
      evaluate and export);
    - `fit` needs no compiled loss: `compute_loss` applies `view_loss`
      (reduced by `keras.losses.Loss`, scaled per replica under
      `tf.distribute`) and adds the regularisation losses `model.losses`;
    - `get_config` / `from_config` serialise the backbone, so a compiled
      model survives a `.keras` save and load.
    """

    def __init__(self, backbone, synchronized_bn=False, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.synchronized_bn = synchronized_bn

    def _build_if_backbone_built(self):
        if getattr(self.backbone, "built", False) and self.backbone.inputs:
            self.build(tuple(self.backbone.inputs[0].shape))

    def build(self, input_shape=None):
        if not self.backbone.built:
            self.backbone.build(input_shape)
        self.build_heads(tuple(self.backbone.outputs[0].shape))
        self.built = True

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
        for extra in self.losses:
            loss = loss + scale_for_replicas(
                ops.sum(ops.cast(extra, loss.dtype))
            )
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "synchronized_bn": self.synchronized_bn,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # deserialize_keras_object consumes the nested dict: copy it first.
        config = copy.deepcopy(config)
        config["backbone"] = keras.saving.deserialize_keras_object(
            config["backbone"]
        )
        return cls(**config)
