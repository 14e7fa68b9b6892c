"""YOLO head: the S x S x (5B + C) grid output, and how to read it.

The head outputs raw values (logits); `decode_yolo_outputs` turns them
into objectness, boxes and class probabilities. Both `kzoo.losses.YOLOLoss`
and `kzoo.layers.YOLODecode` read the head through that one function, so
training and inference share one parameterisation:

- per predicted box, raw `(t_o, t_x, t_y, t_w, t_h)`;
- objectness `p = sigmoid(t_o)`;
- centre, as fractions of the image: `cx = (col + sigmoid(t_x)) / S_x`,
  `cy = (row + sigmoid(t_y)) / S_y` (the cell in column `col`, row `row`
  covers `[col, col + 1) / S_x` horizontally, `[row, row + 1) / S_y`
  vertically; `sigmoid(t_x)` is the offset inside the cell, YOLOv1's `x`,
  bounded as in YOLOv2's "direct location prediction");
- size, as fractions of the image:
  - `layout="cell"` (YOLOv1, no anchors): the network predicts the square
    roots, `sqrt(w) = sigmoid(t_w)`, `sqrt(h) = sigmoid(t_h)` (YOLOv1
    regresses `sqrt(w)`, `sqrt(h)` so that an error on a small box costs
    more than the same error on a large one; YOLOv1's outputs are linear,
    the sigmoid keeps boxes inside the image);
  - `layout="anchor"` (YOLOv2): `w = anchor_w * exp(t_w)`, `h = anchor_h *
    exp(t_h)`, with `t` clipped to `[-MAX_LOG_SCALE, MAX_LOG_SCALE]` before
    the `exp` so that sizes stay finite (a straight-through clip: the
    gradient is that of the unclipped `t`, so a clipped predictor is not
    stuck);
- classes: `layout="cell"`: one softmax over the `C` class scores of each
  cell, shared by its `B` boxes (YOLOv1: "we only predict one set of class
  probabilities per grid cell"); `layout="anchor"`: one softmax per box.

Output layouts of `YOLOHead` (channel order):

- `"cell"` (the course's): `[N, S, S, 5B + C]`, per cell `(p, x, y, w, h)`
  of box 0, of box 1, ... of box `B - 1`, then the `C` class scores;
- `"anchor"`: `[N, S, S, B, 5 + C]`, per box `(p, x, y, w, h)` then its
  `C` class scores.
"""

import math
import numbers

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int as _positive_int
from kzoo.layers.batch_normalization import BatchNormalization

LAYOUTS = ("cell", "anchor")
# |t_w|, |t_h| are clipped to this before exp(): exp(6) ~ 403 times the
# anchor, far beyond any real box, and finite in float16 too.
MAX_LOG_SCALE = 6.0

# Args of the decoder and the loss (`{layout_args}`, `kzoo._docs`).
LAYOUT_ARGS = """num_boxes: `B`. Defaults to `2`.
num_classes: `C`. Defaults to `20`.
anchors: `[B, 2]` anchor `(w, h)` fractions of the image, for
    `layout="anchor"`. Defaults to `None`.
layout: `"cell"` or `"anchor"`; `None` means `"anchor"` if
    `anchors` is given, else `"cell"`. Defaults to `None`."""


def check_yolo_config(num_boxes, num_classes, layout=None, anchors=None):
    """Validates the arguments every YOLO piece shares.

    Returns `(num_boxes, num_classes, layout, anchors)` with `layout`
    resolved (`None` means `"anchor"` when `anchors` are given, `"cell"`
    otherwise) and `anchors` a list of `[w, h]` lists (or `None`).
    """
    num_boxes = _positive_int(num_boxes, "num_boxes")
    num_classes = _positive_int(num_classes, "num_classes")
    if layout is None:
        layout = "cell" if anchors is None else "anchor"
    if layout not in LAYOUTS:
        raise ValueError(
            f"`layout` must be one of {LAYOUTS}. Received: layout={layout!r}")
    if layout == "cell" and anchors is not None:
        raise ValueError(
            "layout='cell' (YOLOv1) has no anchors: its boxes predict "
            "sqrt(w), sqrt(h); use layout='anchor' with anchors. "
            f"Received: anchors={anchors!r}")
    if layout == "anchor":
        if anchors is None:
            raise ValueError(
                "layout='anchor' needs `anchors` (e.g. from "
                "kzoo.data.kmeans_anchors). Received: anchors=None")
        array = np.asarray(anchors, dtype=np.float64)
        if (array.shape != (num_boxes, 2) or not np.all(np.isfinite(array))
                or not np.all(array > 0)):
            raise ValueError(
                "`anchors` must be `[num_boxes, 2]` = "
                f"({num_boxes}, 2) positive finite (w, h) fractions of the "
                f"image. Received: anchors={anchors!r}")
        anchors = array.tolist()
    return num_boxes, num_classes, layout, anchors


