"""LandmarkLoss / landmark_loss: masked point losses (mean over the visible
points of the batch) and the presence BCE."""

import math

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def ref_coord(d, kind, w=10.0, eps=2.0, beta=1.0):
    a = np.abs(d)
    if kind == "l2":
        return d ** 2
    if kind == "l1":
        return a
    if kind == "smooth_l1":
        return np.where(a < beta, 0.5 * d ** 2 / beta, a - 0.5 * beta)
    c = w - w * math.log(1 + w / eps)
    return np.where(a < w, w * np.log(1 + a / eps), a - c)


def ref_loss(t, p, mask, kind, scale=1.0, **kw):
    per_point = ref_coord((p - t) * scale, kind, **kw).sum(-1)
    return float((per_point * mask).sum() / max(mask.sum(), 1))


def test_hand_computed_values():
    t = np.array([[[0.0, 0.0, 1.0], [5.0, 5.0, 0.0]]], "float32")
    p = np.array([[[3.0, 4.0], [9.0, 9.0]]], "float32")
    # only point 0 is visible: d = (3, 4)
    assert float(kzoo.losses.landmark_loss(t, p, point_loss="l1")) == 7.0
    assert float(kzoo.losses.landmark_loss(t, p, point_loss="l2")) == 25.0
    # smooth-L1, beta 1: |d| - 0.5 each
    assert float(kzoo.losses.landmark_loss(t, p, point_loss="smooth_l1")) == \
        pytest.approx(2.5 + 3.5)
    # Wing (w=10, eps=2): 10 ln(1 + 3/2) + 10 ln(1 + 4/2)
    assert float(kzoo.losses.landmark_loss(t, p, point_loss="wing")) == \
        pytest.approx(10 * math.log(2.5) + 10 * math.log(3.0), rel=1e-6)
    # beyond w the Wing loss is linear, continuous at |d| = w
    big = np.array([[[12.0, 0.0]]], "float32")
    c = 10 - 10 * math.log(1 + 10 / 2)
    assert float(kzoo.losses.landmark_loss(np.zeros((1, 1, 2)), big,
                                           point_loss="wing")) == \
        pytest.approx(12 - c, rel=1e-6)
    assert 10 * math.log(1 + 10 / 2) == pytest.approx(10 - c)


@pytest.mark.parametrize("kind", ["l2", "l1", "smooth_l1", "wing"])
def test_matches_numpy_with_mask_and_scale(kind):
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 1, (4, 7, 2)).astype("float32")
    p = rng.uniform(0, 1, (4, 7, 2)).astype("float32")
    mask = (rng.uniform(size=(4, 7)) < 0.6).astype("float32")
    y = np.concatenate([t, mask[..., None]], -1)
    got = float(kzoo.losses.landmark_loss(y, p, point_loss=kind,
                                          coordinate_scale=20.0))
    assert got == pytest.approx(ref_loss(t, p, mask, kind, 20.0), rel=1e-5)
    # the same mask passed separately (all-visible [B, K, 2] targets)
    got2 = float(kzoo.losses.landmark_loss(t, p, mask=mask, point_loss=kind,
                                           coordinate_scale=20.0))
    assert got2 == pytest.approx(got, rel=1e-6)


def test_mean_is_over_visible_points_of_the_batch_not_per_image():
    # image 0: one visible point with error 1; image 1: three with error 3
    t = np.zeros((2, 3, 3), "float32")
    t[0, 0, 2] = 1
    t[1, :, 2] = 1
    p = np.zeros((2, 3, 2), "float32")
    p[0, 0, 0] = 1.0
    p[1, :, 0] = 3.0
    got = float(kzoo.losses.landmark_loss(t, p, point_loss="l1"))
    assert got == pytest.approx((1 + 3 * 3) / 4)  # not (1 + 3) / 2


