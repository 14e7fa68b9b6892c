import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import boxes as B
from tests.backend_utils import (as_dtype, assert_computed_in_float32,
                                 dtype_of, to_numpy, value_and_grad)

# ------------------------------------------------------------------ formats

# One box, x in [10, 30], y in [20, 60], in a 100 (wide) x 200 (high) image.
ONE_BOX = {
    "xyxy": [10, 20, 30, 60],
    "yxyx": [20, 10, 60, 30],
    "xywh": [10, 20, 20, 40],
    "center_xywh": [20, 40, 20, 40],
    "rel_xyxy": [0.1, 0.1, 0.3, 0.3],
    "rel_yxyx": [0.1, 0.1, 0.3, 0.3],
    "rel_xywh": [0.1, 0.1, 0.2, 0.2],
    "rel_center_xywh": [0.2, 0.2, 0.2, 0.2],
}


@pytest.mark.parametrize("source", B.FORMATS)
def test_convert_format_every_pair(source):
    for target in B.FORMATS:
        got = B.convert_format(np.array([ONE_BOX[source]], "float32"), source,
                               target, height=200, width=100)
        np.testing.assert_allclose(got, [ONE_BOX[target]], rtol=1e-6,
                                   err_msg=f"{source} -> {target}")


def test_convert_format_agrees_with_keras():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (7, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 50, (7, 2))], -1)
    for target in ("yxyx", "xywh", "center_xywh", "rel_xyxy", "rel_yxyx"):
        ours = B.convert_format(boxes, "xyxy", target, height=120, width=90)
        ref = keras.utils.bounding_boxes.convert_format(
            boxes, "xyxy", target, height=120, width=90)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_convert_format_permutation_is_exact_and_batched_sizes():
    boxes = np.random.default_rng(1).uniform(0, 1e3, (3, 5, 4)).astype("float32")
    yxyx = B.convert_format(boxes, "xyxy", "yxyx")
    assert np.array_equal(yxyx, boxes[..., [1, 0, 3, 2]])
    assert dtype_of(B.convert_format(boxes, "xyxy", "xyxy",
                                     dtype="float16")) == "float16"
    # Per-image sizes broadcast against boxes[..., 0].
    h = np.array([[100.0], [200.0], [400.0]])
    w = np.array([[10.0], [20.0], [40.0]])
    rel = B.convert_format(boxes, "xyxy", "rel_xyxy", height=h, width=w)
    np.testing.assert_allclose(rel[1, :, 0], boxes[1, :, 0] / 20, rtol=1e-6)
    np.testing.assert_allclose(rel[2, :, 3], boxes[2, :, 3] / 400, rtol=1e-6)
    back = B.convert_format(rel, "rel_xyxy", "xyxy", height=h, width=w)
    np.testing.assert_allclose(back, boxes, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_boxes_are_computed_in_float32(dtype):
    # Numpy float16 and (ml_dtypes) bfloat16 boxes, as a user passes them,
    # give the float32 results of their (exactly upcast) values: on every
    # backend (Keras' PyTorch backend once kept bfloat16 arrays bfloat16).
    rng = np.random.default_rng(13)
    a, b = _random_boxes(rng, (5,)) * 7.3, _random_boxes(rng, (4,)) * 7.3
    assert_computed_in_float32(
        lambda a: B.convert_format(a, "xyxy", "center_xywh"), a, dtype=dtype)
    assert_computed_in_float32(
        lambda a: B.convert_format(a, "xyxy", "rel_xywh", height=31,
                                   width=17), a, dtype=dtype)
    for fn in FNS:
        assert_computed_in_float32(fn, a, b, dtype=dtype)
        assert_computed_in_float32(lambda a, b: fn(a, b[:5], aligned=True),
                                   a, np.concatenate([b, a[:1]]), dtype=dtype)
    # An explicit dtype is honoured too.
    half = B.convert_format(as_dtype(a, dtype), "xyxy", "xywh",
                            dtype="float16")
    assert dtype_of(half) == "float16"


def test_convert_format_errors():
    box = np.zeros((1, 4), "float32")
    with pytest.raises(ValueError, match="Received: source='xxyy'"):
        B.convert_format(box, "xxyy", "xyxy")
    with pytest.raises(ValueError, match="Received: height=None"):
        B.convert_format(box, "xyxy", "rel_xyxy", width=3)
    with pytest.raises(ValueError, match="Received: width=0"):
        B.convert_format(box, "rel_xyxy", "xyxy", height=3, width=0)
    with pytest.raises(ValueError, match=r"Received: boxes.shape=\(1, 3\)"):
        B.convert_format(np.zeros((1, 3)), "xyxy", "yxyx")
    # Relative <-> relative needs no image size.
    B.convert_format(box, "rel_xywh", "rel_yxyx")


# -------------------------------------------------------------- IoU family


def _ref_terms(a, b):
    """IoU, GIoU, DIoU, CIoU of two xyxy boxes, straight from the papers."""
    wa, ha = max(a[2] - a[0], 0), max(a[3] - a[1], 0)
    wb, hb = max(b[2] - b[0], 0), max(b[3] - b[1], 0)
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    inter, union = iw * ih, wa * ha + wb * hb - iw * ih
    iou = inter / union if union > 0 else 0.0
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    c_area = cw * ch
    giou = iou - (c_area - union) / c_area if c_area > 0 else iou
    rho2 = ((a[0] + a[2] - b[0] - b[2]) / 2) ** 2 + (
        (a[1] + a[3] - b[1] - b[3]) / 2) ** 2
    diou = iou - rho2 / (cw ** 2 + ch ** 2) if cw + ch > 0 else iou
    ang_a = math.atan2(wa, ha) if wa + ha > 0 else 0.0
    ang_b = math.atan2(wb, hb) if wb + hb > 0 else 0.0
    v = 4 / math.pi ** 2 * (ang_b - ang_a) ** 2
    alpha = v / (1 - iou + v) if (1 - iou + v) > 0 else 0.0
    return iou, giou, diou, diou - alpha * v


FNS = (B.compute_iou, B.compute_giou, B.compute_diou, B.compute_ciou)

# (box a, box b, IoU, GIoU, DIoU) by hand.
HAND = [
    # identical
    ([0, 0, 2, 2], [0, 0, 2, 2], 1.0, 1.0, 1.0),
    # disjoint, side by side: C = 3 x 1, U = 2, rho = 2, c**2 = 10
    ([0, 0, 1, 1], [2, 0, 3, 1], 0.0, -1 / 3, -0.4),
    # nested: C = U = 16, rho**2 = 0.5, c**2 = 32
    ([0, 0, 4, 4], [1, 1, 2, 2], 1 / 16, 1 / 16, 1 / 16 - 0.5 / 32),
    # partial: inter 1, union 7, C = 9, rho**2 = 2, c**2 = 18
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7, 1 / 7 - 2 / 9, 1 / 7 - 2 / 18),
    # zero-area box inside another: IoU 0, C = U = 4, rho**2 = 1/4, c**2 = 8
    ([0, 0, 2, 2], [0.5, 0, 0.5, 2], 0.0, 0.0, -1 / 32),
    # two equal points: everything 0
    ([1, 1, 1, 1], [1, 1, 1, 1], 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("a, b, iou, giou, diou", HAND)
def test_iou_family_hand_cases(a, b, iou, giou, diou):
    a32, b32 = np.array([a], "float32"), np.array([b], "float32")
    for fn, want in zip(FNS[:3], (iou, giou, diou)):
        got = fn(a32, b32)
        assert got.shape == (1, 1) and dtype_of(got) == "float32"
        np.testing.assert_allclose(got[0, 0], want, rtol=1e-6, atol=1e-7,
                                   err_msg=fn.__name__)
    # CIoU = DIoU - alpha v, with v of the aspect ratios.
    np.testing.assert_allclose(B.compute_ciou(a32, b32)[0, 0],
                               _ref_terms(a, b)[3], rtol=1e-6, atol=1e-7)


def test_ciou_hand_case():
    # a 2x2, b 2x1 at the same corner: IoU 1/2, rho**2 = 1/4, c**2 = 8,
    # v = 4/pi**2 (atan 2 - pi/4)**2, alpha = v / (1/2 + v).
    v = 4 / math.pi ** 2 * (math.atan(2.0) - math.pi / 4) ** 2
    want = 0.5 - 0.25 / 8 - v / (0.5 + v) * v
    got = B.compute_ciou([[0.0, 0.0, 2.0, 2.0]], [[0.0, 0.0, 2.0, 1.0]])
    np.testing.assert_allclose(got[0, 0], want, rtol=1e-6)
    # Symmetric; identical boxes give 1.
    np.testing.assert_allclose(
        B.compute_ciou([[0.0, 0.0, 2.0, 1.0]], [[0.0, 0.0, 2.0, 2.0]]), got)
    assert float(B.compute_ciou([[1.0, 2, 5, 9]], [[1.0, 2, 5, 9]])[0, 0]) == 1.0


def _random_boxes(rng, shape, degenerate=True):
    xy = rng.uniform(0, 20, shape + (2,))
    wh = rng.uniform(0, 15, shape + (2,))
    if degenerate:  # some zero-width / zero-height boxes
        wh = np.where(rng.random(shape + (2,)) < 0.1, 0.0, wh)
    return np.concatenate([xy, xy + wh], -1).astype("float32")


def test_iou_family_matches_reference_pairwise_and_batched():
    rng = np.random.default_rng(2)
    a, b = _random_boxes(rng, (2, 6)), _random_boxes(rng, (2, 5))
    outs = [fn(a, b) for fn in FNS]
    for out in outs:
        assert out.shape == (2, 6, 5)
    for i in range(2):
        for n in range(6):
            for m in range(5):
                ref = _ref_terms(a[i, n].astype(float), b[i, m].astype(float))
                got = [float(o[i, n, m]) for o in outs]
                np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-6)
    # Aligned: the diagonal; broadcasting [N, 4] against [B, M, 4].
    for fn, out in zip(FNS, outs):
        aligned = fn(a[:, :5], b, aligned=True)
        assert aligned.shape == (2, 5)
        np.testing.assert_allclose(
            aligned, np.diagonal(out[:, :5, :], axis1=1, axis2=2), rtol=1e-6,
            atol=1e-7)
        np.testing.assert_allclose(fn(a[0], b), fn(np.stack([a[0]] * 2), b),
                                   rtol=1e-6)


def test_iou_matches_keras_for_positive_area_boxes():
    rng = np.random.default_rng(3)
    a, b = _random_boxes(rng, (8,), False), _random_boxes(rng, (9,), False)
    ref = keras.utils.bounding_boxes.compute_iou(a, b, "xyxy")  # has an epsilon
    np.testing.assert_allclose(B.compute_iou(a, b), ref, rtol=1e-5, atol=1e-6)


def test_iou_family_formats_and_empty_boxes():
    rng = np.random.default_rng(4)
    a, b = _random_boxes(rng, (4,), False), _random_boxes(rng, (3,), False)
    for fn in FNS:
        ref = fn(a, b)
        for fmt in ("xywh", "center_xywh", "yxyx"):
            got = fn(B.convert_format(a, "xyxy", fmt),
                     B.convert_format(b, "xyxy", fmt), box_format=fmt)
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    # IoU and GIoU do not depend on the image size; relative boxes work.
    rel = [B.convert_format(x, "xyxy", "rel_xyxy", height=20, width=40)
           for x in (a, b)]
    for fn in FNS[:2]:
        np.testing.assert_allclose(fn(*rel, box_format="rel_xyxy"), fn(a, b),
                                   rtol=1e-5, atol=1e-6)
    # Inverted corners are empty: IoU 0 even with a box containing them.
    inverted = np.array([[3.0, 3.0, 1.0, 1.0]], "float32")
    assert float(B.compute_iou(inverted, [[0.0, 0.0, 4.0, 4.0]])[0, 0]) == 0.0


def test_iou_family_errors():
    with pytest.raises(ValueError, match="Received: box_format='xy'"):
        B.compute_iou(np.zeros((1, 4)), np.zeros((1, 4)), box_format="xy")
    with pytest.raises(ValueError, match=r"Received: boxes1.shape=\(4,\)"):
        B.compute_giou(np.zeros(4), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="Received: aligned=1"):
        B.compute_diou(np.zeros((1, 4)), np.zeros((1, 4)), aligned=1)
    assert B.compute_ciou(np.zeros(4), np.zeros(4), aligned=True).shape == ()


DEGENERATE = np.array([
    [0, 0, 0, 0],    # a point
    [0, 0, 0, 0],    # the same point
    [1, 1, 1, 5],    # zero width
    [1, 1, 6, 1],    # zero height
    [5, 5, 2, 2],    # inverted
    [0, 0, 2, 2],
    [0, 0, 2, 2],    # identical to the previous one
    [1e-4, 0, 2, 3],
], "float32")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_iou_family_finite_values_and_gradients(fn, dtype):
    for aligned in (False, True):
        a = DEGENERATE.astype(dtype)
        b = DEGENERATE[::-1].astype(dtype)
        out = fn(a, b, aligned=aligned)
        _, grads = value_and_grad(
            lambda a, b: keras.ops.sum(1.0 - fn(a, b, aligned=aligned)), a, b)
        assert dtype_of(out) == "float32"
        out = to_numpy(out)
        assert np.all(np.isfinite(out)), (fn.__name__, out)
        for g in grads:
            assert g.dtype == dtype
            assert np.all(np.isfinite(g.astype("float32")))
        # Half-precision inputs give the float32 values.
        if dtype == "float16":
            np.testing.assert_allclose(
                out, fn(DEGENERATE, DEGENERATE[::-1].copy(), aligned=aligned),
                rtol=1e-3, atol=1e-3)


def _tiny_pairs():
    """`(size, name, a, b)`: box pairs whose union, enclosing box or
    diagonal is tiny but positive, by the `size` of their tiny lengths: from
    well inside float32's normal range (1e-6) down to its subnormal numbers
    (1e-40, 1e-45)."""
    pairs = []
    for e in (1e-6, 1e-10, 1e-12, 1e-15, 1e-19, 1e-20, 1e-22, 1e-30, 1e-38,
              1e-40, 1e-45):
        pairs += [
            # A predicted box collapsed to (almost) nothing against an
            # empty target at its corner: the enclosing box is the tiny box.
            (e, "collapsed-vs-empty", [0, 0, e, e], [0, 0, 0, 0]),
            # ... against an empty target at its far corner.
            (e, "collapsed-vs-far-empty", [0, 0, e, e], [e, e, e, e]),
            # A point against a point a tiny distance away (1 + e rounds to
            # 1 in float32 for the smaller sizes: two equal points).
            (e, "point-vs-point", [1, 1, 1, 1], [1, 1, 1 + e, 1]),
            (e, "point-vs-point-at-0", [0, 0, 0, 0], [e, 0, e, 0]),
            # Two lines spanning a tiny square.
            (e, "line-vs-line", [0, 0, e, 0], [0, 0, 0, e]),
            # Two tiny boxes, touching corners and overlapping.
            (e, "tiny-vs-tiny", [0, 0, e, e], [e, e, 2 * e, 2 * e]),
            (e, "tiny-overlap", [0, 0, 2 * e, 2 * e], [e, e, 3 * e, 3 * e]),
            # A tiny box far from a unit box: tiny union, normal enclosing.
            (e, "tiny-far-from-unit", [5, 5, 5 + e, 5 + e], [0, 0, 1, 1]),
        ]
    return pairs


@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_iou_family_finite_gradients_for_tiny_boxes(fn):
    # Zero-area boxes have IoU 0 with everything, with finite values and
    # gradients: this covers boxes *near* zero area too, e.g. a predicted
    # box collapsed onto an empty (padding) target, where the enclosing box
    # area, the union or the diagonal is tiny but positive and a quotient's
    # derivative (1 / d**2) overflows float32 (it gave NaN and inf
    # gradients on every backend, and NaN IoU gradients on JAX).
    sizes, names, a, b = zip(*_tiny_pairs())
    names = [f"{n} {e:g}" for e, n in zip(sizes, names)]
    a, b = np.array(a, "float32"), np.array(b, "float32")
    for aligned in (True, False):
        out, grads = value_and_grad(
            lambda a, b: keras.ops.sum(fn(a, b, aligned=aligned)), a, b)
        assert np.isfinite(out)
        for g in grads:
            assert g.dtype == np.float32
            bad = ~np.all(np.isfinite(g), axis=-1)
            assert not bad.any(), [n for n, x in zip(names, bad) if x]
    values = to_numpy(fn(a, b, aligned=True))
    assert np.all(np.isfinite(values)) and np.all(np.abs(values) <= 1.0)
    # The values themselves are unchanged: the float64 reference of the
    # float32 boxes, wherever float32 areas are normal numbers (backends
    # differ below: JAX flushes subnormals to zero, PyTorch keeps them).
    k = FNS.index(fn)
    for e, name, x, y, got in zip(sizes, names, a, b, values):
        if e >= 1e-15:
            want = _ref_terms(x.astype(float), y.astype(float))[k]
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6,
                                       err_msg=name)


