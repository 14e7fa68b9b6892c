import math

import numpy as np
import pytest

import kzoo
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import f32
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _iou(a, b):
    """IoU of two (cx, cy, w, h) boxes."""
    ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2
    ax2, ay2 = a[0] + a[2] / 2, a[1] + a[3] / 2
    bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2
    bx2, by2 = b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def _bce(p, target):
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def _reference(y_true, raw, b, c, anchors=None, lambda_coord=5.0,
               lambda_noobj=0.5, objectness_target="iou",
               objectness_loss="mse", class_loss="mse"):
    """YOLOv1 equation (3) (YOLOv2's anchors, YOLOv3's cross-entropies as
    options), with loops."""

    def class_term(logits, label):
        probs = _softmax(logits)
        if class_loss == "mse":
            return ((probs - np.eye(c)[label]) ** 2).sum()
        return -math.log(probs[label])

    n_img, s = raw.shape[0], raw.shape[1]
    out = np.zeros(n_img)
    for n in range(n_img):
        loss = 0.0
        for row in range(s):
            for col in range(s):
                preds = []
                for j in range(b):
                    t = raw[n, row, col, 5 * j:5 * j + 5] if anchors is None \
                        else raw[n, row, col, j, :5]
                    ox, oy = _sig(t[1]), _sig(t[2])
                    if anchors is None:
                        sw, sh = _sig(t[3]), _sig(t[4])
                    else:
                        sw = math.sqrt(anchors[j][0] * math.exp(t[3]))
                        sh = math.sqrt(anchors[j][1] * math.exp(t[4]))
                    preds.append(dict(p=_sig(t[0]), ox=ox, oy=oy, sw=sw, sh=sh,
                                      box=((col + ox) / s, (row + oy) / s,
                                           sw * sw, sh * sh)))
                truth = y_true[n, row, col]
                if anchors is None:
                    has = truth[0, 4] > 0
                    resp = None
                    if has:
                        ious = [_iou(p["box"], truth[0, :4]) for p in preds]
                        if max(ious) > 0:
                            resp = int(np.argmax(ious))
                        else:
                            d = [sum((p["box"][k] - truth[0, k]) ** 2
                                     for k in range(4)) for p in preds]
                            resp = int(np.argmin(d))
                    responsible = [has and j == resp for j in range(b)]
                else:
                    responsible = [truth[j, 4] > 0 for j in range(b)]
                for j, p in enumerate(preds):
                    if responsible[j]:
                        tb = truth[j]
                        loss += lambda_coord * (
                            (p["ox"] - (tb[0] * s - col)) ** 2
                            + (p["oy"] - (tb[1] * s - row)) ** 2
                            + (p["sw"] - math.sqrt(tb[2])) ** 2
                            + (p["sh"] - math.sqrt(tb[3])) ** 2)
                        target = (_iou(p["box"], tb[:4])
                                  if objectness_target == "iou" else 1.0)
                        if objectness_loss == "mse":
                            loss += (p["p"] - target) ** 2
                        else:
                            loss += _bce(p["p"], target)
                    elif objectness_loss == "mse":
                        loss += lambda_noobj * p["p"] ** 2
                    else:
                        loss += lambda_noobj * _bce(p["p"], 0.0)
                if anchors is None:
                    if truth[0, 4] > 0:
                        loss += class_term(raw[n, row, col, 5 * b:],
                                           int(truth[0, 5]))
                else:
                    for j in range(b):
                        if responsible[j]:
                            loss += class_term(raw[n, row, col, j, 5:],
                                               int(truth[j, 5]))
        out[n] = loss
    return out


def _targets(seed, s, b, c, size=96, anchors=None, n=2, m=6):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, size * 0.8, (n, m, 2))
    wh = rng.uniform(4, size * 0.4, (n, m, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, size)], -1)
    classes = rng.integers(-1, c, (n, m))
    enc = kzoo.data.YOLOTargetEncoder(s, b, c, size, anchors=anchors)
    return np.asarray(enc(boxes.astype("float32"), classes))


@pytest.mark.parametrize("objectness_target", ["iou", "one"])
def test_cell_layout_matches_the_yolov1_formula(objectness_target):
    s, b, c = 3, 2, 3
    y_true = _targets(0, s, b, c)
    raw = np.random.default_rng(1).normal(size=(2, s, s, 5 * b + c))
    got = kzoo.losses.yolo_loss(y_true, raw, b, c, lambda_coord=3.0,
                                lambda_noobj=0.3,
                                objectness_target=objectness_target)
    ref = _reference(y_true, raw, b, c, lambda_coord=3.0, lambda_noobj=0.3,
                     objectness_target=objectness_target)
    np.testing.assert_allclose(to_numpy(got), ref, rtol=1e-5)
    assert y_true[..., 4].sum() > 0


