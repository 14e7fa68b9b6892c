import contextlib
import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kzoo.eval import all_point_average_precision  # noqa: E402
from kzoo.eval import detection_map  # noqa: E402
from kzoo.eval.detection_map import COCO_SUMMARY_KEYS  # noqa: E402



# ---------------------------------------------------------------------------
# Reference: pycocotools on the same data.


def _pycocotools(ground_truth, detections, num_classes, difficult=False):
    """COCOeval(iouType="bbox") on the data as COCO json dicts.

    Ground truth: bbox [x1, y1, x2 - x1, y2 - y1], area = w * h, iscrowd 0.
    With `difficult=True` the "difficult" boxes get COCOeval's ignore flag
    (pycocotools' `_prepare` derives it from iscrowd only, so it is set
    after `_prepare`, as kzoo documents: an ignored, non-crowd box).
    """
    # Only the tests that compare with pycocotools need it (extra "test").
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations = []
    for i, gt in enumerate(ground_truth):
        boxes = np.asarray(gt["boxes"], dtype=np.float64).reshape(-1, 4)
        flags = np.asarray(gt.get("difficult", np.zeros(len(boxes), bool)))
        for box, cls, flag in zip(boxes, gt["classes"], flags):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1,
                "category_id": int(cls) + 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
                "difficult": int(flag)})
    images = [{"id": i + 1} for i in range(len(ground_truth))]
    categories = [{"id": k + 1} for k in range(num_classes)]
    results = []
    for i, det in enumerate(detections):
        boxes = np.asarray(det["boxes"], dtype=np.float64).reshape(-1, 4)
        for box, cls, score in zip(boxes, det["classes"], det["scores"]):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append({"image_id": i + 1, "category_id": int(cls) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": annotations,
                           "categories": categories}
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # loadRes cannot load an empty list
            coco_dt = COCO()
            coco_dt.dataset = {"images": images, "annotations": [],
                               "categories": categories}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        if difficult:
            prepare = evaluator._prepare

            def _prepare():
                prepare()
                for anns in evaluator._gts.values():
                    for ann in anns:
                        ann["ignore"] = ann["difficult"]

            evaluator._prepare = _prepare
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _assert_equal_to_pycocotools(ground_truth, detections, num_classes,
                                 difficult=False):
    ours = detection_map(ground_truth, detections, num_classes, style="coco")
    reference = _pycocotools(ground_truth, detections, num_classes, difficult)
    for j, key in enumerate(COCO_SUMMARY_KEYS):
        expected = reference.stats[j]
        if expected == -1:
            assert ours[key] is None, key
        else:
            assert ours[key] == pytest.approx(expected, abs=1e-12, rel=0), key
    precision = reference.eval["precision"]
    for k in range(num_classes):
        for key, p in ((f"AP/{k}", precision[:, :, k, 0, -1]),
                       (f"AP50/{k}", precision[0, :, k, 0, -1])):
            p = p[p > -1]
            if p.size == 0:
                assert ours[key] is None, key
            else:
                assert ours[key] == pytest.approx(np.mean(p), abs=1e-12,
                                                  rel=0), key
    return ours, reference


def _random_boxes(rng, n, grid):
    xy = rng.uniform(0, 300, (n, 2))
    # Log-uniform sides from 1 to 250 px: small, medium and large areas.
    wh = np.exp(rng.uniform(0.0, np.log(250), (n, 2)))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    if grid:  # integer corners: exact IoU ties and area-range bounds
        boxes = np.round(boxes / grid) * grid
    return boxes


def _random_dataset(seed, num_images=8, num_classes=3, max_gt=8,
                    max_det=40, difficult=False):
    rng = np.random.default_rng(seed)
    grid = [0, 4, 16][seed % 3]
    ground_truth, detections = [], []
    for i in range(num_images):
        # Images without ground truth and without detections occur.
        n = int(rng.integers(0, max_gt + 1)) if i % 4 else 0
        # The last class never has ground truth (but gets detections).
        classes = rng.integers(0, max(num_classes - 1, 1), n)
        boxes = _random_boxes(rng, n, grid)
        if n >= 2 and rng.uniform() < 0.5:  # duplicated box: IoU ties
            boxes[1], classes[1] = boxes[0], classes[0]
        if n and rng.uniform() < 0.3:  # zero-area box
            boxes[-1, 2] = boxes[-1, 0]
        gt = {"boxes": boxes, "classes": classes}
        if difficult:
            gt["difficult"] = rng.uniform(size=n) < 0.3
        d = 0 if i % 5 == 2 else int(rng.integers(0, max_det + 1))
        if i == 1:
            d = 130  # more than 100 detections of one image
        src = rng.integers(0, max(n, 1), d)
        if n:
            size = np.tile(boxes[src, 2:] - boxes[src, :2], 2)
            det_boxes = boxes[src] + rng.normal(0, 0.12, (d, 4)) * size
            det_classes = np.where(rng.uniform(size=d) < 0.8, classes[src],
                                   rng.integers(0, num_classes, d))
        else:
            det_boxes = np.zeros((d, 4))
            det_classes = rng.integers(0, num_classes, d)
        random = rng.uniform(size=d) < (0.3 if n else 1.0)
        det_boxes[random] = _random_boxes(rng, d, grid)[random]
        exact = rng.uniform(size=d) < 0.1
        if n:  # exact copies of ground truth: IoU 1 and IoU ties
            det_boxes[exact] = boxes[src][exact]
        det_boxes = np.concatenate(
            [np.minimum(det_boxes[:, :2], det_boxes[:, 2:]),
             np.maximum(det_boxes[:, :2], det_boxes[:, 2:])], axis=1)
        if grid:
            det_boxes = np.round(det_boxes / grid) * grid
        # Scores with many ties (quarters) or continuous.
        scores = rng.uniform(size=d)
        if seed % 2 == 0:
            scores = np.round(scores * 4) / 4
        ground_truth.append(gt)
        detections.append({"boxes": det_boxes, "classes": det_classes,
                           "scores": scores})
    return ground_truth, detections


# ---------------------------------------------------------------------------
# COCO style against pycocotools.


@pytest.mark.parametrize("seed", range(12))
def test_coco_equals_pycocotools_random(seed):
    ground_truth, detections = _random_dataset(
        seed, num_classes=1 + seed % 4)
    ours, _ = _assert_equal_to_pycocotools(
        ground_truth, detections, 1 + seed % 4)
    assert set(ours) == set(COCO_SUMMARY_KEYS) | {
        f"{p}/{k}" for p in ("AP", "AP50") for k in range(1 + seed % 4)}


@pytest.mark.parametrize("seed", range(4))
def test_coco_difficult_is_pycocotools_ignore(seed):
    ground_truth, detections = _random_dataset(seed + 100, difficult=True)
    _assert_equal_to_pycocotools(ground_truth, detections, 3, difficult=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(200, 240))
def test_coco_equals_pycocotools_random_large(seed):
    ground_truth, detections = _random_dataset(
        seed, num_images=40, num_classes=5, max_gt=15, max_det=120,
        difficult=seed % 2 == 1)
    _assert_equal_to_pycocotools(ground_truth, detections, 5,
                                 difficult=seed % 2 == 1)


def test_coco_without_any_detection():
    ground_truth, detections = _random_dataset(3)
    for det in detections:
        det.update(boxes=np.zeros((0, 4)), classes=np.zeros(0, int),
                   scores=np.zeros(0))
    ours, _ = _assert_equal_to_pycocotools(ground_truth, detections, 3)
    assert ours["AP"] == 0.0 and ours["AR100"] == 0.0


def test_coco_hand_computed_single_box():
    # One 100x100 box found with IoU 7200 / 10000 = 0.72: a match at the
    # thresholds .50 .55 .60 .65 .70 (5 of 10), precision 1 at every recall
    # threshold there, 0 elsewhere -> AP = 0.5, AP50 = 1, AP75 = 0. Area
    # 10^4 >= 96^2: large only, so APs and APm are undefined.
    gt = [{"boxes": [[0, 0, 100, 100]], "classes": [0]}]
    dt = [{"boxes": [[0, 0, 72, 100]], "classes": [0], "scores": [0.3]}]
    result = detection_map(gt, dt, 1, style="coco", class_names=["cat"])
    assert result["AP"] == pytest.approx(0.5)
    # (1 not exactly: pycocotools' precision is tp / (tp + fp + eps).)
    assert result["AP50"] == pytest.approx(1.0) and result["AP75"] == 0.0
    assert result["APl"] == pytest.approx(0.5)
    assert result["APs"] is None and result["APm"] is None
    assert result["AR1"] == pytest.approx(0.5)
    assert result["AP/cat"] == pytest.approx(0.5)
    assert result["AP50/cat"] == pytest.approx(1.0)


def test_coco_area_bounds_are_inclusive():
    # A 32x32 box (area 1024 = 32^2) is both small and medium.
    gt = [{"boxes": [[0, 0, 32, 32]], "classes": [0]}]
    dt = [{"boxes": [[0, 0, 32, 32]], "classes": [0], "scores": [0.9]}]
    result, _ = _assert_equal_to_pycocotools(gt, dt, 1)
    assert result["APs"] == pytest.approx(1.0)
    assert result["APm"] == pytest.approx(1.0)
    assert result["APl"] is None and result["ARl"] is None


def test_coco_keeps_100_detections_per_image_and_class():
    # One box; 100 higher-scoring false positives. At rank 100 the true
    # positive gives precision 1/100 at recall 1 (every recall threshold):
    # AP50 = 0.01; at rank 101 it is cut off: AP50 = 0.
    far = np.tile([[500.0, 500.0, 510.0, 510.0]], (100, 1))
    for rank, expected in ((100, 0.01), (101, 0.0)):
        boxes = np.concatenate([far[:rank - 1], [[0, 0, 10, 10]]])
        scores = np.linspace(1.0, 0.5, rank)
        gt = [{"boxes": [[0, 0, 10, 10]], "classes": [0]}]
        dt = [{"boxes": boxes, "classes": np.zeros(rank, int),
               "scores": scores}]
        result, _ = _assert_equal_to_pycocotools(gt, dt, 1)
        assert result["AP50"] == pytest.approx(expected, abs=1e-12)
    # Another class of the same image has its own 100.
    dt[0]["classes"] = np.r_[np.ones(rank - 1, int), 0]
    result, _ = _assert_equal_to_pycocotools(gt, dt, 2)
    assert result["AP50"] == pytest.approx(1.0)


def test_coco_prefers_the_free_box_on_duplicates():
    # Two boxes A, B (IoU(A, B) = 80 / 120); both detections sit on A. COCO
    # gives the second one the next free box B (IoU 2/3 >= .5): AP50 = 1.
    gt = [{"boxes": [[0, 0, 10, 10], [2, 0, 12, 10]], "classes": [0, 0]}]
    dt = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]], "classes": [0, 0],
           "scores": [0.9, 0.8]}]
    result, _ = _assert_equal_to_pycocotools(gt, dt, 1)
    assert result["AP50"] == pytest.approx(1.0)


