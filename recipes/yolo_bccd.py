"""YOLO-style detection of blood cells (BCCD), trained from scratch on a CPU.

The course's detector: an S x S grid whose cells predict boxes (objectness,
box, classes), the confidence P(class) x objectness, and non-max
suppression. Here with YOLOv2's anchors (`--layout anchor`, the default:
each of the B boxes of a cell has its own anchor shape from k-means over
the training boxes with 1 - IoU as the distance, and its own class scores)
or YOLOv1's layout (`--layout cell`: S x S x (5B + C), one class
distribution per cell, the responsible box chosen by IoU in the loss).

Data: BCCD (Shenggan/BCCD_Dataset, MIT licence) in Pascal VOC layout:
364 640x480 images of blood smears, classes Platelets / RBC / WBC, the
dataset's own train / val / test splits (205 / 87 / 72 images). Annotation
problems (BCCD has two degenerate boxes) are skipped, counted and named in
metrics.json (`--on-invalid raise` stops instead). There is no TFDS copy:
pass `--data-dir` (the `bccd/` folder or its parent) or set `KZOO_DATA_DIR`.

Model: `kzoo.models.tiny_darknet` (conv-BN-LeakyReLU, max-pooling, stride
32; no pretrained weights: this machine cannot download them) +
`kzoo.layers.YOLOHead`, trained with `kzoo.losses.YOLOLoss` (YOLOv1's
sum-squared loss, lambda_coord 5, lambda_noobj 0.5) on letterboxed 320x320
images with flips, scale jitter and colour jitter. The validation mAP is
logged during training (`kzoo.eval.DetectionMAPCallback`).

Reported in metrics.json, on the test split, beside the same evaluation of
the same detector at random initialisation (`random_init_*`):

* COCO AP (IoU .50:.95), AP50 and AP75 overall and per class
  (`kzoo.eval.detection_map(style="coco")`, equal to pycocotools'),
* VOC mAP at IoU 0.5 with all-point interpolation, overall and per class.

Detections for mAP use score threshold 0.001 (as COCO evaluations do), for
the PNG and the SavedModel `--score-threshold` (0.25). The run writes
`test_detections.png` (predicted boxes with scores, true boxes in white)
and exports a SavedModel whose `serving_default` takes `uint8` images of
any size and returns final detections after NMS in input-image pixels
(`kzoo.export.export_detection_model`).

Default budget: 40 epochs of the 205 training images at 320x320, batch 8
(1,000 steps), sized to finish, evaluation and export included, in under
an hour on a 2-core CPU (the README states the measured time).

    python recipes/yolo_bccd.py --data-dir ../shared/datasets
    python recipes/yolo_bccd.py --layout cell --num-boxes 2   # YOLOv1 layout
"""

import argparse
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

