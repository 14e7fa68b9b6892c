"""The decoupled head of an anchor-free (YOLOv8-style) detector."""

import math

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int


@kzoo_export("kzoo.layers.AnchorFreeHead")
class AnchorFreeHead(keras.layers.Layer):
    """A decoupled head over one or more feature maps, no anchors.

    On each map, two branches of two 3 x 3 convolutions (batch norm, SiLU)
    and a 1 x 1 output: the box branch predicts `4 * reg_max` logits (a
    distribution over `reg_max` bins for each side's distance, in strides:
    `kzoo.losses.dfl_distances`), the class branch `num_classes` logits,
    its bias set so that every score starts at `prior` (focal loss's
    initialisation). The maps' outputs are flattened row by row and
    concatenated in order, the order of `kzoo.losses.anchor_points`.

    Args:
        num_classes: classes.
        reg_max: bins per side. Defaults to `16` (YOLOv8's).
        box_channels: width of the box branch. Defaults to `64`.
        class_channels: width of the class branch. Defaults to `64`.
        prior: initial class probability. Defaults to `0.01`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: a list of `[B, H_i, W_i, F_i]` maps (or one map).

    Returns:
        `[B, sum(H_i * W_i), 4 * reg_max + num_classes]`: the box logits,
        then the class logits.

    Reference:
        - [Feng et al., 2021, "TOOD"](https://arxiv.org/abs/2108.07755),
          [Li et al., 2020, "Generalized Focal Loss"](
          https://arxiv.org/abs/2006.04388); Ultralytics YOLOv8's head.
    """

    def __init__(self, num_classes, reg_max=16, box_channels=64,
                 class_channels=64, prior=0.01, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.reg_max = check_positive_int(reg_max, "reg_max")
        self.box_channels = check_positive_int(box_channels, "box_channels")
        self.class_channels = check_positive_int(class_channels,
                                                 "class_channels")
        if not 0.0 < float(prior) < 1.0:
            raise ValueError("`prior` must be in (0, 1). Received: "
                             f"prior={prior!r}")
        self.prior = float(prior)
        self.branches = []

    def _branch(self, width, outputs, bias, name):
        def conv(i):
            return [keras.layers.Conv2D(width, 3, padding="same",
                                        use_bias=False, name=f"{name}_conv{i}"),
                    keras.layers.BatchNormalization(name=f"{name}_bn{i}"),
                    keras.layers.Activation("silu")]
        return [*conv(0), *conv(1), keras.layers.Conv2D(
            outputs, 1, bias_initializer=keras.initializers.Constant(bias),
            dtype="float32", name=f"{name}_out")]

    def build(self, input_shape):
        shapes = (input_shape if isinstance(input_shape, (list, tuple))
                  and isinstance(input_shape[0], (list, tuple))
                  else [input_shape])
        class_bias = -math.log((1.0 - self.prior) / self.prior)
        for level, shape in enumerate(shapes):
            box = self._branch(self.box_channels, 4 * self.reg_max, 1.0,
                               f"p{level}_box")
            cls = self._branch(self.class_channels, self.num_classes,
                               class_bias, f"p{level}_class")
            for layers in (box, cls):
                s = tuple(shape)
                for layer in layers:
                    layer.build(s)
                    s = layer.compute_output_shape(s)
            self.branches.append((box, cls))
        self.built = True

    def call(self, features, training=False):
        if not isinstance(features, (list, tuple)):
            features = [features]
        outputs = []
        for x, (box, cls) in zip(features, self.branches):
            b, c = x, x
            for layer in box:
                b = layer(b, training=training)
            for layer in cls:
                c = layer(c, training=training)
            y = ops.concatenate([ops.cast(b, "float32"),
                                 ops.cast(c, "float32")], -1)
            h, w, c = y.shape[1], y.shape[2], y.shape[3]
            if h is not None and w is not None:
                outputs.append(ops.reshape(y, (-1, h * w, c)))
            else:
                outputs.append(ops.reshape(y, (ops.shape(y)[0], -1, c)))
        return ops.concatenate(outputs, axis=1)

    def compute_output_shape(self, input_shape):
        shapes = (input_shape if isinstance(input_shape, (list, tuple))
                  and isinstance(input_shape[0], (list, tuple))
                  else [input_shape])
        points = 0
        for s in shapes:
            if s[1] is None or s[2] is None:
                points = None
                break
            points += s[1] * s[2]
        return (shapes[0][0], points, 4 * self.reg_max + self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, reg_max=self.reg_max,
                      box_channels=self.box_channels,
                      class_channels=self.class_channels, prior=self.prior)
        return config


@kzoo_export("kzoo.layers.AnchorFreeDecode")
class AnchorFreeDecode(keras.layers.Layer):
    """`AnchorFreeHead` outputs -> candidate boxes and class scores.

    Each point's box is its expected side distances
    (`kzoo.losses.dfl_distances`) times its stride around the point,
    clipped to the image; its scores are the sigmoid of the class logits.

    Args:
        feature_sizes: `(height, width)` of each map of the head.
        strides: each map's stride in pixels.
        reg_max: bins per side. Defaults to `16`.
        image_size: side of the square input (boxes are clipped to it).
        **kwargs: base `keras.layers.Layer` arguments.

    Returns:
        `{"boxes": [N, A, 4] xyxy pixels, "scores": [N, A, C]}`, what
        `kzoo.layers.NonMaxSuppression` takes.
    """

    def __init__(self, feature_sizes, strides, reg_max=16, image_size=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.feature_sizes = [tuple(int(v) for v in s)
                              for s in feature_sizes]
        self.strides = [int(s) for s in strides]
        self.reg_max = check_positive_int(reg_max, "reg_max")
        self.image_size = None if image_size is None else int(image_size)

    def call(self, outputs):
        from kzoo.losses.task_aligned import anchor_points
        from kzoo.losses.task_aligned import dfl_distances
        from kzoo.losses.task_aligned import distances_to_boxes

        points, strides = anchor_points(self.feature_sizes, self.strides)
        outputs = ops.cast(outputs, "float32")
        boxes = distances_to_boxes(
            dfl_distances(outputs[..., :4 * self.reg_max], self.reg_max),
            points, strides)
        if self.image_size is not None:
            boxes = ops.clip(boxes, 0.0, float(self.image_size))
        return {"boxes": boxes,
                "scores": ops.sigmoid(outputs[..., 4 * self.reg_max:])}

    def compute_output_spec(self, outputs):
        shape = tuple(outputs.shape)
        return {"boxes": keras.KerasTensor(shape[:2] + (4,), "float32"),
                "scores": keras.KerasTensor(
                    shape[:2] + (shape[2] - 4 * self.reg_max,), "float32")}

    def get_config(self):
        config = super().get_config()
        config.update(feature_sizes=[list(s) for s in self.feature_sizes],
                      strides=self.strides, reg_max=self.reg_max,
                      image_size=self.image_size)
        return config
