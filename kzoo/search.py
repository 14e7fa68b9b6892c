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
- `"auto"`: what `benchmarks/bench_search.py` found fastest on this CPU
  (`benchmarks/results/bench_search.json`): NumPy below
  `FAISS_MIN_GALLERY` gallery rows (at 1,000 rows it beats FAISS' flat
  index); FAISS' exact index from there (3.2-3.4x NumPy's speed at
  10,000-100,000 rows, the same neighbours); HNSW only when at least
  `HNSW_MIN_QUERIES` queries are searched at once, since its build costs
  as much as about 3,000 exact queries (2,950 at 100,000 rows, 2,100 at
  300,000: build time over the per-query time saved) and its answers are
  approximate. Without FAISS, always NumPy.

FAISS is optional (`pip install faiss-cpu`); without it the FAISS kinds
raise an `ImportError` that says so.
"""

import numpy as np

KINDS = ("auto", "exact", "faiss-exact", "faiss-hnsw")
# From benchmarks/bench_search.py (docs/serving.md's table): gallery rows from
# which FAISS' flat index beats NumPy, and queries from which building an
# HNSW index pays back against it.
FAISS_MIN_GALLERY = 10_000
HNSW_MIN_QUERIES = 3_000


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


def auto_kind(num_gallery, num_queries=None, faiss=None):
    """The kind `"auto"` picks for `num_gallery` rows and `num_queries`
    queries searched at once (`None`: a few), with FAISS installed or not
    (`None`: look)."""
    if faiss is None:
        faiss = faiss_available()
    if not faiss or num_gallery < FAISS_MIN_GALLERY:
        return "exact"
    if num_queries is not None and num_queries >= HNSW_MIN_QUERIES:
        return "faiss-hnsw"
    return "faiss-exact"


def build_index(gallery, kind="auto", num_queries=None):
    """A search index over `gallery` embeddings `[N, D]` (see the module
    docstring for the kinds); `num_queries`, the number of queries to be
    searched, only informs `"auto"`."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: "
                         f"kind={kind!r}")
    if kind == "auto":
        kind = auto_kind(len(gallery), num_queries)
    if kind == "exact":
        return ExactIndex(gallery)
    return FaissIndex(gallery, kind)
