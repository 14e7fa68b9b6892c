"""TripletLoss (explicit triplets, batch-all, batch-hard, semi-hard)."""

import itertools

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import BACKEND
from tests.backend_utils import as_dtype
from tests.backend_utils import f32
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad

MININGS = ["all", "hard", "semi-hard"]
DISTANCES = ["squared_l2", "l2", "cosine"]


# ---------------------------------------------------------------- numpy refs

def _d(x, y, distance):
    if distance == "cosine":
        nx, ny = np.linalg.norm(x), np.linalg.norm(y)
        return 1.0 - (x @ y / (nx * ny) if nx > 0 and ny > 0 else 0.0)
    d2 = float(((x - y) ** 2).sum())
    return d2 if distance == "squared_l2" else np.sqrt(d2)


def _term(m, dap, dan):
    return 0.5 * max(0.0, m + dap - dan)


def ref_none(y, m, distance):
    return np.array([_term(m, _d(a, p, distance), _d(a, n, distance))
                     for a, p, n in y])


def _triplets(labels):
    b = len(labels)
    for a, p, n in itertools.product(range(b), repeat=3):
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
            yield a, p, n


def ref_all(labels, x, m, distance):
    terms = [_term(m, _d(x[a], x[p], distance), _d(x[a], x[n], distance))
             for a, p, n in _triplets(labels)]
    active = [t for t in terms if t > 0]
    loss = np.mean(active) if active else 0.0
    return loss, (len(active) / len(terms) if terms else 0.0)


def ref_hard(labels, x, m, distance):
    per_anchor = []
    for a in range(len(labels)):
        pos = [_d(x[a], x[p], distance) for p in range(len(labels))
               if p != a and labels[p] == labels[a]]
        neg = [_d(x[a], x[n], distance) for n in range(len(labels))
               if labels[n] != labels[a]]
        if pos and neg:
            per_anchor.append(_term(m, max(pos), min(neg)))
    return np.mean(per_anchor) if per_anchor else 0.0


def ref_semi_hard(labels, x, m, distance):
    # tensorflow-addons' triplet_semihard_loss (halved), pairs whose anchor
    # has a negative.
    per_pair = []
    for a in range(len(labels)):
        negs = [_d(x[a], x[n], distance) for n in range(len(labels))
                if labels[n] != labels[a]]
        if not negs:
            continue
        for p in range(len(labels)):
            if p == a or labels[p] != labels[a]:
                continue
            dap = _d(x[a], x[p], distance)
            farther = [d for d in negs if d > dap]
            dan = min(farther) if farther else max(negs)
            per_pair.append(_term(m, dap, dan))
    return np.mean(per_pair) if per_pair else 0.0


REFS = {"all": lambda *a: ref_all(*a)[0], "hard": ref_hard,
        "semi-hard": ref_semi_hard}
TWINS = {"all": lambda *a, **k: kzoo.losses.batch_all_triplet_loss(*a, **k)[0],
         "hard": kzoo.losses.batch_hard_triplet_loss,
         "semi-hard": kzoo.losses.semi_hard_triplet_loss}


def _batch(seed=0, b=12, d=5, classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=b)
    x = rng.normal(size=(b, d)).astype("float32") * 0.6
    return labels, x


# ---------------------------------------------------------- hand computations

# 1-D embeddings, so the l2 distance is |x_i - x_j|:
# index: 0     1    2     3    4
# x:     0.0   1.0  -0.4  1.7  3.2
# class: 0     0    1     1    1
HAND_LABELS = np.array([0, 0, 1, 1, 1])
HAND_X = np.array([[0.0], [1.0], [-0.4], [1.7], [3.2]], "float32")


def test_hand_computed_explicit_triplets():
    y = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]],     # d_ap^2 1, d_an^2 4
                  [[0.0, 0.0], [3.0, 0.0], [0.0, 1.0]]],    # d_ap^2 9, d_an^2 1
                 "float32")
    # squared_l2: 0.5*max(0, 1 + 1 - 4) = 0, 0.5*(1 + 9 - 1) = 4.5
    loss = kzoo.losses.TripletLoss(reduction="none")
    np.testing.assert_allclose(to_numpy(loss(None, y)), [0.0, 4.5], rtol=1e-6)
    # l2: 0.5*max(0, 1 + 1 - 2) = 0, 0.5*(1 + 3 - 1) = 1.5
    loss = kzoo.losses.TripletLoss(distance="l2", reduction="none")
    np.testing.assert_allclose(to_numpy(loss(None, y)), [0.0, 1.5], rtol=1e-6)
    # cosine: a = 0 is a zero vector -> d = 1 to everything: 0.5*(1 + 1 - 1)
    loss = kzoo.losses.TripletLoss(distance="cosine", reduction="none")
    np.testing.assert_allclose(to_numpy(loss(None, y)), [0.5, 0.5], rtol=1e-6)
    # default reduction: mean over the B triplets
    assert float(kzoo.losses.TripletLoss(distance="l2")(None, y)) == pytest.approx(0.75)


