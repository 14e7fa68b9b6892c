"""Nearest-neighbour search over embeddings: exact, or FAISS when it pays.

`build_index(gallery, kind)` returns an object with `search(queries, k)`
-> `(scores, ids)`, both `[Q, k]`, best first, scores the cosine
similarity (inner product of L2-normalised rows; zero rows stay zero):

- `"exact"`: NumPy brute force, one matrix product per block of queries
  (ties broken by the lower gallery index);
- `"faiss-exact"`: FAISS `IndexFlatIP`, the same search in FAISS' kernels;
- `"faiss-hnsw"`: FAISS `IndexHNSWFlat` (inner product; `M` 32,
  `efConstruction` 80, `efSearch` 64), approximate: its Recall@k against
  exact search is measured by `benchmarks/bench_search.py`;
- `"auto"`: exact below `HNSW_MIN_GALLERY` gallery rows (where an HNSW
  index is no faster to build and query than brute force on this CPU,
  measured by the same benchmark), HNSW above it when FAISS is installed,
  exact otherwise.

FAISS is optional (`pip install faiss-cpu`); without it the FAISS kinds
raise an `ImportError` that says so.
"""

import numpy as np

KINDS = ("auto", "exact", "faiss-exact", "faiss-hnsw")
# Gallery size from which HNSW's build + queries beat brute force (see
# benchmarks/bench_search.py and the README's table).
HNSW_MIN_GALLERY = 200_000


def normalize_rows(x):
    """`float32` rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2D array [N, D]. Received: "
                         f"shape={x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings must be finite (no NaN or inf)")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class ExactIndex:
    """Brute-force cosine search in NumPy."""

    kind = "exact"

    def __init__(self, gallery, block=1024):
        self.gallery = normalize_rows(gallery)
        self.block = int(block)

    def __len__(self):
        return len(self.gallery)

    def search(self, queries, k):
        queries = normalize_rows(queries)
        k = _check_k(k, len(self.gallery))
        scores, ids = [], []
        for start in range(0, len(queries), self.block):
            sims = queries[start:start + self.block] @ self.gallery.T
            # Stable sort on -similarity: ties go to the lower index.
            order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            ids.append(order)
            scores.append(np.take_along_axis(sims, order, axis=1))
        return (np.concatenate(scores) if scores else np.zeros((0, k),
                                                               np.float32),
                np.concatenate(ids) if ids else np.zeros((0, k), np.int64))


class FaissIndex:
    """FAISS inner-product index over L2-normalised rows."""

    def __init__(self, gallery, kind="faiss-hnsw", m=32,
                 ef_construction=80, ef_search=64):
        faiss = _faiss()
        gallery = normalize_rows(gallery)
        dim = gallery.shape[1]
        if kind == "faiss-exact":
            self.index = faiss.IndexFlatIP(dim)
        elif kind == "faiss-hnsw":
            self.index = faiss.IndexHNSWFlat(dim, m,
                                             faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
            self.index.hnsw.efSearch = ef_search
        else:
            raise ValueError(f"`kind` must be 'faiss-exact' or "
                             f"'faiss-hnsw'. Received: kind={kind!r}")
        self.kind = kind
        self.index.add(np.ascontiguousarray(gallery))

    def __len__(self):
        return self.index.ntotal

    def search(self, queries, k):
        k = _check_k(k, len(self))
        scores, ids = self.index.search(
            np.ascontiguousarray(normalize_rows(queries)), k)
        return scores, ids.astype(np.int64)


def _check_k(k, n):
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
    return min(int(k), n)


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError("FAISS is not installed: `pip install faiss-cpu`, "
                          "or use the exact search (kind='exact')") from None
    return faiss


def faiss_available():
    try:
        _faiss()
    except ImportError:
        return False
    return True


def build_index(gallery, kind="auto"):
    """A search index over `gallery` embeddings `[N, D]` (see the module
    docstring for the kinds)."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: "
                         f"kind={kind!r}")
    if kind == "auto":
        big = len(gallery) >= HNSW_MIN_GALLERY
        kind = "faiss-hnsw" if big and faiss_available() else "exact"
    if kind == "exact":
        return ExactIndex(gallery)
    return FaissIndex(gallery, kind)
