"""Retrieval and verification metrics of learned embeddings.

Retrieval (a query set searched in a reference set, by embedding distance),
with the definitions of Musgrave et al. (2020), "A Metric Learning Reality
Check" (https://arxiv.org/abs/2003.08505), as computed by
pytorch-metric-learning's `AccuracyCalculator` and tensorflow-similarity:

- `recall_at_k`: fraction of queries with at least one same-class
  reference among their `k` nearest neighbours;
- `precision_at_1`: fraction of queries whose nearest neighbour has their
  class (equal to `recall_at_k(k=1)`);
- `r_precision`: mean over queries of `r / R`, where `R` is the number of
  references of the query's class and `r` how many of them are among the
  `R` nearest neighbours;
- `map_at_r`: mean average precision at `R`;
- `retrieval_metrics`: all of the above in one pass.

Verification (pairs scored by a distance, e.g. the output of
`kzoo.models.siamese_network`): `verification_accuracy` and `roc_auc`,
and `verification_pairs` to build a balanced pair set from identities.

Conventions shared by the retrieval metrics:

- `reference_embeddings=None` searches the query set in itself,
  leave-one-out: `exclude_self` then defaults to `True` and query `i` never
  retrieves itself (reference `i`). `exclude_self=True` with an explicit
  reference set means that query `i` *is* reference `i` (same rows).
- Neighbours are ranked by increasing distance (`"cosine"`: `1 - cos`, or
  `"l2"`), ties (equal float32 distances) broken by the lower reference
  index. The distances come from a float32 matrix product over
  `batch_size` queries at a time, whose rounding can depend on the batch:
  two references that are exact duplicates may get distances one ulp
  apart, and which of them ranks first (hence a metric, when they have
  different labels) can change with `batch_size`.
- `R` counts the references with the query's label, the query itself
  excluded under `exclude_self`. Queries with `R = 0` (their class is absent
  from the reference set, or a single-example class under leave-one-out)
  have no correct answer: they are excluded from every metric (as
  pytorch-metric-learning does with "lone" query labels);
  `retrieval_metrics` reports how many. If every query is excluded the
  metrics are `nan`.
- `query_groups` (and `reference_groups`) generalise `exclude_self`: a
  query never retrieves a reference of its own group, and `R` counts only
  the references of other groups. Near-duplicates are kept apart this way
  (e.g. frames of one video, so that a face is found among other videos of
  the person, not among its own video's frames).
- Queries are processed in chunks of `batch_size`: peak memory is a few
  `batch_size x num_references` arrays (about 250 MB for 256 x 50,000),
  whatever the number of queries.
"""

import numbers

import numpy as np
from keras import ops

from kzoo._api import kzoo_export
from kzoo.eval.knn import _check_positive_int
from kzoo.eval.knn import _labels_1d
from kzoo.eval.knn import _to_2d_float32
from kzoo.eval.knn import _to_numpy
from kzoo.ops import cosine_distance
from kzoo.ops import pairwise_distance

_DISTANCES = ("cosine", "l2")


def _finite(x, arg_name):
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"`{arg_name}` must contain only finite values. "
            f"Received: {int(np.sum(~np.isfinite(x)))} non-finite values"
        )
    return x


