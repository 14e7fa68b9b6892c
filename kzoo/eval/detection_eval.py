"""A detector's COCO and VOC mAP on a Pascal VOC split, end to end."""

import numpy as np

from kzoo._api import kzoo_export


@kzoo_export("kzoo.eval.voc_ground_truth")
def voc_ground_truth(voc):
    """The per-image ground truth of a `kzoo.data.VOCDataset`, in
    `kzoo.eval.detection_map`'s format (`boxes`, `classes`, `difficult`)."""
    return [{"boxes": b, "classes": c, "difficult": d}
            for b, c, d in zip(voc.boxes, voc.classes, voc.difficult)]


@kzoo_export("kzoo.eval.detect_voc")
def detect_voc(serve, voc, batch_size=8):
    """Runs `serve` (uint8 images -> final detections) over a VOC split.

    Args:
        serve: a callable taking `uint8` images `[N, H, W, 3]` of one size
            and returning `boxes` `[N, K, 4]` (xyxy input pixels),
            `classes` and `scores` `[N, K]` and `num_detections` `[N]`
            (`kzoo.export.detection_serving_fn`, a loaded SavedModel
            signature).
        voc: a `kzoo.data.VOCDataset`.
        batch_size: images per call (images of different sizes go one by
            one). Defaults to `8`.

    Returns:
        One dict per image with `boxes`, `classes` and `scores` (NumPy),
        the padding removed.
    """
    from PIL import Image

    out = []
    for start in range(0, len(voc.image_paths), batch_size):
        paths = voc.image_paths[start:start + batch_size]
        images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
        shapes = {im.shape for im in images}
        if len(shapes) != 1:  # one request per size
            results = [serve(im[None]) for im in images]
        else:
            batch = serve(np.stack(images))
            results = [{k: v[i:i + 1] for k, v in batch.items()}
                       for i in range(len(images))]
        for r in results:
            n = int(np.asarray(r["num_detections"])[0])
            out.append({"boxes": np.asarray(r["boxes"])[0, :n],
                        "classes": np.asarray(r["classes"])[0, :n],
                        "scores": np.asarray(r["scores"])[0, :n]})
    return out


@kzoo_export("kzoo.eval.evaluate_voc_detector")
def evaluate_voc_detector(serve, voc, class_names, prefix=""):
    """COCO- and VOC-style mAP of `serve` on a VOC split.

    Args:
        serve: as `detect_voc`'s.
        voc: a `kzoo.data.VOCDataset`.
        class_names: the class names, in id order.
        prefix: prefix of the returned keys. Defaults to `""`.

    Returns:
        `(metrics, detections)`: `metrics` holds `<prefix>coco_<key>` for
        every key of `detection_map(style="coco")` (`AP`, `AP50`, `AP75`,
        per class) and `<prefix>voc_<key>` for `style="voc"`;
        `detections` is `detect_voc`'s list.
    """
    from kzoo.eval.detection_map import detection_map

    detections = detect_voc(serve, voc)
    gt = voc_ground_truth(voc)
    coco = detection_map(gt, detections, len(class_names), style="coco",
                         class_names=class_names)
    voc_map = detection_map(gt, detections, len(class_names), style="voc",
                            class_names=class_names)
    out = {f"{prefix}coco_{k}": v for k, v in coco.items()}
    out.update({f"{prefix}voc_{k}": v for k, v in voc_map.items()})
    return out, detections
