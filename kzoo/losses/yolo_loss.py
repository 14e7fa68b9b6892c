"""The YOLO loss: coordinates, objectness, no-object and class terms."""

import numbers

import keras
from keras import ops

from kzoo import boxes as boxes_lib
from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.layers.yolo_head import LAYOUT_ARGS
from kzoo.layers.yolo_head import check_yolo_config
from kzoo.layers.yolo_head import decode_yolo_outputs
from kzoo.losses._docs import shared_loss_args

BOX_LOSSES = ("mse", "iou", "giou", "diou", "ciou")
OBJECTNESS_TARGETS = ("iou", "one")
OBJECTNESS_LOSSES = ("mse", "bce")
CLASS_LOSSES = ("mse", "crossentropy")
_OVERLAPS = {
    "iou": boxes_lib.compute_iou,
    "giou": boxes_lib.compute_giou,
    "diou": boxes_lib.compute_diou,
    "ciou": boxes_lib.compute_ciou,
}
# The ignore rule compares each prediction with at most this many objects
# of its image (any extra objects are not looked at).
_MAX_IGNORE_TRUTHS = 100


def _check_weight(value, name):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not value >= 0 or value == float("inf"):
        raise ValueError(
            f"`{name}` must be a finite non-negative number. "
            f"Received: {name}={value!r}")
    return float(value)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}. "
                         f"Received: {name}={value!r}")


def _check_options(box_loss, objectness_target, ignore_threshold,
                   objectness_loss="mse", class_loss="mse"):
    _check_choice("box_loss", box_loss, BOX_LOSSES)
    _check_choice("objectness_loss", objectness_loss, OBJECTNESS_LOSSES)
    _check_choice("class_loss", class_loss, CLASS_LOSSES)
    _check_choice("objectness_target", objectness_target, OBJECTNESS_TARGETS)
    if ignore_threshold is not None:
        ok = (isinstance(ignore_threshold, numbers.Real)
              and not isinstance(ignore_threshold, bool)
              and 0.0 <= ignore_threshold <= 1.0)
        if not ok:
            raise ValueError(
                "`ignore_threshold` must be a number in [0, 1] or None. "
                f"Received: ignore_threshold={ignore_threshold!r}")
        ignore_threshold = float(ignore_threshold)
    return ignore_threshold


def _best_iou_with_any_object(pred_boxes, true_boxes, true_obj, layout):
    """`[N, S, S, B]` highest IoU of each prediction with an object of its
    image (0 with no object)."""
    shape = ops.shape(pred_boxes)
    if layout == "cell":  # every slot of a cell holds the same object
        true_boxes, true_obj = true_boxes[..., :1, :], true_obj[..., :1]
    truths = ops.reshape(true_boxes, (shape[0], -1, 4))
    present = ops.reshape(true_obj, (shape[0], -1))
    k = min(int(truths.shape[1]), _MAX_IGNORE_TRUTHS)
    if k < truths.shape[1]:
        _, index = ops.top_k(present, k, sorted=False)
        truths = ops.take_along_axis(truths, index[..., None], axis=1)
        present = ops.take_along_axis(present, index, axis=1)
    preds = ops.reshape(pred_boxes, (shape[0], -1, 4))
    iou = boxes_lib.compute_iou(preds, truths, box_format="rel_center_xywh")
    best = ops.max(iou * present[:, None, :], axis=-1)
    return ops.reshape(best, shape[:-1])