def test_cell_layout_responsibility_without_overlap_is_the_closest():
    # Untrained predictors that do not overlap the object: darknet's rule.
    s, b, c = 2, 2, 2
    y_true = np.zeros((1, s, s, b, 6), "float32")
    y_true[0, 0, 0, :] = [0.1, 0.1, 0.02, 0.02, 1, 1]
    raw = np.zeros((1, s, s, 5 * b + c))
    raw[0, 0, 0, 0:5] = [0, 4, 4, -3, -3]    # far corner of the cell
    raw[0, 0, 0, 5:10] = [0, -1, -1, -3, -3]  # closer, still no overlap
    ref = _reference(y_true, raw, b, c)
    np.testing.assert_allclose(to_numpy(kzoo.losses.yolo_loss(y_true, raw, b, c)),
                               ref, rtol=1e-5)


@pytest.mark.parametrize("objectness_loss,class_loss",
                         [("mse", "mse"), ("bce", "crossentropy")])
def test_anchor_layout_matches_the_formula(objectness_loss, class_loss):
    s, b, c = 3, 3, 2
    anchors = [[0.1, 0.1], [0.2, 0.35], [0.45, 0.3]]
    y_true = _targets(2, s, b, c, anchors=anchors)
    raw = np.random.default_rng(3).normal(size=(2, s, s, b, 5 + c))
    kwargs = dict(objectness_loss=objectness_loss, class_loss=class_loss)
    got = kzoo.losses.yolo_loss(y_true, raw, b, c, anchors=anchors, **kwargs)
    ref = _reference(y_true, raw, b, c, anchors=anchors, **kwargs)
    np.testing.assert_allclose(to_numpy(got), ref, rtol=1e-5)


def test_cell_layout_cross_entropies_match_the_formula():
    s, b, c = 3, 2, 3
    y_true = _targets(11, s, b, c)
    raw = np.random.default_rng(12).normal(size=(2, s, s, 5 * b + c))
    kwargs = dict(objectness_loss="bce", class_loss="crossentropy",
                  objectness_target="one")
    np.testing.assert_allclose(
        to_numpy(kzoo.losses.yolo_loss(y_true, raw, b, c, **kwargs)),
        _reference(y_true, raw, b, c, **kwargs), rtol=1e-5)


def _logit(p):
    return math.log(p / (1 - p))


def test_zero_loss_at_perfect_predictions():
    s, b, c, big = 2, 2, 3, 40.0
    y_true = np.zeros((1, s, s, b, 6), "float32")
    y_true[0, 1, 0, :] = [0.3, 0.8, 0.36, 0.16, 1, 2]
    raw = np.full((1, s, s, 5 * b + c), 0.0)
    raw[..., 0:10:5] = -big  # objectness 0 everywhere
    box = [big, _logit(0.6), _logit(0.6), _logit(0.6), _logit(0.4)]
    raw[0, 1, 0, 5:10] = box  # box 1 is exact; box 0 (p = 0) is elsewhere
    raw[0, 1, 0, 10:] = [-big, -big, big]
    loss = kzoo.losses.yolo_loss(y_true, raw, b, c)
    assert float(loss[0]) < 1e-8
    anchors = [[0.2, 0.2], [0.36, 0.16]]
    raw = np.zeros((1, s, s, b, 5 + c))
    raw[..., 0] = -big
    raw[0, 1, 0, 1] = [big, _logit(0.6), _logit(0.6), 0.0, 0.0, -big, -big,
                       big]
    y_anchor = y_true * (np.arange(b) == 1)[:, None]  # anchor 1 only
    loss = kzoo.losses.yolo_loss(y_anchor, raw, b, c, anchors=anchors)
    assert float(loss[0]) < 1e-8
    for box_loss in ("giou", "diou", "ciou"):
        loss = kzoo.losses.yolo_loss(y_anchor, raw, b, c, anchors=anchors,
                                     box_loss=box_loss)
        assert float(loss[0]) < 1e-5  # 5 * (1 - overlap) in float32


