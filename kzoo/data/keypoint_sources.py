"""Reading keypoint datasets: CSV files of points, the facial keypoints
data, and splits that keep each person on one side.

NumPy and PIL only (no TensorFlow); `kzoo.data.keypoints` letterboxes,
augments and batches what these functions return. Conventions (pixel
coordinates, masks, the 68-point markup) are in `kzoo.data.keypoints`.
"""

import collections
import csv
import math
import os

import numpy as np

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int as _check_positive_int
from kzoo.data.sources import DataUnavailableError

KeypointDataset = kzoo_export("kzoo.data.KeypointDataset")(collections.namedtuple(
    "KeypointDataset", ["images", "keypoints", "mask", "file_names", "skipped"]
))
KeypointDataset.__doc__ = """Decoded images and their keypoints, in memory.

Fields:
    images: list of `uint8` arrays `[H_i, W_i, 3]` (sizes may differ).
    keypoints: `float32` array `[N, K, 2]`, `(x, y)` in pixels of each
        image; 0 where missing.
    mask: `float32` array `[N, K]`, 1 visible, 0 missing.
    file_names: list of the `N` image file names.
    skipped: list of `(file name, reason)` for rows whose image could not
        be read (empty when nothing was skipped).
"""


def _parse_coordinate(text, line, column):
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na", "none", "null"):
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"line {line}, column {column}: not a number. "
                         f"Received: {text!r}") from None
    if math.isinf(value):
        raise ValueError(f"line {line}, column {column}: infinite "
                         f"coordinate. Received: {text!r}")
    return value


@kzoo_export("kzoo.data.read_keypoints_csv")
def read_keypoints_csv(path, num_keypoints=None):
    """Reads a keypoint CSV: header row, then `file, x0, y0, ..., xK-1, yK-1`.

    Missing values (an empty field, `nan`, `NA`) make that point missing
    (mask 0, coordinates stored as 0); a point with only one of `x`, `y`
    is missing too. Anything else that is not a finite number raises.

    Args:
        path: the CSV file.
        num_keypoints: expected `K`, or `None` to infer it from the header
            (`(columns - 1) / 2`). Defaults to `None`.

    Returns:
        `(file_names, keypoints, mask)`: list of `N` strings, `float32`
        `[N, K, 2]` pixels and `float32` `[N, K]`.

    Example:

    >>> names, points, mask = kzoo.data.read_keypoints_csv(
    ...     "facial_keypoints/training_keypoints.csv")
    >>> points.shape
    (3462, 68, 2)
    """
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty: expected a header row, then "
                         "`file, x0, y0, ...` rows. Received: path={path!r}")
    width = len(rows[0])
    if width < 3 or (width - 1) % 2:
        raise ValueError(
            f"{path}: the header must have a file column and an even number "
            f"of coordinate columns. Received: {width} columns")
    k = (width - 1) // 2
    if num_keypoints is not None and k != num_keypoints:
        raise ValueError(f"{path} has {k} keypoints per row. Received: "
                         f"num_keypoints={num_keypoints}")
    names, values = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue  # blank line
        if len(row) != width:
            raise ValueError(f"{path}, line {line}: {len(row)} fields, the "
                             f"header has {width}. Received: row={row[:4]}...")
        names.append(row[0].strip())
        values.append([_parse_coordinate(t, line, c + 1)
                       for c, t in enumerate(row[1:])])
    points = np.asarray(values, np.float64).reshape(len(names), k, 2)
    mask = np.all(np.isfinite(points), axis=-1)
    points = np.where(mask[..., None], points, 0.0)
    return names, points.astype(np.float32), mask.astype(np.float32)


@kzoo_export("kzoo.data.load_keypoints_csv")
def load_keypoints_csv(csv_path, image_dir, limit=None):
    """A keypoint CSV and its images, decoded to `uint8` RGB in memory.

    Rows whose image file is absent or cannot be decoded are skipped and
    listed in `skipped` (never silently dropped).

    Args:
        csv_path: CSV in the layout of `read_keypoints_csv`.
        image_dir: folder holding the files named in its first column.
        limit: keep only the first `limit` rows (smoke runs). Defaults to
            `None`.

    Returns:
        A `kzoo.data.KeypointDataset`.

    Example:

    >>> ds = kzoo.data.load_keypoints_csv("fk/test_keypoints.csv", "fk/test")
    """
    from PIL import Image

    if limit is not None:
        limit = _check_positive_int(limit, "limit")
    names, points, mask = read_keypoints_csv(csv_path)
    if limit is not None:
        names, points, mask = names[:limit], points[:limit], mask[:limit]
    images, keep, skipped = [], [], []
    for i, name in enumerate(names):
        path = os.path.join(image_dir, name)
        try:
            with Image.open(path) as img:
                images.append(np.asarray(img.convert("RGB"), np.uint8))
        except (OSError, ValueError) as e:
            skipped.append((name, f"{type(e).__name__}: {e}"))
            continue
        keep.append(i)
    keep = np.asarray(keep, np.int64)
    return KeypointDataset(images, points[keep], mask[keep],
                           [names[i] for i in keep], skipped)


FACIAL_KEYPOINTS_SPLITS = {
    "train": ("training", "training_keypoints.csv"),
    "test": ("test", "test_keypoints.csv"),
}