@kzoo_export("kzoo.layers.decode_yolo_outputs")
def decode_yolo_outputs(outputs, num_boxes, num_classes, anchors=None,
                        layout=None):
    """Reads a YOLO head's raw output: objectness, boxes, class probabilities.

    The parameterisation is described in the module docstring of
    `kzoo.layers.yolo_head`. Computed in float32 whatever the input dtype.

    Args:
        outputs: raw head output, `[N, S_y, S_x, 5B + C]` (`layout="cell"`)
            or `[N, S_y, S_x, B, 5 + C]` (`layout="anchor"`).
        num_boxes: `B`, boxes per cell.
        num_classes: `C`.
        anchors: `[B, 2]` anchor `(w, h)` as fractions of the image, for
            `layout="anchor"`. Defaults to `None`.
        layout: `"cell"` or `"anchor"`; `None` means `"anchor"` if
            `anchors` is given, else `"cell"`. Defaults to `None`.

    Returns:
        A dict of float32 tensors:

        - `"objectness"`: `[N, S_y, S_x, B]`, `sigmoid(t_o)`;
        - `"offsets"`: `[N, S_y, S_x, B, 2]`, `sigmoid(t_x), sigmoid(t_y)`,
          the centre inside its cell (YOLOv1's `x, y`);
        - `"sqrt_wh"`: `[N, S_y, S_x, B, 2]`, `sqrt(w), sqrt(h)`;
        - `"boxes"`: `[N, S_y, S_x, B, 4]`, `(cx, cy, w, h)` as fractions
          of the image (`"rel_center_xywh"`);
        - `"class_probs"`: `[N, S_y, S_x, 1, C]` (`"cell"`: one
          distribution per cell) or `[N, S_y, S_x, B, C]` (`"anchor"`);
        - `"objectness_logits"` (`t_o`) and `"class_logits"` (the raw
          class scores, shaped as `"class_probs"`), for losses on logits.

    Example:

    >>> out = kzoo.layers.decode_yolo_outputs(np.zeros((1, 7, 7, 30)), 2, 20)
    >>> out["boxes"][0, 0, 0, 0]  # centre of cell (0, 0), sqrt(w) = 0.5
    [0.0714, 0.0714, 0.25, 0.25]
    """
    num_boxes, num_classes, layout, anchors = check_yolo_config(
        num_boxes, num_classes, layout, anchors)
    x = ops.cast(outputs, "float32")
    if layout == "cell":
        expected = 5 * num_boxes + num_classes
        if len(x.shape) != 4 or x.shape[-1] != expected:
            raise ValueError(
                "layout='cell' outputs must have shape `[N, S, S, 5B + C]` = "
                f"`[N, S, S, {expected}]`. Received: outputs.shape="
                f"{tuple(x.shape)}")
        shape = ops.shape(x)
        box_part = ops.reshape(x[..., : 5 * num_boxes],
                               (shape[0], shape[1], shape[2], num_boxes, 5))
        class_logits = ops.expand_dims(x[..., 5 * num_boxes:], -2)
    else:
        if (len(x.shape) != 5 or x.shape[-2] != num_boxes
                or x.shape[-1] != 5 + num_classes):
            raise ValueError(
                "layout='anchor' outputs must have shape `[N, S, S, B, 5 + C]`"
                f" = `[N, S, S, {num_boxes}, {5 + num_classes}]`. Received: "
                f"outputs.shape={tuple(x.shape)}")
        box_part = x[..., :5]
        class_logits = x[..., 5:]
    offsets = ops.sigmoid(box_part[..., 1:3])
    shape = ops.shape(x)
    grid_y, grid_x = shape[1], shape[2]
    cols = ops.cast(ops.arange(grid_x), "float32")
    rows = ops.cast(ops.arange(grid_y), "float32")
    col = ops.reshape(cols, (1, 1, -1, 1))
    row = ops.reshape(rows, (1, -1, 1, 1))
    t_wh = box_part[..., 3:5]
    if layout == "cell":
        sqrt_wh = ops.sigmoid(t_wh)
        wh = ops.square(sqrt_wh)
    else:
        # Straight-through clip: the value is clipped (finite exp), the
        # gradient passes as if it were not, so a predictor pushed beyond
        # the clip (e.g. by an early large step) can still come back.
        t_wh = t_wh + ops.stop_gradient(
            ops.clip(t_wh, -MAX_LOG_SCALE, MAX_LOG_SCALE) - t_wh)
        anchor = ops.convert_to_tensor(np.asarray(anchors, np.float32))
        wh = anchor * ops.exp(t_wh)
        sqrt_wh = ops.sqrt(anchor) * ops.exp(0.5 * t_wh)
    return {
        "objectness": ops.sigmoid(box_part[..., 0]),
        "objectness_logits": box_part[..., 0],
        "class_logits": class_logits,
        "offsets": offsets,
        "sqrt_wh": sqrt_wh,
        "boxes": ops.stack([
            (col + offsets[..., 0]) / ops.cast(grid_x, "float32"),
            (row + offsets[..., 1]) / ops.cast(grid_y, "float32"),
            wh[..., 0], wh[..., 1]], axis=-1),
        # One class: probability 1 (keras warns on a softmax over 1 value).
        "class_probs": (ops.softmax(class_logits, axis=-1) if num_classes > 1
                        else ops.ones_like(class_logits)),
    }