def _ref_gradient(k, a, b):
    """Central differences of `_ref_terms(a, b)[k]` (float64) in `a`, `b`."""
    grads = []
    for which in (0, 1):
        g = np.zeros(4)
        for i in range(4):
            pair = [np.array(a, float), np.array(b, float)]
            h = 1e-6 * max(np.ptp(np.concatenate(pair)), 1e-300)
            pair[which][i] += h
            up = _ref_terms(*pair)[k]
            pair[which][i] -= 2 * h
            down = _ref_terms(*pair)[k]
            g[i] = (up - down) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-6])
def test_iou_giou_diou_gradients_match_finite_differences(scale):
    # Gradients of small (not degenerate) boxes are the true ones. (No two
    # coordinates are equal: min and max are not differentiable at ties.)
    cases = [([0, 0, 2, 2], [1, 1, 3, 3]),   # partial overlap
             ([0, 0, 1, 1], [2, 0.25, 3, 1.5]),  # disjoint
             ([0, 0, 4, 4], [1, 1, 2, 3])]    # nested
    for a, b in cases:
        a32 = np.array(a, "float32") * np.float32(scale)
        b32 = np.array(b, "float32") * np.float32(scale)
        for k, fn in enumerate(FNS[:3]):
            _, grads = value_and_grad(
                lambda a, b: fn(a, b, aligned=True), a32, b32)
            want = _ref_gradient(k, a32.astype(float), b32.astype(float))
            for g, w in zip(grads, want):
                np.testing.assert_allclose(
                    g, w, rtol=1e-3, atol=1e-3 * np.abs(w).max(),
                    err_msg=f"{fn.__name__} {a} {b} x {scale}")


