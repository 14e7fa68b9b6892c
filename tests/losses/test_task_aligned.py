"""The anchor-free detector's pieces (kzoo.losses.task_aligned) by hand:
anchor points, DFL decoding and loss, the task-aligned assigner."""

import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy

L = kzoo.losses


def test_anchor_points_row_by_row_per_map():
    points, strides = L.anchor_points([(2, 2), (1, 1)], [8, 16])
    np.testing.assert_array_equal(to_numpy(points), [
        [4, 4], [12, 4], [4, 12], [12, 12], [8, 8]])
    np.testing.assert_array_equal(to_numpy(strides)[:, 0], [8, 8, 8, 8, 16])
    with pytest.raises(ValueError, match="one stride"):
        L.anchor_points([(2, 2)], [8, 16])


def test_dfl_distances_and_box_round_trip():
    reg = 8
    logits = np.full((2, 4 * reg), -50.0, "float32")
    for side, d in enumerate([3, 0, 7, 1]):
        logits[0, side * reg + d] = 50.0
    logits[1] = 0.0  # uniform: the mean bin
    d = to_numpy(L.dfl_distances(logits, reg))
    np.testing.assert_allclose(d[0], [3, 0, 7, 1], atol=1e-5)
    np.testing.assert_allclose(d[1], [3.5] * 4, atol=1e-5)
    points = np.array([[20.0, 12.0]], "float32")
    strides = np.array([[8.0]], "float32")
    boxes = to_numpy(L.distances_to_boxes(d[:1], points, strides))
    np.testing.assert_allclose(boxes, [[20 - 24, 12, 20 + 56, 12 + 8]],
                               atol=1e-4)
    back = to_numpy(L.boxes_to_distances(boxes, points, strides, reg))
    np.testing.assert_allclose(back, [[3, 0, 6.99, 1]], atol=1e-4)


def test_distribution_focal_loss_by_hand():
    reg = 4
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4 * reg)).astype("float32")
    target = np.array([[0.0, 1.3, 2.5, 2.98]] * 3, "float32")
    got = to_numpy(L.distribution_focal_loss(logits, target, reg))
    x = logits.reshape(3, 4, reg).astype("float64")
    log_p = x - np.log(np.exp(x).sum(-1, keepdims=True))
    expected = np.zeros(3)
    for side, y in enumerate(target[0]):
        i = int(np.floor(y))
        right = log_p[:, side, min(i + 1, reg - 1)]
        expected += -((i + 1 - y) * log_p[:, side, i] + (y - i) * right)
    np.testing.assert_allclose(got, expected / 4, rtol=1e-5)
    # all the mass on the two bins around the target, in proportion
    sharp = np.full((1, 4 * reg), -30.0, "float32")
    for side, (i, w) in enumerate([(0, 1.0), (1, 0.7), (2, 0.5), (2, 0.02)]):
        sharp[0, side * reg + i] = np.log(w + 1e-12)
        sharp[0, side * reg + i + 1] = np.log(1 - w + 1e-12)
    best = to_numpy(L.distribution_focal_loss(sharp, target[:1], reg))
    assert best[0] < got.min()


def _image():
    # a 32 px image, one 4 x 4 map of stride 8: points at 4, 12, 20, 28
    points, _ = L.anchor_points([(4, 4)], [8])
    return to_numpy(points)


def test_assigner_keeps_the_best_aligned_points_inside_the_box():
    points = _image()
    gt = np.array([[[0, 0, 16, 16], [0, 0, 0, 0]]], "float32")  # 1 real
    pred = np.tile(np.array([[0, 0, 10, 10]], "float32"), (16, 1))[None]
    pred[0, 0] = [0, 0, 16, 16]  # point (4, 4): IoU 1
    pred[0, 1] = [0, 0, 16, 12]  # point (12, 4): IoU 0.75
    scores = np.full((1, 16, 3), 0.5, "float32")
    out = kzoo.losses.task_aligned_assign(
        scores, pred, points, gt, np.array([[2, 0]]), np.array([[1, 0]]),
        top_k=2)
    fg = to_numpy(out["foreground"])[0]
    assert np.flatnonzero(fg).tolist() == [0, 1]  # the two best inside
    np.testing.assert_array_equal(to_numpy(out["boxes"])[0, 0], gt[0, 0])
    assert to_numpy(out["classes"])[0, :2].tolist() == [2, 2]
    target = to_numpy(out["scores"])[0]
    # the best point: its box's best IoU (1); the other: its alignment
    # over the best one's, times that IoU: (0.75 / 1) ** 6
    np.testing.assert_allclose(target[0], [0, 0, 1], atol=1e-5)
    np.testing.assert_allclose(target[1], [0, 0, 0.75 ** 6], rtol=1e-4)
    assert target[2:].max() == 0


