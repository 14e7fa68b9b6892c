"""Landmark metrics: NME and PCK@alpha normalised by the true inter-ocular
(outer eye corners 36, 45) distance, as 300-W."""

import numpy as np
import pytest

import kzoo


def face(scale=1.0, shift=(0.0, 0.0), k=68):
    """A synthetic 68-point face with the outer eye corners 40 px apart."""
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 60, (k, 2)).astype("float64")
    pts[36] = (10.0, 20.0)
    pts[45] = (50.0, 20.0)
    return pts * scale + np.asarray(shift)


def test_inter_ocular_distance_is_outer_eye_corners():
    pts = np.zeros((68, 2))
    pts[36] = (0.0, 0.0)
    pts[45] = (30.0, 40.0)
    pts[39] = pts[42] = (100.0, 100.0)  # inner corners play no part
    np.testing.assert_allclose(kzoo.eval.inter_ocular_distance(pts), [50.0])
    mask = np.ones((1, 68))
    mask[0, 45] = 0
    assert np.isnan(kzoo.eval.inter_ocular_distance(pts[None], mask)[0])


def test_hand_computed_nme_pck_and_failure_rate():
    true = np.stack([face(), face()])  # d = 40 for both
    pred = true.copy()
    pred[0, :34, 0] += 2.0   # image 0: half its points off by 2 px = 0.05 d
    pred[1, :, 1] += 6.0     # image 1: every point off by 6 px = 0.15 d
    m = kzoo.eval.landmark_metrics(true, pred)
    # NME: image 0 mean 0.025, image 1 mean 0.15
    assert m["nme"] == pytest.approx((0.025 + 0.15) / 2)
    # PCK@0.1: image 0 all 68 within 4 px, image 1 none
    assert m["pck@0.1"] == pytest.approx(68 / 136)
    assert m["failure_rate@0.1"] == pytest.approx(0.5)
    assert (m["num_images"], m["num_skipped"], m["num_points"]) == (2, 0, 136)
    assert kzoo.eval.nme(true, pred) == pytest.approx(m["nme"])
    assert kzoo.eval.pck(true, pred, threshold=0.2) == 1.0


def test_pck_threshold_is_strict():
    true = face()[None]
    pred = true.copy()
    pred[0, :, 0] += 4.0  # exactly 0.1 d
    assert kzoo.eval.pck(true, pred, threshold=0.1) == 0.0
    assert kzoo.eval.pck(true, pred, threshold=0.1001) == 1.0


def test_nme_is_mean_of_per_image_means_over_visible_points():
    true = np.stack([face(), face()])
    pred = true.copy()
    pred[0, 0, 0] += 8.0          # image 0: one bad point (0.2 d)
    pred[1, :, 0] += 4.0          # image 1: all at 0.1 d
    mask = np.zeros((2, 68))
    mask[0, [0, 36, 45]] = 1      # image 0: three visible points
    mask[1] = 1
    m = kzoo.eval.landmark_metrics(true, pred, mask)
    assert m["nme"] == pytest.approx((0.2 / 3 + 0.1) / 2)
    assert m["num_points"] == 3 + 68
    # the visibility may come as a third column instead
    y = np.concatenate([true, mask[..., None]], -1)
    assert kzoo.eval.nme(y, pred) == pytest.approx(m["nme"])


def test_invariant_to_uniform_scale_and_translation():
    rng = np.random.default_rng(1)
    true = np.stack([face(), face(1.3, (5, -2))])
    pred = true + rng.normal(0, 2, true.shape)
    a = kzoo.eval.landmark_metrics(true, pred)
    b = kzoo.eval.landmark_metrics(true * 0.25 + 7, pred * 0.25 + 7)
    assert a["nme"] == pytest.approx(b["nme"], rel=1e-9)
    assert a["pck@0.1"] == b["pck@0.1"]


def test_normaliser_comes_from_the_truth_not_the_prediction():
    true = face()[None]
    pred = true.copy()
    pred[0, 45] = (500.0, 20.0)  # a wild right-eye prediction
    errors = kzoo.eval.landmark_errors(true, pred)
    assert errors[0, 45] == pytest.approx(450.0 / 40.0)
    assert np.nansum(errors) == pytest.approx(450.0 / 40.0)


def test_missing_eye_corner_or_no_visible_point_is_skipped_and_counted():
    true = np.stack([face(), face(), face()])
    pred = true + 1.0
    mask = np.ones((3, 68))
    mask[1, 36] = 0   # no normaliser
    mask[2] = 0       # nothing visible
    m = kzoo.eval.landmark_metrics(true, pred, mask)
    assert (m["num_images"], m["num_skipped"], m["num_points"]) == (1, 2, 68)
    assert m["nme"] == pytest.approx(np.sqrt(2) / 40)
    # coincident eye corners (d = 0): skipped, no division by zero
    degenerate = face()[None].copy()
    degenerate[0, 45] = degenerate[0, 36]
    m = kzoo.eval.landmark_metrics(degenerate, degenerate + 1)
    assert m["num_skipped"] == 1 and np.isnan(m["nme"])
    # NaN ground truth is a missing point, not a NaN metric
    nan_true = true.copy()
    nan_true[0, 3] = np.nan
    m = kzoo.eval.landmark_metrics(nan_true, pred)
    assert m["num_points"] == 3 * 68 - 1 and np.isfinite(m["nme"])


