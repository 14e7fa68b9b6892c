"""Pascal VOC detection datasets: annotations parsed once, images per epoch.

`load_voc` reads `root/ImageSets/Main/<split>.txt`, parses every
`root/Annotations/<id>.xml` with `xml.etree` at load time (in Python, so a
malformed file is reported by name before any graph runs) and checks every
image file. The result is a `VOCDataset` holding the boxes in memory;
`VOCDataset.as_dataset()` streams the images from disk through `tf.data`.

Coordinate convention: VOC `<bndbox>` values are used as given, as
continuous pixel coordinates `xyxy` (`x_min, y_min, x_max, y_max`, area
`(x_max - x_min) * (y_max - y_min)`, no `+1`), the convention of
`kzoo.boxes` and of torchvision's `VOCDetection`. (The original VOC devkit
counts inclusive 1-based pixels and TFDS's `voc` subtracts 1 from every
coordinate; labelImg-made sets such as BCCD clamp `x_min, y_min` to 1 and
let `x_max` reach the image width, which only fits continuous coordinates.)
"""

import dataclasses
import math
import os
import warnings
import xml.etree.ElementTree as ET

import numpy as np

from kzoo._api import kzoo_export
from kzoo.data.sources import IMAGE_EXTENSIONS
from kzoo.data.sources import DataUnavailableError
from kzoo.data.sources import _check_limit

# A box may stick out of its image by up to this many pixels (annotation
# tools round outwards); it is clipped to the image and counted. Further out
# it is invalid.
CLIP_TOLERANCE = 1.0
_FIELDS = ("xmin", "ymin", "xmax", "ymax")


@kzoo_export("kzoo.data.VOCDataset")
@dataclasses.dataclass
class VOCDataset:
    """The annotations of one split of a Pascal VOC folder.

    Fields (one entry per kept image, in the order of the split file):
        root: the VOC folder.
        split: the split name.
        image_paths: list of image file paths.
        boxes: list of `float32` arrays `[N, 4]`, `xyxy` in pixels of the
            original image (continuous coordinates, see the module doc).
        classes: list of `int32` arrays `[N]`, indices into `class_names`.
        difficult: list of `bool` arrays `[N]` (VOC's `<difficult>` flag).
        image_sizes: list of `(height, width)` of the image files.
        class_names: tuple of class names.
        skipped: list of `(file, reason)`: one per dropped box, or per dropped
            image for file-level problems.
        clipped: list of `(file, reason)`: boxes up to 1 px outside their
            image that were clipped to it.
    """

    root: str
    split: str
    image_paths: list
    boxes: list
    classes: list
    difficult: list
    image_sizes: list
    class_names: tuple
    skipped: list = dataclasses.field(default_factory=list)
    clipped: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.image_paths)

    def num_boxes(self):
        """`int` array `[num_images]`: boxes per image."""
        return np.asarray([len(c) for c in self.classes], np.int64)

    def class_counts(self):
        """Dict `{class name: number of boxes}` over the split."""
        counts = np.bincount(
            np.concatenate([np.zeros([0], np.int32)] + list(self.classes)),
            minlength=len(self.class_names),
        )
        return {name: int(n) for name, n in zip(self.class_names, counts)}

    def as_dataset(self, include_difficult=True):
        """One `tf.data` element per image, in the order of `image_paths`.

        Elements are dicts `{"image": uint8 [H, W, 3], "boxes": float32
        [N, 4], "classes": int32 [N]}` (`N` varies per image; boxes `xyxy`
        in pixels of the image). Images are read and decoded from disk on
        every pass.

        Args:
            include_difficult: keep boxes flagged `<difficult>`; `False`
                drops them (the usual choice for training on VOC, whose
                evaluation ignores them). Defaults to `True`.

        Returns:
            A `tf.data.Dataset`.

        Example:

        >>> voc = kzoo.data.load_voc("../shared/datasets/bccd", "train")
        >>> for ex in voc.as_dataset().take(1):
        ...     print(ex["image"].shape, ex["boxes"].shape)
        (480, 640, 3) (19, 4)
        """
        import tensorflow as tf

        boxes, classes = self._ragged(include_difficult)
        ds = tf.data.Dataset.from_tensor_slices(
            {"path": list(self.image_paths), "boxes": boxes, "classes": classes}
        )
        return ds.map(_read_example, num_parallel_calls=tf.data.AUTOTUNE)

    def _ragged(self, include_difficult=True, keep=None):
        """Boxes and classes as `tf.RaggedTensor`s, optionally filtered.

        `keep` is an optional list of per-image index arrays (which boxes to
        keep, in that order).
        """
        import tensorflow as tf

        boxes, classes = [], []
        for i, (b, c, d) in enumerate(zip(self.boxes, self.classes,
                                          self.difficult)):
            idx = np.arange(len(c)) if keep is None else np.asarray(keep[i])
            if not include_difficult:
                idx = idx[~d[idx]]
            boxes.append(b[idx])
            classes.append(c[idx])
        lengths = np.asarray([len(c) for c in classes], np.int64)
        flat_boxes = np.concatenate([np.zeros([0, 4], np.float32)] + boxes)
        flat_classes = np.concatenate([np.zeros([0], np.int32)] + classes)
        return (
            tf.RaggedTensor.from_row_lengths(flat_boxes, lengths),
            tf.RaggedTensor.from_row_lengths(flat_classes, lengths),
        )