def test_a_point_claimed_by_two_boxes_goes_to_the_closer_one():
    points = _image()
    gt = np.array([[[0, 0, 16, 16], [0, 0, 24, 24]]], "float32")
    pred = np.tile(np.array([[0, 0, 16, 16]], "float32"), (16, 1))[None]
    out = kzoo.losses.task_aligned_assign(
        np.full((1, 16, 2), 0.5, "float32"), pred, points, gt,
        np.array([[0, 1]]), np.array([[1, 1]]), top_k=4)
    fg = to_numpy(out["foreground"])[0]
    index = to_numpy(out["gt_index"])[0]
    # points inside both boxes overlap box 0 (IoU 1) more than box 1
    for p in (0, 1, 4, 5):
        assert fg[p] == 1 and index[p] == 0
    assert to_numpy(out["classes"])[0, 0] == 0


def test_padding_boxes_assign_nothing():
    points = _image()
    out = kzoo.losses.task_aligned_assign(
        np.full((1, 16, 2), 0.5, "float32"),
        np.tile(np.array([[0, 0, 32, 32]], "float32"), (16, 1))[None],
        points, np.array([[[0, 0, 32, 32]]], "float32"), np.array([[1]]),
        np.array([[0]]))
    assert to_numpy(out["foreground"]).sum() == 0
    assert to_numpy(out["scores"]).sum() == 0


def _truth():
    return {"boxes": np.array([[[0, 0, 16, 16], [16, 8, 32, 32]]],
                              "float32"),
            "classes": np.array([[1, 0]], "int32"),
            "mask": np.array([[1, 1]], "float32")}


def test_head_outputs_every_point_with_the_prior():
    import keras

    head = kzoo.layers.AnchorFreeHead(num_classes=3, reg_max=4,
                                      box_channels=8, class_channels=8)
    maps = [np.zeros((2, 4, 4, 5), "float32"), np.zeros((2, 2, 2, 7),
                                                        "float32")]
    out = to_numpy(head(maps))
    assert out.shape == (2, 16 + 4, 4 * 4 + 3)
    probs = 1 / (1 + np.exp(-out[..., 16:]))
    np.testing.assert_allclose(probs, 0.01, rtol=1e-4)  # zero input: bias
    assert head.compute_output_shape([(None, 4, 4, 5), (None, 2, 2, 7)]) \
        == (None, 20, 19)
    clone = kzoo.layers.AnchorFreeHead.from_config(head.get_config())
    assert clone.reg_max == 4 and clone.num_classes == 3
    with pytest.raises(ValueError, match="prior"):
        kzoo.layers.AnchorFreeHead(3, prior=1.0)
    del keras


def test_loss_prefers_the_true_boxes_and_trains_a_head():
    import keras

    reg, sizes, strides = 8, [(4, 4)], [8]
    loss = kzoo.losses.AnchorFreeDetectionLoss(3, sizes, strides, reg_max=reg,
                                               top_k=3)
    truth = _truth()
    points, st = (to_numpy(x) for x in L.anchor_points(sizes, strides))
    # a prediction that puts every point's box on the true box it is in,
    # with the right class, against an uninformed one
    good = np.full((1, 16, 4 * reg + 3), -8.0, "float32")
    for a, (x, y) in enumerate(points):
        k = 0 if (x < 16 and y < 16) else 1
        box = truth["boxes"][0, k]
        d = np.clip([(x - box[0]) / 8, (y - box[1]) / 8, (box[2] - x) / 8,
                     (box[3] - y) / 8], 0, reg - 1.01)
        for side in range(4):
            i = int(np.floor(d[side]))
            good[0, a, side * reg + i] = 8.0 + np.log(i + 1 - d[side] + 1e-3)
            good[0, a, side * reg + i + 1] = 8.0 + np.log(d[side] - i + 1e-3)
        good[0, a, 4 * reg + truth["classes"][0, k]] = 4.0
    flat = np.zeros_like(good)
    good_loss = float(to_numpy(loss(truth, good)))
    assert np.isfinite(good_loss)
    assert good_loss < float(to_numpy(loss(truth, flat)))
    # no box in the image: only the class term, pushing scores down
    empty = dict(truth, mask=np.zeros((1, 2), "float32"))
    assert float(to_numpy(loss(empty, flat))) > float(to_numpy(
        loss(empty, np.full_like(flat, -6.0))))
    # a head on a fixed map learns the boxes
    keras.utils.set_random_seed(0)
    features = np.random.default_rng(0).normal(size=(1, 4, 4, 8)).astype(
        "float32")
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, kzoo.layers.AnchorFreeHead(
        3, reg_max=reg, box_channels=16, class_channels=16)(inputs))
    model.compile(keras.optimizers.Adam(1e-2), loss=loss)
    packed = np.concatenate([truth["boxes"], truth["classes"][..., None],
                             truth["mask"][..., None]], -1).astype("float32")
    np.testing.assert_allclose(to_numpy(loss(packed, good)), good_loss,
                               rtol=1e-6)
    history = model.fit(features, packed, epochs=40, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