class _Retrieval:
    """Validated inputs of a retrieval metric."""

    def __init__(self, query_embeddings, query_labels, reference_embeddings,
                 reference_labels, distance, exclude_self, batch_size,
                 query_groups=None, reference_groups=None):
        self.query = _finite(
            _to_2d_float32(query_embeddings, "query_embeddings"),
            "query_embeddings",
        )
        self.query_labels = _labels_1d(
            query_labels, self.query.shape[0], "query_labels",
            "query_embeddings",
        )
        if self.query.shape[0] == 0:
            raise ValueError(
                "`query_embeddings` must contain at least one example. "
                f"Received: query_embeddings.shape={self.query.shape}"
            )
        if (reference_embeddings is None) != (reference_labels is None):
            raise ValueError(
                "Pass both `reference_embeddings` and `reference_labels`, or "
                "neither (leave-one-out on the query set). Received: "
                f"reference_embeddings is None={reference_embeddings is None},"
                f" reference_labels is None={reference_labels is None}"
            )
        if reference_embeddings is None:
            self.reference = self.query
            self.reference_labels = self.query_labels
            if exclude_self is None:
                exclude_self = True
        else:
            self.reference = _finite(
                _to_2d_float32(reference_embeddings, "reference_embeddings"),
                "reference_embeddings",
            )
            self.reference_labels = _labels_1d(
                reference_labels, self.reference.shape[0],
                "reference_labels", "reference_embeddings",
            )
            if exclude_self is None:
                exclude_self = False
        if self.reference.shape[1] != self.query.shape[1]:
            raise ValueError(
                "`reference_embeddings` must have the embedding size of "
                f"`query_embeddings` ({self.query.shape[1]}). Received: "
                f"reference_embeddings.shape={self.reference.shape}"
            )
        self.exclude_self = bool(exclude_self)
        if self.exclude_self and self.reference.shape[0] != self.query.shape[0]:
            raise ValueError(
                "`exclude_self=True` means that query i is reference i: both "
                "sets must have the same number of rows. Received: "
                f"query_embeddings.shape={self.query.shape}, "
                f"reference_embeddings.shape={self.reference.shape}"
            )
        if distance not in _DISTANCES:
            raise ValueError(
                f"`distance` must be one of {_DISTANCES}. "
                f"Received: distance={distance!r}"
            )
        self.distance = distance
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        num_references = self.reference.shape[0] - int(self.exclude_self)
        if num_references < 1:
            raise ValueError(
                "The reference set must contain at least one example (other "
                "than the query itself under exclude_self). Received: "
                f"reference_embeddings.shape={self.reference.shape}, "
                f"exclude_self={self.exclude_self}"
            )
        self.num_references = num_references
        self._set_groups(query_groups, reference_groups,
                         reference_embeddings is None)
        # R: references with the query's label, the query itself excluded
        # and, with groups, every reference of the query's group.
        self.r = _count_matches(self.reference_labels, self.query_labels)
        if self.query_groups is None:
            self.r = self.r - int(self.exclude_self)
        else:
            reference_keys, query_keys = _pair_keys(
                (self.reference_labels, self.query_labels),
                (self.reference_groups, self.query_groups))
            self.r = self.r - _count_matches(reference_keys, query_keys)
            if self.exclude_self:  # the query itself, if not in its group
                self.r = self.r - (self.reference_groups
                                   != self.query_groups).astype(self.r.dtype)

    def _set_groups(self, query_groups, reference_groups, leave_one_out):
        if leave_one_out and reference_groups is None:
            reference_groups = query_groups
        if (query_groups is None) != (reference_groups is None):
            raise ValueError(
                "Pass both `query_groups` and `reference_groups`, or neither "
                "(`reference_groups` defaults to `query_groups` when the "
                "query set is searched in itself). Received: "
                f"query_groups is None={query_groups is None}, "
                f"reference_groups is None={reference_groups is None}")
        self.query_groups = self.reference_groups = None
        if query_groups is not None:
            self.query_groups = _labels_1d(
                query_groups, self.query.shape[0], "query_groups",
                "query_embeddings")
            self.reference_groups = _labels_1d(
                reference_groups, self.reference.shape[0], "reference_groups",
                "reference_embeddings")

    def chunks(self, depth):
        """Yields `(relevance [c, L], R [c])` per chunk of queries, with
        `relevance[i, j]` whether the `j`-th nearest reference of query `i`
        has its label, for `L = depth(R_chunk)` nearest neighbours."""
        reference = ops.convert_to_tensor(self.reference)
        for start in range(0, self.query.shape[0], self.batch_size):
            stop = min(start + self.batch_size, self.query.shape[0])
            r = self.r[start:stop]
            length = min(int(depth(r)), self.num_references)
            query = ops.convert_to_tensor(self.query[start:stop])
            if self.distance == "l2":
                # Squared distances rank as distances, without merging close
                # values in the square root.
                d = pairwise_distance(query, reference, squared=True)
            else:
                d = cosine_distance(query, reference)
            d = np.array(ops.convert_to_numpy(d), dtype="float32")
            if self.exclude_self:
                d[np.arange(stop - start), np.arange(start, stop)] = np.inf
            if self.query_groups is not None:
                d[self.query_groups[start:stop, None]
                  == self.reference_groups[None, :]] = np.inf
            top = _nearest(d, length)
            # An excluded reference (infinite distance) is never a hit, even
            # where fewer references than `length` are left to a query.
            allowed = np.isfinite(np.take_along_axis(d, top, axis=1))
            del d
            labels = self.query_labels[start:stop, None]
            yield (self.reference_labels[top] == labels) & allowed, r