def test_ciou_alpha_is_constant_for_the_gradient():
    a = np.array([[1.0, 2.0, 4.0, 7.0]], "float32")
    b = np.array([[0.0, 0.0, 5.0, 4.0]], "float32")
    ops = keras.ops

    def v_of(a):
        w, h = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
        return 4 / math.pi ** 2 * ops.square(ops.arctan(5.0 / 4.0)
                                             - ops.arctan(w / h))

    def grad(fn):
        return value_and_grad(lambda a: ops.sum(fn(a)), a)[1][0]

    iou = to_numpy(B.compute_iou(a, b, aligned=True))
    v = to_numpy(v_of(a))
    alpha = v / (1 - iou + v)
    want = grad(lambda a: B.compute_diou(a, b, aligned=True)) \
        - alpha[:, None] * grad(v_of)
    np.testing.assert_allclose(
        grad(lambda a: B.compute_ciou(a, b, aligned=True)), want, rtol=1e-5,
        atol=1e-7)


# ------------------------------------------------------ non-max suppression


def tf_nms(boxes_xyxy, scores, k, iou, thr):
    """tf.image.non_max_suppression on xyxy boxes (exact column swap)."""
    return tf.image.non_max_suppression(
        np.asarray(boxes_xyxy, "float32")[:, [1, 0, 3, 2]],
        np.asarray(scores, "float32"), k, iou_threshold=iou,
        score_threshold=thr).numpy()