def test_iou_family_box_loss_uses_kzoo_boxes():
    s, b, c = 3, 2, 3
    y_true = _targets(4, s, b, c)
    raw = np.random.default_rng(5).normal(size=(2, s, s, 5 * b + c))
    mse = to_numpy(kzoo.losses.yolo_loss_terms(y_true, raw, b, c))
    for name, fn in (("giou", kzoo.boxes.compute_giou),
                     ("ciou", kzoo.boxes.compute_ciou)):
        terms = to_numpy(kzoo.losses.yolo_loss_terms(y_true, raw, b, c,
                                                     box_loss=name))
        for k in ("objectness", "no_object", "class"):
            np.testing.assert_allclose(terms[k], mse[k], rtol=1e-6)
        boxes = to_numpy(kzoo.layers.decode_yolo_outputs(raw, b, c)["boxes"])
        overlap = to_numpy(fn(boxes, y_true[..., :4],
                              box_format="rel_center_xywh", aligned=True))
        iou = to_numpy(kzoo.boxes.compute_iou(
            boxes, y_true[..., :4], box_format="rel_center_xywh",
            aligned=True))
        # Responsible predictor per cell: the highest IoU (cells where some
        # predictor overlaps the object), else skip the check.
        expected = np.zeros(2)
        for n in range(2):
            for r in range(s):
                for q in range(s):
                    if y_true[n, r, q, 0, 4] > 0:
                        if iou[n, r, q].max() > 0:
                            j = int(np.argmax(iou[n, r, q]))
                        else:
                            d = ((np.asarray(boxes[n, r, q])
                                  - y_true[n, r, q, :, :4]) ** 2).sum(-1)
                            j = int(np.argmin(d))
                        expected[n] += 5.0 * (1 - overlap[n, r, q, j])
        np.testing.assert_allclose(terms["coord"], expected, rtol=1e-5)


def test_ignore_threshold_spares_good_non_responsible_predictions():
    s, b, c = 2, 2, 2
    y_true = np.zeros((1, s, s, b, 6), "float32")
    y_true[0, 0, 0, :] = [0.25, 0.25, 0.5, 0.5, 1, 0]
    raw = np.zeros((1, s, s, 5 * b + c))
    raw[0, 0, 0, 0:5] = [1, 0, 0, 0, 0]        # (0.25, 0.25, 0.25, 0.25)
    raw[0, 0, 0, 5:10] = [1, 0, 0, 3, 3]       # IoU ~0.74 with the object
    raw[0, 1, 1, 0:5] = [2, 0, 0, 0, 0]        # far away
    base = to_numpy(kzoo.losses.yolo_loss_terms(y_true, raw, b, c))
    spared = to_numpy(kzoo.losses.yolo_loss_terms(y_true, raw, b, c,
                                                  ignore_threshold=0.2))
    # Box 0 of cell (0, 0) has IoU 0.25 > 0.2 and is spared; the others not.
    diff = float(base["no_object"][0] - spared["no_object"][0])
    assert diff == pytest.approx(0.5 * _sig(1) ** 2, rel=1e-5)
    strict = to_numpy(kzoo.losses.yolo_loss_terms(y_true, raw, b, c,
                                                  ignore_threshold=0.3))
    np.testing.assert_allclose(strict["no_object"], base["no_object"])


@pytest.mark.parametrize("box_loss,objectness_loss,class_loss", [
    ("mse", "mse", "mse"), ("iou", "bce", "crossentropy"),
    ("giou", "mse", "crossentropy"), ("diou", "bce", "mse"),
    ("ciou", "bce", "crossentropy")])
