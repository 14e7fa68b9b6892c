"""Retrieval metrics (Musgrave et al., 2020) and pair verification metrics."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import kzoo.eval
from kzoo.eval import map_at_r
from kzoo.eval import precision_at_1
from kzoo.eval import r_precision
from kzoo.eval import recall_at_k
from kzoo.eval import retrieval_metrics
from kzoo.eval import roc_auc
from kzoo.eval import verification_accuracy


def reference_metrics(query, query_labels, reference, reference_labels,
                      distance, exclude_self, ks=(1,), query_groups=None,
                      reference_groups=None):
    """Straightforward float64 loop: full stable sort per query."""
    query = np.asarray(query, "float64")
    reference = np.asarray(reference, "float64")
    if distance == "cosine":
        def unit(x):
            return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
        d = 1 - unit(query) @ unit(reference).T
    else:
        d = np.linalg.norm(query[:, None] - reference[None], axis=-1)
    out = {f"recall@{k}": [] for k in ks}
    out.update({"precision@1": [], "r_precision": [], "map@r": []})
    excluded = 0
    for i in range(len(query)):
        candidates = np.arange(len(reference))
        if exclude_self:
            candidates = candidates[candidates != i]
        if query_groups is not None:
            candidates = candidates[reference_groups[candidates]
                                    != query_groups[i]]
        ranked = candidates[np.argsort(d[i, candidates], kind="stable")]
        rel = reference_labels[ranked] == query_labels[i]
        r = int(rel.sum())
        if r == 0:
            excluded += 1
            continue
        for k in ks:
            out[f"recall@{k}"].append(rel[:k].any())
        out["precision@1"].append(rel[0])
        out["r_precision"].append(rel[:r].sum() / r)
        out["map@r"].append(sum(rel[:j + 1].mean() for j in range(r) if rel[j]) / r)
    result = {key: float(np.mean(v)) if v else float("nan")
              for key, v in out.items()}
    result["num_queries"] = len(query) - excluded
    result["num_excluded_queries"] = excluded
    return result


def _data(seed, n, dim=4, classes=5):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    # class-dependent means, so the metrics are far from chance and from 1
    emb = rng.normal(size=(n, dim)) + 1.5 * np.eye(classes, dim)[labels]
    return emb.astype("float32"), labels


def _assert_close(got, expected):
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-9,
                                   atol=1e-12, err_msg=key)


@pytest.mark.parametrize("distance", ["cosine", "l2"])
def test_against_numpy_reference_separate_sets(distance):
    q, ql = _data(0, 60)
    r, rl = _data(1, 90, classes=4)  # class 4 is absent from the references
    expected = reference_metrics(q, ql, r, rl, distance, False, ks=(1, 2, 8))
    assert expected["num_excluded_queries"] == int(np.sum(ql == 4)) > 0
    got = retrieval_metrics(q, ql, r, rl, k=[1, 2, 8], distance=distance,
                            batch_size=7)
    _assert_close(got, expected)
    assert 0.2 < got["map@r"] < 0.9
    # the single-metric functions agree
    assert recall_at_k(q, ql, r, rl, k=8, distance=distance) == got["recall@8"]
    for fn, key in [(precision_at_1, "precision@1"), (r_precision, "r_precision"),
                    (map_at_r, "map@r")]:
        assert fn(q, ql, r, rl, distance=distance) == pytest.approx(got[key])


@pytest.mark.parametrize("distance", ["cosine", "l2"])
def test_against_numpy_reference_leave_one_out(distance):
    emb, labels = _data(2, 80)
    labels[0] = 9  # a single-example class: no other item of its class
    expected = reference_metrics(emb, labels, emb, labels, distance, True,
                                 ks=(1, 5))
    assert expected["num_excluded_queries"] == 1
    got = retrieval_metrics(emb, labels, k=(1, 5), distance=distance,
                            batch_size=16)
    _assert_close(got, expected)
    # explicit reference set + exclude_self=True is the same thing
    explicit = retrieval_metrics(emb, labels, emb, labels, k=(1, 5),
                                 distance=distance, exclude_self=True)
    _assert_close(explicit, expected)
    # without exclude_self every query finds itself first
    assert recall_at_k(emb, labels, emb, labels, distance=distance) == 1.0


@pytest.mark.parametrize("distance", ["cosine", "l2"])
def test_groups_against_numpy_reference(distance):
    # Groups of near-duplicates (e.g. frames of one video): a query never
    # retrieves its own group, R counts only the other groups.
    emb, labels = _data(4, 90)
    groups = np.arange(90) // 3  # 30 groups of 3 rows
    labels = labels[groups * 3]  # one label per group
    emb = emb[groups * 3] + 0.01 * np.random.default_rng(5).normal(
        size=emb.shape).astype("float32")  # near-duplicates within a group
    labels[:3] = 9  # a class held by one group only: excluded queries
    expected = reference_metrics(emb, labels, emb, labels, distance, True,
                                 ks=(1, 4), query_groups=groups,
                                 reference_groups=groups)
    assert expected["num_excluded_queries"] == 3
    got = retrieval_metrics(emb, labels, k=(1, 4), distance=distance,
                            batch_size=8, query_groups=groups)
    _assert_close(got, expected)
    # without groups the near-duplicates make retrieval trivial
    assert retrieval_metrics(emb, labels, distance=distance)["recall@1"] == 1.0
    assert got["recall@1"] < 0.95
    # separate sets with groups, and exclude_self on top of groups
    q, ql = emb[::2], labels[::2]
    qg, rg = groups[::2], groups[1::2]
    expected = reference_metrics(q, ql, emb[1::2], labels[1::2], distance,
                                 False, ks=(1, 2), query_groups=qg,
                                 reference_groups=rg)
    got = retrieval_metrics(q, ql, emb[1::2], labels[1::2], k=(1, 2),
                            distance=distance, query_groups=qg,
                            reference_groups=rg, batch_size=5)
    _assert_close(got, expected)
    other = np.arange(90) + 1000  # every row its own group: leave-one-out
    _assert_close(
        retrieval_metrics(emb, labels, emb, labels, distance=distance,
                          exclude_self=True, query_groups=other,
                          reference_groups=other),
        retrieval_metrics(emb, labels, distance=distance))


def test_group_errors():
    emb, labels = _data(6, 10)
    with pytest.raises(ValueError, match="reference_groups"):
        retrieval_metrics(emb, labels, emb, labels, query_groups=labels)
    with pytest.raises(ValueError, match="query_groups"):
        retrieval_metrics(emb, labels, query_groups=labels[:4])


def test_chunking_does_not_change_the_result():
    emb, labels = _data(3, 50)
    results = [retrieval_metrics(emb, labels, k=(1, 3), batch_size=b)
               for b in (1, 3, 50, 1000)]
    for other in results[1:]:
        assert other == pytest.approx(results[0], rel=1e-12)


@pytest.mark.parametrize("distance", ["cosine", "l2"])
@pytest.mark.parametrize("separate", [False, True])
def test_single_metrics_equal_retrieval_metrics_with_ties(distance, separate):
    rng = np.random.default_rng(7)
    # small integer coordinates: many exactly tied distances, also at the
    # top-k and top-R boundaries where the single metrics rank less deeply
    # than retrieval_metrics
    labels = rng.integers(0, 4, 70)
    emb = rng.integers(-2, 3, (70, 3)) + np.eye(4, 3, dtype=int)[labels]
    args = (emb.astype("float32"), labels)
    if separate:
        ref_labels = rng.integers(0, 5, 40)  # class 4 is never queried
        args += (rng.integers(-2, 3, (40, 3)).astype("float32"), ref_labels)
    got = retrieval_metrics(*args, k=[1, 3, 10], distance=distance,
                            batch_size=9)
    if distance == "l2":
        # squared l2 of integer vectors is exact in float32, so the ties are
        # the float64 reference's ties (cosine rounds them apart)
        expected = reference_metrics(*(args if separate else args * 2),
                                     distance, not separate, ks=(1, 3, 10))
        _assert_close(got, expected)
    for k in (1, 3, 10):
        assert recall_at_k(*args, k=k, distance=distance,
                           batch_size=9) == got[f"recall@{k}"]
    for fn, key in [(precision_at_1, "precision@1"),
                    (r_precision, "r_precision"), (map_at_r, "map@r")]:
        assert fn(*args, distance=distance, batch_size=9) == got[key], key


def test_repeated_k_is_counted_once():
    emb, labels = _data(6, 40)
    once = retrieval_metrics(emb, labels, k=[1, 5])
    assert retrieval_metrics(emb, labels, k=[1, 1, 5, 1]) == once
    assert 0 < once["recall@1"] <= 1


def test_docstrings_document_every_argument():
    for fn in (recall_at_k, precision_at_1, r_precision, map_at_r,
               retrieval_metrics):
        doc = fn.__doc__
        assert "{" + "data_args}" not in doc and "{" + "search_args}" not in doc
        for arg in fn.__code__.co_varnames[:fn.__code__.co_argcount]:
            assert f"\n        {arg}: " in doc, (fn.__name__, arg)

def test_map_at_r_hand_computed():
    # 1-D embeddings, l2 distance from the query at 0: ranks follow |x|.
    # R = 3 references of class 0 at ranks 1, 3, 6 (6 > R: not counted).
    reference = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    reference_labels = np.array([0, 1, 0, 1, 1, 0])
    query, query_labels = np.array([[0.0]]), np.array([0])
    args = (query, query_labels, reference, reference_labels)
    # AP@R = (P(1) * 1 + P(2) * 0 + P(3) * 1) / R = (1/1 + 2/3) / 3
    assert map_at_r(*args, distance="l2") == pytest.approx((1 + 2 / 3) / 3)
    assert r_precision(*args, distance="l2") == pytest.approx(2 / 3)
    assert precision_at_1(*args, distance="l2") == 1.0
    # a query of class 1 (R = 3 at ranks 2, 4, 5): hits within R: rank 2
    args = (query, np.array([1]), reference, reference_labels)
    assert map_at_r(*args, distance="l2") == pytest.approx((1 / 2) / 3)
    assert r_precision(*args, distance="l2") == pytest.approx(1 / 3)
    assert recall_at_k(*args, k=1, distance="l2") == 0.0
    assert recall_at_k(*args, k=2, distance="l2") == 1.0


def test_map_at_r_rewards_ranking_unlike_r_precision():
    # R = 10; 3 correct items at ranks 1-3 versus 8-10 (docstring example)
    reference = np.arange(1, 21, dtype="float32")[:, None]
    query = np.zeros((1, 1), "float32")
    first = np.array([0] * 3 + [1] * 7 + [0] * 7 + [1] * 3)
    last = np.array([1] * 7 + [0] * 3 + [0] * 7 + [1] * 3)
    for labels, expected_map in [(first, 3 / 10),
                                 (last, (1 / 8 + 2 / 9 + 3 / 10) / 10)]:
        args = (query, np.array([0]), reference, labels)
        assert r_precision(*args, distance="l2") == pytest.approx(0.3)
        assert map_at_r(*args, distance="l2") == pytest.approx(expected_map)
    assert map_at_r(query, np.array([0]), reference, np.r_[[0] * 10, [1] * 10],
                    distance="l2") == 1.0


def test_ties_are_broken_by_reference_index_and_zero_vectors_are_finite():
    # all-zero embeddings: every cosine distance is 1 (a full tie)
    emb = np.zeros((6, 3), "float32")
    labels = np.array([0, 1, 1, 0, 1, 0])
    got = retrieval_metrics(emb, labels, k=(1, 2))
    assert all(np.isfinite(v) for v in got.values())
    expected = reference_metrics(emb, labels, emb, labels, "cosine", True,
                                 ks=(1, 2))
    _assert_close(got, expected)
    # query 0 (class 0) ranks the others 1, 2, 3, 4, 5: first hit at rank 3
    args = (emb[:1], labels[:1], emb[1:], labels[1:])
    assert recall_at_k(*args, k=2) == 0.0
    assert recall_at_k(*args, k=3) == 1.0
    # MAP@R, R = 2 (items 3 and 5 at ranks 3 and 5): none in the top 2
    assert map_at_r(*args) == 0.0
    # with ties at the top-k boundary, the lower indices are kept
    reference = np.array([[1.0], [2.0], [2.0], [2.0]], "float32")
    ref_labels = np.array([1, 1, 0, 1])
    args = (np.zeros((1, 1), "float32"), np.array([0]), reference, ref_labels)
    assert recall_at_k(*args, k=2, distance="l2") == 0.0
    assert recall_at_k(*args, k=3, distance="l2") == 1.0


def test_absent_query_classes_are_excluded():
    reference = np.eye(3, dtype="float32")
    ref_labels = np.array([0, 1, 2])
    query = np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                     "float32")
    query_labels = np.array([0, 7, 8])  # classes 7 and 8: no reference
    got = retrieval_metrics(query, query_labels, reference, ref_labels)
    assert got["num_queries"] == 1 and got["num_excluded_queries"] == 2
    assert got["recall@1"] == got["map@r"] == 1.0
    # every query excluded: nan
    assert np.isnan(recall_at_k(query[1:], query_labels[1:], reference,
                                ref_labels))
    assert np.isnan(map_at_r(np.eye(3), np.arange(3)))  # all singletons


def test_k_larger_than_reference_set_is_clipped():
    emb, labels = _data(4, 6)
    assert recall_at_k(emb, labels, k=100) == reference_metrics(
        emb, labels, emb, labels, "cosine", True, ks=(5,))["recall@5"]


def test_retrieval_errors():
    emb, labels = _data(5, 10)
    with pytest.raises(ValueError, match="Received: distance='dot'"):
        recall_at_k(emb, labels, distance="dot")
    with pytest.raises(ValueError, match="Received: k=0"):
        recall_at_k(emb, labels, k=0)
    with pytest.raises(ValueError, match="reference_embeddings.shape"):
        recall_at_k(emb, labels, emb[:, :2], labels)
    with pytest.raises(ValueError, match="query i is reference i"):
        recall_at_k(emb, labels, emb[:5], labels[:5], exclude_self=True)
    with pytest.raises(ValueError, match="reference_labels is None=True"):
        recall_at_k(emb, labels, emb)
    with pytest.raises(ValueError, match="query_labels.shape"):
        map_at_r(emb, labels[:3])
    with pytest.raises(ValueError, match="finite"):
        map_at_r(np.full((3, 2), np.nan), np.zeros(3, int))
    with pytest.raises(ValueError, match="Received: reference_embeddings.shape"):
        recall_at_k(emb[:1], labels[:1])  # leave-one-out of a single query


def test_public_api():
    for name in ("recall_at_k", "precision_at_1", "r_precision", "map_at_r",
                 "retrieval_metrics", "verification_accuracy", "roc_auc"):
        assert name in kzoo.eval.__all__ and hasattr(kzoo.eval, name)


# ---------------------------------------------------------------- verification


def reference_verification(distances, labels):
    best = (-1.0, None)
    candidates = np.r_[distances.min() - 1.0, np.unique(distances)]
    for t in candidates:
        accuracy = np.mean((distances <= t) == (labels == 0))
        if accuracy > best[0]:
            best = (accuracy, t)
    return best


def test_verification_accuracy_hand_computed():
    # similar (0) at 0.1 and 0.4, dissimilar (1) at 0.35 and 0.8:
    # t = 0.1 -> 3 / 4 correct (the first best threshold)
    acc, t = verification_accuracy([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert (acc, t) == (0.75, pytest.approx(0.1))
    # perfectly separable: threshold = largest similar distance
    acc, t = verification_accuracy(np.array([[0.2], [0.3], [0.9]]),
                                   np.array([[0], [0], [1]]))
    assert (acc, t) == (1.0, pytest.approx(0.3))
    # everything dissimilar: predict none similar, threshold below the min
    acc, t = verification_accuracy([0.5, 0.7], [1, 1])
    assert acc == 1.0 and t < 0.5
    # "<=": a similar pair exactly at the threshold is predicted similar
    acc, t = verification_accuracy([1.0, 1.0, 2.0], [0, 0, 1])
    assert (acc, t) == (1.0, 1.0)


def test_verification_accuracy_against_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(5):
        labels = rng.integers(0, 2, 200)
        distances = np.round(rng.normal(size=200) + labels, 1)  # many ties
        acc, t = verification_accuracy(distances, labels)
        expected_acc, expected_t = reference_verification(distances, labels)
        assert acc == pytest.approx(expected_acc)
        assert np.mean((distances <= t) == (labels == 0)) == pytest.approx(acc)
        if expected_t >= distances.min():
            assert t == pytest.approx(expected_t)


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    for decimals in (None, 1, 0):
        labels = rng.integers(0, 2, 300)
        distances = rng.normal(size=300) + 0.8 * labels
        if decimals is not None:
            distances = np.round(distances, decimals)
        expected = roc_auc_score(labels == 0, -distances)
        assert roc_auc(distances, labels) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_hand_computed_and_errors():
    # similar at 0.1, 0.4; dissimilar at 0.35, 0.8: 3 of 4 orderings right
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert roc_auc([1.0, 1.0], [0, 1]) == 0.5  # a tie counts one half
    with pytest.raises(ValueError, match="0 similar"):
        roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="Received: labels values"):
        roc_auc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="labels.shape"):
        verification_accuracy([0.1, 0.2], [0])


def test_verification_pairs_by_hand():
    # people 0, 0, 0, 1, 1; groups (videos) 5, 5, 6, 7, 8
    labels = np.array([0, 0, 0, 1, 1])
    groups = np.array([5, 5, 6, 7, 8])
    i, j, y = kzoo.eval.verification_pairs(labels, groups, seed=3)
    similar = sorted(zip(i[y == 0].tolist(), j[y == 0].tolist()))
    # (0, 1) share video 5: near-duplicates, not a similar pair
    assert similar == [(0, 2), (1, 2), (3, 4)]
    dissimilar = list(zip(i[y == 1].tolist(), j[y == 1].tolist()))
    assert len(dissimilar) == 3 and len(set(dissimilar)) == 3
    for a, b in dissimilar:
        assert a < b and labels[a] != labels[b]
    # without groups every same-label pair is similar
    _, _, y_all = kzoo.eval.verification_pairs(labels)
    assert (y_all == 0).sum() == 4
    # all dissimilar pairs when asked for more than exist; seeded sample
    _, _, y_many = kzoo.eval.verification_pairs(labels, groups, 100)
    assert (y_many == 1).sum() == 6
    again = kzoo.eval.verification_pairs(labels, groups, seed=3)
    for a, b in zip(again, (i, j, y)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="num_dissimilar"):
        kzoo.eval.verification_pairs(labels, groups, -1)
    with pytest.raises(ValueError, match="groups"):
        kzoo.eval.verification_pairs(labels, groups[:3])
