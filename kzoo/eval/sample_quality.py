"""Precision and recall of generated samples in a feature space.

Improved precision and recall (Kynkäänniemi et al., 2019,
https://arxiv.org/abs/1904.06991): the real features' manifold is the
union of balls around each real feature, of radius its distance to its
`k`-th nearest real neighbour; *precision* is the fraction of generated
features inside it (are the samples realistic?), *recall* the fraction of
real features inside the generated manifold built the same way (do the
samples cover the data?). Both need only a feature extractor: FID's
Inception network is a download, so kzoo's recipes use one of kzoo's own
supervised encoders and say so; the figures are comparable between runs
that use the same extractor, not with published FID or precision/recall.
"""

import numpy as np

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int


def _squared_distances(a, b):
    return np.maximum((a * a).sum(1)[:, None] - 2.0 * a @ b.T
                      + (b * b).sum(1)[None, :], 0.0)


def _radii(x, k, batch):
    """Distance of each row of `x` to its `k`-th nearest other row."""
    out = np.empty(len(x))
    for start in range(0, len(x), batch):
        d = _squared_distances(x[start:start + batch], x)
        # column 0 of the sorted row is the point itself (distance 0)
        out[start:start + batch] = np.sqrt(np.partition(d, k, axis=1)[:, k])
    return out


def _inside(points, centres, radii, batch):
    """Whether each point lies in at least one ball `(centre, radius)`."""
    out = np.empty(len(points), bool)
    for start in range(0, len(points), batch):
        d = np.sqrt(_squared_distances(points[start:start + batch], centres))
        out[start:start + batch] = (d <= radii[None, :]).any(axis=1)
    return out


@kzoo_export("kzoo.eval.precision_recall")
def precision_recall(real_features, fake_features, k=3, batch_size=1024):
    """Improved precision and recall of generated samples (Kynkäänniemi et
    al., 2019) from their features and the real data's.

    Formula:

    ```python
    r_k(x) = distance from x to its k-th nearest neighbour in its own set
    precision = mean_g [exists real x: |g - x| <= r_k(x)]
    recall    = mean_x [exists fake g: |x - g| <= r_k(g)]
    ```

    Args:
        real_features: `[N, D]` features of real images.
        fake_features: `[M, D]` features of generated images.
        k: the neighbour that sets each ball's radius. Defaults to `3`
            (the paper's).
        batch_size: rows per distance block. Defaults to `1024`.

    Returns:
        `{"precision": float, "recall": float}`.

    Example:

    >>> real = np.random.normal(size=(500, 8))
    >>> kzoo.eval.precision_recall(real, real + 10.0)  # far away: 0 and 0
    {'precision': 0.0, 'recall': 0.0}

    Reference:
        - [Kynkäänniemi et al., 2019, "Improved Precision and Recall Metric
          for Assessing Generative Models"](https://arxiv.org/abs/1904.06991).
    """
    k = check_positive_int(k, "k")
    batch_size = check_positive_int(batch_size, "batch_size")
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    for name, x in (("real_features", real), ("fake_features", fake)):
        if x.ndim != 2 or len(x) <= k:
            raise ValueError(
                f"`{name}` must be a 2D array with more than k={k} rows. "
                f"Received: {name}.shape={x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"`{name}` must be finite. Received: "
                             f"{int(np.sum(~np.isfinite(x)))} non-finite "
                             "values")
    if real.shape[1] != fake.shape[1]:
        raise ValueError("`real_features` and `fake_features` must have the "
                         f"same width. Received: {real.shape[1]} and "
                         f"{fake.shape[1]}")
    precision = _inside(fake, real, _radii(real, k, batch_size), batch_size)
    recall = _inside(real, fake, _radii(fake, k, batch_size), batch_size)
    return {"precision": float(precision.mean()),
            "recall": float(recall.mean())}