def test_iou_ties_coco_takes_the_later_box_voc_the_first():
    # A = [0,0,10,10], B = [2,0,12,10]. Detection 1 = [1,0,11,10] overlaps
    # both by 90 / 110 = 0.818 (a tie); detection 2 = [0,0,10,10] (lower
    # score) overlaps A by 1 and B by 80 / 120 = 2/3.
    gt = [{"boxes": [[0, 0, 10, 10], [2, 0, 12, 10]], "classes": [0, 0]}]
    dt = [{"boxes": [[1, 0, 11, 10], [0, 0, 10, 10]], "classes": [0, 0],
           "scores": [0.9, 0.8]}]
    # COCO (pycocotools: `>=` keeps the later of equal IoUs): detection 1
    # takes B, detection 2 takes A. At the 7 thresholds .50-.80 both are hits
    # (precision 1 at every recall); at .85 .90 .95 detection 1 misses:
    # FP then TP, precision 1/2 up to recall 1/2 (51 of the 101 recall
    # thresholds), 0 beyond. AP = (7 + 3 * 0.5 * 51 / 101) / 10.
    result, _ = _assert_equal_to_pycocotools(gt, dt, 1)
    assert result["AP"] == pytest.approx((7 + 3 * 0.5 * 51 / 101) / 10)
    # VOC (devkit: strict `>` keeps the first): detection 1 takes A, and
    # detection 2's best box A is taken: a duplicate. recall 1/2 1/2,
    # precision 1 1/2 -> AP = 1/2.
    assert detection_map(gt, dt, 1, style="voc")["mAP"] == pytest.approx(0.5)


