"""YOLODetector: a backbone, a YOLO head, the YOLO loss, decode and NMS."""

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export
from kzoo.layers.non_max_suppression import NonMaxSuppression
from kzoo.layers.yolo_decode import YOLODecode
from kzoo.layers.yolo_head import YOLOHead
from kzoo.layers.yolo_head import check_yolo_config
from kzoo.losses.yolo_loss import YOLOLoss
from kzoo.models.backbone_config import backbone_from_config
from kzoo.ops import add_regularization_losses
from kzoo.ops import scale_for_replicas

_TERMS = ("coord", "objectness", "no_object", "class")


def run_inference_model(model, images, batch_size):
    """A detector's inference model on `images`, in batches: the
    contract-C dict of NumPy arrays (`predict_detections` of every
    detector)."""
    images = np.asarray(images, np.float32)
    parts = [model(images[i:i + batch_size], training=False)
             for i in range(0, len(images), batch_size)]
    # `convert_to_numpy`, not `np.asarray`: on PyTorch the outputs are
    # tensors attached to the autograd graph (the weights require
    # gradients), which `np.asarray` refuses.
    return {k: np.concatenate([ops.convert_to_numpy(p[k]) for p in parts])
            for k in ("boxes", "classes", "scores", "num_detections")}


@kzoo_export("kzoo.models.YOLODetector")
class YOLODetector(keras.Model):
    """A YOLO detector that trains with `fit` and serves final detections.

    `backbone` (a functional model: float images `[N, H, W, 3]` in
    `[0, 255]` -> feature map `[N, S, S, F]`, e.g.
    `kzoo.models.tiny_darknet`) followed by `kzoo.layers.YOLOHead`. Called
    on images, the model returns the head's raw grid (`[N, S, S, 5B + C]`,
    or `[N, S, S, B, 5 + C]` with anchors).

    Training: `fit` on a dataset of `(images, y_true)` with `y_true` from
    `self.target_encoder()` (`kzoo.data.YOLOTargetEncoder`). Compiled
    without a loss, the model uses its own `kzoo.losses.YOLOLoss` built from
    the loss arguments below (the mean over the batch of each image's summed
    loss, scaled per replica under `tf.distribute`, plus the regularisation
    losses `model.losses`), and logs its four weighted terms as the metrics
    `coord_loss`, `objectness_loss`, `no_object_loss` and `class_loss`.
    `compile(loss=...)` replaces it by any Keras loss of `(y_true, grid)`
    (e.g. a `kzoo.losses.YOLOLoss` with other settings; the term metrics
    are then not logged). A backbone with BatchNormalization trained for
    only a few hundred steps may need a lower BN momentum
    (`kzoo.models.tiny_darknet(bn_momentum=...)`): inference uses the
    moving statistics.

    Inference: `inference_model()` is a functional `keras.Model` sharing
    the weights: images float32 `[N, S_in, S_in, 3]` in `[0, 255]` ->
    `kzoo.layers.YOLODecode` (confidence `P(class) x objectness`) ->
    `kzoo.layers.NonMaxSuppression`, i.e. the dict `{"boxes" [N, K, 4] xyxy
    pixels of the input, "classes" [N, K], "scores" [N, K],
    "num_detections" [N]}` (contract C; `K = max_detections`, padding rows
    class -1). `predict_detections(images)` runs it to NumPy. Both need the
    backbone's input to be square with a static size.

    Args:
        backbone: a `keras.Model`, images -> `[N, S, S, F]`.
        num_classes: `C`. Defaults to `20`.
        num_boxes: `B`. Defaults to `2`.
        anchors: `[B, 2]` anchor `(w, h)` fractions of the image (e.g.
            `kzoo.data.kmeans_anchors`), for `layout="anchor"`. Defaults to
            `None`.
        layout: `"cell"` (the course's `S x S x (5B + C)`) or `"anchor"`;
            `None` means `"anchor"` if `anchors` is given, else `"cell"`.
            Defaults to `None`.
        hidden_channels: `YOLOHead`'s `3 x 3` conv width (0: none).
            Defaults to `0`.
        objectness_prior: `YOLOHead`'s initial objectness. Defaults to
            `0.01`.
        lambda_coord: `YOLOLoss` weight of the box term. Defaults to `5.0`.
        lambda_noobj: `YOLOLoss` weight of the no-object term. Defaults to
            `0.5`.
        lambda_obj: `YOLOLoss` weight of the objectness term. Defaults to
            `1.0`.
        lambda_class: `YOLOLoss` weight of the class term. Defaults to
            `1.0`.
        box_loss: `"mse"`, `"iou"`, `"giou"`, `"diou"` or `"ciou"`.
            Defaults to `"mse"`.
        objectness_target: `"iou"` or `"one"`. Defaults to `"iou"`.
        ignore_threshold: `YOLOLoss`'s no-object ignore IoU, or `None`.
            Defaults to `None`.
        objectness_loss: `"mse"` (YOLOv1) or `"bce"` (YOLOv3). Defaults to
            `"mse"`.
        class_loss: `"mse"` (YOLOv1) or `"crossentropy"`. Defaults to
            `"mse"`.
        confidence: `YOLODecode`'s score, `"class_x_objectness"` or
            `"top_class_x_objectness"`. Defaults to `"class_x_objectness"`.
        iou_threshold: NMS IoU threshold (suppressed when `IoU >` it).
            Defaults to `0.5`.
        score_threshold: minimum score of a detection (`score >` it).
            Defaults to `0.25`.
        max_detections: `K`, detections per image. Defaults to `100`.
        **kwargs: base `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    backbone = kzoo.models.tiny_darknet((320, 320, 3))
    detector = kzoo.models.YOLODetector(backbone, num_classes=3,
                                        num_boxes=5, anchors=anchors)
    encoder = detector.target_encoder()
    train = ds.map(lambda b: (b["images"], encoder(b["boxes"], b["classes"])))
    detector.compile(optimizer="adam")
    detector.fit(train, epochs=10)
    detections = detector.inference_model()(images)  # contract C
    ```

    Reference:
        - [Redmon et al., 2016, "You Only Look Once"](
          https://arxiv.org/abs/1506.02640).
        - [Redmon & Farhadi, 2017, "YOLO9000"](
          https://arxiv.org/abs/1612.08242).
    """

    def __init__(self, backbone, num_classes=20, num_boxes=2, anchors=None,
                 layout=None, hidden_channels=0, objectness_prior=0.01,
                 lambda_coord=5.0, lambda_noobj=0.5, lambda_obj=1.0,
                 lambda_class=1.0, box_loss="mse", objectness_target="iou",
                 ignore_threshold=None, objectness_loss="mse",
                 class_loss="mse", confidence="class_x_objectness",
                 iou_threshold=0.5, score_threshold=0.25, max_detections=100,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.Model):
            raise TypeError(
                "`backbone` must be a keras.Model (images -> [N, S, S, F]). "
                f"Received: backbone={type(backbone).__name__}")
        self.backbone = backbone
        self.num_boxes, self.num_classes, self.layout, self.anchors = (
            check_yolo_config(num_boxes, num_classes, layout, anchors))
        self.head = YOLOHead(
            self.num_boxes, self.num_classes, layout=self.layout,
            hidden_channels=hidden_channels,
            objectness_prior=objectness_prior, name="yolo_head")
        self.yolo_loss = YOLOLoss(
            self.num_boxes, self.num_classes, anchors=self.anchors,
            layout=self.layout, lambda_coord=lambda_coord,
            lambda_noobj=lambda_noobj, lambda_obj=lambda_obj,
            lambda_class=lambda_class, box_loss=box_loss,
            objectness_target=objectness_target,
            ignore_threshold=ignore_threshold,
            objectness_loss=objectness_loss, class_loss=class_loss)
        self.confidence = confidence
        # Validates the decode / NMS arguments now rather than at inference.
        YOLODecode(self.num_boxes, self.num_classes, self.anchors,
                   self.layout, confidence=confidence)
        NonMaxSuppression(iou_threshold, score_threshold, max_detections)
        self.iou_threshold = float(iou_threshold)
        self.score_threshold = float(score_threshold)
        self.max_detections = int(max_detections)
        self.term_trackers = [keras.metrics.Mean(name=f"{t}_loss")
                              for t in _TERMS]
        if getattr(backbone, "built", False) and backbone.inputs:
            self.build(tuple(backbone.inputs[0].shape))

    # ----------------------------------------------------------- model
    def build(self, input_shape=None):
        if not self.backbone.built:
            self.backbone.build(input_shape)
        feature_shape = tuple(self.backbone.outputs[0].shape)
        if len(feature_shape) != 4:
            raise ValueError(
                "`backbone` must output a feature map `[N, S, S, F]`. "
                f"Received: backbone output shape={feature_shape}")
        self.head.build(feature_shape)
        self.built = True

    def call(self, images, training=False):
        return self.head(self.backbone(images, training=training),
                         training=training)

    @property
    def metrics(self):
        metrics = super().metrics
        if getattr(self, "_compile_loss", None) is not None:
            # A compiled loss replaces the YOLO loss and its term metrics.
            ids = {id(t) for t in self.term_trackers}
            metrics = [m for m in metrics if id(m) not in ids]
        return metrics

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        if self._compile_loss is not None or y is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        terms = self.yolo_loss.terms(y, y_pred)
        per_image = sum(terms[t] for t in _TERMS)
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
            per_image = per_image * weight
        loss = ops.mean(per_image)
        for name, tracker in zip(_TERMS, self.term_trackers):
            tracker.update_state(ops.mean(terms[name]))
        loss = scale_for_replicas(loss)
        loss = add_regularization_losses(loss, self.losses)
        return loss

    # ------------------------------------------------------- inference
    @property
    def image_size(self):
        """Side of the square model input, or `None` if not static."""
        shape = tuple(self.backbone.inputs[0].shape) if self.backbone.inputs \
            else (None, None, None)
        if shape[1] is None or shape[1] != shape[2]:
            return None
        return int(shape[1])

    @property
    def grid_size(self):
        """`S` of the head's grid, or `None` if not static."""
        shape = tuple(self.backbone.outputs[0].shape)
        if shape[1] is None or shape[1] != shape[2]:
            return None
        return int(shape[1])

    def _static_sizes(self, what):
        if self.image_size is None or self.grid_size is None:
            raise ValueError(
                f"{what} needs a backbone with a static square input and "
                "grid. Received: backbone input shape="
                f"{tuple(self.backbone.inputs[0].shape)}, output shape="
                f"{tuple(self.backbone.outputs[0].shape)}")
        return self.image_size, self.grid_size

    def target_encoder(self):
        """The `kzoo.data.YOLOTargetEncoder` matching this detector
        (TensorFlow: it encodes boxes inside `tf.data`)."""
        from kzoo.data.yolo_targets import YOLOTargetEncoder

        image_size, grid = self._static_sizes("target_encoder()")
        return YOLOTargetEncoder(grid, self.num_boxes, self.num_classes,
                                 image_size, anchors=self.anchors)

    def inference_model(self, score_threshold=None, iou_threshold=None,
                        max_detections=None, confidence=None):
        """Images -> final detections (contract C), sharing the weights.

        Args:
            score_threshold: overrides the detector's. Defaults to `None`.
            iou_threshold: overrides the detector's. Defaults to `None`.
            max_detections: overrides the detector's. Defaults to `None`.
            confidence: overrides the detector's. Defaults to `None`.

        Returns:
            A functional `keras.Model` (with a `num_classes` attribute).
        """
        image_size, _ = self._static_sizes("inference_model()")
        decode = YOLODecode(
            self.num_boxes, self.num_classes, self.anchors, self.layout,
            image_size=image_size,
            confidence=confidence or self.confidence, name="yolo_decode")
        nms = NonMaxSuppression(
            iou_threshold=(self.iou_threshold if iou_threshold is None
                           else iou_threshold),
            score_threshold=(self.score_threshold if score_threshold is None
                             else score_threshold),
            max_detections=(self.max_detections if max_detections is None
                            else max_detections),
            name="nms")
        inputs = keras.Input(tuple(self.backbone.inputs[0].shape[1:]),
                             name="images")
        grid = self.head(self.backbone(inputs, training=False),
                         training=False)
        candidates = decode(grid)
        outputs = nms(candidates["boxes"], candidates["scores"])
        model = keras.Model(inputs, outputs, name=f"{self.name}_inference")
        model.num_classes = self.num_classes
        return model

    def predict_detections(self, images, batch_size=8, **kwargs):
        """Runs `inference_model(**kwargs)` on images, returns NumPy arrays.

        Args:
            images: float `[N, S, S, 3]` in `[0, 255]`.
            batch_size: images per call. Defaults to `8`.
            **kwargs: `inference_model` overrides.

        Returns:
            The contract-C dict of NumPy arrays.
        """
        return run_inference_model(self.inference_model(**kwargs), images,
                                   batch_size)

    # --------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        loss = self.yolo_loss
        config.update({
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "num_boxes": self.num_boxes,
            "anchors": self.anchors,
            "layout": self.layout,
            "hidden_channels": self.head.hidden_channels,
            "objectness_prior": self.head.objectness_prior,
            "lambda_coord": loss.lambda_coord,
            "lambda_noobj": loss.lambda_noobj,
            "lambda_obj": loss.lambda_obj,
            "lambda_class": loss.lambda_class,
            "box_loss": loss.box_loss,
            "objectness_target": loss.objectness_target,
            "ignore_threshold": loss.ignore_threshold,
            "objectness_loss": loss.objectness_loss,
            "class_loss": loss.class_loss,
            "confidence": self.confidence,
            "iou_threshold": self.iou_threshold,
            "score_threshold": self.score_threshold,
            "max_detections": self.max_detections,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**backbone_from_config(config))