def test_finite_loss_and_gradients_on_degenerate_inputs(
        box_loss, objectness_loss, class_loss):
    s, b, c = 3, 2, 3
    anchors = [[0.1, 0.1], [0.3, 0.3]]
    rng = np.random.default_rng(6)
    cases = [
        (np.zeros((2, s, s, b, 6)), rng.normal(size=(2, s, s, 5 * b + c)),
         None),  # no objects at all
        (_targets(7, s, b, c), np.full((2, s, s, 5 * b + c), -80.0), None),
        (_targets(8, s, b, c, anchors=anchors),
         np.full((2, s, s, b, 5 + c), 80.0), anchors),  # extreme logits
    ]
    for y_true, raw, anc in cases:
        for dtype in ("float32", "float16"):
            loss_fn = kzoo.losses.YOLOLoss(b, c, anchors=anc,
                                           box_loss=box_loss,
                                           objectness_loss=objectness_loss,
                                           class_loss=class_loss,
                                           ignore_threshold=0.5)
            target = np.asarray(y_true, dtype)
            loss, (grad,) = value_and_grad(
                lambda x: loss_fn(target, x), np.asarray(raw, dtype))
            assert np.isfinite(float(f32(loss)))
            assert grad is not None and np.all(np.isfinite(f32(grad)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    s, b, c = 3, 2, 3
    anchors = [[0.1, 0.1], [0.3, 0.3]]
    for anc, seed in ((None, 15), (anchors, 16)):
        y_true = _targets(seed, s, b, c, anchors=anc)
        shape = (2, s, s, 5 * b + c) if anc is None else (2, s, s, b, 5 + c)
        raw = np.random.default_rng(seed).normal(size=shape)
        for box_loss in ("mse", "ciou"):
            assert_computed_in_float32(
                lambda t, x, box_loss=box_loss, anc=anc:
                    kzoo.losses.yolo_loss_terms(t, x, b, c, anchors=anc,
                                                box_loss=box_loss,
                                                ignore_threshold=0.5),
                y_true, raw, dtype=dtype)


def test_keras_loss_averages_the_per_image_sums():
    s, b, c = 3, 2, 3
    y_true = _targets(9, s, b, c)
    raw = np.random.default_rng(10).normal(size=(2, s, s, 5 * b + c))
    per_image = to_numpy(kzoo.losses.yolo_loss(y_true, raw, b, c))
    loss = kzoo.losses.YOLOLoss(b, c)
    assert float(loss(y_true, raw)) == pytest.approx(per_image.mean(),
                                                     rel=1e-5)
    weighted = float(loss(y_true, raw, sample_weight=np.array([1.0, 0.0])))
    assert weighted == pytest.approx(per_image[0] / 2, rel=1e-5)
    terms = to_numpy(loss.terms(y_true, raw))
    np.testing.assert_allclose(sum(terms.values()), per_image, rtol=1e-6)


def test_validation_messages():
    with pytest.raises(ValueError, match="Received: box_loss='l1'"):
        kzoo.losses.YOLOLoss(box_loss="l1")
    with pytest.raises(ValueError, match="Received: objectness_target"):
        kzoo.losses.YOLOLoss(objectness_target="max")
    with pytest.raises(ValueError, match="Received: lambda_coord=-1"):
        kzoo.losses.YOLOLoss(lambda_coord=-1)
    with pytest.raises(ValueError, match="Received: ignore_threshold=1.5"):
        kzoo.losses.YOLOLoss(ignore_threshold=1.5)
    with pytest.raises(ValueError, match="Received: objectness_loss='focal'"):
        kzoo.losses.YOLOLoss(objectness_loss="focal")
    with pytest.raises(ValueError, match="Received: class_loss='bce'"):
        kzoo.losses.YOLOLoss(class_loss="bce")
    with pytest.raises(ValueError, match="Received: y_true.shape"):
        kzoo.losses.yolo_loss(np.zeros((1, 4, 4, 2, 6)),
                              np.zeros((1, 3, 3, 13)), 2, 3)


def test_ignore_threshold_on_a_large_grid_matches_brute_force():
    # 8 x 8 x 2 = 128 slots: the rule looks at the (at most 100) objects.
    s, b, c = 8, 2, 2
    anchors = [[0.1, 0.1], [0.3, 0.25]]
    y_true = _targets(13, s, b, c, anchors=anchors, m=12)
    raw = np.random.default_rng(14).normal(size=(2, s, s, b, 5 + c))
    got = to_numpy(kzoo.losses.yolo_loss_terms(
        y_true, raw, b, c, anchors=anchors, ignore_threshold=0.3)["no_object"])
    pred = to_numpy(kzoo.layers.decode_yolo_outputs(raw, b, c, anchors))
    boxes = pred["boxes"].reshape(2, -1, 4)
    p = pred["objectness"].reshape(2, -1)
    truth = y_true.reshape(2, -1, 6)
    for n in range(2):
        objects = truth[n][truth[n, :, 4] > 0]
        best = [max([_iou(box, o[:4]) for o in objects] + [0.0])
                for box in boxes[n]]
        keep = (truth[n, :, 4] == 0) & (np.asarray(best) <= 0.3)
        assert 0 < keep.sum() < len(keep) - len(objects)
        np.testing.assert_allclose(got[n], 0.5 * (p[n][keep] ** 2).sum(),
                                   rtol=1e-5)
