"""Faces with identities: crops of the facial keypoints data, by person.

The YouTube Faces frames of `facial_keypoints` carry their person and video
in the file name (`<Person_Name>_<v><f>.jpg`: video `v`, frame `f`), so
they serve face verification (FaceNet, Schroff et al. 2015) as well as
landmarks. Each face is cropped square around its 68 keypoints (the role
of FaceNet's face detector and alignment) and resized to one size.

NumPy and PIL only (no TensorFlow).
"""

import collections
import numbers
import os

import numpy as np

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo.data.keypoint_sources import load_facial_keypoints
from kzoo.data.keypoint_sources import person_of

FaceIdentities = kzoo_export("kzoo.data.FaceIdentities")(collections.namedtuple(
    "FaceIdentities", ["images", "people", "videos", "names", "file_names"]
))
FaceIdentities.__doc__ = """Face crops with their person and video.

Fields:
    images: `uint8` array `[N, S, S, 3]`, the square face crops.
    people: `int64` array `[N]`, an index into `names`.
    videos: `int64` array `[N]`, one id per (person, video): frames with
        the same id are near-duplicates (use them as retrieval groups and
        keep them out of positive verification pairs).
    names: sorted list of the person names.
    file_names: list of the `N` image file names.
"""


def video_of(file_name):
    """The video of a YouTube Faces frame: `Luis_Fonsi_21.jpg` ->
    `"Luis_Fonsi_2"` (the person and the first digit of the trailing
    `_<video><frame>`; a name without that suffix is its own video)."""
    stem = os.path.splitext(os.path.basename(file_name))[0]
    person, _, suffix = stem.rpartition("_")
    if not person or len(suffix) < 2 or not suffix.isdigit():
        return stem
    return f"{person}_{suffix[:-1]}"


@kzoo_export("kzoo.data.crop_faces")
def crop_faces(images, keypoints, mask=None, size=64, margin=0.25):
    """Square face crops around keypoints, resized to `size` x `size`.

    The crop is centred on the box of the visible keypoints, its side the
    box's longer side times `1 + margin` (68-point markups stop at the
    brows: the margin keeps the forehead and the chin). Pixels outside the
    image are black. Resampling is bicubic (PIL).

    Args:
        images: list of `uint8` arrays `[H_i, W_i, 3]`.
        keypoints: array `[N, K, 2]` of `(x, y)` pixel coordinates.
        mask: array `[N, K]`, 1 for a visible keypoint. Defaults to `None`
            (all visible).
        size: side of the crops in pixels. Defaults to `64`.
        margin: extra side, as a fraction of the keypoints' box. Defaults
            to `0.25`.

    Returns:
        A `uint8` array `[N, size, size, 3]`.

    Example:

    >>> fk = kzoo.data.load_facial_keypoints("train", "../shared/datasets")
    >>> faces = kzoo.data.crop_faces(fk.images, fk.keypoints, fk.mask, 64)
    """
    from PIL import Image

    size = check_positive_int(size, "size")
    if not (isinstance(margin, numbers.Real) and 0 <= margin <= 10):
        raise ValueError("`margin` must be a number in [0, 10]. "
                         f"Received: margin={margin!r}")
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2 \
            or keypoints.shape[0] != len(images):
        raise ValueError(
            "`keypoints` must be `[N, K, 2]` with N = len(images) = "
            f"{len(images)}. Received: keypoints.shape={keypoints.shape}")
    mask = (np.ones(keypoints.shape[:2], bool) if mask is None
            else np.asarray(mask) > 0)
    if mask.shape != keypoints.shape[:2]:
        raise ValueError(f"`mask` must be `[N, K]` = {keypoints.shape[:2]}. "
                         f"Received: mask.shape={mask.shape}")
    out = np.zeros((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        points = keypoints[i][mask[i] & np.all(np.isfinite(keypoints[i]), -1)]
        if len(points) < 2:
            raise ValueError(
                f"face {i} has fewer than 2 visible keypoints: no box to crop."
                f" Received: {len(points)} visible keypoints")
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
        side = max(x1 - x0, y1 - y0, 1.0) * (1.0 + margin)
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        box = tuple(int(round(v)) for v in (cx - side / 2, cy - side / 2,
                                            cx + side / 2, cy + side / 2))
        crop = Image.fromarray(np.asarray(image, np.uint8)).crop(box)
        out[i] = np.asarray(crop.resize((size, size), Image.BICUBIC))
    return out


@kzoo_export("kzoo.data.load_face_identities")
def load_face_identities(data_dir=None, size=64, margin=0.25, limit=None):
    """The faces of `facial_keypoints/training/`, cropped, with identities.

    Only the `training/` folder is read: every `test/` face is another
    frame of a `training/` video (see the dataset's README), which adds
    near-duplicates, not people. 3,462 faces of 347 people, 3 or 4 videos
    of 3 frames each per person. Split by person
    (`kzoo.data.held_out_people`) for a figure on unseen people.

    Args:
        data_dir: the folder or a datasets root; `None` reads
            `KZOO_DATA_DIR`. Defaults to `None`.
        size: side of the crops. Defaults to `64`.
        margin: see `crop_faces`. Defaults to `0.25`.
        limit: keep only the first `limit` faces. Defaults to `None`.

    Returns:
        A `kzoo.data.FaceIdentities`.

    Example:

    >>> faces = kzoo.data.load_face_identities("../shared/datasets", 64)
    >>> faces.images.shape, len(faces.names)
    ((3462, 64, 64, 3), 347)
    """
    source = load_facial_keypoints("train", data_dir, limit)
    if source.skipped:
        print(f"warning: {len(source.skipped)} faces skipped (unreadable "
              f"images), e.g. {source.skipped[0]}")
    images = crop_faces(source.images, source.keypoints, source.mask, size,
                        margin)
    people = [person_of(f) for f in source.file_names]
    names = sorted(set(people))
    index = {name: i for i, name in enumerate(names)}
    videos = [video_of(f) for f in source.file_names]
    video_ids = {v: i for i, v in enumerate(sorted(set(videos)))}
    return FaceIdentities(
        images, np.asarray([index[p] for p in people], np.int64),
        np.asarray([video_ids[v] for v in videos], np.int64), names,
        list(source.file_names))


@kzoo_export("kzoo.data.select_faces")
def select_faces(faces, people):
    """The faces of the given person names (a new `FaceIdentities`, the
    person ids re-numbered over the kept names)."""
    people = set(people)
    keep = [i for i, p in enumerate(faces.people) if faces.names[p] in people]
    names = sorted({faces.names[faces.people[i]] for i in keep})
    index = {name: i for i, name in enumerate(names)}
    return FaceIdentities(
        faces.images[keep],
        np.asarray([index[faces.names[faces.people[i]]] for i in keep],
                   np.int64),
        faces.videos[keep], names, [faces.file_names[i] for i in keep])
