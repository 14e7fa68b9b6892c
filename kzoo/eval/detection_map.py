"""Mean average precision of object detections: COCO and Pascal VOC styles.

`detection_map(ground_truth, detections, num_classes, style=...)` scores
the detections of a set of images against their ground-truth boxes.

Inputs (one entry per image, in the same order in both lists):

- `ground_truth[i]`: a dict with `"boxes"` (`[N, 4]`, `xyxy` in continuous
  pixel coordinates, the `kzoo.boxes` convention: area
  `(x2 - x1) * (y2 - y1)`, no `+ 1`), `"classes"` (`[N]` integers in
  `[0, num_classes)`) and optionally `"difficult"` (`[N]` booleans, Pascal
  VOC's flag, see below);
- `detections[i]`: a dict with `"boxes"` (`[D, 4]`, same convention),
  `"classes"` (`[D]` integers in `[0, num_classes)`) and `"scores"` (`[D]`
  finite floats, higher = more confident).

Arrays may be NumPy arrays, nested lists or tensors; an image without boxes
has empty arrays (`np.zeros((0, 4))`). Padding rows (class `-1`, as in the
batches of `kzoo.data.detection_dataset` or the output of
`kzoo.layers.NonMaxSuppression`) must be removed first: they are rejected
as out-of-range class ids. Boxes must be finite with `x2 >= x1` and
`y2 >= y1` (zero-area boxes are allowed: they overlap nothing).

`style="coco"` reproduces `pycocotools.cocoeval.COCOeval(iouType="bbox")`
with its default parameters (the ground truth converted with `area = w * h`
and `iscrowd = 0`): the twelve numbers of `COCOeval.stats`, equal to
pycocotools' up to floating-point rounding (in practice bit for bit, see
`tests/eval/test_detection_map.py`), computed in vectorized NumPy
(about 18x faster on 500 images x 100 detections,
`benchmarks/bench_detection_map.py`). Conventions, all pycocotools':

- IoU thresholds `.50:.05:.95` (`np.linspace(.5, .95, 10)`), a match needs
  `IoU >= threshold`; recall thresholds `np.linspace(0, 1, 101)`
  (101-point interpolated precision, made monotone from the right);
- per image and class only the `100` highest-scoring detections count
  (ties kept in input order: stable sort); `AR1`/`AR10` use the first
  `1`/`10` of them;
- greedy matching per image and class in descending score order: a
  detection takes the unmatched ground-truth box of highest IoU (ties: the
  later box), preferring non-ignored boxes;
- area ranges on the ground-truth area `w * h` (pixels squared): small
  `[0, 32^2]`, medium `[32^2, 96^2]`, large `[96^2, 1e10]` (bounds
  inclusive, so `32^2` is both small and medium). Ground truth outside the
  range is ignored, and so are the unmatched detections outside it (by
  their own area);
- precision is `tp / (tp + fp + eps)` (`eps = np.spacing(1)`), so a
  perfect result is `1 - 1e-16` rather than `1.0`, as in pycocotools;
- a (class, area range) without non-ignored ground truth has no AP/AR: it
  is left out of the means (pycocotools marks it `-1`); a summary with no
  defined term at all is `None` here (pycocotools: `-1`).

Returned keys: `"AP"` (IoU .50:.95), `"AP50"`, `"AP75"`, `"APs"`, `"APm"`,
`"APl"`, `"AR1"`, `"AR10"`, `"AR100"`, `"ARs"`, `"ARm"`, `"ARl"`
(= `COCOeval.stats[0:12]`), and per class `"AP/<name>"` (IoU .50:.95, area
all, 100 detections: the mean of the class's slice of
`COCOeval.eval["precision"]`, as Detectron reports it) and `"AP50/<name>"`.

`style="voc"` is the Pascal VOC 2010+ devkit evaluation (`VOCevaldet.m`),
per class:

- detections of all images sorted by descending score (stable: ties in
  image order, then input order);
- each detection is compared with the ground truth of its image and class
  and takes the box of highest IoU (ties: the first box), matched or not;
  it is a true positive if that IoU is `>= iou_threshold` (the devkit's
  `ovmax >= minoverlap`; py-faster-rcnn's and Detectron2's `voc_eval.py`
  use a strict `>`, which differs only at IoU exactly equal to the
  threshold) and the box is not already matched, otherwise a false positive
  (duplicates are *not* re-assigned to a second-best box, unlike COCO);
- all-point interpolation (VOC2010+, not VOC2007's 11 points): precision
  made monotone from the right, AP = area under the precision/recall step
  curve summed at the points where recall changes;
- continuous coordinates: IoU from `(x2 - x1) * (y2 - y1)` areas, where the
  devkit adds 1 pixel to every width and height (integer pixel indices).
  IoUs, hence some matches, differ slightly from the devkit's on the same
  integer boxes; boxes converted to continuous coordinates
  (`x2 + 1`, `y2 + 1`) give the devkit's IoUs.

Returned keys: `"mAP"` (mean over the classes that have at least one
non-difficult ground-truth box) and `"AP/<name>"` per class (`None` for a
class without non-difficult ground truth: undefined, excluded from the
mean; `"mAP"` is `None` if no class has any).

Difficult ground truth (`"difficult"` true), as in the VOC devkit: it
counts neither as a true positive nor as a missed object, and a detection
whose best box is difficult is ignored (neither true nor false positive).
`style="coco"` treats it as a pycocotools *ignored* box (`gtIgnore = 1`:
ordinary IoU, matched at most once, matches to it ignored, never
preferred over a non-ignored match), the semantics COCOeval gives to boxes
outside the area range.

`<name>` is `class_names[k]` or, without names, the class index `str(k)`.
Every value is a Python float or `None`, never NaN.

References:
    - [Lin et al., 2014, Microsoft COCO](https://arxiv.org/abs/1405.0312);
      `pycocotools/cocoeval.py` (cocodataset/cocoapi).
    - [Everingham et al., 2010, The PASCAL VOC Challenge](
      http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf);
      VOCdevkit `VOCevaldet.m` / `VOCap.m`.
"""

