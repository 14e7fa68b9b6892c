"""Facial-landmark metrics: NME and PCK, normalised by inter-ocular distance.

Conventions (the 300-W benchmark's, Sagonas et al., 2013/2016):

- Points are `(x, y)` in any common unit (pixels of the original image for
  reporting; the metrics are invariant to a uniform scale, so canvas pixels
  or normalised coordinates give the same values).
- The normaliser of an image is its **inter-ocular distance**: the distance
  between the *true* outer eye corners, points 36 and 45 of the 68-point
  iBUG markup (`left_eye=36`, `right_eye=45`), as in 300-W's NME ("inter-
  ocular" in 300-W's protocol; some papers call it inter-pupil when using
  eye centres, which is not this). It never depends on the prediction.
- **NME** of an image: mean over its *visible* points of `||p - g|| / d`;
  the reported NME is the mean of that over the images. **PCK@alpha**:
  fraction of all visible points of all images with `||p - g|| < alpha * d`
  (strict, as MMPose's `keypoint_pck_accuracy`), pooled over points.
  **Failure rate@alpha**: fraction of images whose NME is `> alpha` (the
  FR of 300-W / WFLW papers).
- An image whose normaliser is undefined (point 36 or 45 missing, or
  `d = 0`) or which has no visible point is **skipped and counted**
  (`num_skipped`), never a NaN or a division by zero.
"""

import numbers

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export

LEFT_EYE_OUTER = 36
RIGHT_EYE_OUTER = 45


def _to_numpy(x):
    # `convert_to_numpy`, not `x.numpy()`: on PyTorch a model output
    # requires gradients (the weights do) and `.numpy()` refuses it.
    if isinstance(x, (np.ndarray, list, tuple, numbers.Number)):
        return np.asarray(x)
    return ops.convert_to_numpy(x)


def _points(y_true, y_pred, mask):
    """float64 `[N, K, 2]` truth and prediction and a boolean `[N, K]` mask."""
    t = np.asarray(_to_numpy(y_true), np.float64)
    p = np.asarray(_to_numpy(y_pred), np.float64)
    if t.ndim == 2:
        t, p = t[None], p[None] if p.ndim == 2 else p
    if t.ndim != 3 or t.shape[-1] not in (2, 3):
        raise ValueError(
            "`y_true` must be `[N, K, 2]` points or `[N, K, 3]` (x, y, "
            f"visible). Received: y_true.shape={t.shape}")
    if p.ndim != 3 or p.shape[-1] < 2 or p.shape[:2] != t.shape[:2]:
        raise ValueError(
            f"`y_pred` must be `[N, K, 2]` matching `y_true` {t.shape[:2]}. "
            f"Received: y_pred.shape={p.shape}")
    visible = np.ones(t.shape[:2], bool)
    if t.shape[-1] == 3:
        visible &= t[..., 2] > 0
    if mask is not None:
        m = np.asarray(_to_numpy(mask))
        if m.shape != t.shape[:2]:
            raise ValueError(f"`mask` must be `[N, K]` = {t.shape[:2]}. "
                             f"Received: mask.shape={m.shape}")
        visible &= m > 0
    t, p = t[..., :2], p[..., :2]
    visible &= np.all(np.isfinite(t), axis=-1)
    if np.any(~np.isfinite(p[visible])):
        raise ValueError("`y_pred` must be finite at the visible points. "
                         f"Received: {int(np.sum(~np.isfinite(p[visible])))} "
                         "non-finite values")
    return t, p, visible


@kzoo_export("kzoo.eval.inter_ocular_distance")
def inter_ocular_distance(points, mask=None, left_eye=LEFT_EYE_OUTER,
                          right_eye=RIGHT_EYE_OUTER):
    """Distance between the outer eye corners of each face (300-W's normaliser).

    Args:
        points: `[N, K, 2]` (or `[K, 2]`) true points; a third column is
            read as visibility.
        mask: optional `[N, K]` visibility. Defaults to `None`.
        left_eye: index of the outer corner of the eye on the image left.
            Defaults to `36` (iBUG 68).
        right_eye: index of the other outer corner. Defaults to `45`.

    Returns:
        `float64 [N]`, `nan` where either corner is missing.

    Example:

    >>> pts = np.zeros((68, 2)); pts[45] = (30., 40.)
    >>> kzoo.eval.inter_ocular_distance(pts)
    array([50.])
    """
    t, _, visible = _points(points, points, mask)
    d = np.linalg.norm(t[:, right_eye] - t[:, left_eye], axis=-1)
    ok = visible[:, left_eye] & visible[:, right_eye]
    return np.where(ok, d, np.nan)