def test_coco_class_without_ground_truth_is_none_and_excluded():
    gt = [{"boxes": [[0, 0, 50, 50]], "classes": [1]}]
    dt = [{"boxes": [[0, 0, 50, 50], [0, 0, 50, 50]], "classes": [0, 1],
           "scores": [0.9, 0.8]}]
    result, _ = _assert_equal_to_pycocotools(gt, dt, 2)
    assert result["AP/0"] is None and result["AP50/0"] is None
    assert result["AP/1"] == pytest.approx(1.0)
    assert result["AP"] == pytest.approx(1.0)


def test_coco_no_ground_truth_at_all_gives_none():
    gt = [{"boxes": np.zeros((0, 4)), "classes": []}]
    dt = [{"boxes": [[0, 0, 5, 5]], "classes": [0], "scores": [0.5]}]
    result = detection_map(gt, dt, 2, style="coco")
    assert all(value is None for value in result.values())


def test_inputs_lists_arrays_tensors_and_float32_agree():
    import tensorflow as tf

    ground_truth, detections = _random_dataset(5)
    expected = detection_map(ground_truth, detections, 3)
    as_lists = ([{k: np.asarray(v).tolist() for k, v in g.items()}
                 for g in ground_truth],
                [{k: np.asarray(v).tolist() for k, v in d.items()}
                 for d in detections])
    assert detection_map(*as_lists, 3) == expected
    as_tensors = ([{k: tf.constant(v) for k, v in g.items()}
                   for g in ground_truth],
                  [{k: tf.constant(v) for k, v in d.items()}
                   for d in detections])
    assert detection_map(*as_tensors, 3) == expected
    # float32 tensors of the current backend, attached to a graph as a
    # model's outputs are (on PyTorch they require gradients, and
    # `np.asarray` refuses them).
    import keras

    one = keras.Variable(1.0)

    def float32(data):
        return [{k: np.asarray(v).astype("float32")
                 if np.asarray(v).dtype.kind == "f" else np.asarray(v)
                 for k, v in item.items()} for item in data]

    def attached(data):
        return [{k: keras.ops.convert_to_tensor(v) * one
                 if v.dtype.kind == "f" else keras.ops.convert_to_tensor(v)
                 for k, v in item.items()} for item in data]

    gt32, dt32 = float32(ground_truth), float32(detections)
    assert detection_map(attached(gt32), attached(dt32), 3) == detection_map(
        gt32, dt32, 3)
    # float32 inputs: the same numbers as pycocotools on the float32 values.
    as_float32 = ([{"boxes": np.float32(g["boxes"]), "classes": g["classes"]}
                   for g in ground_truth],
                  [{"boxes": np.float32(d["boxes"]), "classes": d["classes"],
                    "scores": np.float32(d["scores"])} for d in detections])
    _assert_equal_to_pycocotools(*as_float32, 3)
    voc = detection_map(*as_tensors, 3, style="voc")
    assert voc == detection_map(ground_truth, detections, 3, style="voc")