@kzoo_export("kzoo.losses.yolo_loss_terms")
def yolo_loss_terms(y_true, y_pred, num_boxes=2, num_classes=20, anchors=None,
                    layout=None, lambda_coord=5.0, lambda_noobj=0.5,
                    lambda_obj=1.0, lambda_class=1.0, box_loss="mse",
                    objectness_target="iou", ignore_threshold=None,
                    objectness_loss="mse", class_loss="mse"):
    """The weighted terms of the YOLO loss, per image.

    See `kzoo.losses.yolo_loss` (their sum) for the definitions.

    Returns:
        A dict of float32 `[N]` tensors: `"coord"`, `"objectness"`,
        `"no_object"`, `"class"` (each already multiplied by its weight).
    """
    num_boxes, num_classes, layout, anchors = check_yolo_config(
        num_boxes, num_classes, layout, anchors)
    ignore_threshold = _check_options(box_loss, objectness_target,
                                      ignore_threshold, objectness_loss,
                                      class_loss)
    pred = decode_yolo_outputs(kops.as_float32(y_pred), num_boxes,
                               num_classes, anchors, layout)
    yt = kops.as_float32(y_true)
    grid = tuple(pred["objectness"].shape[1:])
    if (len(yt.shape) != 5 or tuple(yt.shape[-2:]) != (num_boxes, 6)
            or any(a is not None and b is not None and a != b
                   for a, b in zip(yt.shape[1:3], grid[:2]))):
        raise ValueError(
            "`y_true` must have shape `[N, S, S, B, 6]` matching `y_pred` "
            f"(grid {grid[:2]}, B={num_boxes}; see "
            "kzoo.data.YOLOTargetEncoder). Received: y_true.shape="
            f"{tuple(yt.shape)}")
    true_box = yt[..., :4]
    true_obj = yt[..., 4]
    true_class = ops.cast(yt[..., 5], "int32")
    p_obj = pred["objectness"]
    pred_box = pred["boxes"]
    iou = ops.stop_gradient(boxes_lib.compute_iou(
        pred_box, true_box, box_format="rel_center_xywh", aligned=True))

    # Which predictors answer for an object.
    if layout == "cell":
        cell_obj = ops.max(true_obj, axis=-1)  # [N, S, S]
        # YOLOv1 (and darknet's detection layer): the predictor with the
        # highest IoU; while none overlaps, the one closest in (cx, cy, w, h).
        overlaps = ops.any(iou > 0, axis=-1, keepdims=True)
        distance = ops.sum(ops.square(ops.stop_gradient(pred_box) - true_box),
                           axis=-1)
        choice = ops.argmax(ops.where(overlaps, iou, -distance), axis=-1)
        responsible = ops.one_hot(choice, num_boxes) * cell_obj[..., None]
    else:
        responsible = true_obj
    responsible = ops.stop_gradient(responsible)
    no_object = 1.0 - responsible
    if ignore_threshold is not None:
        best = ops.stop_gradient(_best_iou_with_any_object(
            pred_box, true_box, true_obj, layout))
        no_object = no_object * ops.cast(best <= ignore_threshold, "float32")

    # Coordinates.
    if box_loss == "mse":
        grid_y = ops.cast(ops.shape(yt)[1], "float32")
        grid_x = ops.cast(ops.shape(yt)[2], "float32")
        col = ops.reshape(ops.cast(ops.arange(ops.shape(yt)[2]), "float32"),
                          (1, 1, -1, 1))
        row = ops.reshape(ops.cast(ops.arange(ops.shape(yt)[1]), "float32"),
                          (1, -1, 1, 1))
        target_offsets = ops.stack(
            [true_box[..., 0] * grid_x - col, true_box[..., 1] * grid_y - row],
            axis=-1)
        target_sqrt = ops.sqrt(ops.maximum(true_box[..., 2:], 0.0))
        coord = ops.sum(ops.square(pred["offsets"] - target_offsets)
                        + ops.square(pred["sqrt_wh"] - target_sqrt), axis=-1)
    else:
        # The overlap of the responsible predictors only: elsewhere both
        # boxes are replaced by one unit box. Compared with a padding target
        # (an empty box), a collapsed prediction makes the IoU-family
        # gradients 0 / 0 (NaN on JAX: x / y**2 with y**2 underflowing),
        # and `where` below would not stop a NaN gradient.
        resp = ops.expand_dims(responsible > 0, -1)
        unit = ops.convert_to_tensor([0.5, 0.5, 1.0, 1.0], "float32")
        coord = 1.0 - _OVERLAPS[box_loss](
            ops.where(resp, pred_box, unit), ops.where(resp, true_box, unit),
            box_format="rel_center_xywh", aligned=True)
    coord = ops.where(responsible > 0, coord, 0.0)

    # Confidence.
    if objectness_target == "iou":
        target_obj = iou
    else:
        target_obj = ops.ones_like(iou)
    if objectness_loss == "mse":
        obj = ops.square(p_obj - target_obj)
        noobj = ops.square(p_obj)
    else:  # binary cross-entropy on the logit t: softplus(t) - target * t
        t_o = pred["objectness_logits"]
        noobj = ops.softplus(t_o)  # -log(1 - p)
        obj = noobj - target_obj * t_o

    # Classes: sum-squared error of the probabilities (YOLOv1), or the
    # cross-entropy of the softmax.
    one_hot = ops.one_hot(ops.maximum(true_class, 0), num_classes)
    if class_loss == "mse":
        err = ops.sum(ops.square(pred["class_probs"] - one_hot), axis=-1)
    else:
        logits = pred["class_logits"]
        err = ops.logsumexp(logits, axis=-1) - ops.sum(
            logits * one_hot, axis=-1)
    if layout == "cell":
        class_err = err[..., 0] * cell_obj  # one distribution per cell
    else:
        class_err = err * responsible
    class_axes = tuple(range(1, len(class_err.shape)))

    def total(x):
        return ops.sum(x, axis=(1, 2, 3))

    return {
        "coord": lambda_coord * total(responsible * coord),
        "objectness": lambda_obj * total(responsible * obj),
        "no_object": lambda_noobj * total(no_object * noobj),
        "class": lambda_class * ops.sum(class_err, axis=class_axes),
    }