def resolve_facial_keypoints_dir(data_dir=None):
    """The `facial_keypoints` folder from `data_dir` or `KZOO_DATA_DIR`.

    `data_dir` may be the folder itself (it holds `training_keypoints.csv`)
    or a datasets root holding `facial_keypoints/`.

    Raises:
        DataUnavailableError: neither is set, or the folder is not there.
    """
    root = data_dir or os.environ.get("KZOO_DATA_DIR")
    if not root:
        raise DataUnavailableError(
            "the facial keypoints data is not downloadable here: pass "
            "--data-dir (the facial_keypoints folder, or a datasets root "
            "holding facial_keypoints/) or set KZOO_DATA_DIR.")
    root = os.path.expanduser(root)
    marker = FACIAL_KEYPOINTS_SPLITS["train"][1]
    for candidate in (root, os.path.join(root, "facial_keypoints")):
        if os.path.isfile(os.path.join(candidate, marker)):
            return candidate
    raise DataUnavailableError(
        f"{root} is neither a facial_keypoints folder (no {root}/{marker}) "
        f"nor a datasets root with {root}/facial_keypoints/{marker}; pass "
        "--data-dir.")


@kzoo_export("kzoo.data.load_facial_keypoints")
def load_facial_keypoints(split="train", data_dir=None, limit=None):
    """The 68-point facial keypoints of YouTube Faces frames (Udacity).

    Layout: `training/*.jpg`, `test/*.jpg`, `training_keypoints.csv`,
    `test_keypoints.csv` (`file, x0, y0, ..., x67, y67` in pixels, the
    iBUG 68-point markup); 3,462 training and 770 test faces.

    Args:
        split: `"train"` or `"test"`. Defaults to `"train"`.
        data_dir: the folder or a datasets root; `None` reads
            `KZOO_DATA_DIR`. Defaults to `None`.
        limit: keep only the first `limit` faces. Defaults to `None`.

    Returns:
        A `kzoo.data.KeypointDataset`.

    Example:

    >>> test = kzoo.data.load_facial_keypoints("test", "../shared/datasets")
    """
    if split not in FACIAL_KEYPOINTS_SPLITS:
        raise ValueError("`split` must be 'train' or 'test'. "
                         f"Received: split={split!r}")
    folder = resolve_facial_keypoints_dir(data_dir)
    sub, csv_name = FACIAL_KEYPOINTS_SPLITS[split]
    return load_keypoints_csv(os.path.join(folder, csv_name),
                              os.path.join(folder, sub), limit)


@kzoo_export("kzoo.data.person_of")
def person_of(file_name):
    """The person of a YouTube Faces frame: `Luis_Fonsi_21.jpg` ->
    `Luis_Fonsi` (the name without the trailing `_<video><frame>`)."""
    stem = os.path.splitext(os.path.basename(file_name))[0]
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


@kzoo_export("kzoo.data.held_out_people")
def held_out_people(file_names, fraction, seed=0):
    """The people held out of training: a fixed `fraction` of the people.

    `facial_keypoints`' published test split holds other frames of the
    training videos (see its README), so a figure on people never seen in
    training needs a split by person. The people of `file_names` (every
    folder's names together, so a person is on one side in all of them) are
    sorted and permuted with `seed`; the first `round(fraction * people)`
    are held out. With the default `seed=0` the set does not depend on a
    run's own `--seed`: every run and every re-measure holds out the same
    people.

    Args:
        file_names: image file names (`<Person_Name>_<v><f>.jpg`).
        fraction: fraction of the people to hold out, in `[0, 1)`.
        seed: permutation seed. Defaults to `0`.

    Returns:
        A sorted list of person names.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError("`fraction` must be in [0, 1). Received: "
                         f"fraction={fraction!r}")
    people = sorted({person_of(f) for f in file_names})
    count = int(round(len(people) * fraction))
    order = np.random.default_rng(seed).permutation(len(people))
    return sorted(people[i] for i in order[:count])


@kzoo_export("kzoo.data.select_keypoints")
def select_keypoints(dataset, indices):
    """The faces `indices` of a `KeypointDataset` (a new one)."""
    indices = [int(i) for i in indices]
    return KeypointDataset([dataset.images[i] for i in indices],
                           dataset.keypoints[indices], dataset.mask[indices],
                           [dataset.file_names[i] for i in indices],
                           list(dataset.skipped))


@kzoo_export("kzoo.data.split_held_out_people")
def split_held_out_people(datasets, fraction, seed=0):
    """Splits several `KeypointDataset`s by `held_out_people`.

    Args:
        datasets: dict of name -> `KeypointDataset` (e.g. the `training/`
            and `test/` folders).
        fraction: fraction of the people held out.
        seed: permutation seed. Defaults to `0`.

    Returns:
        `(kept, held_out, people)`: dict of name -> the faces of the other
        people, one `KeypointDataset` of the held-out people's faces from
        every dataset (in `datasets`' order), and the held-out names.
    """
    names = [f for d in datasets.values() for f in d.file_names]
    people = set(held_out_people(names, fraction, seed))
    kept, parts = {}, []
    for key, d in datasets.items():
        out = [i for i, f in enumerate(d.file_names) if person_of(f) in people]
        keep = [i for i, f in enumerate(d.file_names)
                if person_of(f) not in people]
        kept[key] = select_keypoints(d, keep)
        parts.append(select_keypoints(d, out))
    held = KeypointDataset(
        [img for p in parts for img in p.images],
        np.concatenate([p.keypoints for p in parts]).astype("float32"),
        np.concatenate([p.mask for p in parts]).astype("float32"),
        [f for p in parts for f in p.file_names], [])
    return kept, held, sorted(people)