import numpy as np

from kzoo._api import kzoo_export
# Input checks and parsing (shared with kzoo.eval.detection_callback).
from kzoo.eval._detection_inputs import _check_inputs
from kzoo.eval._detection_inputs import _parse

# pycocotools' Params.setDetParams, verbatim values.
_COCO_IOU_THRESHOLDS = np.linspace(
    0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True
)
_COCO_RECALL_THRESHOLDS = np.linspace(
    0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True
)
_COCO_MAX_DETECTIONS = (1, 10, 100)
_COCO_AREA_RANGES = np.array(
    [[0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2]],
    dtype=np.float64,
)
_COCO_AREA_LABELS = ("all", "small", "medium", "large")

# Candidate (detection, ground truth) pairs are built in chunks of about
# this many pairs, bounding the memory of images with many boxes.
_PAIR_CHUNK = 1 << 21

COCO_SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1",
                     "AR10", "AR100", "ARs", "ARm", "ARl")




# ---------------------------------------------------------------------------
# Shared machinery.


def _group_index(group, num_groups):
    """Start and size of each group in an array sorted by group."""
    count = np.bincount(group, minlength=num_groups)
    start = np.cumsum(count) - count
    return start, count


def _pairs(det_group, gt_start, gt_count):
    """Yields (detection, ground truth) index pairs of the same group.

    Ground truth is sorted by group; for each detection `j`, the pairs are
    `(j, gt_start[g] + i)` for `i < gt_count[g]`, `g = det_group[j]`, in
    chunks of about `_PAIR_CHUNK` pairs, detections in order.
    """
    counts = gt_count[det_group]
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    first = 0
    while first < len(det_group) and total > 0:
        done = int(ends[first - 1]) if first > 0 else 0
        last = int(np.searchsorted(ends, done + _PAIR_CHUNK, side="right"))
        last = max(last, first + 1)
        c = counts[first:last]
        n = int(c.sum())
        if n:
            det = np.repeat(np.arange(first, last), c)
            offset = np.arange(n) - np.repeat(np.cumsum(c) - c, c)
            gt = np.repeat(gt_start[det_group[first:last]], c) + offset
            yield det, gt
        first = last


