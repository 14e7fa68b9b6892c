"""The in-batch loss cases both distribution workers check.

`tests/distribute_loss_worker.py` (TensorFlow, `MirroredStrategy`) and
`tests/distribute_jax_worker.py` (JAX, `keras.distribution.DataParallel`)
give each case the same global batch on one device and split over N
replicas; the builders use `keras.ops`, so they run on either backend.
Plain numpy at import: Keras is imported inside `cases()`, after the
worker has chosen the backend.
"""

import numpy as np

BATCH, DIM = 16, 8


def cases():
    """`{name: (loss factory, build(arrays) -> (y_true, y_pred), float
    array names, use sample weights)}`."""
    from keras import ops

    from kzoo import addons, losses

    def pair(a):
        return None, {"z1": a["z1"], "z2": a["z2"]}

    def stacked(a):
        return None, ops.concatenate([a["z1"], a["z2"]], 0)

    def labelled(a):
        return a["labels"], a["z1"]

    def views(a):
        return a["labels"], ops.stack([a["z1"], a["z2"]], 1)

    def clip(a):
        return a["words"], {"a": a["z1"], "b": a["z2"], "scale": 12.0}

    def npairs(a):
        return a["labels"], {"anchors": a["z1"], "positives": a["z2"]}

    def npairs_multi(a):
        return a["onehot"], {"anchors": a["z1"], "positives": a["z2"]}

    def nnclr(a):
        # the neighbours are data (no gradient), the predictions are not;
        # row-local stand-ins, so each replica builds its own rows
        return None, {"nn1": ops.stop_gradient(ops.flip(a["z2"], axis=1)),
                      "p2": a["z2"], "p1": a["z1"],
                      "nn2": ops.stop_gradient(ops.flip(a["z1"], axis=1))}

    two, one = ("z1", "z2"), ("z1",)
    return {
        "nt_xent_dict": (lambda: losses.NTXentLoss(0.5), pair, two, False),
        "nt_xent_stacked": (lambda: losses.NTXentLoss(0.5), stacked, two,
                            False),
        "nt_xent_weighted": (lambda: losses.NTXentLoss(0.5), pair, two,
                             True),
        "nt_xent_none": (lambda: losses.NTXentLoss(
            0.5, reduction="none"), pair, two, False),
        "clip_duplicates": (lambda: losses.ClipLoss(), clip, two, False),
        "clip_stacked": (lambda: losses.ClipLoss(), stacked, two, False),
        "supcon": (lambda: losses.SupConLoss(0.5), labelled, one, False),
        "supcon_views_weighted": (lambda: losses.SupConLoss(0.5), views,
                                  two, True),
        "triplet_all": (lambda: losses.TripletLoss(mining="all"), labelled,
                        one, False),
        "triplet_hard_l2": (lambda: losses.TripletLoss(
            mining="hard", distance="l2"), labelled, one, False),
        "triplet_semi_hard": (lambda: losses.TripletLoss(
            margin=0.5, mining="semi-hard"), labelled, one, False),
        "triplet_semi_hard_cosine": (lambda: losses.TripletLoss(
            margin=0.2, mining="semi-hard", distance="cosine"), labelled,
            one, True),
        "barlow_twins": (lambda: losses.BarlowTwinsLoss(), pair, two,
                         False),
        "nnclr": (lambda: losses.NNCLRLoss(0.5), nnclr, two, False),
        "addons_triplet_semihard": (
            lambda: addons.losses.TripletSemiHardLoss(), labelled, one,
            False),
        "addons_triplet_hard_soft": (
            lambda: addons.losses.TripletHardLoss(soft=True), labelled, one,
            False),
        "addons_lifted": (lambda: addons.losses.LiftedStructLoss(),
                          labelled, one, False),
        "addons_npairs_embeddings": (lambda: addons.losses.NpairsLoss(),
                                     npairs, two, False),
        "addons_npairs_multilabel_embeddings": (
            lambda: addons.losses.NpairsMultilabelLoss(), npairs_multi, two,
            False),
    }


# The case names, without importing Keras (for the tests' parametrize).
NAMES = ["nt_xent_dict", "nt_xent_stacked", "nt_xent_weighted",
         "nt_xent_none", "clip_duplicates", "clip_stacked", "supcon",
         "supcon_views_weighted", "triplet_all", "triplet_hard_l2",
         "triplet_semi_hard", "triplet_semi_hard_cosine", "barlow_twins",
         "nnclr",
         "addons_triplet_semihard", "addons_triplet_hard_soft",
         "addons_lifted", "addons_npairs_embeddings",
         "addons_npairs_multilabel_embeddings"]


def data():
    """The global batch: embeddings, labels, words, weights, one-hots."""
    rng = np.random.default_rng(0)
    return {
        "z1": rng.normal(size=(BATCH, DIM)).astype("float32"),
        "z2": rng.normal(size=(BATCH, DIM)).astype("float32"),
        # 4 classes, so every shard of 4 (N = 4) misses some positives.
        "labels": rng.permutation(np.arange(BATCH) % 4).astype("int32"),
        # Words with duplicates for CLIP.
        "words": rng.integers(0, 10, BATCH).astype("int32"),
        "weights": rng.uniform(0.5, 1.5, BATCH).astype("float32"),
        "onehot": np.eye(4, dtype="float32")[rng.integers(0, 4, BATCH)],
    }
