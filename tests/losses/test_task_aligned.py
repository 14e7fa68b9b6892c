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
