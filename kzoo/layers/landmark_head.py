"""Landmark head: a presence logit and K (x, y) points."""

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export

METHODS = ("soft_argmax", "regression")


def soft_argmax(heatmaps):
    """Expected normalised `(x, y)` of each channel's spatial softmax.

    Cell `(i, j)` of an `h x w` map stands for the point `((j + 0.5) / w,
    (i + 0.5) / h)`: the centre of the input region it covers when the map
    is a stride-`s` feature map of an `(s h) x (s w)` input (`"same"`
    padding), so the result is in coordinates normalised to that input.

    Formula:

    ```python
    p[b, :, :, k] = softmax over (i, j) of heatmaps[b, i, j, k]
    x[b, k] = sum_ij p[b, i, j, k] * (j + 0.5) / w
    y[b, k] = sum_ij p[b, i, j, k] * (i + 0.5) / h
    ```

    Args:
        heatmaps: `[B, h, w, K]` logits.

    Returns:
        `float32 [B, K, 2]`, each coordinate in `[0.5 / w, 1 - 0.5 / w]`
        (resp. `h`).

    Example:

    >>> hm = np.full((1, 4, 4, 1), -1e4, "float32"); hm[0, 1, 2, 0] = 0.
    >>> kzoo.layers.landmark_head.soft_argmax(hm)  # cell (row 1, col 2)
    [[[0.625, 0.375]]]

    Reference:
        - [Sun et al., 2018, "Integral Human Pose Regression"](
          https://arxiv.org/abs/1711.08229).
        - [Nibali et al., 2018, "Numerical Coordinate Regression with
          Convolutional Neural Networks" (DSNT)](
          https://arxiv.org/abs/1801.07372).
    """
    x = ops.cast(heatmaps, "float32")
    h, w, k = x.shape[1], x.shape[2], x.shape[3]
    if None in (h, w, k):
        raise ValueError("`heatmaps` must have static `h`, `w`, `K`. "
                         f"Received: heatmaps.shape={tuple(x.shape)}")
    p = ops.softmax(ops.reshape(x, (-1, h * w, k)), axis=1)
    p = ops.reshape(p, (-1, h, w, k))
    xs = (ops.arange(w, dtype="float32") + 0.5) / w
    ys = (ops.arange(h, dtype="float32") + 0.5) / h
    ex = ops.sum(ops.sum(p, axis=1) * xs[None, :, None], axis=1)
    ey = ops.sum(ops.sum(p, axis=2) * ys[None, :, None], axis=1)
    return ops.stack([ex, ey], axis=-1)


