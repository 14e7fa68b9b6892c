import os

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from tests.conftest import datasets_root


# ------------------------------------------------------------- reference

def _reference(boxes, classes, s, b, size, anchors=None):
    """The documented assignment rule, with Python loops, one image."""
    objs = []
    for i, (box, c) in enumerate(zip(boxes, classes)):
        w, h = box[2] - box[0], box[3] - box[1]
        if c < 0 or w <= 0 or h <= 0:
            continue
        cx, cy = (box[0] + box[2]) / 2 / size, (box[1] + box[3]) / 2 / size
        col = min(max(int(np.floor(cx * s)), 0), s - 1)
        row = min(max(int(np.floor(cy * s)), 0), s - 1)
        rel = (cx, cy, w / size, h / size)
        if anchors is None:
            prefs = [0]
        else:
            ious = []
            for aw, ah in anchors:
                inter = min(rel[2], aw) * min(rel[3], ah)
                ious.append(inter / (rel[2] * rel[3] + aw * ah - inter))
            prefs = sorted(range(len(anchors)), key=lambda k: (-ious[k], k))
        objs.append(dict(i=i, cell=(row, col), area=w * h, rel=rel, c=c,
                         prefs=prefs))
    priority = sorted(objs, key=lambda o: (-o["area"], o["i"]))
    slots = 1 if anchors is None else b
    taken, placed = {}, {}
    for _ in range(slots):
        proposals = {}
        for o in priority:
            if o["i"] in placed:
                continue
            free = [k for k in o["prefs"] if (o["cell"], k) not in taken]
            if free:
                proposals.setdefault((o["cell"], free[0]), []).append(o)
        for key, group in proposals.items():
            winner = group[0]  # priority order
            taken[key] = winner
            placed[winner["i"]] = key
    y = np.zeros((s, s, b, 6), np.float32)
    for (cell, k), o in taken.items():
        row = list(o["rel"]) + [1.0, float(o["c"])]
        if anchors is None:
            y[cell[0], cell[1], :] = row
        else:
            y[cell[0], cell[1], k] = row
    return y, len(objs) - len(placed)


def _random_batch(seed, n=3, m=12, size=64, num_classes=3):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, size - 8, (n, m, 2))
    wh = rng.choice([4.0, 8.0, 12.0, 20.0], (n, m, 2))  # ties on purpose
    boxes = np.concatenate([xy, np.minimum(xy + wh, size)], -1)
    classes = rng.integers(-1, num_classes, (n, m))
    boxes[classes < 0] = 0.0
    boxes[0, 0, 2] = boxes[0, 0, 0]  # a degenerate box
    return boxes.astype("float32"), classes.astype("int32")


# ----------------------------------------------------------------- tests

def test_cell_layout_by_hand():
    enc = kzoo.data.YOLOTargetEncoder(4, 2, 3, 100)  # cells of 25 px
    boxes = np.array([[10, 10, 20, 30],   # centre (15, 20): cell (0, 0)
                      [0, 0, 40, 40],     # centre (20, 20): same cell, larger
                      [60, 80, 90, 100],  # centre (75, 90): row 3, col 3
                      [0, 0, 0, 0]], "float32")
    classes = np.array([0, 1, 2, -1])
    y = np.asarray(enc(boxes, classes))
    assert y.shape == (4, 4, 2, 6)
    for j in range(2):  # YOLOv1: every slot of the cell holds the object
        np.testing.assert_allclose(y[0, 0, j], [0.2, 0.2, 0.4, 0.4, 1, 1])
        np.testing.assert_allclose(y[3, 3, j], [0.75, 0.9, 0.3, 0.2, 1, 2])
    assert y[..., 4].sum() == 4  # two objects x two slots
    assert int(enc.dropped_objects(boxes, classes)) == 1