# ---------------------------------------------------------------------------
# VOC style.


def test_voc_hand_computed():
    # Class 0. Image 0: box A = [0, 0, 10, 10]. Image 1: B = [0, 0, 10, 10],
    # C = [20, 20, 30, 30]. npos = 3. Detections by score:
    #   0.9 img0 on A        -> TP
    #   0.8 img0 on A again  -> FP (duplicate)
    #   0.7 img1 nowhere     -> FP
    #   0.6 img1 on C        -> TP
    # recall    1/3 1/3 1/3 2/3, precision 1 1/2 1/3 1/2; monotone precision
    # 1, 1/2, 1/2, 1/2. AP = 1/3 * 1 + (2/3 - 1/3) * 1/2 + (1 - 2/3) * 0
    # = 1/2. Class 1 has no ground truth: None, left out of the mean.
    gt = [{"boxes": [[0, 0, 10, 10]], "classes": [0]},
          {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "classes": [0, 0]}]
    dt = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]], "classes": [0, 0],
           "scores": [0.9, 0.8]},
          {"boxes": [[50, 50, 60, 60], [20, 20, 30, 30], [0, 0, 9, 9]],
           "classes": [0, 0, 1], "scores": [0.7, 0.6, 0.99]}]
    result = detection_map(gt, dt, 2, style="voc", class_names=["a", "b"])
    assert result == {"mAP": pytest.approx(0.5), "AP/a": pytest.approx(0.5),
                      "AP/b": None}
    assert list(result) == ["mAP", "AP/a", "AP/b"]