@kzoo_export("kzoo.layers.LandmarkHead")
class LandmarkHead(keras.layers.Layer):
    """Predicts `K` landmark points and a presence logit from features.

    Returns a dict:

    - `"landmarks"`: `[B, K, 2]` points `(x, y)` **normalised to the model
      input**: `x / S`, `y / S` for an `S x S` input (0..1 inside it; pixel
      centres at `(j + 0.5) / S`). `kzoo.export.export_landmark_model`
      decodes them to input pixels.
    - `"presence"`: `[B, 1]` logit that the object (face) and its landmarks
      are present (it learns something only if trained with negatives; see
      `kzoo.losses.LandmarkLoss`).

    Two methods:

    - `"soft_argmax"` (integral regression, Sun et al., 2018; DSNT, Nibali
      et al., 2018): a `1x1` convolution of the `[B, h, w, C]` feature map
      gives one heatmap per point and each point is the expectation of its
      heatmap's spatial softmax (`kzoo.layers.landmark_head.soft_argmax`).
      Translation-equivariant and fully differentiable: it trains much
      faster than a dense regression from scratch. The feature map must
      cover the input uniformly (stride `s`, `"same"` padding, `S = s h`);
      points are confined to the centres of the border cells.
    - `"regression"`: features `[B, h, w, C]` flattened (`pooling=
      "flatten"`) or averaged (`"avg"`), or vectors `[B, C]`, then optional
      hidden `Dense(units, activation)` layers and a linear `Dense(2K)`
      whose bias starts at `initial_landmarks` (e.g. the mean training
      shape) and kernel at zero, so an untrained head predicts that shape
      (the kernel gets a gradient from the first step on).

    The presence logit is a `Dense(1)` of the averaged (or given vector)
    features. Dropout (training only) precedes every `Dense` / the `1x1`
    convolution. Both outputs are float32 whatever the dtype policy.

    Args:
        num_landmarks: `K`. Defaults to `68` (iBUG / 300-W).
        method: `"soft_argmax"` or `"regression"`. Defaults to
            `"soft_argmax"`.
        pooling: `"flatten"` or `"avg"`, for `"regression"` on 4D
            features. Defaults to `"flatten"`.
        hidden_dims: widths of hidden `Dense` layers (`"regression"`).
            Defaults to `()`.
        activation: activation of the hidden layers. Defaults to `"relu"`.
        dropout: dropout rate. Defaults to `0.0`.
        initial_landmarks: `[K, 2]` normalised points, the initial output
            of `"regression"`. Defaults to `None` (all at `(0.5, 0.5)`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> head = kzoo.layers.LandmarkHead(num_landmarks=68)
    >>> out = head(np.zeros((2, 12, 12, 32), "float32"))
    >>> out["landmarks"].shape, out["presence"].shape
    ((2, 68, 2), (2, 1))
    """

    def __init__(self, num_landmarks=68, method="soft_argmax",
                 pooling="flatten", hidden_dims=(), activation="relu",
                 dropout=0.0, initial_landmarks=None, **kwargs):
        super().__init__(**kwargs)
        if (isinstance(num_landmarks, bool)
                or int(num_landmarks) != num_landmarks or num_landmarks < 1):
            raise ValueError("`num_landmarks` must be a positive integer. "
                             f"Received: num_landmarks={num_landmarks!r}")
        if method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}. "
                             f"Received: method={method!r}")
        if pooling not in ("flatten", "avg"):
            raise ValueError("`pooling` must be 'flatten' or 'avg'. "
                             f"Received: pooling={pooling!r}")
        hidden_dims = [int(d) for d in hidden_dims]
        if any(d < 1 for d in hidden_dims):
            raise ValueError("`hidden_dims` must be positive integers. "
                             f"Received: hidden_dims={hidden_dims}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError("`dropout` must be in [0, 1). "
                             f"Received: dropout={dropout}")
        self.num_landmarks = int(num_landmarks)
        if initial_landmarks is not None:
            init = np.asarray(initial_landmarks, np.float64)
            if init.shape != (self.num_landmarks, 2) or not np.all(
                    np.isfinite(init)):
                raise ValueError(
                    "`initial_landmarks` must be finite `[num_landmarks, 2]` "
                    f"= ({self.num_landmarks}, 2) points. Received: "
                    f"initial_landmarks.shape={init.shape}")
            initial_landmarks = init.tolist()
        self.method = method
        self.pooling = pooling
        self.hidden_dims = hidden_dims
        self.activation = keras.activations.get(activation)
        self.dropout = float(dropout)
        self.initial_landmarks = initial_landmarks
        self._dropout = keras.layers.Dropout(self.dropout, name="dropout",
                                             dtype=self.dtype_policy)
        self._hidden = [
            keras.layers.Dense(units, activation=self.activation,
                               name=f"hidden_{i}", dtype=self.dtype_policy)
            for i, units in enumerate(self.hidden_dims)
        ]
        if method == "soft_argmax":
            self._points = keras.layers.Conv2D(
                self.num_landmarks, 1, name="heatmaps", dtype="float32")
        else:
            bias = (np.full(2 * self.num_landmarks, 0.5)
                    if initial_landmarks is None
                    else np.asarray(initial_landmarks).reshape(-1))
            self._points = keras.layers.Dense(
                2 * self.num_landmarks, name="landmarks",
                kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant(bias.tolist()),
                dtype="float32")
        self._presence = keras.layers.Dense(1, name="presence",
                                            dtype="float32")

    def _check_input_shape(self, shape):
        shape = tuple(shape)
        if len(shape) not in (2, 4):
            raise ValueError("`LandmarkHead` takes `[B, C]` or `[B, h, w, C]` "
                             f"features. Received: input_shape={shape}")
        if self.method == "soft_argmax" and len(shape) != 4:
            raise ValueError("method='soft_argmax' needs a `[B, h, w, C]` "
                             f"feature map. Received: input_shape={shape}")
        if len(shape) == 4 and None in shape[1:] and (
                self.method == "soft_argmax" or self.pooling == "flatten"):
            raise ValueError(
                f"method={self.method!r} (pooling={self.pooling!r}) needs "
                f"known feature-map sizes. Received: input_shape={shape}")
        return shape

    def _regression_features_shape(self, shape):
        if len(shape) == 4:
            if self.pooling == "avg":
                return (shape[0], shape[3])
            return (shape[0], int(np.prod(shape[1:])))
        return shape

    def build(self, input_shape):
        shape = self._check_input_shape(input_shape)
        pooled = (shape[0], shape[-1])
        if self.method == "soft_argmax":
            self._points.build(shape)
        else:
            features = self._regression_features_shape(shape)
            for layer in self._hidden:
                layer.build(features)
                features = layer.compute_output_shape(features)
            self._points.build(features)
        self._presence.build(pooled)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        pooled = ops.mean(x, axis=(1, 2)) if len(x.shape) == 4 else x
        presence = self._presence(
            ops.cast(self._dropout(pooled, training=training), "float32"))
        if self.method == "soft_argmax":
            heatmaps = self._points(
                ops.cast(self._dropout(x, training=training), "float32"))
            points = soft_argmax(heatmaps)
        else:
            if len(x.shape) == 4:
                x = pooled if self.pooling == "avg" else ops.reshape(
                    x, (-1, int(np.prod(x.shape[1:]))))
            for layer in self._hidden:
                x = layer(self._dropout(x, training=training))
            x = ops.cast(self._dropout(x, training=training), "float32")
            points = ops.reshape(self._points(x), (-1, self.num_landmarks, 2))
        return {"landmarks": points, "presence": presence}

    def compute_output_shape(self, input_shape):
        batch = tuple(input_shape)[0]
        return {"landmarks": (batch, self.num_landmarks, 2),
                "presence": (batch, 1)}

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_landmarks": self.num_landmarks,
            "method": self.method,
            "pooling": self.pooling,
            "hidden_dims": list(self.hidden_dims),
            "activation": keras.activations.serialize(self.activation),
            "dropout": self.dropout,
            "initial_landmarks": self.initial_landmarks,
        })
        return config