def test_hand_computed_batch_hard():
    # per anchor: farthest positive, closest negative, 0.5*max(0, 1 + hp - hn)
    # 0: hp 1.0 (x=1), hn 0.4 (x=-0.4) -> 0.5 * 1.6 = 0.8
    # 1: hp 1.0, hn 0.7 (x=1.7)        -> 0.5 * 1.3 = 0.65
    # 2: hp 3.6 (x=3.2), hn 0.4 (x=0)  -> 0.5 * 4.2 = 2.1
    # 3: hp 2.1 (x=-0.4), hn 0.7 (x=1) -> 0.5 * 2.4 = 1.2
    # 4: hp 3.6 (x=-0.4), hn 2.2 (x=1) -> 0.5 * 2.4 = 1.2
    loss = kzoo.losses.TripletLoss(distance="l2", mining="hard")
    assert float(loss(HAND_LABELS, HAND_X)) == pytest.approx(5.95 / 5, abs=1e-5)
    per_anchor = kzoo.losses.TripletLoss(distance="l2", mining="hard",
                                         reduction="none")(HAND_LABELS, HAND_X)
    np.testing.assert_allclose(to_numpy(per_anchor), [0.8, 0.65, 2.1, 1.2, 1.2],
                               atol=1e-5)


def test_hand_computed_semi_hard():
    # (a, p): d_ap; negatives of a; chosen negative; 0.5*max(0, 1 + d_ap - d_an)
    # (0, 1): 1.0; 0.4 1.7 3.2; closest > 1.0 = 1.7      -> 0.15
    # (1, 0): 1.0; 1.4 0.7 2.2; closest > 1.0 = 1.4      -> 0.3
    # (2, 3): 2.1; 0.4 1.4;     none farther: largest 1.4 -> 0.85
    # (2, 4): 3.6; 0.4 1.4;     none farther: largest 1.4 -> 1.6
    # (3, 2): 2.1; 1.7 0.7;     none farther: largest 1.7 -> 0.7
    # (3, 4): 1.5; 1.7 0.7;     closest > 1.5 = 1.7      -> 0.4
    # (4, 2): 3.6; 3.2 2.2;     none farther: largest 3.2 -> 0.7
    # (4, 3): 1.5; 3.2 2.2;     closest > 1.5 = 2.2      -> 0.15
    # mean over the 8 pairs: 4.85 / 8
    loss = kzoo.losses.TripletLoss(distance="l2", mining="semi-hard")
    assert float(loss(HAND_LABELS, HAND_X)) == pytest.approx(4.85 / 8, abs=1e-5)
    per_pair = to_numpy(kzoo.losses.TripletLoss(
        distance="l2", mining="semi-hard", reduction="none")(HAND_LABELS, HAND_X))
    assert per_pair.shape == (5, 5)
    assert per_pair[0, 1] == pytest.approx(0.15, abs=1e-5)
    assert per_pair[3, 4] == pytest.approx(0.4, abs=1e-5)


def test_hand_computed_batch_all_and_fraction():
    labels = np.array([0, 0, 1])
    x = np.array([[0.0], [1.0], [2.5]], "float32")
    # valid triplets: (0, 1, 2): 0.5*max(0, 1 + 1 - 2.5) = 0 (inactive)
    #                 (1, 0, 2): 0.5*max(0, 1 + 1 - 1.5) = 0.25
    loss, fraction = kzoo.losses.batch_all_triplet_loss(labels, x, distance="l2")
    assert float(loss) == pytest.approx(0.25, abs=1e-6)
    assert float(fraction) == pytest.approx(0.5)
    cls = kzoo.losses.TripletLoss(distance="l2", mining="all")
    assert float(cls(labels, x)) == pytest.approx(0.25, abs=1e-6)
    metric = kzoo.losses.ActiveTripletFraction(distance="l2")
    metric.update_state(labels, x)
    metric.update_state(labels, np.array([[0.0], [0.0], [0.5]], "float32"))
    # second batch: (0,1,2) 1 + 0 - 0.5 > 0 and (1,0,2) too -> fraction 1
    assert float(metric.result()) == pytest.approx(0.75)


# ------------------------------------------------------------ random batches