@kzoo_export("kzoo.eval.landmark_errors")
def landmark_errors(y_true, y_pred, mask=None, left_eye=LEFT_EYE_OUTER,
                    right_eye=RIGHT_EYE_OUTER, normalizer=None):
    """Per-point normalised errors `||p - g|| / d`, `nan` where not counted.

    Args:
        y_true: `[N, K, 2]` true points, or `[N, K, 3]` with visibility.
        y_pred: `[N, K, 2]` predicted points, same unit.
        mask: optional `[N, K]` visibility (combined with a third column).
            Defaults to `None`.
        left_eye: see `inter_ocular_distance`. Defaults to `36`.
        right_eye: see `inter_ocular_distance`. Defaults to `45`.
        normalizer: optional `[N]` normalisers replacing the inter-ocular
            distance (e.g. a box size). Defaults to `None`.

    Returns:
        `float64 [N, K]`: the error of each visible point of each image
        with a valid (finite, positive) normaliser; `nan` elsewhere.

    Example:

    >>> err = kzoo.eval.landmark_errors(true_points, predicted_points)
    """
    t, p, visible = _points(y_true, y_pred, mask)
    if normalizer is None:
        d = np.linalg.norm(t[:, right_eye] - t[:, left_eye], axis=-1)
        d = np.where(visible[:, left_eye] & visible[:, right_eye], d, np.nan)
    else:
        d = np.asarray(_to_numpy(normalizer), np.float64).reshape(-1)
        if d.shape != (t.shape[0],):
            raise ValueError(f"`normalizer` must be `[N]` = ({t.shape[0]},). "
                             f"Received: normalizer.shape={d.shape}")
    valid = np.isfinite(d) & (d > 0)
    dist = np.linalg.norm(p - t, axis=-1)
    counted = visible & valid[:, None]
    safe_d = np.where(valid, d, 1.0)
    return np.where(counted, dist / safe_d[:, None], np.nan)