@kzoo_export("kzoo.losses.yolo_loss")
def yolo_loss(y_true, y_pred, num_boxes=2, num_classes=20, anchors=None,
              layout=None, lambda_coord=5.0, lambda_noobj=0.5, lambda_obj=1.0,
              lambda_class=1.0, box_loss="mse", objectness_target="iou",
              ignore_threshold=None, objectness_loss="mse", class_loss="mse"):
    """The YOLO loss of each image (YOLOv1's sum-squared error by default).

    `y_pred` is the raw output of `kzoo.layers.YOLOHead` (read with
    `kzoo.layers.decode_yolo_outputs`); `y_true` the targets of
    `kzoo.data.YOLOTargetEncoder`.

    Formula (sums over the cells `i` and box slots `j` of one image):

    ```python
    loss = lambda_coord * sum_ij resp_ij * [(x_ij - x̂_i)**2 + (y_ij - ŷ_i)**2
                   + (sqrt(w_ij) - sqrt(ŵ_i))**2 + (sqrt(h_ij) - sqrt(ĥ_i))**2]
         + lambda_obj * sum_ij resp_ij * (C_ij - Ĉ_ij)**2
         + lambda_noobj * sum_ij noobj_ij * C_ij**2
         + lambda_class * sum_i obj_i * sum_c (p_i(c) - p̂_i(c))**2
    ```

    - `x, y`: the centre's offset inside its cell (in `[0, 1]`), `w, h`
      fractions of the image (as read by `kzoo.layers.decode_yolo_outputs`);
      hats are targets, `C` the predicted objectness.
    - `resp_ij`: `layout="cell"` (YOLOv1), the predictor `j` of a cell with
      an object that has the highest IoU with it (darknet's rule while no
      predictor overlaps it: the closest in `(cx, cy, w, h)`);
      `layout="anchor"`, the slot the encoder assigned (best anchor).
      Chosen without gradient.
    - `noobj_ij = 1 - resp_ij` (every other predictor, including the
      non-responsible ones of a cell with an object). With
      `ignore_threshold` (YOLOv2/v3's `thresh` / `ignore_thresh`, off by
      default as in YOLOv1), predictors whose IoU with some object of the
      image is `> ignore_threshold` are not penalised either.
    - `Ĉ_ij`: `IoU(predicted box, true box)` under a stop-gradient
      (`objectness_target="iou"`, YOLOv1: confidence is `Pr(object) *
      IoU`) or 1 (`"one"`).
    - class term: `layout="cell"`: per cell with an object (one class
      distribution per cell, YOLOv1's `1_i^obj`); `layout="anchor"`: per
      responsible box. `p` are softmax probabilities.
    - `box_loss="iou" | "giou" | "diou" | "ciou"` replaces the bracket of
      the coordinate term by `1 - overlap(predicted box, true box)`
      (`kzoo.boxes.compute_giou`, ...), still weighted by `lambda_coord`.
    - `objectness_loss="bce"` (YOLOv3) replaces `(C - Ĉ)**2` by the binary
      cross-entropy `-Ĉ log C - (1 - Ĉ) log(1 - C)` and `C**2` by `-log(1 -
      C)` (computed from the logit); `class_loss="crossentropy"` replaces
      the class sum by `-log p(ĉ)`. The squared errors of YOLOv1 have
      vanishing gradients once a sigmoid / softmax saturates (a predictor
      pushed to `C = 0` early cannot come back); the cross-entropies do not.

    Computed in float32 whatever the input dtypes; images without objects
    have only the no-object term. Gradients are finite for all-padding
    targets and degenerate predictions.

    Args:
        y_true: `[N, S, S, B, 6]` targets `(cx, cy, w, h, objectness,
            class)`, boxes as fractions of the image.
        y_pred: raw head output, `[N, S, S, 5B + C]` (`"cell"`) or
            `[N, S, S, B, 5 + C]` (`"anchor"`).
        {layout_args}
        lambda_coord: weight of the coordinate term. Defaults to `5.0`
            (YOLOv1).
        lambda_noobj: weight of the no-object term. Defaults to `0.5`
            (YOLOv1).
        lambda_obj: weight of the objectness term. Defaults to `1.0`.
        lambda_class: weight of the class term. Defaults to `1.0`.
        box_loss: `"mse"` (YOLOv1) or an IoU-family loss. Defaults to
            `"mse"`.
        objectness_target: `"iou"` or `"one"`. Defaults to `"iou"`.
        ignore_threshold: IoU above which a non-responsible predictor has
            no no-object penalty, or `None`. Defaults to `None`.
        objectness_loss: `"mse"` (YOLOv1) or `"bce"`. Defaults to `"mse"`.
        class_loss: `"mse"` (YOLOv1) or `"crossentropy"`. Defaults to
            `"mse"`.

    Returns:
        float32 `[N]`, the loss of each image (a sum over its grid).

    Example:

    >>> encoder = kzoo.data.YOLOTargetEncoder(7, 2, 20, 448)
    >>> y_true = encoder(np.array([[[0., 0., 64., 64.]]]), np.array([[3]]))
    >>> kzoo.losses.yolo_loss(y_true, np.zeros((1, 7, 7, 30)), 2, 20).shape
    (1,)

    Reference:
        - [Redmon et al., 2016, "You Only Look Once"](
          https://arxiv.org/abs/1506.02640), section 2.2, equation (3).
        - [Redmon & Farhadi, 2017, "YOLO9000"](
          https://arxiv.org/abs/1612.08242).
    """
    terms = yolo_loss_terms(
        y_true, y_pred, num_boxes, num_classes, anchors, layout, lambda_coord,
        lambda_noobj, lambda_obj, lambda_class, box_loss, objectness_target,
        ignore_threshold, objectness_loss, class_loss)
    return (terms["coord"] + terms["objectness"] + terms["no_object"]
            + terms["class"])