def test_missing_points_contribute_nothing_even_with_nan_targets():
    rng = np.random.default_rng(2)
    t = rng.uniform(0, 1, (3, 5, 2)).astype("float32")
    p = rng.uniform(0, 1, (3, 5, 2)).astype("float32")
    mask = np.ones((3, 5), "float32")
    mask[1, 2] = 0
    t_nan = t.copy()
    t_nan[1, 2] = np.nan  # a missing point as the CSV reader may give it
    t_far = t.copy()
    t_far[1, 2] = 1e6
    for kind in ("l2", "wing"):
        values, grads = [], []
        for target in (t_nan, t_far):
            loss, (grad,) = value_and_grad(
                lambda e, target=target: kzoo.losses.landmark_loss(
                    target, e, mask=mask, point_loss=kind), p)
            values.append(float(loss))
            grads.append(grad)
        assert np.isfinite(values).all() and values[0] == values[1]
        assert np.isfinite(grads[0]).all()
        np.testing.assert_array_equal(grads[0], grads[1])
        assert np.all(grads[0][1, 2] == 0)
    # NaN coordinates alone (no mask) also mark the point missing
    y = np.concatenate([t_nan, np.ones((3, 5, 1), "float32")], -1)
    assert float(kzoo.losses.landmark_loss(y, p)) == pytest.approx(
        float(kzoo.losses.landmark_loss(t, p, mask=mask)), rel=1e-6)


@pytest.mark.parametrize("kind", ["l2", "l1", "smooth_l1", "wing"])
def test_all_missing_gives_zero_and_finite_zero_gradient(kind):
    t = np.full((2, 4, 3), np.nan, "float32")
    t[..., 2] = 0
    p = np.zeros((2, 4, 2), "float32")  # exact hits too
    loss_fn = kzoo.losses.LandmarkLoss(point_loss=kind)
    value, (grad,) = value_and_grad(lambda e: loss_fn(t, e), p)
    assert float(value) == 0.0
    assert grad is not None
    assert np.all(np.isfinite(grad)) and np.all(grad == 0)


def test_zero_error_has_zero_finite_gradient():
    t = np.ones((1, 3, 3), "float32")
    p = np.ones((1, 3, 2), "float32")
    for kind in ("l2", "l1", "smooth_l1", "wing"):
        value, (g,) = value_and_grad(
            lambda e, kind=kind: kzoo.losses.landmark_loss(t, e, point_loss=kind),
            p)
        assert g is not None
        assert float(value) == 0.0 and np.all(g == 0)


def test_half_precision_is_finite_and_close():
    rng = np.random.default_rng(3)
    t = rng.uniform(0, 1, (2, 68, 2))
    p = rng.uniform(0, 1, (2, 68, 2))
    full = float(kzoo.losses.landmark_loss(t.astype("float32"),
                                           p.astype("float32"),
                                           coordinate_scale=96.0))
    half = float(kzoo.losses.landmark_loss(t.astype("float16"),
                                           p.astype("float16"),
                                           coordinate_scale=96.0))
    assert np.isfinite(half) and half == pytest.approx(full, rel=1e-2)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    rng = np.random.default_rng(6)
    t = rng.uniform(0, 1, (2, 5, 3)).astype("float32")
    t[..., 2] = t[..., 2] > 0.3
    p = rng.uniform(0, 1, (2, 5, 2)).astype("float32")
    mask = (rng.uniform(size=(2, 5)) < 0.8).astype("float32")
    for kind in ("l2", "l1", "smooth_l1", "wing"):
        assert_computed_in_float32(
            lambda a, b, m, kind=kind: kzoo.losses.landmark_loss(
                a, b, mask=m, point_loss=kind, coordinate_scale=96.0),
            t, p, mask, dtype=dtype)
    logits = rng.normal(size=(2, 1)).astype("float32")
    presence = np.array([[1.0], [0.0]], "float32")
    loss = kzoo.losses.LandmarkLoss(presence_weight=0.5)
    assert_computed_in_float32(
        lambda a, b, c, d: loss({"landmarks": a, "presence": c},
                                {"landmarks": b, "presence": d}),
        t, p, presence, logits, dtype=dtype)


