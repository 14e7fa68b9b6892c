"""AnchorFreeDetector: a multi-scale backbone, a decoupled anchor-free head,
YOLOv8's task-aligned loss, decode and NMS."""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.layers.anchor_free_head import AnchorFreeDecode
from kzoo.layers.anchor_free_head import AnchorFreeHead
from kzoo.layers.non_max_suppression import NonMaxSuppression
from kzoo.losses.task_aligned import AnchorFreeDetectionLoss
from kzoo.models.backbone_config import backbone_from_config
from kzoo.models.yolo_detector import run_inference_model
from kzoo.ops import add_regularization_losses


@kzoo_export("kzoo.models.multiscale_backbone")
def multiscale_backbone(backbone, layer_names, name=None):
    """A backbone returning the outputs of `layer_names` (e.g. the strides
    8, 16 and 32 maps of `kzoo.models.tiny_darknet`: `["pool2", "pool3",
    backbone's last layer]`)."""
    outputs = [backbone.get_layer(n).output for n in layer_names]
    return keras.Model(backbone.inputs, outputs,
                       name=name or f"{backbone.name}_multiscale")


@kzoo_export("kzoo.models.AnchorFreeDetector")
class AnchorFreeDetector(keras.Model):
    """An anchor-free detector (YOLOv8's head and loss) that trains with
    `fit` and serves final detections.

    `backbone`: images float `[N, S, S, 3]` in `[0, 255]` -> a list of
    feature maps (`kzoo.models.multiscale_backbone`); `kzoo.layers.
    AnchorFreeHead` predicts, at each cell centre of each map, a
    distribution over `reg_max` bins for each side's distance and the
    class logits. Called on images the model returns the head's
    `[N, A, 4 * reg_max + C]`. `fit` takes `(images, targets)` with
    `targets` packed `[N, M, 6]` `(x1, y1, x2, y2, class, mask)` in pixels
    of the input (`pack_detection_targets`), and trains with
    `kzoo.losses.AnchorFreeDetectionLoss` (task-aligned assignment, BCE,
    CIoU, DFL). `inference_model()` decodes (expected distances, sigmoid
    scores) and applies `kzoo.layers.NonMaxSuppression`: contract C, the
    same dict as `kzoo.models.YOLODetector`'s.

    Args:
        backbone: a `keras.Model` with a static square input and a list
            of feature maps as outputs.
        num_classes: classes. Defaults to `20`.
        reg_max: bins per side. Defaults to `16`.
        head_channels: width of the head's branches. Defaults to `64`.
        top_k, alpha, beta: the assigner's. Defaults to `10`, `0.5`, `6.0`.
        box_weight, class_weight, dfl_weight: the loss's. Defaults to
            `7.5`, `0.5`, `1.5`.
        iou_threshold, score_threshold, max_detections: NMS. Defaults to
            `0.5`, `0.25`, `100`.
        **kwargs: base `keras.Model` arguments.
    """

    def __init__(self, backbone, num_classes=20, reg_max=16,
                 head_channels=64, top_k=10, alpha=0.5, beta=6.0,
                 box_weight=7.5, class_weight=0.5, dfl_weight=1.5,
                 iou_threshold=0.5, score_threshold=0.25, max_detections=100,
                 **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        size = backbone.inputs[0].shape[1]
        if size is None or size != backbone.inputs[0].shape[2]:
            raise ValueError("`backbone` needs a static square input. "
                             f"Received: {backbone.inputs[0].shape}")
        self.image_size = int(size)
        maps = backbone.outputs
        self.feature_sizes = [(int(m.shape[1]), int(m.shape[2]))
                              for m in maps]
        self.strides = [self.image_size // h for h, _ in self.feature_sizes]
        self.num_classes = int(num_classes)
        self.reg_max = int(reg_max)
        self.head_channels = int(head_channels)
        self.head = AnchorFreeHead(self.num_classes, self.reg_max,
                                   self.head_channels, self.head_channels,
                                   name="anchor_free_head")
        self.detection_loss = AnchorFreeDetectionLoss(
            self.num_classes, self.feature_sizes, self.strides, self.reg_max,
            top_k, alpha, beta, box_weight, class_weight, dfl_weight)
        NonMaxSuppression(iou_threshold, score_threshold, max_detections)
        self.iou_threshold = float(iou_threshold)
        self.score_threshold = float(score_threshold)
        self.max_detections = int(max_detections)
        self.build(tuple(backbone.inputs[0].shape))

    def build(self, input_shape=None):
        self.head.build([tuple(m.shape) for m in self.backbone.outputs])
        self.built = True

    def call(self, images, training=False):
        maps = self.backbone(images, training=training)
        return self.head(list(maps) if isinstance(maps, (list, tuple))
                         else [maps], training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        if getattr(self, "_compile_loss", None) is not None or y is None:
            return super().compute_loss(x, y, y_pred, sample_weight,
                                        training)
        loss = self.detection_loss(y, y_pred, sample_weight=sample_weight)
        return add_regularization_losses(loss, self.losses)

    def decode(self, outputs):
        """Head outputs -> `{"boxes" [N, A, 4] xyxy, "scores" [N, A, C]}`."""
        return self._decoder()(outputs)

    def _decoder(self):
        return AnchorFreeDecode(self.feature_sizes, self.strides,
                                self.reg_max, self.image_size,
                                name="anchor_free_decode")

    def inference_model(self, score_threshold=None, iou_threshold=None,
                        max_detections=None):
        """Images -> final detections (contract C), sharing the weights."""
        nms = NonMaxSuppression(
            iou_threshold=(self.iou_threshold if iou_threshold is None
                           else iou_threshold),
            score_threshold=(self.score_threshold if score_threshold is None
                             else score_threshold),
            max_detections=(self.max_detections if max_detections is None
                            else max_detections), name="nms")
        inputs = keras.Input(tuple(self.backbone.inputs[0].shape[1:]),
                             name="images")
        candidates = self._decoder()(self(inputs, training=False))
        outputs = nms(candidates["boxes"], candidates["scores"])
        model = keras.Model(inputs, outputs, name=f"{self.name}_inference")
        model.num_classes = self.num_classes
        return model

    def predict_detections(self, images, batch_size=8, **kwargs):
        """Runs `inference_model(**kwargs)`; returns the contract-C dict of
        NumPy arrays."""
        return run_inference_model(self.inference_model(**kwargs), images,
                                   batch_size)

    def get_config(self):
        config = super().get_config()
        loss = self.detection_loss
        config.update({
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes, "reg_max": self.reg_max,
            "head_channels": self.head_channels, "top_k": loss.top_k,
            "alpha": loss.alpha, "beta": loss.beta,
            "box_weight": loss.box_weight,
            "class_weight": loss.class_weight,
            "dfl_weight": loss.dfl_weight,
            "iou_threshold": self.iou_threshold,
            "score_threshold": self.score_threshold,
            "max_detections": self.max_detections})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**backbone_from_config(config))


@kzoo_export("kzoo.models.pack_detection_targets")
def pack_detection_targets(boxes, classes):
    """`[N, M, 6]` `(x1, y1, x2, y2, class, mask)` from padded boxes and
    classes (padding rows have class `-1`, as `kzoo.data.detection_dataset`
    pads them): the targets of `AnchorFreeDetector.fit`."""
    classes = ops.cast(classes, "float32")
    mask = ops.cast(classes >= 0, "float32")
    return ops.concatenate([ops.cast(boxes, "float32"),
                            ops.maximum(classes, 0.0)[..., None],
                            mask[..., None]], -1)