@pytest.mark.parametrize("distance", DISTANCES)
def test_explicit_triplets_match_numpy(distance):
    rng = np.random.default_rng(1)
    y = rng.normal(size=(7, 3, 4)).astype("float32")
    got = kzoo.losses.triplet_loss(y[:, 0], y[:, 1], y[:, 2], margin=0.7,
                                   distance=distance)
    np.testing.assert_allclose(to_numpy(got), ref_none(y, 0.7, distance),
                               rtol=1e-4, atol=1e-5)
    cls = kzoo.losses.TripletLoss(margin=0.7, distance=distance)
    assert float(cls(None, y)) == pytest.approx(ref_none(y, 0.7, distance).mean(),
                                                abs=1e-5)


@pytest.mark.parametrize("mining,distance",
                         list(itertools.product(MININGS, DISTANCES)))
def test_mining_matches_numpy(mining, distance):
    for seed in (0, 1):
        labels, x = _batch(seed)
        ref = REFS[mining](labels, x, 0.5, distance)
        assert ref > 0
        twin = TWINS[mining](labels, x, margin=0.5, distance=distance)
        cls = kzoo.losses.TripletLoss(margin=0.5, distance=distance, mining=mining)
        assert float(twin) == pytest.approx(ref, rel=1e-4, abs=1e-5)
        assert float(cls(labels, x)) == pytest.approx(ref, rel=1e-4, abs=1e-5)
    if mining == "all":
        _, fraction = kzoo.losses.batch_all_triplet_loss(labels, x, 0.5, distance)
        assert float(fraction) == pytest.approx(ref_all(labels, x, 0.5, distance)[1])


def test_semi_hard_is_half_tfa_with_squared_l2():
    # tfa's "L_2" is the squared distance and has no 1/2 factor: a direct
    # port of its tensor formula (every anchor here has a negative).
    labels, x = _batch(3)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    adj = labels[:, None] == labels[None]
    b = len(labels)
    tfa = []
    for a in range(b):
        neg = d[a][~adj[a]]
        for p in range(b):
            if p != a and adj[a, p]:
                outside = neg[neg > d[a, p]]
                dan = outside.min() if outside.size else neg.max()
                tfa.append(max(1.0 + d[a, p] - dan, 0.0))
    got = kzoo.losses.semi_hard_triplet_loss(labels, x)
    assert float(got) == pytest.approx(np.mean(tfa) / 2, rel=1e-4)


@pytest.mark.parametrize("mining", MININGS)
def test_invariant_to_batch_order(mining):
    labels, x = _batch(4)
    perm = np.random.default_rng(0).permutation(len(labels))
    loss = kzoo.losses.TripletLoss(mining=mining, margin=0.5)
    assert float(loss(labels[perm], x[perm])) == pytest.approx(
        float(loss(labels, x)), rel=1e-5)


@pytest.mark.parametrize("mining", ["none"] + MININGS)
@pytest.mark.parametrize("distance", DISTANCES)
def test_zero_loss_when_classes_separated_by_more_than_margin(mining, distance):
    # class 0 around (10, 0), class 1 around (0, 10): squared / l2 distances
    # within a class <= 0.02, across >= 14; cosine 1e-4 vs ~1.
    labels = np.array([0, 0, 0, 1, 1, 1])
    x = np.array([[10, 0], [10, 0.1], [10.1, 0], [0, 10], [0.1, 10], [0, 10.1]],
                 "float32")
    margin = 0.5
    if mining == "none":
        y = np.stack([x[[0, 1, 3]], x[[1, 2, 4]], x[[5, 4, 0]]])  # (a, p, n)
        assert float(kzoo.losses.TripletLoss(margin, distance)(None, y)) == 0.0
    else:
        loss = kzoo.losses.TripletLoss(margin, distance, mining)
        assert float(loss(labels, x)) == 0.0


