"""Blood cells cropped from BCCD's boxes: a 3-class image classification set.

The BCCD detection folder (Pascal VOC) becomes small classification data
for transfer: each box (red cell, white cell, platelet) is cropped square
around its centre and resized. The splits are BCCD's, by image: `"train"`
is `trainval` (292 images), `"test"` is `test` (72 images), so no cell of a
test image is ever trained on. The classes are very unequal (about 11 red
cells per white cell or platelet): report a balanced accuracy beside the
plain one.

NumPy, PIL and `kzoo.data.load_voc` (no TensorFlow).
"""

import os

import numpy as np

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo.data.sources import ArrayDataset
from kzoo.data.sources import DataUnavailableError

BCCD_CLASSES = ("Platelets", "RBC", "WBC")
_SPLITS = {"train": "trainval", "test": "test"}


def _resolve(data_dir):
    root = data_dir or os.environ.get("KZOO_DATA_DIR")
    if not root:
        raise DataUnavailableError(
            "the BCCD data is not downloadable here: pass --data-dir (the "
            "bccd folder, or a datasets root holding bccd/) or set "
            "KZOO_DATA_DIR.")
    root = os.path.expanduser(root)
    for candidate in (root, os.path.join(root, "bccd")):
        if os.path.isdir(os.path.join(candidate, "Annotations")):
            return candidate
    raise DataUnavailableError(
        f"{root} is neither a BCCD folder (no {root}/Annotations/) nor a "
        f"datasets root with {root}/bccd/Annotations/.")


@kzoo_export("kzoo.data.load_bccd_cells")
def load_bccd_cells(split="train", data_dir=None, size=32, margin=0.1,
                    limit=None):
    """BCCD's cells as labelled `size` x `size` crops (3 classes).

    Each box becomes a square crop centred on it, of side `max(w, h) * (1 +
    margin)` (pixels outside the image are black), resized bicubically;
    the label is its class in `BCCD_CLASSES` order (`Platelets`, `RBC`,
    `WBC`). Boxes `kzoo.data.load_voc` refuses (the two degenerate ones)
    are listed in `skipped`.

    Args:
        split: `"train"` (BCCD's `trainval`) or `"test"`. Defaults to
            `"train"`.
        data_dir: the `bccd` folder or a datasets root; `None` reads
            `KZOO_DATA_DIR`. Defaults to `None`.
        size: side of the crops. Defaults to `32`.
        margin: extra side around the box. Defaults to `0.1`.
        limit: keep only the first `limit` crops. Defaults to `None`.

    Returns:
        A `kzoo.data.ArrayDataset`.

    Example:

    >>> train = kzoo.data.load_bccd_cells("train", "../shared/datasets")
    >>> train.images.shape, train.class_names
    ((3941, 32, 32, 3), ['Platelets', 'RBC', 'WBC'])
    """
    from PIL import Image

    from kzoo.data.voc import load_voc

    if split not in _SPLITS:
        raise ValueError("`split` must be 'train' or 'test'. "
                         f"Received: split={split!r}")
    size = check_positive_int(size, "size")
    if limit is not None:
        limit = check_positive_int(limit, "limit")
    voc = load_voc(_resolve(data_dir), _SPLITS[split],
                   class_names=BCCD_CLASSES)
    images, labels = [], []
    for path, boxes, classes in zip(voc.image_paths, voc.boxes, voc.classes):
        with Image.open(path) as img:
            img = img.convert("RGB")
            for (x0, y0, x1, y1), c in zip(boxes, classes):
                side = max(x1 - x0, y1 - y0) * (1.0 + margin)
                cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
                box = tuple(int(round(v)) for v in (
                    cx - side / 2, cy - side / 2, cx + side / 2,
                    cy + side / 2))
                crop = img.crop(box).resize((size, size), Image.BICUBIC)
                images.append(np.asarray(crop, np.uint8))
                labels.append(int(c))
                if limit is not None and len(images) >= limit:
                    break
        if limit is not None and len(images) >= limit:
            break
    return ArrayDataset(np.stack(images), np.asarray(labels, np.int32),
                        list(BCCD_CLASSES), list(voc.skipped))