def test_voc_threshold_is_inclusive_and_configurable():
    # IoU([0,0,10,10], [0,0,10,5]) = 50 / 100 = 0.5 exactly: the devkit's
    # `ovmax >= minoverlap` makes it a hit (py-faster-rcnn's `>` would not).
    gt = [{"boxes": [[0, 0, 10, 10]], "classes": [0]}]
    dt = [{"boxes": [[0, 0, 10, 5]], "classes": [0], "scores": [0.5]}]
    assert detection_map(gt, dt, 1, style="voc")["mAP"] == 1.0
    assert detection_map(gt, dt, 1, style="voc",
                         iou_threshold=0.51)["mAP"] == 0.0
    assert detection_map(gt, dt, 1, style="voc",
                         iou_threshold=0.3)["mAP"] == 1.0


def test_voc_continuous_coordinates():
    # Continuous areas: IoU([0,0,2,2], [1,0,3,2]) = 2 / 6 = 1/3 (a miss at
    # 0.5). With the devkit's +1 pixel it would be 3 * 2 / (9 + 9 - 6) = 1/2.
    gt = [{"boxes": [[0, 0, 2, 2]], "classes": [0]}]
    dt = [{"boxes": [[1, 0, 3, 2]], "classes": [0], "scores": [0.5]}]
    assert detection_map(gt, dt, 1, style="voc")["mAP"] == 0.0
    assert detection_map(gt, dt, 1, style="voc",
                         iou_threshold=1 / 3)["mAP"] == 1.0


def test_voc_duplicate_is_not_reassigned():
    # Same boxes as test_coco_prefers_the_free_box_on_duplicates: the second
    # detection's best box A is taken, so it is a false positive even though
    # B overlaps it by 2/3 (devkit rule). recall 1/2 1/2, precision 1 1/2:
    # AP = 1/2 * 1 = 1/2.
    gt = [{"boxes": [[0, 0, 10, 10], [2, 0, 12, 10]], "classes": [0, 0]}]
    dt = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]], "classes": [0, 0],
           "scores": [0.9, 0.8]}]
    assert detection_map(gt, dt, 1, style="voc")["mAP"] == pytest.approx(0.5)