def test_sample_weight_is_per_anchor_and_reductions():
    labels, x = HAND_LABELS, HAND_X
    per_anchor = np.array([0.8, 0.65, 2.1, 1.2, 1.2])
    w = np.array([1.0, 0.0, 0.0, 2.0, 0.0], "float32")
    hard = lambda r="sum_over_batch_size": kzoo.losses.TripletLoss(  # noqa: E731
        distance="l2", mining="hard", reduction=r)
    assert float(hard()(labels, x, sample_weight=w)) == pytest.approx(
        (0.8 + 2 * 1.2) / 5, abs=1e-5)
    assert float(hard("sum")(labels, x)) == pytest.approx(per_anchor.sum(), abs=1e-5)
    assert float(hard("mean_with_sample_weight")(labels, x, sample_weight=w)) == \
        pytest.approx((0.8 + 2 * 1.2) / 3, abs=1e-5)
    # semi-hard: anchor weights broadcast over the anchor's positives
    semi = kzoo.losses.TripletLoss(distance="l2", mining="semi-hard")
    # anchor 0 has one pair (0.15): 0.15 / 8 valid pairs
    assert float(semi(labels, x, sample_weight=[1, 0, 0, 0, 0])) == pytest.approx(
        0.15 / 8, abs=1e-6)
    assert kzoo.losses.TripletLoss(mining="all", reduction="none")(
        labels, x).shape == (5, 5, 5)
    # anchors without a positive are excluded from the mean (not counted as 0)
    labels2 = np.array([0, 0, 1, 2, 3])
    x2 = HAND_X
    # only anchors 0 and 1 are valid: 0.5*(1 + 1 - 0.4), 0.5*(1 + 1 - 0.7)
    assert float(hard()(labels2, x2)) == pytest.approx((0.8 + 0.65) / 2, abs=1e-5)


def test_large_integer_labels_are_not_merged():
    # float32(2**24) == float32(2**24 + 1): a float cast would make the two
    # classes one (no negative -> loss 0).
    labels = np.array([2**24, 2**24, 2**24 + 1, 2**24 + 1], "int64")
    x = np.array([[0.0], [1.0], [0.5], [2.0]], "float32")
    for mining in MININGS:
        loss = kzoo.losses.TripletLoss(mining=mining, dtype="float16")
        assert float(loss(labels, x)) > 0


# ------------------------------------------------------------- degenerates

def _finite_grad(loss, y_true, x, dtype):
    value, (grad,) = value_and_grad(lambda e: loss(y_true, e), as_dtype(x, dtype))
    value = float(f32(value))
    assert np.isfinite(value)
    assert grad is not None
    assert np.all(np.isfinite(f32(grad)))
    return value


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("mining", MININGS)
def test_degenerate_batches(mining, distance, dtype):
    loss = kzoo.losses.TripletLoss(distance=distance, mining=mining)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    # no positive pair / one class only: no valid triplet -> exactly 0
    for labels in (np.array([0, 1, 2, 3]), np.array([5, 5, 5, 5])):
        assert _finite_grad(loss, labels, x, dtype) == 0.0
    labels = np.array([0, 0, 1, 1])
    # duplicated embeddings (all distances 0), zero vectors
    dup = np.tile(x[:1], (4, 1))
    for emb in (dup, np.zeros((4, 3), "float32")):
        value = _finite_grad(loss, labels, emb, dtype)
        # every distance equal (cosine: zero vectors are at distance 1) ->
        # each valid triplet gives 0.5 * margin
        assert value == pytest.approx(0.5)
    # a duplicated pair inside an otherwise normal batch
    x2 = x.copy()
    x2[1] = x2[0]
    _finite_grad(loss, labels, x2, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("distance", DISTANCES)
def test_degenerate_explicit_triplets(distance, dtype):
    loss = kzoo.losses.TripletLoss(distance=distance)
    for y in (np.zeros((2, 3, 4), "float32"), np.ones((2, 3, 4), "float32")):
        assert _finite_grad(loss, None, y, dtype) == pytest.approx(0.5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    labels, x = _batch(6)
    y = np.random.default_rng(2).normal(size=(5, 3, 4)).astype("float32")
    for distance in DISTANCES:
        assert_computed_in_float32(
            lambda a, p, n: kzoo.losses.triplet_loss(a, p, n, 0.5, distance),
            y[:, 0], y[:, 1], y[:, 2], dtype=dtype)
        assert_computed_in_float32(
            lambda e: kzoo.losses.TripletLoss(0.5, distance)(None, e), y,
            dtype=dtype)
        for mining in MININGS:
            assert_computed_in_float32(
                lambda e: TWINS[mining](labels, e, margin=0.5,
                                        distance=distance), x, dtype=dtype)
            assert_computed_in_float32(
                lambda e: kzoo.losses.TripletLoss(0.5, distance, mining)(
                    labels, e), x, dtype=dtype)


# ----------------------------------------------------------------- errors

def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: margin=-1"):
        kzoo.losses.TripletLoss(margin=-1)
    with pytest.raises(ValueError, match=r"Received: margin='1'"):
        kzoo.losses.TripletLoss(margin="1")
    with pytest.raises(ValueError, match=r"Received: distance='l1'"):
        kzoo.losses.TripletLoss(distance="l1")
    with pytest.raises(ValueError, match=r"Received: mining='hardest'"):
        kzoo.losses.TripletLoss(mining="hardest")
    with pytest.raises(ValueError, match=r"Received: distance='L2'"):
        kzoo.losses.batch_hard_triplet_loss([0, 1], np.ones((2, 2)), distance="L2")
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(4, 2\)"):
        kzoo.losses.TripletLoss()(None, np.ones((4, 2), "float32"))
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(4, 3, 2\)"):
        kzoo.losses.TripletLoss(mining="hard")([0, 0, 1, 1], np.ones((4, 3, 2)))
    with pytest.raises(ValueError, match=r"Received: y_true=None"):
        kzoo.losses.TripletLoss(mining="all")(None, np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(3,\)"):
        kzoo.losses.TripletLoss(mining="all")([0, 0, 1], np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"Received: margin=-0.5"):
        kzoo.losses.ActiveTripletFraction(margin=-0.5)


# ------------------------------------------------ serialization and training

def _embedder():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, name="emb")(inputs))


def _triplet_model():
    inputs = keras.Input((3, 4))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))