def test_nms_course_procedure_by_hand():
    # The course's procedure: drop p_c <= 0.6, take the best, drop what
    # overlaps it by IoU > 0.5 (TF's strict rule), repeat.
    boxes = np.array([
        [0, 0, 10, 10],    # 0: p 0.9, kept first
        [1, 1, 11, 11],    # 1: p 0.8, IoU(0) = 81/119 > 0.5: dropped
        [5, 0, 15, 10],    # 2: p 0.75, IoU(0) = 50/150: kept
        [20, 20, 30, 30],  # 3: p 0.6, not above the threshold: dropped
        [20, 21, 30, 31],  # 4: p 0.7, alone: kept
        [0, 0, 10, 5],     # 5: p 0.65, IoU(0) = 50/100 = 0.5 exactly: kept by
                           #    TF's rule (the course's >= would drop it)
        [5, 0, 14, 10],    # 6: p 0.74, IoU(2) = 90/100: dropped
    ], "float32")
    scores = np.array([0.9, 0.8, 0.75, 0.6, 0.7, 0.65, 0.74], "float32")
    got = B.non_max_suppression(boxes, scores)
    assert dtype_of(got) == "int32"
    assert to_numpy(got).tolist() == [0, 2, 4, 5]
    assert to_numpy(B.non_max_suppression(
        boxes, scores, max_detections=2)).tolist() == [0, 2]
    assert to_numpy(B.non_max_suppression(
        boxes, scores, iou_threshold=0.49)).tolist() == [0, 2, 4]


