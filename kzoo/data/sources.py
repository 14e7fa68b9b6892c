"""Dataset sources: image folders, TFDS and scikit-learn's digits.

Every source returns an `ArrayDataset` of decoded `uint8` images
`[N, H, W, 3]`, `int32` labels `[N]` and the class names, held in memory:
the decoded images are the cache, so each epoch costs no decoding.
"""

import collections
import concurrent.futures
import logging
import os
import threading
import warnings

import numpy as np

from kzoo._api import kzoo_export

logger = logging.getLogger("kzoo.data")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

ArrayDataset = kzoo_export("kzoo.data.ArrayDataset")(collections.namedtuple(
    "ArrayDataset", ["images", "labels", "class_names", "skipped"]
))
ArrayDataset.__doc__ = """Decoded images and labels of one split.

Fields:
    images: `uint8` array `[N, H, W, 3]`.
    labels: `int32` array `[N]`, indices into `class_names`.
    class_names: list of class names.
    skipped: list of `(path, reason)` for files that could not be decoded
        (empty when nothing was skipped).
"""


@kzoo_export("kzoo.data.DataUnavailableError")
class DataUnavailableError(RuntimeError):
    """A dataset could not be found locally nor downloaded.

    Recipes catch it and print its message (what to pass instead) rather
    than a traceback.
    """


@kzoo_export("kzoo.data.CorruptImageError")
class CorruptImageError(ValueError):
    """An image file could not be decoded (raised with `on_error="raise"`)."""


def _check_limit(limit):
    if limit is not None and (int(limit) != limit or limit < 1):
        raise ValueError(
            f"`limit` must be a positive integer or None. Received: limit={limit}"
        )


def _list_class_files(split_dir):
    class_names = sorted(
        d for d in os.listdir(split_dir)
        if os.path.isdir(os.path.join(split_dir, d)) and not d.startswith(".")
    )
    if not class_names:
        raise DataUnavailableError(
            f"No class folders in {split_dir}: expected "
            f"{split_dir}/<class_name>/<image files>."
        )
    files = []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(split_dir, name)
        for fname in sorted(os.listdir(class_dir)):
            if fname.lower().endswith(IMAGE_EXTENSIONS):
                files.append((os.path.join(class_dir, fname), label))
    return class_names, files


def _decode(path, image_size):
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        if image_size is not None and img.size != (image_size[1], image_size[0]):
            img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