def test_class_on_dicts_adds_weighted_presence_bce():
    rng = np.random.default_rng(4)
    t = rng.uniform(0, 1, (3, 5, 2)).astype("float32")
    p = rng.uniform(0, 1, (3, 5, 2)).astype("float32")
    mask = np.ones((3, 5), "float32")
    presence = np.array([[1.0], [1.0], [0.0]], "float32")
    logits = np.array([[2.0], [-1.0], [0.5]], "float32")
    y_true = {"landmarks": np.concatenate([t, mask[..., None]], -1),
              "presence": presence}
    y_pred = {"landmarks": p, "presence": logits}
    loss = kzoo.losses.LandmarkLoss(point_loss="l1", presence_weight=0.5)
    # example 2 is absent: its points are ignored even though visible
    expected_points = ref_loss(t[:2], p[:2], mask[:2], "l1")
    z, y = logits[:, 0].astype("float64"), presence[:, 0]
    bce = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    assert float(loss(y_true, y_pred)) == pytest.approx(
        expected_points + 0.5 * bce, rel=1e-5)
    # presence_weight 0: points only
    only = kzoo.losses.LandmarkLoss(point_loss="l1", presence_weight=0.0)
    assert float(only(y_true, y_pred)) == pytest.approx(expected_points,
                                                        rel=1e-5)


def test_per_example_values_average_to_the_mean_over_visible_points():
    rng = np.random.default_rng(5)
    t = rng.uniform(0, 1, (4, 6, 2)).astype("float32")
    p = rng.uniform(0, 1, (4, 6, 2)).astype("float32")
    mask = (rng.uniform(size=(4, 6)) < 0.5).astype("float32")
    y = np.concatenate([t, mask[..., None]], -1)
    per_example = kzoo.losses.LandmarkLoss(point_loss="l2",
                                           reduction="none")(y, p)
    assert per_example.shape == (4,)
    assert float(np.mean(to_numpy(per_example))) == pytest.approx(
        ref_loss(t, p, mask, "l2"), rel=1e-5)


def test_compiled_single_loss_trains_a_landmark_head_model():
    """Keras applies one loss to each output: points and presence are each
    recognised by their shape, and the logged terms add up to the loss."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    model = keras.Model(inputs, kzoo.layers.LandmarkHead(5)(x))
    model.compile(optimizer="adam",
                  loss=kzoo.losses.LandmarkLoss(point_loss="l2",
                                                presence_weight=2.0))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (8, 8, 8, 3)).astype("float32")
    y = {"landmarks": np.concatenate(
            [rng.uniform(0.2, 0.8, (8, 5, 2)), np.ones((8, 5, 1))],
            -1).astype("float32"),
         "presence": np.ones((8, 1), "float32")}
    logs = model.fit(images, y, batch_size=8, epochs=1, verbose=0).history
    assert logs["loss"][0] == pytest.approx(
        logs["landmarks_loss"][0] + logs["presence_loss"][0], rel=1e-4)
    out = model(images)
    z = to_numpy(out["presence"])[:, 0].astype("float64")
    bce = np.mean(np.log1p(np.exp(-z)))  # targets 1
    expected = model.compute_loss(x=images, y=y, y_pred=out)
    points = ref_loss(y["landmarks"][..., :2], to_numpy(out["landmarks"]),
                      np.ones((8, 5)), "l2")
    assert float(to_numpy(expected)) == pytest.approx(points + 2.0 * bce,
                                                      rel=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(point_loss="huber"), "point_loss='huber'"),
    (dict(coordinate_scale=0), "coordinate_scale=0"),
    (dict(wing_width=-1.0), "wing_width=-1.0"),
    (dict(wing_curvature=0.0), "wing_curvature=0.0"),
    (dict(presence_weight=-0.1), "presence_weight=-0.1"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}"):
        kzoo.losses.LandmarkLoss(**kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match="y_true.shape"):
        kzoo.losses.landmark_loss(np.zeros((2, 4)), np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="y_pred.shape"):
        kzoo.losses.landmark_loss(np.zeros((2, 4, 3)), np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="both be dicts"):
        kzoo.losses.LandmarkLoss()({"landmarks": np.zeros((1, 2, 3))},
                                   np.zeros((1, 2, 2)))


def test_config_round_trip():
    loss = kzoo.losses.LandmarkLoss(point_loss="smooth_l1", smooth_l1_beta=2.0,
                                    coordinate_scale=96.0, presence_weight=0.3)
    clone = kzoo.losses.LandmarkLoss.from_config(loss.get_config())
    y = np.random.default_rng(0).uniform(0, 1, (2, 3, 3)).astype("float32")
    p = np.zeros((2, 3, 2), "float32")
    assert float(clone(y, p)) == pytest.approx(float(loss(y, p)))