def _read_example(example):
    import tensorflow as tf

    image = tf.io.decode_image(
        tf.io.read_file(example["path"]), channels=3, expand_animations=False
    )
    image.set_shape([None, None, 3])
    boxes = tf.reshape(example["boxes"], [-1, 4])
    return {"image": image, "boxes": boxes, "classes": example["classes"]}


class _Invalid(Exception):
    """A problem with one annotation file (file-level) or box."""


def _text(node, tag):
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _number(text, what):
    try:
        return float(text)
    except ValueError:
        raise _Invalid(f"{what} is not a number ({text!r})") from None


def _image_path(root, image_id, annotation):
    folder = os.path.join(root, "JPEGImages")
    names = [image_id + ".jpg"]
    filename = _text(annotation, "filename")
    if filename:
        names.append(os.path.basename(filename))
    names += [image_id + ext for ext in IMAGE_EXTENSIONS]
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    tried = list(dict.fromkeys(names[:2]))  # id.jpg and <filename>
    raise _Invalid(
        f"image file not found: {os.path.join(folder, tried[0])}"
        + "".join(f" (nor {name} from <filename>)" for name in tried[1:])
    )


def _image_size(path, check_images):
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
            if check_images:
                img.load()  # Full decode: catches truncated files.
    except Exception as e:  # PIL raises several types for bad files.
        raise _Invalid(
            f"image file {path} cannot be decoded ({type(e).__name__}: {e})"
        ) from None
    return height, width


def _parse_box(obj, k, height, width):
    """Returns `(name, [x1, y1, x2, y2], difficult, clipped_reason)`."""
    name = _text(obj, "name")
    if name is None:
        raise _Invalid(f"object {k}: missing <name>")
    where = f"object {k} ({name})"
    bndbox = obj.find("bndbox")
    if bndbox is None:
        raise _Invalid(f"{where}: missing <bndbox>")
    coords = []
    for field in _FIELDS:
        text = _text(bndbox, field)
        if text is None:
            raise _Invalid(f"{where}: missing <bndbox>/<{field}>")
        coords.append(_number(text, f"{where}: <{field}>"))
    shown = "[" + ", ".join(f"{v:g}" for v in coords) + "]"
    if not all(math.isfinite(v) for v in coords):
        raise _Invalid(f"{where}: non-finite coordinate in box {shown}")
    x1, y1, x2, y2 = coords
    if x2 <= x1 or y2 <= y1:
        raise _Invalid(
            f"{where}: degenerate box {shown} (x_max <= x_min or "
            "y_max <= y_min)"
        )
    tol = CLIP_TOLERANCE
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        raise _Invalid(
            f"{where}: box {shown} lies more than {tol:g} px outside the "
            f"{width}x{height} image"
        )
    clipped = [min(max(x1, 0.0), width), min(max(y1, 0.0), height),
               min(max(x2, 0.0), width), min(max(y2, 0.0), height)]
    clip_reason = None
    if clipped != coords:
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise _Invalid(
                f"{where}: box {shown} has no area inside the "
                f"{width}x{height} image"
            )
        clip_reason = f"{where}: box {shown} clipped to the {width}x{height} image"
    difficult = _text(obj, "difficult") not in (None, "0")
    return name, clipped, difficult, clip_reason