def _nms_case(rng, n, grid):
    """Boxes on an integer grid (exact IoU ties, duplicates) or continuous;
    scores quantised (ties)."""
    if grid:
        xy = rng.integers(0, 8, (n, 2))
        wh = rng.integers(0, 6, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype("float32")
        if n > 1:
            boxes[rng.integers(0, n, n // 3)] = boxes[rng.integers(0, n, n // 3)]
    else:
        boxes = _random_boxes(rng, (n,))
    scores = np.round(rng.random(n) * 10) / 10
    return boxes, scores.astype("float32")


def test_nms_equals_tf_on_random_inputs():
    rng = np.random.default_rng(5)
    checked = 0
    for trial in range(60):
        n = int(rng.choice([0, 1, 2, 7, 30, 80]))
        boxes, scores = _nms_case(rng, n, grid=trial % 2 == 0)
        iou = float(rng.choice([0.0, 0.3, 0.5, 1.0]))
        thr = float(rng.choice([-1.0, 0.0, 0.5, 0.6, 2.0]))
        k = int(rng.choice([0, 1, 5, 100]))
        got = to_numpy(B.non_max_suppression(boxes, scores, iou, thr, k))
        want = tf_nms(boxes, scores, k, iou, thr)
        np.testing.assert_array_equal(got, want)
        checked += len(want)
    assert checked > 100  # the cases keep boxes


def test_nms_box_formats_and_half_precision():
    rng = np.random.default_rng(6)
    boxes, scores = _nms_case(rng, 60, grid=True)
    want = tf_nms(boxes, scores, 100, 0.5, 0.3)
    for fmt in ("yxyx", "xywh", "center_xywh"):  # exact on the integer grid
        got = B.non_max_suppression(B.convert_format(boxes, "xyxy", fmt),
                                    scores, 0.5, 0.3, box_format=fmt)
        np.testing.assert_array_equal(to_numpy(got), want, err_msg=fmt)
    rel = B.convert_format(boxes, "xyxy", "rel_xywh", height=8, width=16)
    got = B.non_max_suppression(rel, scores, 0.5, 0.3, box_format="rel_xywh")
    np.testing.assert_array_equal(
        to_numpy(got), tf.image.non_max_suppression(
            to_numpy(B.convert_format(rel, "rel_xywh", "rel_yxyx")), scores,
            100, 0.5, 0.3))
    got = B.non_max_suppression(boxes.astype("float16"),
                                scores.astype("float16"), 0.5, 0.3)
    np.testing.assert_array_equal(
        to_numpy(got), tf_nms(boxes, scores.astype("float16").astype("float32"), 100,
                    0.5, 0.3))


def test_nms_errors():
    boxes, scores = np.zeros((2, 4), "float32"), np.zeros(2, "float32")
    with pytest.raises(ValueError, match="Received: iou_threshold=1.5"):
        B.non_max_suppression(boxes, scores, iou_threshold=1.5)
    with pytest.raises(ValueError, match="Received: score_threshold=nan"):
        B.non_max_suppression(boxes, scores, score_threshold=float("nan"))
    with pytest.raises(ValueError, match="Received: max_detections=-1"):
        B.non_max_suppression(boxes, scores, max_detections=-1)
    with pytest.raises(ValueError, match="Received: max_detections_per_class=0.5"):
        B.batched_non_max_suppression(boxes[None], scores[None],
                                      max_detections_per_class=0.5)
    with pytest.raises(ValueError, match=r"scores.shape=\(1, 2\)"):
        B.non_max_suppression(boxes, scores[None])
    with pytest.raises(ValueError, match=r"Received: boxes.shape=\(2, 4\)"):
        B.batched_non_max_suppression(boxes, scores)
    with pytest.raises(ValueError, match="`classes` must be None"):
        B.batched_non_max_suppression(boxes[None], np.zeros((1, 2, 3)),
                                      np.zeros((1, 2), "int32"))
    with pytest.raises(ValueError, match=r"Received: scores.shape=\(1,\)"):
        B.batched_non_max_suppression(boxes[None], np.zeros(1))


# ---- class-aware and batched: against an explicit per-image per-class loop


def reference_batched(boxes, scores, classes, iou, thr, k, k_class):
    """Per image and class, tf.image.non_max_suppression on that class's
    boxes; merged by descending score, then box index, then class."""
    boxes, scores = np.asarray(boxes, "float32"), np.asarray(scores, "float32")
    out = []
    for b in range(boxes.shape[0]):
        kept = []  # (score, box index, class)
        if scores.ndim == 3:
            for c in range(scores.shape[2]):
                for i in tf_nms(boxes[b], scores[b, :, c], k_class, iou, thr):
                    kept.append((scores[b, i, c], i, c))
        else:
            cls = (np.zeros(boxes.shape[1], int) if classes is None
                   else np.asarray(classes[b]))
            for c in np.unique(cls[cls >= 0]):
                members = np.flatnonzero(cls == c)
                for j in tf_nms(boxes[b][members], scores[b][members],
                                k_class, iou, thr):
                    kept.append((scores[b, members[j]], members[j], c))
        kept.sort(key=lambda t: (-t[0], t[1], t[2]))
        out.append(kept[:k])
    return out


def assert_batched_equal(got, want, boxes, k):
    nb = len(want)
    assert {name: dtype_of(t) for name, t in got.items()} == {
        "boxes": "float32", "classes": "int32", "scores": "float32",
        "num_detections": "int32"}
    got = to_numpy(got)
    assert got["boxes"].shape == (nb, k, 4)
    assert got["classes"].shape == (nb, k)
    assert got["scores"].shape == (nb, k)
    for b, kept in enumerate(want):
        n = len(kept)
        assert int(got["num_detections"][b]) == n
        np.testing.assert_array_equal(got["scores"][b, :n], [t[0] for t in kept])
        np.testing.assert_array_equal(got["classes"][b, :n], [t[2] for t in kept])
        np.testing.assert_array_equal(
            got["boxes"][b, :n], np.asarray(boxes)[b][[t[1] for t in kept]]
            .reshape(n, 4))
        # Padding rows.
        assert np.all(got["boxes"][b, n:] == 0)
        assert np.all(got["classes"][b, n:] == -1)
        assert np.all(got["scores"][b, n:] == 0)


def _batched_case(rng, nb, n, num_classes, grid):
    cases = [_nms_case(rng, n, grid) for _ in range(nb)]
    boxes = np.stack([c[0] for c in cases]) if n else np.zeros((nb, 0, 4),
                                                                "float32")
    scores = np.round(rng.random((nb, n, num_classes)) * 10) / 10
    classes = rng.integers(-1, num_classes, (nb, n))
    return boxes, scores.astype("float32"), classes


def test_batched_multiclass_scores_equal_reference_loop():
    rng = np.random.default_rng(7)
    for trial in range(12):
        nb, n = int(rng.integers(1, 4)), int(rng.choice([0, 1, 9, 40]))
        boxes, scores, _ = _batched_case(rng, nb, n, 3, grid=trial % 2 == 0)
        iou, thr = float(rng.choice([0.3, 0.5])), float(rng.choice([0.0, 0.6]))
        k = int(rng.choice([1, 4, 30]))
        k_class = None if trial % 3 else int(rng.integers(1, 5))
        got = B.batched_non_max_suppression(
            boxes, scores, iou_threshold=iou, score_threshold=thr,
            max_detections=k, max_detections_per_class=k_class)
        want = reference_batched(boxes, scores, None, iou, thr, k,
                                 k if k_class is None else k_class)
        assert_batched_equal(got, want, boxes, k)


def test_batched_class_aware_and_agnostic_equal_reference_loop():
    rng = np.random.default_rng(8)
    for trial in range(8):
        nb, n = int(rng.integers(1, 4)), int(rng.choice([0, 1, 9, 40]))
        boxes, scores, classes = _batched_case(rng, nb, n, 4,
                                               grid=trial % 2 == 0)
        scores = scores[..., 0]
        iou, thr = float(rng.choice([0.3, 0.5])), float(rng.choice([0.0, 0.6]))
        k = int(rng.choice([1, 4, 30]))
        k_class = None if trial % 3 else int(rng.integers(1, 5))
        for cls in (classes, None):
            got = B.batched_non_max_suppression(
                boxes, scores, cls, iou_threshold=iou, score_threshold=thr,
                max_detections=k, max_detections_per_class=k_class)
            want = reference_batched(boxes, scores, cls, iou, thr, k,
                                     k if k_class is None else k_class)
            if cls is None:  # agnostic: output class 0
                assert all(t[2] == 0 for kept in want for t in kept)
            assert_batched_equal(got, want, boxes, k)


def test_batched_large_class_ids_and_formats():
    rng = np.random.default_rng(9)
    boxes, scores, classes = _batched_case(rng, 2, 30, 3, grid=True)
    scores = scores[..., 0]
    classes = np.where(classes < 0, -1, classes * 100_000_007)  # sparse ids
    got = B.batched_non_max_suppression(boxes, scores, classes,
                                        score_threshold=0.2)
    want = reference_batched(boxes, scores, classes, 0.5, 0.2, 100, 100)
    assert_batched_equal(got, want, boxes, 100)
    # Output boxes stay in the input format.
    cxcy = to_numpy(B.convert_format(boxes, "xyxy", "center_xywh"))
    got = B.batched_non_max_suppression(cxcy, scores, classes,
                                        score_threshold=0.2,
                                        box_format="center_xywh")
    assert_batched_equal(got, want, cxcy, 100)


def test_class_aware_nms_unbatched():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10],
                      [30, 30, 40, 40]], "float32")
    scores = np.array([0.9, 0.8, 0.95, 0.7], "float32")
    classes = np.array([0, 0, 1, -1])
    got = B.class_aware_non_max_suppression(boxes, scores, classes)
    assert dtype_of(got) == "int32"
    # Box 1 is suppressed by box 0 (same class); box 2 is another class;
    # box 3 is padding.
    assert to_numpy(got).tolist() == [2, 0]
    rng = np.random.default_rng(10)
    for _ in range(10):
        boxes, scores = _nms_case(rng, 40, grid=True)
        classes = rng.integers(-1, 3, 40)
        got = B.class_aware_non_max_suppression(boxes, scores, classes,
                                                score_threshold=0.1,
                                                max_detections=12)
        want = reference_batched(boxes[None], scores[None], classes[None],
                                 0.5, 0.1, 12, 12)[0]
        assert to_numpy(got).tolist() == [t[1] for t in want]