@kzoo_export("kzoo.losses.YOLOLoss")
@fill_doc(layout_args=LAYOUT_ARGS)
@shared_loss_args
class YOLOLoss(keras.losses.Loss):
    """The YOLO loss as a Keras loss (YOLOv1's sum-squared form by default).

    `y_true`: `[N, S, S, B, 6]` targets from `kzoo.data.YOLOTargetEncoder`;
    `y_pred`: the raw output of `kzoo.layers.YOLOHead`. Each image's loss is
    the sum over its grid of `kzoo.losses.yolo_loss` (coordinates of the
    responsible predictors, their objectness against the IoU, the no-object
    confidence of all the others, the class probabilities of the cells /
    boxes with an object); the default reduction averages these sums over
    the batch (YOLOv1 sums over the batch instead: multiply the learning
    rate by the batch size to compare). `sample_weight` `[N]` weighs images.

    Args:
        {layout_args}
        lambda_coord: weight of the coordinate term. Defaults to `5.0`.
        lambda_noobj: weight of the no-object term. Defaults to `0.5`.
        lambda_obj: weight of the objectness term. Defaults to `1.0`.
        lambda_class: weight of the class term. Defaults to `1.0`.
        box_loss: `"mse"`, `"iou"`, `"giou"`, `"diou"` or `"ciou"`.
            Defaults to `"mse"`.
        objectness_target: `"iou"` or `"one"`. Defaults to `"iou"`.
        ignore_threshold: IoU above which a non-responsible predictor has
            no no-object penalty, or `None`. Defaults to `None`.
        objectness_loss: `"mse"` (YOLOv1) or `"bce"`. Defaults to `"mse"`.
        class_loss: `"mse"` (YOLOv1) or `"crossentropy"`. Defaults to
            `"mse"`.
        {loss_args}

    Example:

    >>> loss = kzoo.losses.YOLOLoss(num_boxes=2, num_classes=20)
    >>> model.compile(optimizer="adam", loss=loss)  # y = encoder targets

    Reference:
        - [Redmon et al., 2016, "You Only Look Once"](
          https://arxiv.org/abs/1506.02640).
    """

    def __init__(self, num_boxes=2, num_classes=20, anchors=None, layout=None,
                 lambda_coord=5.0, lambda_noobj=0.5, lambda_obj=1.0,
                 lambda_class=1.0, box_loss="mse", objectness_target="iou",
                 ignore_threshold=None, objectness_loss="mse",
                 class_loss="mse", reduction="sum_over_batch_size",
                 name="yolo_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.num_boxes, self.num_classes, self.layout, self.anchors = (
            check_yolo_config(num_boxes, num_classes, layout, anchors))
        self.lambda_coord = _check_weight(lambda_coord, "lambda_coord")
        self.lambda_noobj = _check_weight(lambda_noobj, "lambda_noobj")
        self.lambda_obj = _check_weight(lambda_obj, "lambda_obj")
        self.lambda_class = _check_weight(lambda_class, "lambda_class")
        self.ignore_threshold = _check_options(
            box_loss, objectness_target, ignore_threshold, objectness_loss,
            class_loss)
        self.box_loss = box_loss
        self.objectness_target = objectness_target
        self.objectness_loss = objectness_loss
        self.class_loss = class_loss

    def _kwargs(self):
        return dict(
            num_boxes=self.num_boxes, num_classes=self.num_classes,
            anchors=self.anchors, layout=self.layout,
            lambda_coord=self.lambda_coord, lambda_noobj=self.lambda_noobj,
            lambda_obj=self.lambda_obj, lambda_class=self.lambda_class,
            box_loss=self.box_loss, objectness_target=self.objectness_target,
            ignore_threshold=self.ignore_threshold,
            objectness_loss=self.objectness_loss, class_loss=self.class_loss)

    def call(self, y_true, y_pred):
        return yolo_loss(y_true, y_pred, **self._kwargs())

    def terms(self, y_true, y_pred):
        """The weighted terms per image (`kzoo.losses.yolo_loss_terms`)."""
        return yolo_loss_terms(y_true, y_pred, **self._kwargs())

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        config.update(self._kwargs())
        return config