@kzoo_export("kzoo.layers.YOLOHead")
class YOLOHead(keras.layers.Layer):
    """YOLO detection head: a 1 x 1 convolution to the S x S grid output.

    On features `[N, S, S, F]` (a backbone's last feature map: one cell per
    feature position), an optional `3 x 3 Conv -> BatchNormalization ->
    LeakyReLU(0.1)` block (`hidden_channels > 0`) and a `1 x 1` Conv give,
    per cell, `B` boxes `(p, x, y, w, h)` and class scores:

    - `layout="cell"` (the course's / YOLOv1's): `[N, S, S, 5B + C]`,
      channels `(p, x, y, w, h)` of box 0, ..., of box `B - 1`, then the `C`
      class scores of the cell;
    - `layout="anchor"` (YOLOv2's): `[N, S, S, B, 5 + C]`, per box
      `(p, x, y, w, h)` and its own `C` class scores.

    Values are raw (logits): `kzoo.layers.decode_yolo_outputs` maps them to
    probabilities and boxes (see the `kzoo.layers.yolo_head` module
    docstring), `kzoo.losses.YOLOLoss` trains them and
    `kzoo.layers.YOLODecode` decodes them. The output kernel starts from
    `N(0, 0.01)` and the objectness biases at `logit(objectness_prior)`
    (RetinaNet's initialisation of its heads), so an untrained head
    predicts, in every cell, its anchors (or a centred box a quarter of the
    image wide) with few objects, instead of random boxes and `p = 0.5`.
    The output is float32 whatever the dtype policy.

    Args:
        num_boxes: `B`, boxes per cell. Defaults to `2` (YOLOv1).
        num_classes: `C`. Defaults to `20` (Pascal VOC).
        layout: `"cell"` or `"anchor"`. Defaults to `"cell"`.
        hidden_channels: width of the `3 x 3` conv block before the output
            conv; `0` for none. Defaults to `0`.
        objectness_prior: initial objectness probability in `(0, 1)`, or
            `None` for zero biases (`p = 0.5`). Defaults to `0.01`.
        kernel_regularizer: regularizer of the conv kernels. Defaults to
            `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> head = kzoo.layers.YOLOHead(num_boxes=2, num_classes=20)
    >>> head(np.zeros((1, 7, 7, 64), "float32")).shape  # YOLOv1's 7x7x30
    (1, 7, 7, 30)
    >>> kzoo.layers.YOLOHead(5, 3, layout="anchor")(
    ...     np.zeros((1, 10, 10, 64), "float32")).shape
    (1, 10, 10, 5, 8)

    Reference:
        - [Redmon et al., 2016, "You Only Look Once: Unified, Real-Time
          Object Detection"](https://arxiv.org/abs/1506.02640).
        - [Redmon & Farhadi, 2017, "YOLO9000: Better, Faster, Stronger"](
          https://arxiv.org/abs/1612.08242).
    """

    def __init__(self, num_boxes=2, num_classes=20, layout="cell",
                 hidden_channels=0, objectness_prior=0.01,
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if layout not in LAYOUTS:
            raise ValueError(f"`layout` must be one of {LAYOUTS}. "
                             f"Received: layout={layout!r}")
        self.num_boxes = _positive_int(num_boxes, "num_boxes")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.layout = layout
        if (isinstance(hidden_channels, bool)
                or not isinstance(hidden_channels, numbers.Integral)
                or hidden_channels < 0):
            raise ValueError(
                "`hidden_channels` must be a non-negative integer. "
                f"Received: hidden_channels={hidden_channels!r}")
        self.hidden_channels = int(hidden_channels)
        if objectness_prior is not None:
            ok = (isinstance(objectness_prior, numbers.Real)
                  and not isinstance(objectness_prior, bool)
                  and 0.0 < objectness_prior < 1.0)
            if not ok:
                raise ValueError(
                    "`objectness_prior` must be a probability in (0, 1) or "
                    f"None. Received: objectness_prior={objectness_prior!r}")
            objectness_prior = float(objectness_prior)
        self.objectness_prior = objectness_prior
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        if layout == "cell":
            self.output_channels = 5 * self.num_boxes + self.num_classes
        else:
            self.output_channels = self.num_boxes * (5 + self.num_classes)
        self._hidden = []
        if self.hidden_channels:
            self._hidden = [
                keras.layers.Conv2D(
                    self.hidden_channels, 3, padding="same", use_bias=False,
                    kernel_regularizer=self.kernel_regularizer,
                    name="hidden_conv", dtype=self.dtype_policy),
                BatchNormalization(
                    name="hidden_bn", dtype=self.dtype_policy),
                keras.layers.LeakyReLU(
                    0.1, name="hidden_act", dtype=self.dtype_policy),
            ]
        # Small initial outputs (RetinaNet's N(0, 0.01) head init): an
        # untrained head predicts its anchor (or the cell-centred box) and
        # the prior objectness everywhere, instead of random boxes up to
        # e^3 times the anchor that the IoU losses cannot recover from.
        self._output_conv = keras.layers.Conv2D(
            self.output_channels, 1,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            kernel_regularizer=self.kernel_regularizer,
            name="output_conv", dtype=self.dtype_policy)

    def _objectness_channels(self):
        if self.layout == "cell":
            return [5 * j for j in range(self.num_boxes)]
        return [j * (5 + self.num_classes) for j in range(self.num_boxes)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(
                "YOLOHead takes feature maps `[N, S, S, F]`. "
                f"Received: input_shape={shape}")
        for layer in self._hidden:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._output_conv.build(shape)
        if self.objectness_prior is not None:
            bias = np.zeros((self.output_channels,), np.float32)
            p = self.objectness_prior
            bias[self._objectness_channels()] = math.log(p / (1.0 - p))
            self._output_conv.bias.assign(bias)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._hidden:
            if isinstance(layer, keras.layers.BatchNormalization):
                x = layer(x, training=training)
            else:
                x = layer(x)
        x = ops.cast(self._output_conv(x), "float32")
        if self.layout == "anchor":
            shape = ops.shape(x)
            x = ops.reshape(x, (shape[0], shape[1], shape[2], self.num_boxes,
                                5 + self.num_classes))
        return x

    def compute_output_spec(self, inputs, training=None):
        shape = tuple(inputs.shape[:3])
        if self.layout == "cell":
            shape = shape + (self.output_channels,)
        else:
            shape = shape + (self.num_boxes, 5 + self.num_classes)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_boxes": self.num_boxes,
            "num_classes": self.num_classes,
            "layout": self.layout,
            "hidden_channels": self.hidden_channels,
            "objectness_prior": self.objectness_prior,
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer),
        })
        return config