# ---------------------------------------------------------------------------
# COCO.


def _coco_iou(det_xywh, gt_xywh):
    """pycocotools' `bbIou` (maskApi.c) on aligned pairs, same operations.

    `w = min(dx + dw, gx + gw) - max(dx, gx)` (likewise `h`); IoU is
    `w * h / (da + ga - w * h)` when `w > 0` and `h > 0`, else 0.
    """
    dx, dy, dw, dh = det_xywh.T
    gx, gy, gw, gh = gt_xywh.T
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    valid = (w > 0) & (h > 0)
    union = dw * dh + gw * gh - inter
    return np.where(valid, inter / np.where(valid, union, 1.0), 0.0)


def _xywh(boxes):
    # The COCO json form of an xyxy box: [x1, y1, x2 - x1, y2 - y1].
    return np.stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0],
         boxes[:, 3] - boxes[:, 1]], axis=1,
    )


def _coco_match(gt, det, num_images, num_classes):
    """Per-image greedy matching of COCOeval.evaluateImg, vectorized.

    Returns the kept detections (sorted by image, class, descending score;
    the first 100 per image and class) and, for each of them,
    `matched [D, A, T]` and `matched_ignored [D, A, T]`, plus the ground
    truth's `ignored [G, A]` and class.
    """
    num_groups = num_images * num_classes
    thresholds = np.minimum(_COCO_IOU_THRESHOLDS, 1 - 1e-10)
    num_areas = len(_COCO_AREA_RANGES)
    low, high = _COCO_AREA_RANGES[:, 0], _COCO_AREA_RANGES[:, 1]

    # Ground truth sorted by (image, class), input order within.
    g_group = gt.image * num_classes + gt.classes
    order = np.argsort(g_group, kind="stable")
    g_group = g_group[order]
    g_xywh = _xywh(gt.boxes[order])
    g_area = g_xywh[:, 2] * g_xywh[:, 3]
    g_ignored = (gt.difficult[order][:, None] | (g_area[:, None] < low)
                 | (g_area[:, None] > high))
    g_start, g_count = _group_index(g_group, num_groups)

    # Detections sorted by (image, class), then descending score (stable).
    order = np.argsort(-det.scores, kind="stable")
    order = order[np.argsort(
        (det.image * num_classes + det.classes)[order], kind="stable")]
    d_group = (det.image * num_classes + det.classes)[order]
    d_start, _ = _group_index(d_group, num_groups)
    rank = np.arange(len(order)) - d_start[d_group]
    keep = rank < _COCO_MAX_DETECTIONS[-1]
    order, d_group, rank = order[keep], d_group[keep], rank[keep]
    d_xywh = _xywh(det.boxes[order])
    d_score = det.scores[order]
    num_det = len(order)

    # Candidate pairs: same image and class, IoU >= the lowest threshold.
    cand_det, cand_gt, cand_iou = [], [], []
    for d_idx, g_idx in _pairs(d_group, g_start, g_count):
        iou = _coco_iou(d_xywh[d_idx], g_xywh[g_idx])
        close = iou >= thresholds[0]
        cand_det.append(d_idx[close])
        cand_gt.append(g_idx[close])
        cand_iou.append(iou[close])

    num_thresholds = len(thresholds)
    matched = np.zeros((num_det, num_areas, num_thresholds), dtype=bool)
    matched_ignored = np.zeros_like(matched)
    gt_taken = np.zeros((len(g_group), num_areas, num_thresholds), dtype=bool)
    if cand_det:
        cand_det = np.concatenate(cand_det)
        cand_gt = np.concatenate(cand_gt)
        cand_iou = np.concatenate(cand_iou)
    if len(cand_det):
        # Detections of equal rank belong to different (image, class) groups,
        # hence never compete for a box: one vectorized step per rank. Within
        # a detection, pairs by increasing (IoU, box index) so that "highest
        # IoU, ties to the later box" is the last pair of the best level.
        cand_rank = rank[cand_det]
        o = np.lexsort((cand_gt, cand_iou, cand_det, cand_rank))
        cand_det, cand_gt = cand_det[o], cand_gt[o]
        cand_iou, cand_rank = cand_iou[o], cand_rank[o]
        bounds = np.searchsorted(
            cand_rank, np.arange(_COCO_MAX_DETECTIONS[-1] + 1), side="left")
        for r in range(_COCO_MAX_DETECTIONS[-1]):
            s, e = bounds[r], bounds[r + 1]
            if s == e:
                continue
            det_r, gt_r, iou_r = cand_det[s:e], cand_gt[s:e], cand_iou[s:e]
            new = np.ones(e - s, dtype=bool)
            new[1:] = det_r[1:] != det_r[:-1]
            seg_start = np.flatnonzero(new)
            position = np.arange(e - s) - seg_start[np.cumsum(new) - 1]
            width = e - s + 1
            # Level 2: free non-ignored box above the threshold, level 1: free
            # ignored box, 0: not a candidate.
            candidate = ((iou_r[:, None, None] >= thresholds)
                         & ~gt_taken[gt_r])
            level = np.where(candidate,
                             np.where(g_ignored[gt_r][:, :, None], 1, 2), 0)
            best = np.maximum.reduceat(
                level * width + position[:, None, None], seg_start, axis=0)
            best_level = best // width
            chosen = gt_r[seg_start[:, None, None] + best % width]
            hit = best_level > 0
            dets = det_r[seg_start]
            matched[dets] = hit
            matched_ignored[dets] = best_level == 1
            si, ai, ti = np.nonzero(hit)
            gt_taken[chosen[si, ai, ti], ai, ti] = True

    d_area = d_xywh[:, 2] * d_xywh[:, 3]
    d_outside = (d_area[:, None] < low) | (d_area[:, None] > high)
    return dict(
        classes=d_group % num_classes,
        image=d_group // num_classes,
        rank=rank,
        scores=d_score,
        matched=matched,
        ignored=matched_ignored | (~matched & d_outside[:, :, None]),
        gt_classes=g_group % num_classes,
        gt_ignored=g_ignored,
    )


