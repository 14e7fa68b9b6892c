"""Cross-modal retrieval and zero-shot classification of a dual encoder."""

import numpy as np

from kzoo._api import kzoo_export
from kzoo.eval.knn import _to_2d_float32
from kzoo.eval.retrieval import _evaluate


@kzoo_export("kzoo.eval.cross_modal_recall")
def cross_modal_recall(embeddings_a, labels_a, embeddings_b, labels_b,
                       ks=(1, 5, 10), distance="cosine", batch_size=256):
    """Recall@k in both directions between two modalities.

    `a -> b`: every `a` is a query searched among all the `b`; a hit at
    `k` is any `b` with the query's label (word, class) among its `k`
    nearest (`kzoo.eval.recall_at_k`'s definition). Duplicates are counted
    by label, not by row: when the test set holds the same word several
    times (four voices of one word, or two identical texts), retrieving
    any of them is correct, and none is a distractor. `b -> a` is the same
    with the roles swapped. Queries whose label has no item on the other
    side are excluded and counted.

    Chance level for recall@1 with each label once on the reference side
    is `1 / number of labels` (0.5% for 200 held-out words).

    Args:
        embeddings_a: `[N_a, D]` embeddings of the first modality.
        labels_a: `[N_a]` integer labels.
        embeddings_b: `[N_b, D]` embeddings of the second modality.
        labels_b: `[N_b]` integer labels.
        ks: the `k` values. Defaults to `(1, 5, 10)`.
        distance: `"cosine"` or `"l2"`. Defaults to `"cosine"`.
        batch_size: queries per distance block. Defaults to `256`.

    Returns:
        A dict `{"a_to_b_recall@k": ..., "b_to_a_recall@k": ...,
        "a_to_b_excluded_queries": ..., "b_to_a_excluded_queries": ...}`.

    Example:

    >>> za, zb = model.embed_a(audio), model.embed_b(texts)
    >>> kzoo.eval.cross_modal_recall(za, word_ids, zb, text_word_ids)
    """
    out = {}
    for name, (qe, ql, re, rl) in {
            "a_to_b": (embeddings_a, labels_a, embeddings_b, labels_b),
            "b_to_a": (embeddings_b, labels_b, embeddings_a, labels_a)}.items():
        result = _evaluate(qe, ql, re, rl, distance, False, batch_size,
                           ks=list(ks))
        for k in ks:
            out[f"{name}_recall@{k}"] = result[f"recall@{k}"]
        out[f"{name}_excluded_queries"] = result["num_excluded_queries"]
    return out


@kzoo_export("kzoo.eval.nearest_centroid_accuracy")
def nearest_centroid_accuracy(query_embeddings, query_labels,
                              class_embeddings, class_labels):
    """Zero-shot classification: each query takes the class of the nearest
    class centroid of the other modality (cosine).

    The centroid of a class is the mean of its L2-normalised embeddings
    (e.g. the images of one digit), normalised again; queries (e.g.
    recordings) are assigned the class with the highest cosine. Chance is
    `1 / number of classes`.

    Args:
        query_embeddings: `[N, D]`.
        query_labels: `[N]` integer labels (the truth).
        class_embeddings: `[M, D]` embeddings of the other modality.
        class_labels: `[M]` their labels.

    Returns:
        Accuracy, a Python float.
    """
    q = _to_2d_float32(query_embeddings, "query_embeddings")
    c = _to_2d_float32(class_embeddings, "class_embeddings")
    if q.shape[1] != c.shape[1]:
        raise ValueError(
            "Both modalities must have one embedding width. Received: "
            f"query_embeddings.shape={q.shape}, "
            f"class_embeddings.shape={c.shape}")
    query_labels = np.asarray(query_labels).reshape(-1)
    class_labels = np.asarray(class_labels).reshape(-1)
    if len(query_labels) != len(q) or len(class_labels) != len(c):
        raise ValueError(
            "One label per embedding. Received: "
            f"{len(q)} queries / {len(query_labels)} labels, "
            f"{len(c)} class embeddings / {len(class_labels)} labels")
    unit = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    classes = np.unique(class_labels)
    centroids = np.stack([unit[class_labels == k].mean(0) for k in classes])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1,
                                           keepdims=True), 1e-12)
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    predicted = classes[np.argmax(qn @ centroids.T, axis=1)]
    return float(np.mean(predicted == query_labels))