def _pair_keys(labels, groups):
    """One integer per distinct (label, group) pair, coded jointly over the
    arrays of `labels` and `groups` (for counting): returns one key array
    per input array."""
    sizes = np.cumsum([len(x) for x in labels])[:-1]
    pairs = np.stack([np.concatenate(labels), np.concatenate(groups)], axis=1)
    _, keys = np.unique(pairs, axis=0, return_inverse=True)
    return np.split(keys.reshape(-1), sizes)


def _count_matches(reference_keys, query_keys):
    """For each query key, how many reference keys equal it."""
    classes, counts = np.unique(reference_keys, return_counts=True)
    if not len(classes):
        return np.zeros(len(query_keys), np.int64)
    pos = np.clip(np.searchsorted(classes, query_keys), 0, len(classes) - 1)
    return np.where(classes[pos] == query_keys, counts[pos], 0)


def _nearest(d, length):
    """Indices `[c, length]` of the smallest entries of each row of `d`,
    sorted by (distance, index)."""
    num = d.shape[1]
    if length >= num:
        return np.argsort(d, axis=1, kind="stable")[:, :length]
    kth = np.partition(d, length - 1, axis=1)[:, length - 1:length]
    less = d < kth
    missing = length - less.sum(axis=1, keepdims=True)
    equal = d == kth
    # Ties at the boundary: keep the lowest-index ones.
    keep = less | (equal & (np.cumsum(equal, axis=1, dtype="int32") <= missing))
    columns = np.nonzero(keep)[1].reshape(-1, length)
    order = np.argsort(np.take_along_axis(d, columns, axis=1), axis=1,
                       kind="stable")
    return np.take_along_axis(columns, order, axis=1)


def _check_ks(k):
    ks = list(k) if isinstance(k, (list, tuple)) else [k]
    if not ks:
        raise ValueError(f"`k` must not be empty. Received: k={k!r}")
    for value in ks:
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or value < 1
        ):
            raise ValueError(
                f"`k` must be a positive integer (or a list of them). "
                f"Received: k={k!r}"
            )
    return [int(v) for v in ks]


class _Totals:
    def __init__(self, ks, need_r):
        self.ks = list(dict.fromkeys(ks))  # a repeated k is counted once
        self.need_r = need_r
        self.recall = {k: 0.0 for k in ks}
        self.precision_at_1 = 0.0
        self.r_precision = 0.0
        self.map_at_r = 0.0
        self.num_queries = 0
        self.num_excluded = 0

    def add(self, relevance, r, num_references):
        valid = r > 0
        self.num_excluded += int(np.sum(~valid))
        relevance, r = relevance[valid], r[valid]
        self.num_queries += int(r.size)
        if not r.size:
            return
        for k in self.ks:
            self.recall[k] += float(
                np.sum(relevance[:, :min(k, num_references)].any(axis=1))
            )
        self.precision_at_1 += float(np.sum(relevance[:, 0]))
        if not self.need_r:  # relevance may be shorter than R
            return
        positions = np.arange(1, relevance.shape[1] + 1)
        within_r = positions[None, :] <= r[:, None]
        hits = relevance & within_r
        self.r_precision += float(np.sum(hits.sum(axis=1) / r))
        precision_at_i = np.cumsum(relevance, axis=1) / positions
        self.map_at_r += float(
            np.sum(np.sum(precision_at_i * hits, axis=1) / r)
        )

    def mean(self, total):
        return total / self.num_queries if self.num_queries else float("nan")

    def metrics(self):
        """The `retrieval_metrics` dict (R-based entries only if computed)."""
        metrics = {f"recall@{k}": self.mean(self.recall[k]) for k in self.ks}
        metrics["precision@1"] = self.mean(self.precision_at_1)
        if self.need_r:
            metrics["r_precision"] = self.mean(self.r_precision)
            metrics["map@r"] = self.mean(self.map_at_r)
        metrics["num_queries"] = self.num_queries
        metrics["num_excluded_queries"] = self.num_excluded
        return metrics