def _coco_accumulate(m, num_classes):
    """COCOeval.accumulate: precision [T, R, K, A, M] and recall [T, K, A, M]."""
    num_t = len(_COCO_IOU_THRESHOLDS)
    num_r = len(_COCO_RECALL_THRESHOLDS)
    num_a = len(_COCO_AREA_RANGES)
    num_m = len(_COCO_MAX_DETECTIONS)
    precision = -np.ones((num_t, num_r, num_classes, num_a, num_m))
    recall = -np.ones((num_t, num_classes, num_a, num_m))
    # Non-ignored ground truth per (class, area).
    num_pos = np.stack(
        [np.bincount(m["gt_classes"][~m["gt_ignored"][:, a]],
                     minlength=num_classes) for a in range(num_a)], axis=1)
    true_pos = m["matched"] & ~m["ignored"]
    false_pos = ~m["matched"] & ~m["ignored"]
    # Detections by class; within a class, pycocotools' order: descending
    # score, ties by image then by rank in the image (its stable mergesort
    # of the per-image lists concatenated in image order).
    by_class = np.argsort(m["classes"], kind="stable")
    starts = np.searchsorted(m["classes"][by_class], np.arange(num_classes + 1))
    eps = np.spacing(1)
    for k in range(num_classes):
        if not np.any(num_pos[k]):
            continue
        idx = by_class[starts[k]:starts[k + 1]]
        idx = idx[np.lexsort((m["rank"][idx], m["image"][idx],
                              -m["scores"][idx]))]
        for mi, max_det in enumerate(_COCO_MAX_DETECTIONS):
            sel = idx[m["rank"][idx] < max_det]
            n = len(sel)
            tp_all = np.cumsum(true_pos[sel], axis=0).astype(float)
            fp_all = np.cumsum(false_pos[sel], axis=0).astype(float)
            for a in range(num_a):
                npig = num_pos[k, a]
                if npig == 0:
                    continue
                if n == 0:
                    recall[:, k, a, mi] = 0
                    precision[:, :, k, a, mi] = 0
                    continue
                tp = tp_all[:, a, :].T  # [T, n]
                fp = fp_all[:, a, :].T
                rc = tp / npig
                pr = tp / (fp + tp + eps)
                recall[:, k, a, mi] = rc[:, -1]
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                for t in range(num_t):
                    inds = np.searchsorted(rc[t], _COCO_RECALL_THRESHOLDS,
                                           side="left")
                    valid = inds < n
                    q = np.zeros(num_r)
                    q[valid] = pr[t, inds[valid]]
                    precision[t, :, k, a, mi] = q
    return precision, recall