def test_anchor_layout_by_hand_collision_goes_to_the_next_free_anchor():
    anchors = [[0.1, 0.1], [0.5, 0.5]]
    enc = kzoo.data.YOLOTargetEncoder(2, 2, 3, 100, anchors=anchors)
    boxes = np.array([[[0, 0, 10, 10],     # small: anchor 0
                       [1, 1, 12, 12],     # small, larger: wins anchor 0
                       [2, 2, 13, 13],     # same size as the 2nd, later row
                       [60, 60, 100, 100]]], "float32")  # big, other cell
    classes = np.array([[0, 1, 2, 1]])
    y = np.asarray(enc(boxes, classes))[0]
    np.testing.assert_allclose(y[0, 0, 0], [0.065, 0.065, 0.11, 0.11, 1, 1],
                               rtol=1e-6)
    # Rows 0 and 2 lost anchor 0; in the next round both propose anchor 1,
    # which goes to the larger (row 2); row 0 finds no free slot.
    np.testing.assert_allclose(y[0, 0, 1], [0.075, 0.075, 0.11, 0.11, 1, 2],
                               rtol=1e-6)
    np.testing.assert_allclose(y[1, 1, 1], [0.8, 0.8, 0.4, 0.4, 1, 1])
    assert y[..., 4].sum() == 3
    assert enc.dropped_objects(boxes, classes).numpy().tolist() == [1]
    stats = enc.count_dropped([{"boxes": boxes, "classes": classes}])
    assert stats == {"images": 1, "objects": 4, "degenerate": 0, "dropped": 1,
                     "dropped_fraction": 0.25, "displaced": 1}


@pytest.mark.parametrize("anchors", [None, [[0.1, 0.1], [0.2, 0.15],
                                            [0.3, 0.3]]])
def test_matches_the_loop_reference_on_random_batches(anchors):
    b = 2 if anchors is None else 3
    for seed in range(3):
        boxes, classes = _random_batch(seed)
        enc = kzoo.data.YOLOTargetEncoder(3, b, 3, 64, anchors=anchors)
        y = np.asarray(enc(boxes, classes))
        dropped = np.asarray(enc.dropped_objects(boxes, classes))
        for n in range(len(boxes)):
            ref, ref_dropped = _reference(boxes[n], classes[n], 3, b, 64,
                                          anchors)
            np.testing.assert_allclose(y[n], ref, rtol=1e-6, atol=1e-7)
            assert dropped[n] == ref_dropped
        stats = enc.count_dropped(
            tf.data.Dataset.from_tensor_slices(
                {"boxes": boxes, "classes": classes}).batch(2))
        assert stats["degenerate"] == 1
        assert stats["objects"] == int((classes >= 0).sum())
        assert stats["dropped"] == int(dropped.sum())


def test_inside_tf_data_batched_and_single_examples():
    boxes, classes = _random_batch(5)
    enc = kzoo.data.YOLOTargetEncoder(4, 3, 3, 64,
                                      anchors=[[.1, .1], [.2, .2], [.3, .3]])
    ds = tf.data.Dataset.from_tensor_slices(
        {"images": np.zeros((3, 64, 64, 3), "float32"), "boxes": boxes,
         "classes": classes})
    batched = ds.batch(2).map(
        lambda d: (d["images"], enc(d["boxes"], d["classes"])))
    ys = [y for _, y in batched]
    assert ys[0].shape == (2, 4, 4, 3, 6) and ys[1].shape == (1, 4, 4, 3, 6)
    singles = [y for y in ds.map(lambda d: enc(d["boxes"], d["classes"]))]
    np.testing.assert_allclose(np.concatenate(ys), np.stack(singles))
    np.testing.assert_allclose(np.concatenate(ys), enc(boxes, classes))