def test_voc_difficult_boxes():
    # Image 0: A = [0,0,10,10] difficult, B = [20,20,30,30]; npos = 1.
    # Detections: 0.9 near A (IoU 81/100), 0.8 on A, 0.7 on B. The first two
    # have best box A: ignored (a difficult box is never "taken", so the
    # second is no duplicate either); 0.7 is a TP: recall 1 at precision 1,
    # AP = 1. Without the flag: TP(A), FP(duplicate), TP(B): recall 1/2 1/2
    # 1, precision 1 1/2 2/3 -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    boxes = [[0, 0, 10, 10], [20, 20, 30, 30]]
    gt = [{"boxes": boxes, "classes": [0, 0], "difficult": [True, False]}]
    dt = [{"boxes": [[0, 0, 9, 9], [0, 0, 10, 10], [20, 20, 30, 30]],
           "classes": [0, 0, 0], "scores": [0.9, 0.8, 0.7]}]
    assert detection_map(gt, dt, 1, style="voc")["mAP"] == 1.0
    gt_plain = [{"boxes": boxes, "classes": [0, 0]}]
    assert detection_map(gt_plain, dt, 1,
                         style="voc")["mAP"] == pytest.approx(5 / 6)
    # Missing the difficult box costs nothing; missing B costs it all.
    dt_b = [{"boxes": [[20, 20, 30, 30]], "classes": [0], "scores": [0.8]}]
    assert detection_map(gt, dt_b, 1, style="voc")["mAP"] == 1.0
    assert detection_map(gt_plain, dt_b, 1, style="voc")["mAP"] == 0.5
    # The best box decides (devkit): a detection on difficult A that also
    # overlaps plain B = [1,0,11,10] by 9/11 is ignored, not matched to B
    # (AP 0); COCO style prefers the non-ignored B (AP50 1).
    gt_ab = [{"boxes": [[0, 0, 10, 10], [1, 0, 11, 10]], "classes": [0, 0],
              "difficult": [True, False]}]
    dt_a = [{"boxes": [[0, 0, 10, 10]], "classes": [0], "scores": [0.5]}]
    assert detection_map(gt_ab, dt_a, 1, style="voc")["mAP"] == 0.0
    assert detection_map(gt_ab, dt_a, 1,
                         style="coco")["AP50"] == pytest.approx(1.0)
    # A class whose boxes are all difficult has no AP.
    gt_only = [{"boxes": [[0, 0, 10, 10]], "classes": [0],
                "difficult": [1]}]
    result = detection_map(gt_only, dt_b, 1, style="voc")
    assert result == {"mAP": None, "AP/0": None}


def test_voc_score_ties_keep_input_order():
    # Equal scores: stable order, image order first then input order. FP then
    # TP: recall 0 1, precision 0 1/2 -> AP = 1 * 1/2; TP then FP: AP = 1.
    gt = [{"boxes": [[0, 0, 10, 10]], "classes": [0]}]
    hit, miss = [0, 0, 10, 10], [40, 40, 50, 50]
    dt = [{"boxes": [miss, hit], "classes": [0, 0], "scores": [0.5, 0.5]}]
    assert detection_map(gt, dt, 1, style="voc")["mAP"] == 0.5
    dt = [{"boxes": [hit, miss], "classes": [0, 0], "scores": [0.5, 0.5]}]
    assert detection_map(gt, dt, 1, style="voc")["mAP"] == 1.0
    # Across images: image 0's detection comes first.
    gt2 = gt + [{"boxes": np.zeros((0, 4)), "classes": []}]
    dt2 = [{"boxes": [hit], "classes": [0], "scores": [0.5]},
           {"boxes": [miss], "classes": [0], "scores": [0.5]}]
    assert detection_map(gt2, dt2, 1, style="voc")["mAP"] == 1.0
    assert detection_map(gt2[::-1], dt2[::-1], 1, style="voc")["mAP"] == 0.5