def _coco_mean(values):
    values = values[values > -1]
    return float(np.mean(values)) if values.size else None


def _coco_summary(precision, recall, ap, iou=None, area="all", max_dets=100):
    """COCOeval.summarize's `_summarize`, with `None` instead of -1."""
    aind = [i for i, label in enumerate(_COCO_AREA_LABELS) if label == area]
    mind = [i for i, m in enumerate(_COCO_MAX_DETECTIONS) if m == max_dets]
    if ap:
        s = precision
        if iou is not None:
            s = s[np.where(iou == _COCO_IOU_THRESHOLDS)[0]]
        s = s[:, :, :, aind, mind]
    else:
        s = recall
        if iou is not None:
            s = s[np.where(iou == _COCO_IOU_THRESHOLDS)[0]]
        s = s[:, :, aind, mind]
    return _coco_mean(s)


def _coco_evaluate(gt, det, num_images, num_classes, names):
    matches = _coco_match(gt, det, num_images, num_classes)
    precision, recall = _coco_accumulate(matches, num_classes)
    results = {
        "AP": _coco_summary(precision, recall, True),
        "AP50": _coco_summary(precision, recall, True, iou=0.5),
        "AP75": _coco_summary(precision, recall, True, iou=0.75),
        "APs": _coco_summary(precision, recall, True, area="small"),
        "APm": _coco_summary(precision, recall, True, area="medium"),
        "APl": _coco_summary(precision, recall, True, area="large"),
        "AR1": _coco_summary(precision, recall, False, max_dets=1),
        "AR10": _coco_summary(precision, recall, False, max_dets=10),
        "AR100": _coco_summary(precision, recall, False),
        "ARs": _coco_summary(precision, recall, False, area="small"),
        "ARm": _coco_summary(precision, recall, False, area="medium"),
        "ARl": _coco_summary(precision, recall, False, area="large"),
    }
    for k, name in enumerate(names):
        results[f"AP/{name}"] = _coco_mean(precision[:, :, k, 0, -1])
    for k, name in enumerate(names):
        results[f"AP50/{name}"] = _coco_mean(precision[0, :, k, 0, -1])
    return results


# ---------------------------------------------------------------------------
# Pascal VOC.


def _voc_iou(det, gt):
    """IoU of aligned xyxy pairs, continuous coordinates; 0 without overlap."""
    w = np.minimum(det[:, 2], gt[:, 2]) - np.maximum(det[:, 0], gt[:, 0])
    h = np.minimum(det[:, 3], gt[:, 3]) - np.maximum(det[:, 1], gt[:, 1])
    inter = w * h
    valid = (w > 0) & (h > 0)
    union = ((det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
             + (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]) - inter)
    return np.where(valid, inter / np.where(valid, union, 1.0), 0.0)