@kzoo_export("kzoo.eval.landmark_metrics")
def landmark_metrics(y_true, y_pred, mask=None, pck_threshold=0.1,
                     failure_threshold=0.1, left_eye=LEFT_EYE_OUTER,
                     right_eye=RIGHT_EYE_OUTER, normalizer=None):
    """NME, PCK and failure rate of predicted landmarks (see module docstring).

    Formula:

    ```python
    e[n, k] = ||pred[n, k] - true[n, k]|| / d[n]     # d: inter-ocular
    nme = mean_n( mean_{k visible} e[n, k] )
    pck = #{(n, k) visible: e[n, k] < pck_threshold} / #{(n, k) visible}
    failure_rate = #{n: nme_n > failure_threshold} / #{n}
    ```

    Args:
        y_true: `[N, K, 2]` true points, or `[N, K, 3]` with visibility.
        y_pred: `[N, K, 2]` predicted points, same unit.
        mask: optional `[N, K]` visibility. Defaults to `None`.
        pck_threshold: PCK's `alpha` (fraction of `d`). Defaults to `0.1`.
        failure_threshold: failure-rate threshold on an image's NME.
            Defaults to `0.1`.
        left_eye: see `inter_ocular_distance`. Defaults to `36`.
        right_eye: see `inter_ocular_distance`. Defaults to `45`.
        normalizer: optional `[N]` normalisers replacing the inter-ocular
            distance. Defaults to `None`.

    Returns:
        A dict: `"nme"`, `"pck@<alpha>"`, `"failure_rate@<alpha>"` (floats,
        `nan` if nothing was counted), `"num_images"` (counted),
        `"num_skipped"` (images without a normaliser or visible point) and
        `"num_points"` (visible points counted).

    Example:

    >>> kzoo.eval.landmark_metrics(test_points, predicted_points)
    {'nme': 0.061, 'pck@0.1': 0.83, 'failure_rate@0.1': 0.12,
     'num_images': 770, 'num_skipped': 0, 'num_points': 52360}

    Reference:
        - [Sagonas et al., 2016, "300 Faces In-The-Wild Challenge: database
          and results"](https://doi.org/10.1016/j.imavis.2016.01.002).
    """
    for name, value in (("pck_threshold", pck_threshold),
                        ("failure_threshold", failure_threshold)):
        if not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and value > 0 and np.isfinite(value)):
            raise ValueError(f"`{name}` must be a positive number. "
                             f"Received: {name}={value!r}")
    errors = landmark_errors(y_true, y_pred, mask, left_eye, right_eye,
                             normalizer)
    counted = np.isfinite(errors)
    per_image = counted.sum(axis=1)
    images = per_image > 0
    num_points = int(counted.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        image_nme = np.where(images, np.nansum(errors, axis=1)
                             / np.maximum(per_image, 1), np.nan)
    nan = float("nan")
    return {
        "nme": float(np.mean(image_nme[images])) if images.any() else nan,
        f"pck@{pck_threshold:g}": (
            float(np.sum(errors[counted] < pck_threshold) / num_points)
            if num_points else nan),
        f"failure_rate@{failure_threshold:g}": (
            float(np.mean(image_nme[images] > failure_threshold))
            if images.any() else nan),
        "num_images": int(images.sum()),
        "num_skipped": int((~images).sum()),
        "num_points": num_points,
    }


@kzoo_export("kzoo.eval.nme")
def nme(y_true, y_pred, mask=None, left_eye=LEFT_EYE_OUTER,
        right_eye=RIGHT_EYE_OUTER):
    """Normalised mean error (inter-ocular), as `landmark_metrics`' `"nme"`.

    Args:
        y_true: `[N, K, 2]` true points, or `[N, K, 3]` with visibility.
        y_pred: `[N, K, 2]` predicted points.
        mask: optional `[N, K]` visibility. Defaults to `None`.
        left_eye: see `inter_ocular_distance`. Defaults to `36`.
        right_eye: see `inter_ocular_distance`. Defaults to `45`.

    Returns:
        A Python float (`nan` if no image can be scored).

    Example:

    >>> kzoo.eval.nme(true_points, predicted_points)
    0.061
    """
    return landmark_metrics(y_true, y_pred, mask, left_eye=left_eye,
                            right_eye=right_eye)["nme"]


@kzoo_export("kzoo.eval.pck")
def pck(y_true, y_pred, mask=None, threshold=0.1, left_eye=LEFT_EYE_OUTER,
        right_eye=RIGHT_EYE_OUTER):
    """PCK@threshold: fraction of visible points with error `< threshold * d`.

    `d` is the true inter-ocular distance (outer eye corners 36, 45);
    points are pooled over all images (see `landmark_metrics`).

    Args:
        y_true: `[N, K, 2]` true points, or `[N, K, 3]` with visibility.
        y_pred: `[N, K, 2]` predicted points.
        mask: optional `[N, K]` visibility. Defaults to `None`.
        threshold: `alpha`. Defaults to `0.1`.
        left_eye: see `inter_ocular_distance`. Defaults to `36`.
        right_eye: see `inter_ocular_distance`. Defaults to `45`.

    Returns:
        A Python float in `[0, 1]` (`nan` if no point can be scored).

    Example:

    >>> kzoo.eval.pck(true_points, predicted_points, threshold=0.1)
    0.83
    """
    return landmark_metrics(y_true, y_pred, mask, pck_threshold=threshold,
                            left_eye=left_eye,
                            right_eye=right_eye)[f"pck@{threshold:g}"]


# ---------------------------------------------------------------------------
# Keras metrics (streaming, for `model.compile(metrics=...)`).


def _batch_errors(y_true, y_pred, left_eye, right_eye):
    """Per-point normalised errors `[B, K]` and a float mask of counted points."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if y_true.shape[-1] == 3:
        visible = ops.cast(y_true[..., 2] > 0, "float32")
    else:
        visible = ops.ones_like(y_true[..., 0])
    t = y_true[..., :2]
    finite = ops.cast(ops.all(ops.isfinite(t), axis=-1), "float32")
    visible = visible * finite
    t = ops.where(visible[..., None] > 0, t, 0.0)
    p = ops.where(visible[..., None] > 0, y_pred[..., :2], 0.0)
    d = ops.sqrt(ops.sum(ops.square(t[:, right_eye] - t[:, left_eye]), -1))
    valid = visible[:, left_eye] * visible[:, right_eye] * ops.cast(d > 0,
                                                                   "float32")
    counted = visible * valid[:, None]
    dist = ops.sqrt(ops.sum(ops.square(p - t), axis=-1))
    errors = dist / ops.where(valid > 0, d, 1.0)[:, None]
    return errors * counted, counted


@kzoo_export("kzoo.eval.NormalizedMeanError")
class NormalizedMeanError(keras.metrics.Metric):
    """Streaming NME (inter-ocular), for `compile(metrics=...)`.

    Same definition as `kzoo.eval.nme`: per image, the mean over its visible
    points of the error divided by the true outer-eye-corner distance;
    averaged over the images seen (images without a normaliser or visible
    point are not counted). `y_true` is `[B, K, 3]` `(x, y, visible)` (e.g.
    the `"landmarks"` target of `kzoo.data.keypoint_dataset`) or `[B, K,
    2]`; `y_pred` is `[B, K, 2]` in the same unit (normalised canvas
    coordinates are fine: NME is scale invariant). `sample_weight` is not
    supported (ignored).

    Args:
        left_eye: index of the outer corner of the image-left eye.
            Defaults to `36`.
        right_eye: index of the other outer corner. Defaults to `45`.
        name: metric name. Defaults to `"nme"`.
        dtype: metric dtype. Defaults to `None`.

    Example:

    >>> model.compile(loss=kzoo.losses.LandmarkLoss(),
    ...               metrics={"landmarks": [kzoo.eval.NormalizedMeanError()]})
    """

    def __init__(self, left_eye=LEFT_EYE_OUTER, right_eye=RIGHT_EYE_OUTER,
                 name="nme", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.left_eye = int(left_eye)
        self.right_eye = int(right_eye)
        self.total = self.add_variable(shape=(), initializer="zeros",
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros",
                                       name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        errors, counted = _batch_errors(y_true, y_pred, self.left_eye,
                                        self.right_eye)
        n = ops.sum(counted, axis=-1)
        image_nme = ops.sum(errors, axis=-1) / ops.maximum(n, 1.0)
        self.total.assign_add(ops.sum(image_nme))
        self.count.assign_add(ops.sum(ops.cast(n > 0, "float32")))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        config = super().get_config()
        config.update({"left_eye": self.left_eye,
                       "right_eye": self.right_eye})
        return config


@kzoo_export("kzoo.eval.PercentageCorrectKeypoints")
class PercentageCorrectKeypoints(keras.metrics.Metric):
    """Streaming PCK@threshold (inter-ocular), for `compile(metrics=...)`.

    Same definition as `kzoo.eval.pck`: the fraction of visible points,
    pooled over the images seen, whose error is `< threshold` times the
    true outer-eye-corner distance. Inputs as `NormalizedMeanError`.

    Args:
        threshold: `alpha`. Defaults to `0.1`.
        left_eye: index of the outer corner of the image-left eye.
            Defaults to `36`.
        right_eye: index of the other outer corner. Defaults to `45`.
        name: metric name. Defaults to `"pck"`.
        dtype: metric dtype. Defaults to `None`.

    Example:

    >>> kzoo.eval.PercentageCorrectKeypoints(threshold=0.1)
    """

    def __init__(self, threshold=0.1, left_eye=LEFT_EYE_OUTER,
                 right_eye=RIGHT_EYE_OUTER, name="pck", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not (isinstance(threshold, numbers.Real)
                and not isinstance(threshold, bool) and threshold > 0):
            raise ValueError("`threshold` must be a positive number. "
                             f"Received: threshold={threshold!r}")
        self.threshold = float(threshold)
        self.left_eye = int(left_eye)
        self.right_eye = int(right_eye)
        self.correct = self.add_variable(shape=(), initializer="zeros",
                                         name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros",
                                       name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        errors, counted = _batch_errors(y_true, y_pred, self.left_eye,
                                        self.right_eye)
        hit = ops.cast(errors < self.threshold, "float32") * counted
        self.correct.assign_add(ops.sum(hit))
        self.count.assign_add(ops.sum(counted))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def get_config(self):
        config = super().get_config()
        config.update({"threshold": self.threshold,
                       "left_eye": self.left_eye,
                       "right_eye": self.right_eye})
        return config