YOLOV1 = "YOLOv1, Redmon et al. 2016"
YOLOV2 = "YOLOv2, Redmon & Farhadi 2017"
EVAL_SCORE_THRESHOLD = 0.001


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="bccd", datasets=("bccd",), epochs=40, batch_size=8,
        seed=0, output_dir=None, model_name=None,
        reference="sized for under an hour on 2 CPU cores",
    )
    data = parser.add_argument_group("detection data")
    data.add_argument(
        "--image-size", type=runs.positive_int, default=320,
        help="square letterbox size of the model input (a multiple of the "
        "backbone's stride 32). Default: 320.")
    data.add_argument(
        "--train-split", choices=["train", "trainval"], default="train",
        help="BCCD's split to train on: 'train' (205 images; the 87 'val' "
        "images give the validation mAP logged with --map-every) or "
        "'trainval' (train + val, 292 images; no validation mAP then, as "
        "its images are trained on). The 72 test images are never trained "
        "on. Default: train.")
    data.add_argument(
        "--on-invalid", choices=["skip", "raise"], default="skip",
        help="malformed annotations: skip them (counted, named in "
        "metrics.json) or stop with a message naming the file. Default: skip.")
    data.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, default=True,
        help="flip, scale jitter and colour jitter of the training images "
        "(kzoo.data.DetectionAugmentation defaults). Default: --augment.")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--head", choices=["yolo", "anchor_free"], default="yolo",
        help="'yolo': the grid head below (--layout); 'anchor_free': "
        "YOLOv8's decoupled head on the backbone's stride 8, 16 and 32 "
        "maps, distribution focal loss for the box sides, task-aligned "
        "assignment, CIoU (kzoo.models.AnchorFreeDetector; --layout, "
        "--num-boxes and the loss flags do not apply). Default: yolo.")
    model.add_argument(
        "--reg-max", type=runs.positive_int, default=16,
        help="--head anchor_free: bins of each side's distance "
        "distribution, in strides. Default: 16 (YOLOv8's).")
    model.add_argument(
        "--layout", choices=["anchor", "cell"], default="anchor",
        help=f"'anchor': S x S x B x (5 + C), k-means anchors ({YOLOV2}); "
        f"'cell': the course's S x S x (5B + C) ({YOLOV1}). Default: anchor.")
    model.add_argument(
        "--num-boxes", type=runs.positive_int, default=5,
        help=f"boxes (anchors) per cell B. Default: 5 ({YOLOV2}; "
        f"{YOLOV1} uses 2).")
    model.add_argument(
        "--output-stride", type=int, choices=[32, 16], default=32,
        help="the backbone's output stride: the grid is S = image size / "
        "stride (10 x 10 at 320 px and 32; 16 gives 20 x 20 cells, for "
        "small objects such as platelets, at a higher compute cost). "
        f"Default: 32 ({YOLOV2}).")
    model.add_argument(
        "--width", type=runs.positive_int, default=16,
        help="channels of the backbone's first conv, doubled at each of its "
        "5 stages. Default: 16 (tiny-YOLO's widths).")
    loss = parser.add_argument_group("loss")
    loss.add_argument(
        "--lambda-coord", type=runs.positive_float, default=5.0,
        help=f"weight of the box terms. Default: 5 ({YOLOV1}).")
    loss.add_argument(
        "--lambda-noobj", type=runs.positive_float, default=0.5,
        help=f"weight of the no-object confidence term. Default: 0.5 "
        f"({YOLOV1}).")
    loss.add_argument(
        "--box-loss", choices=["mse", "giou", "diou", "ciou"], default="mse",
        help=f"box term: YOLOv1's squared error on x, y, sqrt(w), sqrt(h), "
        f"or 1 - an IoU-family overlap. Default: mse ({YOLOV1}).")
    opt = parser.add_argument_group("optimizer")
    opt.add_argument(
        "--learning-rate", type=runs.positive_float, default=1e-3,
        help="peak Adam learning rate (linear warm-up over the first epoch, "
        "then cosine decay to 0). Default: 1e-3.")
    opt.add_argument(
        "--weight-decay", type=runs.non_negative_float, default=5e-4,
        help=f"AdamW weight decay. Default: 5e-4 ({YOLOV1}'s decay).")
    ev = parser.add_argument_group("evaluation and serving")
    ev.add_argument(
        "--map-every", type=runs.non_negative_int, default=10,
        help="log validation mAP every N epochs (0: never). Default: 10.")
    ev.add_argument(
        "--iou-threshold", type=runs.unit_interval_float, default=0.5,
        help="NMS IoU threshold (a box is suppressed when its IoU with a "
        "kept box is > this, as tf.image.non_max_suppression). Default: 0.5 "
        "(the course).")
    ev.add_argument(
        "--score-threshold", type=runs.unit_interval_float, default=0.25,
        help="minimum confidence of the served detections and the PNG "
        f"(mAP is computed at {EVAL_SCORE_THRESHOLD}). Default: 0.25.")
    ev.add_argument(
        "--max-detections", type=runs.positive_int, default=100,
        help="detections per image after NMS (the padding size of the "
        "SavedModel outputs). Default: 100 (COCO's maxDets).")
    ev.add_argument(
        "--png-images", type=runs.non_negative_int, default=6,
        help="test images drawn in test_detections.png (0: no PNG). "
        "Default: 6.")
    args = parser.parse_args(argv)
    if args.head == "anchor_free" and args.output_stride != 32:
        parser.error("--head anchor_free reads the backbone's stride 8, 16 "
                     "and 32 maps: --output-stride must be 32")
    if args.image_size % 32:
        parser.error(f"--image-size must be a multiple of 32 (the backbone's "
                     f"stride). Received: {args.image_size}")
    return args