@kzoo_export("kzoo.eval.all_point_average_precision")
def all_point_average_precision(recall, precision):
    """Area under the monotone precision/recall curve (VOC2010+ `VOCap.m`).

    Formula: with `r_0 = 0 <= r_1 <= ... <= r_n`, `r_{n+1} = 1` and
    `p_i = max_{j >= i} precision_j` (`p_{n+1} = 0`),
    `AP = sum_i (r_i - r_{i-1}) * p_i` over the points where recall changes.

    Args:
        recall: 1D array of non-decreasing recalls, one per ranked detection.
        precision: 1D array of precisions, same length.

    Returns:
        A Python float in `[0, 1]` (0 for empty inputs).

    Example:

    >>> kzoo.eval.all_point_average_precision([0.5, 0.5, 1.0],
    ...                                       [1.0, 0.5, 2 / 3])
    0.8333333333333333
    """
    recall = np.asarray(recall, dtype=np.float64).reshape(-1)
    precision = np.asarray(precision, dtype=np.float64).reshape(-1)
    if recall.shape != precision.shape:
        raise ValueError(
            "`recall` and `precision` must have the same length. Received: "
            f"recall.shape={recall.shape}, precision.shape={precision.shape}"
        )
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    change = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[change + 1] - mrec[change]) * mpre[change + 1]))


def _voc_evaluate(gt, det, num_images, num_classes, names, iou_threshold):
    num_groups = num_images * num_classes
    g_group = gt.image * num_classes + gt.classes
    g_order = np.argsort(g_group, kind="stable")
    g_group = g_group[g_order]
    g_boxes = gt.boxes[g_order]
    g_difficult = gt.difficult[g_order]
    g_start, g_count = _group_index(g_group, num_groups)

    # Best box of every detection (highest IoU, ties to the first box);
    # only IoU >= threshold matters, so only those pairs are kept.
    d_group = det.image * num_classes + det.classes
    best = np.full(len(det), -1, dtype=np.int64)
    for d_idx, g_idx in _pairs(d_group, g_start, g_count):
        iou = _voc_iou(det.boxes[d_idx], g_boxes[g_idx])
        close = iou >= iou_threshold
        d_idx, g_idx, iou = d_idx[close], g_idx[close], iou[close]
        if len(d_idx):
            o = np.lexsort((g_idx, -iou, d_idx))
            d_idx, g_idx = d_idx[o], g_idx[o]
            first = np.ones(len(d_idx), dtype=bool)
            first[1:] = d_idx[1:] != d_idx[:-1]
            best[d_idx[first]] = g_idx[first]

    num_pos = np.bincount(g_group[~g_difficult] % num_classes,
                          minlength=num_classes)
    results = {"mAP": None}
    aps = []
    for k, name in enumerate(names):
        if num_pos[k] == 0:
            results[f"AP/{name}"] = None
            continue
        idx = np.flatnonzero(det.classes == k)  # image order, input order
        idx = idx[np.argsort(-det.scores[idx], kind="stable")]
        box = best[idx]
        has_box = box >= 0
        difficult = has_box & g_difficult[np.maximum(box, 0)]
        claim = np.flatnonzero(has_box & ~difficult)
        # The first (highest-scoring) claim of a box is a true positive, the
        # later ones are duplicates (false positives).
        _, first = np.unique(box[claim], return_index=True)
        tp = np.zeros(len(idx))
        tp[claim[first]] = 1.0
        fp = ((~difficult) & (tp == 0)).astype(np.float64)
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec = tp / float(num_pos[k])
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        ap = all_point_average_precision(rec, prec)
        results[f"AP/{name}"] = ap
        aps.append(ap)
    if aps:
        results["mAP"] = float(np.mean(aps))
    return results


