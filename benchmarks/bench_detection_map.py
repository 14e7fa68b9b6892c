"""Speed of `kzoo.eval.detection_map(style="coco")` against pycocotools.

Builds one synthetic detection set (`--images` images, up to `--max-gt`
ground-truth boxes each over `--classes` classes, sizes log-uniform from 2
to 200 pixels so that every COCO area range is populated, and
`--detections` detections per image: jittered copies of the ground truth,
some with a wrong class, and random boxes, with scores rounded to two
decimals so that ties occur), then times, in the same process and on the
same data:

* kzoo: `detection_map(gt, dt, num_classes, style="coco")` from the
  per-image dicts (input validation included);
* pycocotools: `COCO` index built from in-memory dicts (`area = w * h`,
  `iscrowd = 0`), `loadRes`, `COCOeval(iouType="bbox")`
  `evaluate()` + `accumulate()` + `summarize()` (printing silenced).
  Building the json dicts from the arrays is not timed.

The twelve `stats` and the per-class APs are checked for equality first
(the script fails otherwise). Repeats are interleaved and the median is
reported; ratio = kzoo time / pycocotools time (below 1 kzoo is faster).
Usage:

    .venv/bin/python benchmarks/bench_detection_map.py [--images 500] \\
        [--detections 100] [--classes 3] [--max-gt 10] [--repeats 3] \\
        [--output benchmarks/results/bench_detection_map.json]
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from kzoo.eval import detection_map  # noqa: E402
from kzoo.eval.detection_map import COCO_SUMMARY_KEYS  # noqa: E402


def synthetic(num_images, num_detections, num_classes, max_gt, seed=0):
    rng = np.random.default_rng(seed)
    ground_truth, detections = [], []
    for _ in range(num_images):
        n = int(rng.integers(0, max_gt + 1))
        xy = rng.uniform(0, 400, (n, 2))
        wh = np.exp(rng.uniform(np.log(2), np.log(200), (n, 2)))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        classes = rng.integers(0, num_classes, n)
        d = num_detections
        if n:
            src = rng.integers(0, n, d)
            size = np.tile(wh[src], 2)
            det_boxes = boxes[src] + rng.normal(0, 0.1, (d, 4)) * size
            det_classes = np.where(rng.uniform(size=d) < 0.9, classes[src],
                                   rng.integers(0, num_classes, d))
        else:
            det_boxes = np.zeros((d, 4))
            det_classes = rng.integers(0, num_classes, d)
        random = rng.uniform(size=d) < 0.5 if n else np.ones(d, dtype=bool)
        xy = rng.uniform(0, 400, (d, 2))
        wh = np.exp(rng.uniform(np.log(2), np.log(200), (d, 2)))
        det_boxes[random] = np.concatenate([xy, xy + wh], axis=1)[random]
        det_boxes = np.concatenate(
            [np.minimum(det_boxes[:, :2], det_boxes[:, 2:]),
             np.maximum(det_boxes[:, :2], det_boxes[:, 2:])], axis=1)
        scores = np.round(rng.uniform(size=d), 2)
        ground_truth.append({"boxes": boxes, "classes": classes})
        detections.append({"boxes": det_boxes, "classes": det_classes,
                           "scores": scores})
    return ground_truth, detections


def coco_json(ground_truth, detections, num_classes):
    annotations = []
    for i, gt in enumerate(ground_truth):
        for box, cls in zip(gt["boxes"], gt["classes"]):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1,
                "category_id": int(cls) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    dataset = {
        "images": [{"id": i + 1} for i in range(len(ground_truth))],
        "annotations": annotations,
        "categories": [{"id": k + 1} for k in range(num_classes)],
    }
    results = []
    for i, det in enumerate(detections):
        for box, cls, score in zip(det["boxes"], det["classes"], det["scores"]):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append({"image_id": i + 1, "category_id": int(cls) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(score)})
    return dataset, results


def run_pycocotools(dataset, results):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--max-gt", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=None,
                        help="JSON file for the results (with the command, "
                        "CPU and versions). Default: none.")
    args = parser.parse_args()

    gt, dt = synthetic(args.images, args.detections, args.classes, args.max_gt)
    dataset, results = coco_json(gt, dt, args.classes)
    print(f"{args.images} images, {args.detections} detections/image, "
          f"{args.classes} classes, {len(dataset['annotations'])} "
          f"ground-truth boxes")

    ours = detection_map(gt, dt, args.classes, style="coco")
    reference = run_pycocotools(dataset, results)
    for j, key in enumerate(COCO_SUMMARY_KEYS):
        value = -1.0 if ours[key] is None else ours[key]
        if value != reference.stats[j]:
            sys.exit(f"MISMATCH {key}: kzoo {value!r} pycocotools "
                     f"{reference.stats[j]!r}")
    precision = reference.eval["precision"]
    for k in range(args.classes):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        if ours[f"AP/{k}"] != (float(np.mean(p)) if p.size else None):
            sys.exit(f"MISMATCH AP/{k}")
    print("stats equal (exactly): " + ", ".join(
        f"{key}={ours[key]:.4f}" for key in COCO_SUMMARY_KEYS))

    times = {"kzoo": [], "pycocotools": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        detection_map(gt, dt, args.classes, style="coco")
        times["kzoo"].append(time.perf_counter() - start)
        start = time.perf_counter()
        run_pycocotools(dataset, results)
        times["pycocotools"].append(time.perf_counter() - start)
    ours_t = statistics.median(times["kzoo"])
    ref_t = statistics.median(times["pycocotools"])
    print(f"kzoo        {ours_t * 1e3:9.1f} ms (median of {args.repeats})")
    print(f"pycocotools {ref_t * 1e3:9.1f} ms")
    print(f"ratio kzoo / pycocotools = {ours_t / ref_t:.3f} "
          f"({ref_t / ours_t:.1f}x faster)")
    if args.output:
        from importlib.metadata import version

        from kzoo._results import provenance
        from kzoo._results import write_json

        write_json(args.output, {
            "what": __doc__.split("\n")[0],
            **provenance("bench_detection_map.py",
                         pycocotools=version("pycocotools")),
            "images": args.images, "detections_per_image": args.detections,
            "classes": args.classes,
            "ground_truth_boxes": len(dataset["annotations"]),
            "stats_equal": True, "repeats": args.repeats,
            "median_ms": {"kzoo": round(ours_t * 1e3, 2),
                          "pycocotools": round(ref_t * 1e3, 2)},
            "ratio_kzoo_over_pycocotools": round(ours_t / ref_t, 4),
            "stats": {key: ours[key] for key in COCO_SUMMARY_KEYS}})
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