def _evaluate(query_embeddings, query_labels, reference_embeddings,
              reference_labels, distance, exclude_self, batch_size,
              query_groups=None, reference_groups=None, ks=(), need_r=False):
    """The retrieval metrics from one pass over the ranked relevance.

    Validates the inputs, ranks the references of each chunk of queries
    once (`_Retrieval.chunks`, deep enough for the largest `k` and, with
    `need_r`, for the largest `R`) and accumulates every metric from that
    relevance. Returns the `retrieval_metrics` dict: `"recall@<k>"` for the
    given `ks`, `"precision@1"`, and `"r_precision"` / `"map@r"` only with
    `need_r`. Every public retrieval metric is an entry of it.
    """
    prepared = _Retrieval(query_embeddings, query_labels,
                          reference_embeddings, reference_labels, distance,
                          exclude_self, batch_size, query_groups,
                          reference_groups)
    totals = _Totals(list(ks), need_r)
    k_max = max(ks) if ks else 1

    def depth(r):
        return max(k_max, int(r.max()) if need_r and r.size else 1, 1)

    for relevance, r in prepared.chunks(depth):
        totals.add(relevance, r, prepared.num_references)
    return totals.metrics()


# The arguments shared by the retrieval metrics, documented once: their
# docstrings hold `{data_args}` and `{search_args}` (see `_shared_args`).
_DATA_ARGS = """query_embeddings: array `[num_queries, dim]`.
        query_labels: integer array `[num_queries]`.
        reference_embeddings: array `[num_references, dim]`. Defaults to
            `None` (search the query set in itself, leave-one-out).
        reference_labels: integer array `[num_references]`. Defaults to
            `None`."""
_SEARCH_ARGS = """distance: `"cosine"` (`1 - cos`) or `"l2"`. Defaults to `"cosine"`.
        exclude_self: never retrieve query `i` as reference `i`. Defaults to
            `None` (`True` when `reference_embeddings` is `None`, else
            `False`).
        batch_size: number of queries processed at once. Defaults to `256`.
        query_groups: integer array `[num_queries]` or `None`: a query never
            retrieves a reference of its own group (frames of one video,
            crops of one photograph), and `R` counts only the references
            of other groups. Defaults to `None` (no groups).
        reference_groups: integer array `[num_references]`, the references'
            groups (required with `query_groups` and an explicit reference
            set). Defaults to `None` (`query_groups` when the query set is
            searched in itself)."""


# ... and the Returns of the scores (`{score_returns}`).
_SCORE_RETURNS = """Returns:
        A Python float in `[0, 1]` (`nan` if every query is excluded).

    Example:"""


def _shared_args(fn):
    if fn.__doc__:  # None under `python -OO`
        fn.__doc__ = (fn.__doc__.replace("{data_args}", _DATA_ARGS)
                      .replace("{search_args}", _SEARCH_ARGS)
                      .replace("{score_returns}", _SCORE_RETURNS))
    return fn


@kzoo_export("kzoo.eval.recall_at_k")
@_shared_args
def recall_at_k(query_embeddings, query_labels, reference_embeddings=None,
                reference_labels=None, k=1, distance="cosine",
                exclude_self=None, batch_size=256, query_groups=None,
                reference_groups=None):
    """Recall@k: fraction of queries with a same-class item in their top `k`.

    For each query, the `k` nearest references (by `distance`, ties to the
    lower index) are retrieved; the query counts as a hit if at least one
    of them has its label. This is the "recall@k" of image-retrieval papers
    (Oh Song et al., 2016), Musgrave et al. (2020) and tensorflow-similarity
    (not the fraction of the query's class that is retrieved). `k` larger
    than the number of references is clipped. Queries without any
    reference of their class are excluded (see the module docstring).

    Args:
        {data_args}
        k: number of neighbours. Defaults to `1`.
        {search_args}

    Returns:
        A Python float in `[0, 1]` (`nan` if no query has a same-class
        reference).

    Example:

    >>> emb = kzoo.eval.embed(tower, x_test)
    >>> kzoo.eval.recall_at_k(emb, y_test, k=1)  # leave-one-out
    0.87

    Reference:
        - [Musgrave et al., 2020, "A Metric Learning Reality Check"](
          https://arxiv.org/abs/2003.08505).
        - [Oh Song et al., 2016, "Deep Metric Learning via Lifted Structured
          Feature Embedding"](https://arxiv.org/abs/1511.06452).
    """
    (k,) = _check_ks(k)
    return _evaluate(query_embeddings, query_labels, reference_embeddings,
                     reference_labels, distance, exclude_self, batch_size,
                     query_groups, reference_groups,
                     ks=[k])[f"recall@{k}"]