def test_centres_on_the_edges_and_errors():
    enc = kzoo.data.YOLOTargetEncoder(2, 1, 2, 10)
    # Centre exactly on the cell border (5, 5) goes to cell (1, 1); a centre
    # on the right/bottom image edge to the last cell.
    y = np.asarray(enc(np.array([[4, 4, 6, 6], [8, 8, 12, 12]], "float32"),
                       np.array([0, 1])))
    assert y[1, 1, 0, 4] == 1 and y[1, 1, 0, 5] == 1  # larger box kept
    y = np.asarray(enc(np.array([[4, 4, 6, 6]], "float32"), np.array([0])))
    assert y[1, 1, 0, 4] == 1 and y[..., 4].sum() == 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        enc(np.array([[0, 0, 4, 4]], "float32"), np.array([2]))
    with pytest.raises(ValueError, match="Received: boxes.shape"):
        enc(np.zeros((2, 3, 5), "float32"), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Received: anchors="):
        kzoo.data.YOLOTargetEncoder(2, 2, 2, 10, anchors=[[0.1, 0.1]])
    with pytest.raises(ValueError, match="Received: grid_size=0"):
        kzoo.data.YOLOTargetEncoder(0, 2, 2, 10)
    with pytest.raises(ValueError, match="Received: element=ndarray"):
        enc.count_dropped([np.zeros(3)])


def test_config_round_trip():
    enc = kzoo.data.YOLOTargetEncoder(5, 2, 3, 160,
                                      anchors=[[.1, .2], [.3, .2]])
    clone = kzoo.data.YOLOTargetEncoder.from_config(enc.get_config())
    assert clone.get_config() == enc.get_config()


# ----------------------------------------------------------------- k-means

def test_kmeans_recovers_synthetic_clusters_and_beats_a_grid():
    rng = np.random.default_rng(0)
    centres = np.array([[0.05, 0.08], [0.2, 0.1], [0.12, 0.3], [0.5, 0.45]])
    wh = np.concatenate([c * rng.uniform(0.93, 1.07, (200, 2))
                         for c in centres])
    anchors, mean_iou = kzoo.data.kmeans_anchors(wh, 4, seed=0)
    assert anchors.shape == (4, 2) and anchors.dtype == np.float32
    areas = anchors.prod(axis=1)
    assert np.all(np.diff(areas) > 0)  # sorted by area
    expected = centres[np.argsort(centres.prod(axis=1))]
    np.testing.assert_allclose(anchors, expected, rtol=0.03)
    # Mean best IoU, recomputed here, beats a naive square grid of sizes.
    def mean_best_iou(a):
        inter = (np.minimum(wh[:, None, 0], a[None, :, 0])
                 * np.minimum(wh[:, None, 1], a[None, :, 1]))
        union = wh.prod(1)[:, None] + a.prod(1)[None] - inter
        return (inter / union).max(1).mean()
    assert mean_iou == pytest.approx(mean_best_iou(anchors), rel=1e-5)
    grid = np.array([[s, s] for s in np.linspace(0.05, 0.5, 4)])
    assert mean_iou > mean_best_iou(grid) + 0.1
    again, again_iou = kzoo.data.kmeans_anchors(wh, 4, seed=0)
    np.testing.assert_array_equal(again, anchors)
    assert again_iou == mean_iou


def test_kmeans_errors():
    with pytest.raises(ValueError, match="Received: boxes_wh.shape"):
        kzoo.data.kmeans_anchors(np.zeros((3, 3)), 2)
    with pytest.raises(ValueError, match="non-positive or non-finite"):
        kzoo.data.kmeans_anchors(np.array([[0.1, 0.0], [0.2, 0.2]]), 1)
    with pytest.raises(ValueError, match="distinct box shapes"):
        kzoo.data.kmeans_anchors(np.array([[0.1, 0.1], [0.1, 0.1]]), 2)


# -------------------------------------------------------------- real data

@pytest.fixture(scope="module")
def bccd_boxes():
    path = os.path.join(datasets_root(), "bccd")
    if not os.path.isdir(os.path.join(path, "Annotations")):
        pytest.skip(f"BCCD not found at {path} (set KZOO_DATA_DIR)")
    with pytest.warns(UserWarning):  # BCCD has a degenerate box
        voc = kzoo.data.load_voc(path, "train")
    size, boxes, classes = 320, [], []
    m = max(len(b) for b in voc.boxes)
    for b, c, (h, w) in zip(voc.boxes, voc.classes, voc.image_sizes):
        image, lb, _, _ = kzoo.data.letterbox(np.zeros((h, w, 3), "uint8"),
                                              b, size)
        padded = np.zeros((m, 4), "float32")
        padded[:len(b)] = lb
        boxes.append(padded)
        classes.append(np.pad(c, (0, m - len(c)), constant_values=-1))
    return np.stack(boxes), np.stack(classes).astype("int32")


def test_bccd_collisions_match_the_reference(bccd_boxes):
    boxes, classes = bccd_boxes[0][:40], bccd_boxes[1][:40]
    valid = classes >= 0
    wh = (boxes[..., 2:] - boxes[..., :2])[valid] / 320
    anchors, mean_iou = kzoo.data.kmeans_anchors(wh, 5, seed=0)
    assert mean_iou > 0.75
    for anchors_, s, b in ((anchors, 10, 5), (None, 10, 2)):
        enc = kzoo.data.YOLOTargetEncoder(s, b, 3, 320, anchors=anchors_)
        dropped = np.asarray(enc.dropped_objects(boxes, classes))
        ref = [_reference(boxes[n], classes[n], s, b, 320, anchors_)[1]
               for n in range(len(boxes))]
        np.testing.assert_array_equal(dropped, ref)
        if anchors_ is None:  # BCCD's crowded RBCs share 32-px cells
            assert dropped.sum() > 0