def load_splits(args):
    """The VOC splits, with the skipped annotations of each."""
    from kzoo import data

    root = data.resolve_data_dir(args.data_dir, "bccd", marker="Annotations")
    if root is None:
        raise data.DataUnavailableError(
            "BCCD is not in TFDS. Pass --data-dir DIR (the BCCD folder in "
            "Pascal VOC layout, with Annotations/, JPEGImages/ and "
            "ImageSets/Main/, or a folder holding it as bccd/; e.g. "
            "BCCD/ of https://github.com/Shenggan/BCCD_Dataset) or set "
            "KZOO_DATA_DIR.")
    splits = {}
    train_split = getattr(args, "train_split", "train")
    for split in ("train", "val", "test"):
        try:
            splits[split] = data.load_voc(root, train_split
                                          if split == "train" else split,
                                          on_invalid=args.on_invalid,
                                          limit=args.limit)
        except ValueError as e:  # --on-invalid raise: the file is named
            raise SystemExit(f"error: {e}")
    names = splits["train"].class_names
    for split, voc in splits.items():
        if voc.class_names != names:
            raise SystemExit(
                f"error: the {split} split has classes {voc.class_names}, the "
                f"train split {names}")
    print("data: " + ", ".join(
        f"{len(v.image_paths)} {k} images ({sum(len(c) for c in v.classes)} "
        f"boxes)" for k, v in splits.items()) + f"; classes {list(names)}")
    return root, splits


def letterboxed_box_sizes(voc, size):
    """`[N, 2]` widths and heights of all boxes of `voc`, as fractions of
    the letterboxed `size` x `size` model input."""
    import numpy as np

    sizes = []
    for boxes, (h, w) in zip(voc.boxes, voc.image_sizes):
        scale = size / max(h, w)
        sizes.append((boxes[:, 2:] - boxes[:, :2]) * scale / size)
    return np.concatenate(sizes).astype("float32")


def ground_truth(voc):
    from kzoo.eval.detection_eval import voc_ground_truth

    return voc_ground_truth(voc)


def detect(serve, voc, batch_size=8):
    """`kzoo.eval.detection_eval.detect_voc`: final detections per image."""
    from kzoo.eval.detection_eval import detect_voc

    return detect_voc(serve, voc, batch_size)


def evaluate(serve, voc, class_names, prefix=""):
    """COCO and VOC mAP of `serve` on a split, keyed `<prefix><name>`
    (`kzoo.eval.detection_eval.evaluate_voc_detector`)."""
    from kzoo.eval.detection_eval import evaluate_voc_detector

    return evaluate_voc_detector(serve, voc, class_names, prefix)