@kzoo_export("kzoo.eval.precision_at_1")
@_shared_args
def precision_at_1(query_embeddings, query_labels, reference_embeddings=None,
                   reference_labels=None, distance="cosine",
                   exclude_self=None, batch_size=256, query_groups=None,
                   reference_groups=None):
    """Precision@1: fraction of queries whose nearest neighbour has their label.

    Identical to `recall_at_k(k=1)` (one retrieved item: hit or miss), the
    "P@1" of Musgrave et al. (2020). Queries without any reference of their
    class are excluded (see the module docstring).

    Args:
        {data_args}
        {search_args}

    {score_returns}

    >>> kzoo.eval.precision_at_1(test_emb, y_test, train_emb, y_train)

    Reference:
        - [Musgrave et al., 2020](https://arxiv.org/abs/2003.08505).
    """
    return _evaluate(query_embeddings, query_labels, reference_embeddings,
                     reference_labels, distance, exclude_self, batch_size,
                     query_groups, reference_groups,
                     ks=[1])["precision@1"]


@kzoo_export("kzoo.eval.r_precision")
@_shared_args
def r_precision(query_embeddings, query_labels, reference_embeddings=None,
                reference_labels=None, distance="cosine", exclude_self=None,
                batch_size=256, query_groups=None, reference_groups=None):
    """R-precision: mean over queries of `r / R`.

    `R` is the number of references with the query's label (the query
    itself excluded under `exclude_self`), `r` the number of them among the
    query's `R` nearest neighbours (Musgrave et al., 2020). Queries with
    `R = 0` are excluded (see the module docstring).

    Args:
        {data_args}
        {search_args}

    {score_returns}

    >>> kzoo.eval.r_precision(emb, labels)  # leave-one-out

    Reference:
        - [Musgrave et al., 2020](https://arxiv.org/abs/2003.08505).
    """
    return _evaluate(query_embeddings, query_labels, reference_embeddings,
                     reference_labels, distance, exclude_self, batch_size,
                     query_groups, reference_groups,
                     need_r=True)["r_precision"]


@kzoo_export("kzoo.eval.map_at_r")
@_shared_args
def map_at_r(query_embeddings, query_labels, reference_embeddings=None,
             reference_labels=None, distance="cosine", exclude_self=None,
             batch_size=256, query_groups=None, reference_groups=None):
    """MAP@R: mean average precision at R (Musgrave et al., 2020).

    For a query with `R` references of its class (the query itself excluded
    under `exclude_self`), ranked neighbours `1, 2, ...`, `rel(i) = 1` if
    the `i`-th neighbour has the query's label, and `P(i)` the precision of
    the first `i` neighbours:

    ```python
    AP@R = (1 / R) * sum(P(i) * rel(i) for i in 1..R)
    MAP@R = mean of AP@R over the queries
    ```

    Unlike R-precision, it rewards ranking the correct items first. E.g.
    for a query with `R = 10` and 3 correct items among its 10 nearest
    neighbours, R-precision is `3 / 10 = 0.3` wherever they are, while
    MAP@R is `(1/1 + 2/2 + 3/3) / 10 = 0.3` with the correct items at
    ranks 1, 2, 3, and `(1/8 + 2/9 + 3/10) / 10 = 0.0647` at ranks 8, 9,
    10 (a perfect ranking, all 10 correct, scores 1). Queries with
    `R = 0` are excluded (see the module docstring).

    Args:
        {data_args}
        {search_args}

    {score_returns}

    >>> kzoo.eval.map_at_r(emb, labels)  # leave-one-out

    Reference:
        - [Musgrave et al., 2020, "A Metric Learning Reality Check"](
          https://arxiv.org/abs/2003.08505), section 3.2.
    """
    return _evaluate(query_embeddings, query_labels, reference_embeddings,
                     reference_labels, distance, exclude_self, batch_size,
                     query_groups, reference_groups,
                     need_r=True)["map@r"]