@kzoo_export("kzoo.data.load_image_folder")
def load_image_folder(
    directory,
    split="train",
    image_size=None,
    limit=None,
    class_names=None,
    on_error="skip",
    num_workers=None,
):
    """Loads `directory/<split>/<class_name>/*.jpg` into memory.

    Files are read in sorted order (classes sorted by name, files sorted
    within a class). With `limit`, the files are first interleaved class by
    class (round-robin) and the first `limit` are kept, so a small limit
    still covers every class.

    Args:
        directory: root folder holding one sub-folder per split.
        split: split folder name. Defaults to `"train"`.
        image_size: `(height, width)` to resize every image to. `None` keeps
            the size of the files and requires them all to be the same.
            Defaults to `None`.
        limit: keep only the first `limit` examples. Defaults to `None`.
        class_names: the class list to index labels by (pass the train
            split's names when loading the test split). `None` uses the
            sorted sub-folder names. Defaults to `None`.
        on_error: `"skip"` skips an unreadable or corrupt image, counts it
            and emits one warning naming the files; `"raise"` stops with a
            `CorruptImageError` naming the file. Defaults to `"skip"`.
        num_workers: decoding threads. Defaults to `None` (Python's
            default for thread pools).

    Returns:
        An `ArrayDataset` (images, labels, class_names, skipped).

    Example:

    >>> ds = kzoo.data.load_image_folder("../shared/datasets/cifar10", "test",
    ...                                  limit=100)
    >>> ds.images.shape
    (100, 32, 32, 3)
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(
            f"`on_error` must be 'skip' or 'raise'. Received: on_error={on_error}"
        )
    _check_limit(limit)
    split_dir = os.path.join(directory, split)
    if not os.path.isdir(split_dir):
        raise DataUnavailableError(
            f"No '{split}' folder in {directory}: expected "
            f"{directory}/{split}/<class_name>/<image files>."
        )
    found_names, files = _list_class_files(split_dir)
    if class_names is None:
        class_names = found_names
    else:
        class_names = list(class_names)
        unknown = sorted(set(found_names) - set(class_names))
        if unknown:
            raise ValueError(
                f"{split_dir} has classes not in `class_names`: {unknown}. "
                f"Received: class_names={class_names}"
            )
        index = {name: i for i, name in enumerate(class_names)}
        files = [(p, index[found_names[l]]) for p, l in files]
    if limit is not None:
        # Interleave classes (round-robin) so a small limit covers them all.
        by_class = collections.defaultdict(list)
        for path, label in files:
            by_class[label].append((path, label))
        order = []
        queues = [by_class[k] for k in sorted(by_class)]
        depth = max(len(q) for q in queues)
        for i in range(depth):
            for q in queues:
                if i < len(q):
                    order.append(q[i])
        files = order[:limit]
    if not files:
        raise DataUnavailableError(f"No image files under {split_dir}.")

    def work(item):
        path, label = item
        try:
            return _decode(path, image_size), label, None
        except Exception as e:  # PIL raises several types for bad files.
            return None, label, f"{type(e).__name__}: {e}"

    with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
        results = list(pool.map(work, files))

    images, labels, skipped = [], [], []
    for (path, _), (img, label, err) in zip(files, results):
        if err is None and images and img.shape != images[0].shape:
            err = (
                f"image shape {img.shape} differs from {images[0].shape}; "
                "pass image_size=(H, W) to resize"
            )
        if err is not None:
            if on_error == "raise":
                raise CorruptImageError(f"Cannot use image {path}: {err}")
            skipped.append((path, err))
            continue
        images.append(img)
        labels.append(label)
    if skipped:
        shown = "; ".join(f"{p} ({e})" for p, e in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(
            f"kzoo.data: skipped {len(skipped)} of {len(files)} files in "
            f"{split_dir} that could not be used: {shown}{more}",
            stacklevel=2,
        )
    if not images:
        raise DataUnavailableError(f"No readable images under {split_dir}.")
    return ArrayDataset(
        np.stack(images),
        np.asarray(labels, dtype=np.int32),
        list(class_names),
        skipped,
    )


_OFFLINE_HINT = (
    "If this machine is offline, pass --data-dir DIR (or set KZOO_DATA_DIR) "
    "pointing at an image folder laid out DIR/train/<class>/*.jpg and "
    "DIR/test/<class>/*.jpg."
)


def _check_download_hosts(name, builder, timeout=10.0):
    """Fails fast when the dataset's download hosts do not resolve.

    TFDS retries a failed download for minutes; an offline machine should get
    the message at once.
    """
    import socket
    import urllib.parse

    urls = list(getattr(builder, "url_infos", None) or {})
    hosts = sorted({urllib.parse.urlparse(u).hostname for u in urls} - {None})
    for host in hosts:
        result = {}

        def resolve(host=host):
            try:
                socket.getaddrinfo(host, 443)
                result["ok"] = True
            except OSError as e:
                result["error"] = e

        thread = threading.Thread(target=resolve, daemon=True)
        thread.start()
        thread.join(timeout)
        if not result.get("ok"):
            reason = result.get("error", f"no answer in {timeout:.0f} s")
            raise DataUnavailableError(
                f"Cannot download TFDS dataset '{name}': its host {host} is "
                f"unreachable ({reason}). " + _OFFLINE_HINT
            )


@kzoo_export("kzoo.data.load_tfds")
def load_tfds(name, split="train", data_dir=None, limit=None, download=True):
    """Loads a TFDS image classification dataset into memory.

    Args:
        name: TFDS name, e.g. `"cifar10"`.
        split: split name. Defaults to `"train"`.
        data_dir: TFDS data directory. Defaults to `None` (TFDS' default,
            `~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
        limit: keep only the first `limit` examples. Defaults to `None`.
        download: allow TFDS to download and prepare the dataset when it is
            not already prepared. Defaults to `True`.

    Returns:
        An `ArrayDataset`.

    Raises:
        DataUnavailableError: the dataset is not prepared and cannot be
            downloaded (e.g. offline), with a message saying what to pass
            instead.
    """
    _check_limit(limit)
    no_tfds = (
        f"TFDS dataset '{name}' needs tensorflow-datasets and TensorFlow, "
        "which are not both installed here. Pass --data-dir DIR (or set "
        "KZOO_DATA_DIR) pointing at an image folder laid out "
        "DIR/train/<class>/*.jpg and DIR/test/<class>/*.jpg.")
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        raise DataUnavailableError(no_tfds)
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DataUnavailableError(no_tfds) from e

    tfds_split = split if limit is None else f"{split}[:{int(limit)}]"
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        if not download:
            raise DataUnavailableError(
                f"TFDS dataset '{name}' is not prepared in "
                f"{builder.data_dir} and download=False."
            )
        _check_download_hosts(name, builder)
        try:
            builder.download_and_prepare()
        except Exception as e:
            raise DataUnavailableError(
                f"Could not download TFDS dataset '{name}' "
                f"({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
                + _OFFLINE_HINT
            ) from e
    ds = builder.as_dataset(split=tfds_split, as_supervised=True)
    images, labels = [], []
    for img, label in tfds.as_numpy(ds):
        images.append(img)
        labels.append(label)
    images = np.stack(images)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    class_names = builder.info.features["label"].names
    return ArrayDataset(
        images.astype(np.uint8), np.asarray(labels, np.int32), class_names, []
    )


@kzoo_export("kzoo.data.load_digits")
def load_digits(split="train", limit=None, image_size=32, test_fraction=0.2):
    """scikit-learn's 8x8 handwritten digits as 3-channel `uint8` images.

    The 1,797 images ship inside scikit-learn (no download). Pixel values
    0..16 are scaled to 0..255, upsampled to `image_size` (nearest
    neighbour) and repeated over 3 channels, so CIFAR backbones and
    pipelines run on them unchanged. The split is a fixed, stratified
    shuffle (seed 0): `test_fraction` of each class goes to `"test"`.

    Args:
        split: `"train"` or `"test"`. Defaults to `"train"`.
        limit: keep only the first `limit` examples. Defaults to `None`.
        image_size: output height and width. Defaults to `32`.
        test_fraction: fraction of each class in the test split. Defaults to
            `0.2`.

    Returns:
        An `ArrayDataset` with class names `"0"` ... `"9"`.
    """
    if split not in ("train", "test"):
        raise ValueError(
            f"`split` must be 'train' or 'test'. Received: split={split}"
        )
    _check_limit(limit)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as e:
        raise DataUnavailableError(
            "The digits dataset needs scikit-learn: pip install scikit-learn "
            "(or pip install 'kzoo[digits]')."
        ) from e
    data = sk_load_digits()
    rng = np.random.default_rng(0)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = np.flatnonzero(data.target == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        test_idx.extend(idx[:n_test])
        train_idx.extend(idx[n_test:])
    idx = np.asarray(sorted(train_idx if split == "train" else test_idx))
    rng.shuffle(idx)
    if limit is not None:
        idx = idx[:limit]
    images = (data.images[idx] * (255.0 / 16.0)).round().astype(np.uint8)
    reps = int(np.ceil(image_size / 8))
    images = np.kron(images, np.ones((1, reps, reps), np.uint8))
    images = images[:, :image_size, :image_size]
    images = np.repeat(images[..., None], 3, axis=-1)
    return ArrayDataset(
        images, data.target[idx].astype(np.int32), [str(i) for i in range(10)], []
    )


@kzoo_export("kzoo.data.resolve_data_dir")
def resolve_data_dir(data_dir, dataset, marker="train"):
    """Finds the folder of `dataset` from `--data-dir` / `KZOO_DATA_DIR`.

    `data_dir` (or, when it is `None`, the `KZOO_DATA_DIR` environment
    variable) may be the dataset folder itself (it holds `marker`) or a root
    of several datasets (it holds `<dataset>/<marker>`). Returns the dataset
    folder, or `None` when neither is set.

    Args:
        data_dir: dataset folder or datasets root; `None` reads
            `KZOO_DATA_DIR`.
        dataset: name of the dataset's sub-folder of a datasets root.
        marker: sub-path (folder or file) that identifies a dataset
            folder: `"train"` for image folders, `"Annotations"` for Pascal
            VOC folders (see `kzoo.data.load_voc`), `"metadata.csv"` for
            spoken words. Defaults to `"train"`.

    Example:

    >>> root = kzoo.data.resolve_data_dir(None, "bccd", marker="Annotations")
    """
    root = data_dir or os.environ.get("KZOO_DATA_DIR")
    if not root:
        return None
    root = os.path.expanduser(root)
    if os.path.exists(os.path.join(root, marker)):
        return root
    candidate = os.path.join(root, dataset)
    if os.path.exists(os.path.join(candidate, marker)):
        return candidate
    raise DataUnavailableError(
        f"{root} is neither a {dataset} folder (no {root}/{marker}/) nor a "
        f"datasets root with {candidate}/{marker}/."
    )


@kzoo_export("kzoo.data.load_dataset")
def load_dataset(
    dataset="cifar10", split="train", data_dir=None, limit=None, **kwargs
):
    """Loads a split by name, the way every recipe does.

    * `dataset="digits"`: scikit-learn's digits (embedded, no download);
    * otherwise, with `data_dir` or `KZOO_DATA_DIR` set: the image folder
      (see `resolve_data_dir`); class names come from the train split;
    * otherwise: TFDS `dataset` (downloaded on first use).

    Args:
        dataset: `"digits"` or a TFDS name. Defaults to `"cifar10"`.
        split: `"train"` or `"test"`. Defaults to `"train"`.
        data_dir: image folder or datasets root. Defaults to `None`.
        limit: keep only the first `limit` examples. Defaults to `None`.
        **kwargs: passed to the underlying loader.

    Returns:
        An `ArrayDataset`.
    """
    if dataset == "digits":
        return load_digits(split, limit=limit, **kwargs)
    folder = resolve_data_dir(data_dir, dataset)
    if folder is not None:
        class_names = None
        if split != "train" and os.path.isdir(os.path.join(folder, "train")):
            class_names = sorted(
                d for d in os.listdir(os.path.join(folder, "train"))
                if os.path.isdir(os.path.join(folder, "train", d))
            )
        return load_image_folder(
            folder, split, limit=limit, class_names=class_names, **kwargs
        )
    return load_tfds(dataset, split, limit=limit, **kwargs)