# ---------------------------------------------------------------------------
# Public API.


@kzoo_export("kzoo.eval.detection_map")
def detection_map(ground_truth, detections, num_classes, style="coco",
                  class_names=None, iou_threshold=0.5):
    """Mean average precision of detections, COCO or Pascal VOC style.

    `style="coco"` equals pycocotools' `COCOeval(iouType="bbox")` (stats
    `AP`, `AP50`, `AP75`, `APs`, `APm`, `APl`, `AR1`, `AR10`, `AR100`,
    `ARs`, `ARm`, `ARl`, plus per-class `AP/<name>` and `AP50/<name>`);
    `style="voc"` is the VOC2010+ devkit's per-class AP (all-point
    interpolation, greedy matching at `IoU >= iou_threshold`) and their mean
    `mAP`. See the module docstring (`kzoo.eval.detection_map` module) for
    every convention: area ranges, tie-breaking, difficult boxes,
    continuous coordinates (no `+ 1` pixel, unlike the VOC devkit).

    Formula (VOC): `AP = sum_i (r_i - r_{i-1}) * max_{j >= i} p_j` over the
    recall change points of the ranked detections of a class;
    `mAP = mean_k AP_k` over the classes with ground truth.

    Args:
        ground_truth: List with one dict per image: `"boxes"` `[N, 4]` xyxy
            pixels, `"classes"` `[N]` ints in `[0, num_classes)`, optional
            `"difficult"` `[N]` bools (VOC's flag: such a box is neither a
            hit nor a miss, and a detection matching it is ignored).
        detections: List with one dict per image (same order): `"boxes"`
            `[D, 4]` xyxy pixels, `"classes"` `[D]` ints, `"scores"` `[D]`
            finite floats. Padding rows must be removed.
        num_classes: Positive integer, number of classes.
        style: `"coco"` or `"voc"`. Defaults to `"coco"`.
        class_names: Optional list of `num_classes` distinct names used in
            the per-class keys (`"AP/<name>"`); class indices otherwise.
            Defaults to `None`.
        iou_threshold: Float in `(0, 1]`, the matching threshold of
            `style="voc"` (a detection matches with `IoU >= iou_threshold`).
            `style="coco"` always uses `.50:.05:.95` and rejects other
            values. Defaults to `0.5`.

    Returns:
        A dict of Python floats in `[0, 1]`, or `None` where undefined (no
        ground truth for the class / area range).

    Example:

    ```python
    gt = [{"boxes": [[10, 10, 50, 50]], "classes": [0]}]
    dt = [{"boxes": [[12, 10, 50, 52]], "classes": [0], "scores": [0.9]}]
    kzoo.eval.detection_map(gt, dt, num_classes=1, style="voc")
    # {'mAP': 1.0, 'AP/0': 1.0}
    # IoU 1520 / 1676 = 0.907: a match at 9 of the 10 COCO thresholds.
    kzoo.eval.detection_map(gt, dt, num_classes=1, style="coco")["AP"]
    # 0.8999999999999999 (pycocotools' precision tp / (tp + fp + eps))
    ```

    References:
        - [Lin et al., 2014](https://arxiv.org/abs/1405.0312),
          pycocotools `cocoeval.py`; Detectron's per-category AP.
        - [Everingham et al., 2010](
          http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf),
          VOCdevkit `VOCevaldet.m`.
    """
    num_classes, names = _check_inputs(
        ground_truth, detections, num_classes, style, class_names,
        iou_threshold,
    )
    gt = _parse(ground_truth, "ground_truth", num_classes, with_scores=False)
    det = _parse(detections, "detections", num_classes, with_scores=True)
    num_images = len(ground_truth)
    if style == "coco":
        return _coco_evaluate(gt, det, num_images, num_classes, names)
    return _voc_evaluate(gt, det, num_images, num_classes, names,
                         float(iou_threshold))