@kzoo_export("kzoo.eval.retrieval_metrics")
@_shared_args
def retrieval_metrics(query_embeddings, query_labels,
                      reference_embeddings=None, reference_labels=None,
                      k=(1, 5), distance="cosine", exclude_self=None,
                      batch_size=256, query_groups=None,
                      reference_groups=None):
    """All retrieval metrics in one pass over the distances.

    Same values as `recall_at_k` (for every `k`), `precision_at_1`,
    `r_precision` and `map_at_r`, with a single distance computation.

    Args:
        {data_args}
        k: an integer or a list of integers, the `k`s of recall@k. Defaults
            to `(1, 5)`.
        {search_args}

    Returns:
        A dict with float values `"recall@<k>"` for each `k`,
        `"precision@1"`, `"r_precision"`, `"map@r"` and integer values
        `"num_queries"` (the queries evaluated) and
        `"num_excluded_queries"` (queries without any reference of their
        class).

    Example:

    >>> kzoo.eval.retrieval_metrics(test_emb, y_test, k=[1, 10])
    {'recall@1': 0.9, 'recall@10': 0.98, 'precision@1': 0.9,
     'r_precision': 0.61, 'map@r': 0.52, 'num_queries': 1000,
     'num_excluded_queries': 0}

    Reference:
        - [Musgrave et al., 2020](https://arxiv.org/abs/2003.08505).
    """
    return _evaluate(query_embeddings, query_labels, reference_embeddings,
                     reference_labels, distance, exclude_self, batch_size,
                     query_groups, reference_groups,
                     ks=_check_ks(k), need_r=True)


def _pairs(distances, labels):
    distances = np.asarray(_to_numpy(distances), dtype="float64")
    if distances.ndim == 2 and distances.shape[-1] == 1:
        distances = distances.reshape(-1)
    if distances.ndim != 1 or distances.size == 0:
        raise ValueError(
            "`distances` must be a non-empty 1D array (or `[N, 1]`). "
            f"Received: distances.shape={distances.shape}"
        )
    _finite(distances, "distances")
    labels = _labels_1d(labels, distances.size, "labels", "distances")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError(
            "`labels` must be 0 (similar pair) or 1 (dissimilar pair). "
            f"Received: labels values={np.unique(labels)[:10].tolist()}"
        )
    return distances, labels.astype("int64")


@kzoo_export("kzoo.eval.verification_accuracy")
def verification_accuracy(distances, labels):
    """Best accuracy of a distance threshold on pairs, and that threshold.

    A pair is predicted *similar* when its distance is `<= threshold`.
    Labels follow `kzoo.data.pair_dataset`: **0 = similar, 1 =
    dissimilar**. The thresholds swept are every distinct distance (in
    increasing order), plus one just below the smallest distance (every
    pair predicted dissimilar); the first (smallest) threshold reaching the
    best accuracy is returned. Choose the threshold on validation pairs and
    report the accuracy of that threshold on test pairs: the best accuracy
    on the pairs that chose it is optimistic.

    Args:
        distances: float array `[N]` (or `[N, 1]`) of pair distances.
        labels: array `[N]` (or `[N, 1]`) of 0 (similar) / 1 (dissimilar).

    Returns:
        A tuple `(accuracy, threshold)` of Python floats.

    Example:

    >>> kzoo.eval.verification_accuracy([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    (0.75, 0.1)
    """
    distances, labels = _pairs(distances, labels)
    order = np.argsort(distances, kind="stable")
    sorted_d = distances[order]
    sorted_similar = labels[order] == 0
    similar_below = np.cumsum(sorted_similar)  # similar with d <= t
    dissimilar_below = np.cumsum(~sorted_similar)
    dissimilar_total = dissimilar_below[-1]
    group_end = np.r_[sorted_d[1:] != sorted_d[:-1], True]
    correct = similar_below + (dissimilar_total - dissimilar_below)
    correct = np.r_[dissimilar_total, correct[group_end]]
    thresholds = np.r_[np.nextafter(sorted_d[0], -np.inf), sorted_d[group_end]]
    best = int(np.argmax(correct))
    return float(correct[best] / distances.size), float(thresholds[best])