def test_custom_normalizer():
    true = face()[None]
    pred = true + np.array([3.0, 4.0])
    assert kzoo.eval.landmark_metrics(true, pred, normalizer=[10.0])[
        "nme"] == pytest.approx(0.5)


def test_bad_inputs_raise():
    true = face()[None]
    with pytest.raises(ValueError, match="y_pred.shape"):
        kzoo.eval.landmark_metrics(true, true[:, :10])
    with pytest.raises(ValueError, match="non-finite"):
        bad = true.copy()
        bad[0, 0, 0] = np.nan
        kzoo.eval.landmark_metrics(true, bad)
    with pytest.raises(ValueError, match="Received: pck_threshold=0"):
        kzoo.eval.landmark_metrics(true, true, pck_threshold=0)
    with pytest.raises(ValueError, match="mask.shape"):
        kzoo.eval.landmark_metrics(true, true, mask=np.ones(68))
    with pytest.raises(ValueError, match="Received: threshold=-1"):
        kzoo.eval.PercentageCorrectKeypoints(threshold=-1)


def test_keras_metrics_match_the_functions_over_several_batches():
    rng = np.random.default_rng(2)
    true = np.stack([face(rng.uniform(0.5, 1.5), rng.uniform(-5, 5, 2))
                     for _ in range(10)])
    pred = true + rng.normal(0, 3, true.shape)
    mask = (rng.uniform(size=(10, 68)) < 0.9).astype("float32")
    mask[3, 36] = 0  # one image without a normaliser
    y = np.concatenate([true, mask[..., None]], -1).astype("float32")
    nme_metric = kzoo.eval.NormalizedMeanError()
    pck_metric = kzoo.eval.PercentageCorrectKeypoints(threshold=0.1)
    for batch in (slice(0, 4), slice(4, 10)):
        nme_metric.update_state(y[batch], pred[batch].astype("float32"))
        pck_metric.update_state(y[batch], pred[batch].astype("float32"))
    expected = kzoo.eval.landmark_metrics(true, pred, mask)
    assert float(nme_metric.result()) == pytest.approx(expected["nme"],
                                                       rel=1e-5)
    assert float(pck_metric.result()) == pytest.approx(expected["pck@0.1"],
                                                       rel=1e-6)
    nme_metric.reset_state()
    assert float(nme_metric.result()) == 0.0


def test_keras_metric_in_compile_on_the_landmarks_output():
    import keras

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, kzoo.layers.LandmarkHead(68)(inputs))
    model.compile(loss=kzoo.losses.LandmarkLoss(),
                  metrics={"landmarks": [kzoo.eval.NormalizedMeanError()]})
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (4, 8, 8, 3)).astype("float32")
    true = np.stack([face(0.01, (0.2, 0.2)) for _ in range(4)])
    y = {"landmarks": np.concatenate([true, np.ones((4, 68, 1))],
                                     -1).astype("float32"),
         "presence": np.ones((4, 1), "float32")}
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)["landmarks"]
    assert logs["landmarks_nme"] == pytest.approx(
        kzoo.eval.nme(true, pred), rel=1e-4)


def test_functions_accept_backend_tensors_attached_to_a_graph():
    # Model outputs on PyTorch are tensors that require gradients (the
    # weights do): `.numpy()` and `np.asarray` refuse them.
    import keras

    rng = np.random.default_rng(5)
    true = np.stack([face(), face(1.3, (5, -2))]).astype("float32")
    pred = (true + rng.normal(0, 2, true.shape)).astype("float32")
    mask = np.ones((2, 68), "float32")
    mask[1, :10] = 0
    expected = kzoo.eval.landmark_metrics(true, pred, mask)
    one = keras.Variable(1.0)
    tensors = [keras.ops.convert_to_tensor(x) * one for x in (true, pred, mask)]
    assert kzoo.eval.landmark_metrics(*tensors) == expected
    assert kzoo.eval.nme(*tensors) == expected["nme"]
    assert kzoo.eval.pck(*tensors) == expected["pck@0.1"]
    np.testing.assert_array_equal(
        kzoo.eval.inter_ocular_distance(tensors[0], tensors[2]),
        kzoo.eval.inter_ocular_distance(true, mask))
    np.testing.assert_array_equal(
        kzoo.eval.landmark_errors(tensors[0], tensors[1], tensors[2]),
        kzoo.eval.landmark_errors(true, pred, mask))