def _parse_annotation(path, root, image_id, check_images):
    """Parses one file; file-level problems raise `_Invalid`.

    Returns `(image_path, (h, w), objects, box_problems, clipped)` where
    `objects` is a list of `(name, box, difficult)`.
    """
    if not os.path.isfile(path):
        raise _Invalid(f"annotation file {path} not found")
    try:
        annotation = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise _Invalid(f"unparsable XML ({e})") from None
    if annotation.tag != "annotation":
        raise _Invalid(
            f"root element is <{annotation.tag}>, expected <annotation>"
        )
    image_path = _image_path(root, image_id, annotation)
    height, width = _image_size(image_path, check_images)
    size = annotation.find("size")
    if size is not None:
        try:
            xml_w = int(float(_text(size, "width") or 0))
            xml_h = int(float(_text(size, "height") or 0))
        except ValueError:
            xml_w = xml_h = 0
        # 0 (or missing) is a known labelImg quirk: trust the image file.
        if xml_w > 0 and xml_h > 0 and (xml_w, xml_h) != (width, height):
            raise _Invalid(
                f"<size> {xml_w}x{xml_h} differs from the image file "
                f"{image_path} ({width}x{height})"
            )
    objects, problems, clipped = [], [], []
    for k, obj in enumerate(annotation.findall("object")):
        try:
            name, box, difficult, clip_reason = _parse_box(
                obj, k, height, width)
        except _Invalid as e:
            problems.append(str(e))
            continue
        objects.append((name, box, difficult))
        if clip_reason:
            clipped.append(clip_reason)
    return image_path, (height, width), objects, problems, clipped


def _scan_names(path):
    """Class names of a file (best effort, for the default class list)."""
    try:
        return {
            n.text.strip() for n in ET.parse(path).getroot().iter("name")
            if n.text and n.text.strip()
        }
    except (ET.ParseError, OSError):
        return set()