def main(argv=None):
    args = parse_args(argv)
    strategy, run = runs.open_run(args, prefix="yolo")
    root, splits = load_splits(args)

    import numpy as np
    import tensorflow as tf

    from kzoo import data, eval as kz_eval, export, models

    class_names = list(splits["train"].class_names)
    num_classes = len(class_names)
    size = args.image_size
    grid = size // args.output_stride
    anchors = None
    if args.head == "yolo" and args.layout == "anchor":
        wh = letterboxed_box_sizes(splits["train"], size)
        anchors, mean_iou = data.kmeans_anchors(wh, args.num_boxes,
                                                seed=args.seed)
        print(f"anchors (k-means, 1 - IoU; fractions of the image): "
              f"{np.round(anchors, 4).tolist()}, mean best IoU {mean_iou:.3f}")
    train_ds = data.detection_dataset(
        splits["train"], image_size=size, batch_size=args.batch_size,
        training=True, augment=None if args.augment else False,
        seed=args.seed, epochs=args.epochs,
        initial_epoch=run.initial_epoch())
    val_ds = data.detection_dataset(splits["val"], image_size=size,
                                    batch_size=args.batch_size)
    steps = runs.steps_per_epoch(len(splits["train"].image_paths),
                                 args.batch_size)

    with strategy.scope():
        backbone = models.tiny_darknet(input_shape=(size, size, 3),
                                       width=args.width,
                                       output_stride=args.output_stride)
        if args.head == "anchor_free":
            detector = models.AnchorFreeDetector(
                models.multiscale_backbone(
                    backbone, ["pool2", "pool3", backbone.layers[-1].name]),
                num_classes=num_classes, reg_max=args.reg_max,
                iou_threshold=args.iou_threshold,
                score_threshold=EVAL_SCORE_THRESHOLD,
                max_detections=args.max_detections)
            encoder = None
        else:
            detector = models.YOLODetector(
                backbone, num_classes=num_classes, num_boxes=args.num_boxes,
                anchors=anchors, layout=args.layout,
                lambda_coord=args.lambda_coord,
                lambda_noobj=args.lambda_noobj, box_loss=args.box_loss,
                iou_threshold=args.iou_threshold,
                score_threshold=EVAL_SCORE_THRESHOLD,
                max_detections=args.max_detections)
            encoder = detector.target_encoder()
        # Linear warm-up over the first epoch, then cosine decay to 0.
        detector.compile(
            optimizer=runs.build_optimizer(args, steps, optimizer="adamw",
                                           warmup_epochs=1),
            jit_compile=args.jit)

    if encoder is None:  # anchor-free: the padded boxes themselves
        encoding = None
        train_fit = train_ds.map(
            lambda b: (b["images"], models.pack_detection_targets(
                b["boxes"], b["classes"])),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        # What the targets lose (two objects of one class in one cell /
        # anchor), counted on one pass of the un-augmented training images.
        encoding = encoder.count_dropped(data.detection_dataset(
            splits["train"], image_size=size, batch_size=args.batch_size))
        print(f"target encoding: {encoding}")
        train_fit = train_ds.map(
            lambda b: (b["images"], encoder(b["boxes"], b["classes"])),
            num_parallel_calls=tf.data.AUTOTUNE)

    def serving_fn(score_threshold):
        """uint8 images -> final detections, the SavedModel's computation
        (in `tf.function` under the TensorFlow backend; eager, the detector
        compiled on the backend, under the others)."""
        serve = export.detection_serving_fn(
            detector.inference_model(score_threshold=score_threshold), size)
        if runs.on_tensorflow():
            serve = tf.function(serve, reduce_retracing=True)
        return serve

    metrics = {"dataset": "bccd", "data_dir": root, "class_names": class_names,
               "train_split": args.train_split,
               "train_images": len(splits["train"].image_paths),
               "test_images": len(splits["test"].image_paths),
               "head": args.head,
               "grid_size": grid if args.head == "yolo" else None,
               "strides": (None if args.head == "yolo"
                           else detector.strides),
               "layout": args.layout if args.head == "yolo" else None,
               "anchors": None if anchors is None else anchors.tolist(),
               "train_target_encoding": encoding,
               "skipped_annotations": {
                   k: list(v.skipped) for k, v in splits.items()}}
    random_init, _ = evaluate(serving_fn(EVAL_SCORE_THRESHOLD), splits["test"],
                              class_names, prefix="random_init_")
    metrics.update(random_init)
    print(f"random init: COCO AP {random_init['random_init_coco_AP']:.4f}, "
          f"VOC mAP50 {random_init['random_init_voc_mAP']:.4f}")

    monitors = []
    if args.map_every and args.train_split == "trainval":
        print("note: --train-split trainval trains on the validation "
              "images: no validation mAP is logged (--map-every ignored)")
    elif args.map_every:
        monitors.append(kz_eval.DetectionMAPCallback(
            detector.inference_model(score_threshold=EVAL_SCORE_THRESHOLD),
            val_ds, num_classes, style="voc", class_names=class_names,
            every=args.map_every))
    start = time.time()
    history = detector.fit(train_fit, epochs=args.epochs,
                           steps_per_epoch=steps,
                           callbacks=run.callbacks(monitors), verbose=run.verbose)
    fit_seconds = time.time() - start
    metrics.update(runs.fit_summary(history, fit_seconds, steps, args,
                                    strategy))

    trained, detections = evaluate(serving_fn(EVAL_SCORE_THRESHOLD),
                                   splits["test"], class_names)
    metrics.update(trained)
    print(f"trained: COCO AP {trained['coco_AP']:.4f}, AP50 "
          f"{trained['coco_AP50']:.4f}, AP75 {trained['coco_AP75']:.4f}, "
          f"VOC mAP50 {trained['voc_mAP']:.4f}")
    for name in class_names:
        print(f"  {name}: COCO AP {trained[f'coco_AP/{name}']:.4f}, "
              f"VOC AP50 {trained[f'voc_AP/{name}']}")

    if args.png_images and run.chief:
        from kzoo import visualize

        shown = detect(serving_fn(args.score_threshold),
                       _subset(splits["test"], args.png_images))
        path = run.path("test_detections.png")
        visualize.save_detection_grid(
            path, splits["test"].image_paths[:args.png_images], shown,
            ground_truth(splits["test"])[:args.png_images], class_names)
        metrics["png"] = path
        print(f"PNG: {path}")

    # Off TensorFlow: a .keras file and the command exporting it.
    version_dir = run.export_model(
        "detection",
        detector.inference_model(score_threshold=args.score_threshold),
        metrics, image_size=size, class_names=class_names)
    if version_dir:
        print(f"SavedModel: {version_dir}")
    run.finish(metrics)


def _subset(voc, n):
    import dataclasses

    return dataclasses.replace(
        voc, image_paths=voc.image_paths[:n], boxes=voc.boxes[:n],
        classes=voc.classes[:n], difficult=voc.difficult[:n],
        image_sizes=voc.image_sizes[:n])


if __name__ == "__main__":
    runs.main_guard(main)