def _voc_reference(ground_truth, detections, num_classes, threshold):
    """The devkit's VOCevaldet.m loop, written out (continuous IoU)."""
    aps = []
    for k in range(num_classes):
        records, npos = {}, 0
        for i, gt in enumerate(ground_truth):
            mask = np.asarray(gt["classes"]) == k
            boxes = np.asarray(gt["boxes"], float).reshape(-1, 4)[mask]
            flags = np.asarray(gt.get("difficult", np.zeros(len(mask))),
                               bool)[mask]
            records[i] = (boxes, flags, [False] * len(boxes))
            npos += int(np.sum(~flags))
        ranked = [(float(s), i, [float(v) for v in b])
                  for i, det in enumerate(detections)
                  for b, c, s in zip(det["boxes"], det["classes"],
                                     det["scores"]) if c == k]
        ranked.sort(key=lambda item: -item[0])  # Python's sort is stable
        tp, fp = [], []
        for _, i, bb in ranked:
            boxes, flags, taken = records[i]
            ovmax, jmax = -np.inf, -1
            for j, g in enumerate(boxes):
                iw = min(bb[2], g[2]) - max(bb[0], g[0])
                ih = min(bb[3], g[3]) - max(bb[1], g[1])
                if iw > 0 and ih > 0:
                    ua = ((bb[2] - bb[0]) * (bb[3] - bb[1])
                          + (g[2] - g[0]) * (g[3] - g[1]) - iw * ih)
                    if iw * ih / ua > ovmax:
                        ovmax, jmax = iw * ih / ua, j
            if ovmax >= threshold:
                if not flags[jmax]:
                    if not taken[jmax]:
                        taken[jmax] = True
                        tp.append(1.0), fp.append(0.0)
                    else:
                        tp.append(0.0), fp.append(1.0)
                else:
                    tp.append(0.0), fp.append(0.0)
            else:
                tp.append(0.0), fp.append(1.0)
        if npos == 0:
            aps.append(None)
            continue
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec = list(tp / npos)
        prec = list(tp / np.maximum(tp + fp, np.finfo(float).eps))
        mrec, mpre = [0.0] + rec + [1.0], [0.0] + prec + [0.0]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        aps.append(sum((mrec[i] - mrec[i - 1]) * mpre[i]
                       for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]))
    return aps


@pytest.mark.parametrize("seed", range(8))
def test_voc_equals_devkit_loop(seed):
    ground_truth, detections = _random_dataset(seed, num_classes=4,
                                               difficult=seed % 2 == 1)
    threshold = [0.5, 0.5, 0.7, 0.3][seed % 4]
    result = detection_map(ground_truth, detections, 4, style="voc",
                           iou_threshold=threshold)
    expected = _voc_reference(ground_truth, detections, 4, threshold)
    defined = [ap for ap in expected if ap is not None]
    assert defined, "the test data must have ground truth"
    for k, ap in enumerate(expected):
        if ap is None:
            assert result[f"AP/{k}"] is None
        else:
            assert result[f"AP/{k}"] == pytest.approx(ap, abs=1e-12)
    assert result["mAP"] == pytest.approx(np.mean(defined), abs=1e-12)


def test_voc_and_coco_ap50_agree_roughly():
    # Same matching threshold, different interpolation (all points vs 101
    # recall points) and duplicate handling: close, not equal. Perfect
    # detections give 1 in both; degrading the boxes lowers both.
    values = []
    for noise in (0.0, 0.2, 0.3):
        rng = np.random.default_rng(7)
        ground_truth, detections = [], []
        for _ in range(30):
            n = int(rng.integers(1, 6))
            boxes = _random_boxes(rng, n, 0)
            classes = rng.integers(0, 2, n)
            size = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
            det = boxes + noise * rng.normal(size=(n, 4)) * size
            det = np.concatenate([np.minimum(det[:, :2], det[:, 2:]),
                                  np.maximum(det[:, :2], det[:, 2:])], 1)
            ground_truth.append({"boxes": boxes, "classes": classes})
            detections.append({"boxes": det, "classes": classes,
                               "scores": rng.uniform(size=n)})
        voc = detection_map(ground_truth, detections, 2, style="voc")["mAP"]
        coco = detection_map(ground_truth, detections, 2)["AP50"]
        values.append((voc, coco))
        assert abs(voc - coco) < 0.05
    assert values[0] == (1.0, 1.0)
    assert values[0][0] > values[1][0] > values[2][0]
    assert values[0][1] > values[1][1] > values[2][1]