@kzoo_export("kzoo.data.load_voc")
def load_voc(root, split="train", class_names=None, on_invalid="skip",
             limit=None, check_images=True):
    """Loads one split of a Pascal VOC detection folder.

    Expects `root/ImageSets/Main/<split>.txt` (one image id per line),
    `root/Annotations/<id>.xml` and `root/JPEGImages/<id>.jpg` (or the
    XML's `<filename>`). Every annotation is parsed and validated here, in
    Python:

    * file-level problems drop the image: missing or unparsable XML, missing
      or undecodable image file, `<size>` different from the image file;
    * box-level problems drop the box: missing `<name>`, `<bndbox>` or one
      of its fields, a non-numeric or non-finite coordinate,
      `x_max <= x_min` or `y_max <= y_min`, a box more than 1 px outside
      the image, a class name not in `class_names` (when given);
    * boxes at most 1 px outside the image are clipped to it and listed in
      `clipped`.

    With `on_invalid="skip"` every dropped box or image is listed in
    `skipped` as `(file, reason)` and one warning gives the count and the
    first files; `on_invalid="raise"` raises a `ValueError` naming the file
    and the problem at the first one. An image all of whose boxes were
    dropped (or that has none) is kept, with zero boxes.

    Args:
        root: the VOC folder (e.g. from `kzoo.data.resolve_data_dir(
            data_dir, "bccd", marker="Annotations")`).
        split: name of the split file in `ImageSets/Main`. Defaults to
            `"train"`.
        class_names: class list to index `classes` by (pass the train
            split's `class_names` when loading another split). `None` uses
            the sorted unique names found in the whole split file (even with
            `limit`), e.g. `("Platelets", "RBC", "WBC")` for BCCD. Defaults to
            `None`.
        on_invalid: `"skip"` or `"raise"`, see above. Defaults to `"skip"`.
        limit: keep only the first `limit` ids of the split file. Defaults
            to `None`.
        check_images: fully decode every image once with PIL, so that a
            truncated file is reported here instead of failing inside
            `tf.data`; `False` only reads the headers. Defaults to `True`.

    Returns:
        A `VOCDataset`.

    Raises:
        DataUnavailableError: `root`, `root/ImageSets/Main` or
            `root/Annotations` does not exist.
        ValueError: unknown `split` (the message lists the split files), bad
            arguments, or with `on_invalid="raise"` an invalid annotation.

    Example:

    >>> voc = kzoo.data.load_voc("../shared/datasets/bccd", "train")
    >>> voc.class_names, len(voc)
    (('Platelets', 'RBC', 'WBC'), 205)
    >>> val = kzoo.data.load_voc("../shared/datasets/bccd", "val",
    ...                          class_names=voc.class_names)

    Reference: Everingham et al., "The PASCAL Visual Object Classes (VOC)
    Challenge", IJCV 2010 (devkit annotation format).
    """
    if on_invalid not in ("skip", "raise"):
        raise ValueError(
            "`on_invalid` must be 'skip' or 'raise'. "
            f"Received: on_invalid={on_invalid}"
        )
    _check_limit(limit)
    if root is None or not os.path.isdir(root):
        raise DataUnavailableError(
            f"No Pascal VOC folder at {root}: expected {root}/Annotations/, "
            f"{root}/JPEGImages/ and {root}/ImageSets/Main/<split>.txt (pass "
            "--data-dir or set KZOO_DATA_DIR)."
        )
    sets_dir = os.path.join(root, "ImageSets", "Main")
    for d in (sets_dir, os.path.join(root, "Annotations")):
        if not os.path.isdir(d):
            raise DataUnavailableError(
                f"{root} is not a Pascal VOC folder: {d}/ is missing."
            )
    split_file = os.path.join(sets_dir, f"{split}.txt")
    if not os.path.isfile(split_file):
        available = sorted(
            f[:-4] for f in os.listdir(sets_dir) if f.endswith(".txt"))
        raise ValueError(
            f"No split file {split_file}; available splits: {available}. "
            f"Received: split={split}"
        )
    with open(split_file) as f:
        # VOC's per-class files read "<id> <flag>"; the id comes first.
        ids = [line.split()[0] for line in f if line.strip()]
    all_ids = ids
    if limit is not None:
        ids = ids[:limit]

    def annotation_path(image_id):
        return os.path.join(root, "Annotations", image_id + ".xml")

    skipped, clipped, parsed = [], [], []

    def problem(path, reason, store):
        if on_invalid == "raise":
            raise ValueError(f"Invalid VOC annotation {path}: {reason}")
        store.append((path, reason))

    for image_id in ids:
        path = annotation_path(image_id)
        try:
            image_path, size, objects, box_problems, box_clipped = (
                _parse_annotation(path, root, image_id, check_images))
        except _Invalid as e:
            problem(path, f"{e}; image skipped", skipped)
            continue
        for reason in box_problems:
            problem(path, f"{reason}; box skipped", skipped)
        clipped.extend((path, r) for r in box_clipped)
        parsed.append((path, image_path, size, objects))

    if class_names is None:
        names = set()
        for _, _, _, objects in parsed:
            names.update(name for name, _, _ in objects)
        for image_id in all_ids[len(ids):]:
            names |= _scan_names(annotation_path(image_id))
        class_names = tuple(sorted(names))
    else:
        if isinstance(class_names, str):
            raise TypeError(
                "`class_names` must be a sequence of names, not a string. "
                f"Received: class_names={class_names!r}"
            )
        class_names = tuple(class_names)
        if len(set(class_names)) != len(class_names):
            raise ValueError(
                f"`class_names` has duplicates. Received: "
                f"class_names={class_names}"
            )
    index = {name: i for i, name in enumerate(class_names)}

    image_paths, boxes, classes, difficult, sizes = [], [], [], [], []
    for path, image_path, size, objects in parsed:
        kept = []
        for k, (name, box, diff) in enumerate(objects):
            if name not in index:
                problem(
                    path,
                    f"class {name!r} not in class_names {list(class_names)}; "
                    "box skipped",
                    skipped,
                )
                continue
            kept.append((index[name], box, diff))
        image_paths.append(image_path)
        sizes.append(size)
        boxes.append(np.asarray([b for _, b, _ in kept], np.float32).reshape(-1, 4))
        classes.append(np.asarray([c for c, _, _ in kept], np.int32))
        difficult.append(np.asarray([d for _, _, d in kept], bool))

    if skipped or clipped:
        shown = "; ".join(f"{os.path.basename(p)}: {r}" for p, r in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        message = (
            f"kzoo.data.load_voc: {root} split '{split}': skipped "
            f"{len(skipped)} invalid annotation(s)"
            + (f" ({shown}{more})" if skipped else "")
        )
        if clipped:
            message += (
                f"; clipped {len(clipped)} box(es) lying up to "
                f"{CLIP_TOLERANCE:g} px outside their image (first: "
                f"{os.path.basename(clipped[0][0])})"
            )
        warnings.warn(message + ". See the `skipped` / `clipped` fields.",
                      stacklevel=2)
    if not image_paths:
        raise DataUnavailableError(
            f"No usable images in split '{split}' of {root} "
            f"({len(ids)} ids, {len(skipped)} problems)."
        )
    return VOCDataset(
        root=root,
        split=split,
        image_paths=image_paths,
        boxes=boxes,
        classes=classes,
        difficult=difficult,
        image_sizes=sizes,
        class_names=class_names,
        skipped=skipped,
        clipped=clipped,
    )