@pytest.mark.parametrize("mining", ["none", "semi-hard"])
def test_keras_save_load_round_trip(tmp_path, mining):
    rng = np.random.default_rng(0)
    loss = kzoo.losses.TripletLoss(margin=0.3, distance="l2", mining=mining)
    if mining == "none":
        model, x, y = _triplet_model(), rng.normal(size=(8, 3, 4)), np.zeros(8)
    else:
        model, x, y = _embedder(), rng.normal(size=(8, 4)), rng.integers(0, 2, 8)
    model.compile(optimizer="sgd", loss=loss)
    before = model.evaluate(x, y, batch_size=8, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, kzoo.losses.TripletLoss)
    assert loaded.loss.get_config() == loss.get_config()
    after = loaded.evaluate(x, y, batch_size=8, verbose=0)
    assert after == pytest.approx(before, rel=1e-6)


def test_config_round_trip():
    loss = kzoo.losses.TripletLoss(0.2, "cosine", "hard", "sum", "t", "float16")
    clone = kzoo.losses.TripletLoss.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    metric = kzoo.losses.ActiveTripletFraction(0.2, "l2", name="f")
    config = kzoo.losses.ActiveTripletFraction.from_config(
        metric.get_config()).get_config()
    assert config["margin"] == 0.2 and config["distance"] == "l2"


@pytest.mark.parametrize("mining", ["none"] + MININGS)
def test_fit_on_tiny_model(mining):
    rng = np.random.default_rng(0)
    loss = kzoo.losses.TripletLoss(margin=0.5, mining=mining)
    if mining == "none":
        model, x, y = _triplet_model(), rng.normal(size=(16, 3, 4)), None
        metrics = None
    else:
        model, x, y = _embedder(), rng.normal(size=(16, 4)), rng.integers(0, 3, 16)
        metrics = [kzoo.losses.ActiveTripletFraction(margin=0.5)]
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss,
                  metrics=metrics)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    if metrics:
        fractions = history.history["active_triplet_fraction"]
        assert all(0.0 <= f <= 1.0 for f in fractions)


def _check_labels_as_column_and_replicas(monkeypatch, two_replicas,
                                         replicas=2):
    labels, x = _batch(5)
    for mining in MININGS:
        loss = kzoo.losses.TripletLoss(mining=mining, margin=0.5)
        summed = kzoo.losses.TripletLoss(mining=mining, margin=0.5,
                                         reduction="sum")
        value, total = float(loss(labels, x)), float(summed(labels, x))
        assert float(loss(labels[:, None], x)) == pytest.approx(value)

        with monkeypatch.context() as m:
            two_replicas(m)
            # same 1/replicas convention as keras.losses.Loss
            assert float(loss(labels, x)) == pytest.approx(value / replicas)
            # "sum" is not scaled (as in Keras)
            assert float(summed(labels, x)) == pytest.approx(total)


def test_labels_as_column_and_replica_scaling(monkeypatch):
    # two replicas as kzoo.ops.scale_for_replicas reports them
    _check_labels_as_column_and_replicas(
        monkeypatch,
        lambda m: m.setattr(kzoo.ops, "scale_for_replicas", lambda v: v * 0.5))


def test_tf_distribute_replica_scaling_on_tensorflow_only(monkeypatch):
    # Two tf.distribute replicas: 1/2 on the TensorFlow backend; nothing on
    # JAX and PyTorch, which compute the loss on the global batch.
    import tensorflow as tf

    class TwoReplicas:
        num_replicas_in_sync = 2

    _check_labels_as_column_and_replicas(
        monkeypatch,
        lambda m: m.setattr(tf.distribute, "get_strategy", lambda: TwoReplicas()),
        replicas=2 if BACKEND == "tensorflow" else 1)