def test_all_point_average_precision():
    # recall .5 .5 1, precision 1 .5 2/3: monotone 1 2/3 2/3 ->
    # .5 * 1 + .5 * 2/3 = 5/6.
    assert all_point_average_precision([0.5, 0.5, 1.0],
                                       [1.0, 0.5, 2 / 3]) == pytest.approx(5 / 6)
    # The curve stops at recall .4: the remaining area counts 0.
    assert all_point_average_precision([0.2, 0.4],
                                       [0.5, 1.0]) == pytest.approx(0.4)
    assert all_point_average_precision([], []) == 0.0
    with pytest.raises(ValueError, match="same length"):
        all_point_average_precision([0.1, 0.2], [1.0])


# ---------------------------------------------------------------------------
# Validation.


def _one(boxes=((0, 0, 1, 1),), classes=(0,), scores=None):
    entry = {"boxes": np.asarray(boxes, float), "classes": np.asarray(classes)}
    if scores is not None:
        entry["scores"] = np.asarray(scores, float)
    return entry


@pytest.mark.parametrize("gt, dt, error, match", [
    ([_one()], [], ValueError, "len\\(detections\\)=0"),
    ([], [], ValueError, "at least one image"),
    ({"boxes": 1}, [_one(scores=[1.0])], TypeError, "list with one dict"),
    ([_one(), [1, 2]], [_one(scores=[1.0])] * 2, TypeError,
     r"ground_truth\[1\]"),
    ([_one(), _one(boxes=[[0, 0, 1]])], [_one(scores=[1.0])] * 2,
     ValueError, r"ground_truth\[1\]\['boxes'\]` must have shape \[N, 4\]"),
    ([_one()], [_one(classes=[-1], scores=[1.0])], ValueError,
     r"detections\[0\]\['classes'\].*padding"),
    ([_one(classes=[3])], [_one(scores=[1.0])], ValueError,
     r"num_classes=2.*Received: classes=\[3\]"),
    ([_one(classes=[0.5])], [_one(scores=[1.0])], ValueError,
     "integer class ids"),
    ([_one(boxes=[[0, 0, np.nan, 1]])], [_one(scores=[1.0])], ValueError,
     r"ground_truth\[0\]\['boxes'\]` must be finite"),
    ([_one()], [_one(scores=[np.inf])], ValueError,
     r"detections\[0\]\['scores'\]` must be finite"),
    ([_one()], [_one(boxes=[[2, 0, 1, 1]], scores=[1.0])], ValueError,
     r"x2 >= x1.*boxes\[0\]=\[2.0, 0.0, 1.0, 1.0\]"),
    ([_one()], [_one()], ValueError, "no key 'scores'"),
    ([_one()], [_one(scores=[1.0, 2.0])], ValueError, r"shape \[1\]"),
    ([dict(_one(), difficult=[2])], [_one(scores=[1.0])], ValueError,
     "booleans"),
])
def test_invalid_inputs(gt, dt, error, match):
    with pytest.raises(error, match=match):
        detection_map(gt, dt, 2)


def test_invalid_arguments():
    gt, dt = [_one()], [_one(scores=[1.0])]
    with pytest.raises(ValueError, match="style"):
        detection_map(gt, dt, 1, style="pascal")
    with pytest.raises(ValueError, match="num_classes"):
        detection_map(gt, dt, 0)
    with pytest.raises(ValueError, match="iou_threshold"):
        detection_map(gt, dt, 1, style="voc", iou_threshold=0.0)
    with pytest.raises(ValueError, match="style='coco', iou_threshold=0.7"):
        detection_map(gt, dt, 1, style="coco", iou_threshold=0.7)
    with pytest.raises(ValueError, match="distinct names"):
        detection_map(gt, dt, 2, class_names=["a", "a"])
    with pytest.raises(ValueError, match="distinct names"):
        detection_map(gt, dt, 2, class_names=["a"])
    with pytest.raises(TypeError, match="class_names"):
        detection_map(gt, dt, 2, class_names="ab")
