"""Labelled subsets: a fixed, class-balanced fraction of a training set.

NumPy only. The few-label protocol of semi-supervised evaluation (SimCLR's
1% and 10% of the labels, Chen et al. 2020; keras-io's
`semisupervised_simclr`): the same examples for every method and every run,
so that methods are compared on the same labels.
"""

import numbers

import numpy as np

from kzoo._api import kzoo_export


@kzoo_export("kzoo.data.balanced_subset")
def balanced_subset(labels, fraction, seed=0):
    """Indices of a class-balanced `fraction` of the examples.

    Each class `c` with `n_c` examples keeps `max(1, round(fraction *
    n_c))` of them, drawn without replacement by a permutation of `seed`
    (independent of any training seed, so every run with the same `seed`
    sees the same labels); the subsets of two fractions are nested (the
    smaller one is a prefix of each class's permutation). CIFAR-10's 50,000
    training images give 500 (1%) or 5,000 (10%) images, 50 or 500 per
    class.

    Args:
        labels: integer array `[N]`.
        fraction: the share of each class to keep, in `(0, 1]`.
        seed: permutation seed. Defaults to `0`.

    Returns:
        A sorted `int64` array of indices into `labels`.

    Example:

    >>> idx = kzoo.data.balanced_subset(train.labels, 0.01)   # 500 images
    >>> x_few, y_few = train.images[idx], train.labels[idx]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError("`labels` must be a non-empty 1D array. "
                         f"Received: labels.shape={labels.shape}")
    if (isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
            or not 0.0 < fraction <= 1.0):
        raise ValueError("`fraction` must be a number in (0, 1]. "
                         f"Received: fraction={fraction!r}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = max(1, int(round(fraction * members.size)))
        # One permutation per class, drawn in class order: nested subsets.
        keep.append(members[rng.permutation(members.size)[:count]])
    return np.sort(np.concatenate(keep)).astype(np.int64)
