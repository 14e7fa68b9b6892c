"""kzoo.search: exact search equals a NumPy brute force; FAISS' exact index
agrees with it; HNSW's recall against exact search is measured."""

import numpy as np
import pytest

from kzoo import search


def _clustered(n, dim, rng, centres):
    x = centres[rng.integers(0, len(centres), n)] + 0.35 * rng.normal(
        size=(n, dim))
    return x.astype(np.float32)


def test_exact_equals_brute_force():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(500, 16)).astype(np.float32)
    queries = rng.normal(size=(37, 16)).astype(np.float32)
    scores, ids = search.ExactIndex(gallery, block=8).search(queries, 5)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = q @ g.T
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(sims, expected, 1),
                               atol=1e-6)


def test_ties_go_to_the_lower_index_and_zero_rows_stay_zero():
    gallery = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], np.float32)
    scores, ids = search.ExactIndex(gallery).search(np.array([[2, 0]]), 4)
    assert ids.tolist() == [[0, 1, 2, 3]]
    np.testing.assert_allclose(scores, [[1, 1, 0, 0]], atol=1e-7)


def test_k_larger_than_gallery_and_bad_input():
    index = search.ExactIndex(np.eye(3, dtype=np.float32))
    assert index.search(np.eye(3), 10)[1].shape == (3, 3)
    with pytest.raises(ValueError, match="Received: k=0"):
        index.search(np.eye(3), 0)
    with pytest.raises(ValueError, match="finite"):
        index.search(np.array([[np.nan, 0, 0]]), 1)
    with pytest.raises(ValueError, match="Received: kind='annoy'"):
        search.build_index(np.eye(3), "annoy")


def test_auto_is_exact_below_the_threshold():
    index = search.build_index(np.eye(4, dtype=np.float32), "auto")
    assert index.kind == "exact"


def test_auto_follows_the_benchmark_thresholds():
    big, many = search.FAISS_MIN_GALLERY, search.HNSW_MIN_QUERIES
    assert search.auto_kind(big - 1, many, faiss=True) == "exact"
    assert search.auto_kind(big, None, faiss=True) == "faiss-exact"
    assert search.auto_kind(big, many - 1, faiss=True) == "faiss-exact"
    assert search.auto_kind(big, many, faiss=True) == "faiss-hnsw"
    assert search.auto_kind(10 * big, 10 * many, faiss=False) == "exact"


def test_faiss_exact_agrees_and_hnsw_recall_is_measured():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(50, 32))
    gallery = _clustered(5000, 32, rng, centres)
    queries = _clustered(200, 32, rng, centres)
    _, exact = search.ExactIndex(gallery).search(queries, 10)
    s_flat, flat = search.build_index(gallery, "faiss-exact").search(
        queries, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10
                       for a, b in zip(flat, exact)])
    assert overlap > 0.999  # the same neighbours, up to float ties
    _, hnsw = search.build_index(gallery, "faiss-hnsw").search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10
                      for a, b in zip(hnsw, exact)])
    assert recall >= 0.9, recall