@pytest.mark.tf_backend
def test_batched_nms_static_shapes_with_unknown_batch():
    calls = []

    @tf.function(input_signature=[tf.TensorSpec([None, None, 4]),
                                  tf.TensorSpec([None, None, 3])])
    def detect(boxes, scores):
        out = B.batched_non_max_suppression(boxes, scores, max_detections=5)
        calls.append({k: v.shape.as_list() for k, v in out.items()})
        return out

    rng = np.random.default_rng(11)
    for nb in (1, 3):
        boxes, scores, _ = _batched_case(rng, nb, 20, 3, grid=True)
        got = detect(boxes, scores)
        assert_batched_equal(
            got, reference_batched(boxes, scores, None, 0.5, 0.6, 5, 5),
            boxes, 5)
    assert calls == [{"boxes": [None, 5, 4], "classes": [None, 5],
                      "scores": [None, 5], "num_detections": [None]}]


@pytest.mark.tf_backend
def test_batched_nms_in_tf_function_unknown_classes_and_class_aware():
    @tf.function(input_signature=[tf.TensorSpec([None, None, 4]),
                                  tf.TensorSpec([None, None, None])])
    def per_class_scores(boxes, scores):  # C unknown at trace time
        return B.batched_non_max_suppression(boxes, scores, max_detections=6,
                                             score_threshold=0.3)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 4]),
                                  tf.TensorSpec([None, None]),
                                  tf.TensorSpec([None, None], tf.int32)])
    def class_aware(boxes, scores, classes):
        out = B.batched_non_max_suppression(boxes, scores, classes,
                                            max_detections=6,
                                            score_threshold=0.3)
        assert out["boxes"].shape.as_list() == [None, 6, 4]
        return out

    rng = np.random.default_rng(12)
    for nb, num_classes in ((1, 2), (3, 4)):
        boxes, scores, classes = _batched_case(rng, nb, 25, num_classes,
                                               grid=True)
        assert_batched_equal(
            per_class_scores(boxes, scores),
            reference_batched(boxes, scores, None, 0.5, 0.3, 6, 6), boxes, 6)
        assert_batched_equal(
            class_aware(boxes, scores[..., 0], classes.astype("int32")),
            reference_batched(boxes, scores[..., 0], classes, 0.5, 0.3, 6, 6),
            boxes, 6)