@kzoo_export("kzoo.eval.roc_auc")
def roc_auc(distances, labels):
    """Area under the ROC curve of pair distances.

    The score of a pair is its similarity `-distance` and the positive class
    is *similar* (label 0, as in `kzoo.data.pair_dataset`): the AUC is the
    probability that a random similar pair is closer than a random
    dissimilar one, ties counting one half (the Mann-Whitney statistic, equal
    to `sklearn.metrics.roc_auc_score(labels == 0, -distances)`, whose
    trapezoidal ROC treats ties the same way).

    Args:
        distances: float array `[N]` (or `[N, 1]`) of pair distances.
        labels: array `[N]` (or `[N, 1]`) of 0 (similar) / 1 (dissimilar).
            Both must be present.

    Returns:
        A Python float in `[0, 1]`.

    Example:

    >>> kzoo.eval.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    distances, labels = _pairs(distances, labels)
    similar = labels == 0
    num_similar = int(similar.sum())
    num_dissimilar = distances.size - num_similar
    if num_similar == 0 or num_dissimilar == 0:
        raise ValueError(
            "ROC AUC needs both similar (0) and dissimilar (1) pairs. "
            f"Received: {num_similar} similar and {num_dissimilar} "
            "dissimilar pairs"
        )
    scores = -distances
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, scores.size])
    mid_ranks = first + (counts + 1) / 2.0  # 1-based average ranks of ties
    ranks = np.empty(scores.size)
    ranks[order] = mid_ranks[np.cumsum(starts) - 1]
    u = ranks[similar].sum() - num_similar * (num_similar + 1) / 2.0
    return float(u / (num_similar * num_dissimilar))


@kzoo_export("kzoo.eval.pair_distances")
def pair_distances(embeddings, pairs):
    """L2 and cosine distances of the embedding rows of each pair.

    Args:
        embeddings: `[N, D]` embeddings.
        pairs: `(i1, i2, ...)`: index arrays of the pairs' two members.

    Returns:
        `{"": L2 distances, "cosine_": 1 - cosine similarities}` (`[P]`
        float arrays; a zero vector's cosine is taken as 0).
    """
    embeddings = np.asarray(embeddings, np.float64)
    a, b = embeddings[pairs[0]], embeddings[pairs[1]]
    l2 = np.linalg.norm(a - b, axis=1)
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    cos = 1.0 - np.sum((a / np.maximum(na, 1e-12))
                       * (b / np.maximum(nb, 1e-12)), axis=1)
    return {"": l2, "cosine_": cos}


@kzoo_export("kzoo.eval.verification_pairs")
def verification_pairs(labels, groups=None, num_dissimilar=None, seed=0):
    """The pairs of a verification benchmark: every similar pair, and a
    seeded sample of the dissimilar ones.

    Similar pairs (label 0, as in `kzoo.data.pair_dataset`) are all the
    `i < j` with the same label and, with `groups`, different groups (two
    frames of one video are near-duplicates, not a test of verification).
    Dissimilar pairs (label 1) are `i < j` with different labels, drawn
    uniformly without replacement: as many as the similar pairs by default
    (a balanced set, as LFW's protocol), or all of them when fewer exist.

    Args:
        labels: integer array `[N]` (identities).
        groups: integer array `[N]`, or `None`. Defaults to `None`.
        num_dissimilar: number of dissimilar pairs. Defaults to `None` (as
            many as the similar pairs).
        seed: seed of the sample. Defaults to `0`.

    Returns:
        `(first, second, pair_labels)`: `int64` arrays `[P]`, the similar
        pairs first (in `(i, j)` order), then the dissimilar ones.

    Example:

    >>> i, j, y = kzoo.eval.verification_pairs(person_ids, video_ids)
    >>> d = np.linalg.norm(emb[i] - emb[j], axis=1)
    >>> kzoo.eval.roc_auc(d, y)
    """
    labels = np.asarray(_to_numpy(labels))
    if labels.ndim != 1:
        raise ValueError("`labels` must be a 1D array. "
                         f"Received: labels.shape={labels.shape}")
    if groups is not None:
        groups = _labels_1d(groups, labels.size, "groups", "labels")
    first, second = np.triu_indices(labels.size, k=1)
    same = labels[first] == labels[second]
    similar = same if groups is None else same & (groups[first]
                                                  != groups[second])
    dissimilar = np.flatnonzero(~same)
    count = int(similar.sum()) if num_dissimilar is None else num_dissimilar
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) \
            or count < 0:
        raise ValueError("`num_dissimilar` must be a non-negative integer or "
                         f"None. Received: num_dissimilar={num_dissimilar!r}")
    count = min(int(count), dissimilar.size)
    picked = np.sort(np.random.default_rng(seed).choice(
        dissimilar, size=count, replace=False))
    index = np.concatenate([np.flatnonzero(similar), picked])
    pair_labels = np.r_[np.zeros(int(similar.sum()), np.int64),
                        np.ones(count, np.int64)]
    return first[index].astype(np.int64), second[index].astype(np.int64), \
        pair_labels
