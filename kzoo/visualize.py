"""Drawing detections on images (Pillow only, no plotting library).

- `kzoo.visualize.draw_detections`: one image with true and predicted boxes.
- `kzoo.visualize.save_detection_grid`: several of them tiled into one PNG.
- `kzoo.visualize.save_image_grid`: rows of images (samples,
  reconstructions) tiled into one PNG.
- `kzoo.visualize.save_pair_grid`: verification pairs side by side with
  their distance and the decision of a threshold.
"""

import numpy as np

# One colour per class index (cycled), for predicted boxes; true boxes are
# drawn in TRUE_COLOR, thinner, so both stay readable where they overlap.
PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60))
TRUE_COLOR = (255, 255, 255)


def _as_image(image):
    from PIL import Image

    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        return Image.open(image).convert("RGB")
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError("`image` must be a path or an `[H, W, 3]` array. "
                         f"Received: image.shape={array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def _rows(boxes, classes, scores=None):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1).astype(np.int64)
    if len(classes) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(classes)} classes. "
                         f"Received: classes.shape={classes.shape}")
    keep = classes >= 0  # -1 marks padding
    if scores is None:
        return boxes[keep], classes[keep], None
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    return boxes[keep], classes[keep], scores[keep]


def draw_detections(image, detections=None, ground_truth=None,
                    class_names=None, line_width=2):
    """Draws true boxes (white) and predicted boxes (class colour, score).

    Args:
        image: a path or a `uint8` `[H, W, 3]` array.
        detections: dict with `boxes` `[N, 4]` (`xyxy` pixels of `image`),
            `classes` `[N]` (-1 rows are padding and skipped) and `scores`
            `[N]`, or `None`. Defaults to `None`.
        ground_truth: dict with `boxes` and `classes`, or `None`. Defaults
            to `None`.
        class_names: names of the class indices, or `None` for the indices.
            Defaults to `None`.
        line_width: width of the predicted boxes; true boxes are drawn one
            pixel thinner (at least 1). Defaults to `2`.

    Returns:
        A `PIL.Image.Image` (RGB).

    Example:

    >>> kzoo.visualize.draw_detections(
    ...     "cells.jpg", {"boxes": [[10, 10, 50, 40]], "classes": [1],
    ...                   "scores": [0.9]}, class_names=["WBC", "RBC"])
    """
    from PIL import ImageDraw

    canvas = _as_image(image).copy()
    draw = ImageDraw.Draw(canvas)

    def name(c):
        return str(class_names[c]) if class_names is not None else str(c)

    if ground_truth is not None:
        boxes, classes, _ = _rows(ground_truth["boxes"], ground_truth["classes"])
        for box in boxes:
            draw.rectangle([float(v) for v in box], outline=TRUE_COLOR,
                           width=max(1, line_width - 1))
    if detections is not None:
        boxes, classes, scores = _rows(detections["boxes"],
                                       detections["classes"],
                                       detections.get("scores"))
        for i, (box, c) in enumerate(zip(boxes, classes)):
            color = PALETTE[int(c) % len(PALETTE)]
            draw.rectangle([float(v) for v in box], outline=color,
                           width=line_width)
            label = name(c) if scores is None else f"{name(c)} {scores[i]:.2f}"
            x, y = float(box[0]), max(0.0, float(box[1]) - 11)
            draw.text((x + 2, y), label, fill=color)
    return canvas


def save_detection_grid(path, images, detections=None, ground_truth=None,
                        class_names=None, columns=3):
    """Tiles `draw_detections` of several images into one PNG at `path`.

    Args:
        path: output file (PNG).
        images: list of paths or `uint8` arrays.
        detections: list (one per image) of detection dicts, or `None`.
            Defaults to `None`.
        ground_truth: list of ground-truth dicts, or `None`. Defaults to
            `None`.
        class_names: class names, or `None`. Defaults to `None`.
        columns: images per row. Defaults to `3`.

    Returns:
        `path`.
    """
    from PIL import Image

    images = list(images)
    if not images:
        raise ValueError("`images` is empty. Received: images=[]")
    for what, items in (("detections", detections),
                        ("ground_truth", ground_truth)):
        if items is not None and len(items) != len(images):
            raise ValueError(
                f"`{what}` must have one entry per image ({len(images)}). "
                f"Received: len({what})={len(items)}")
    tiles = [
        draw_detections(image,
                        None if detections is None else detections[i],
                        None if ground_truth is None else ground_truth[i],
                        class_names)
        for i, image in enumerate(images)]
    width = max(t.width for t in tiles)
    height = max(t.height for t in tiles)
    columns = max(1, min(int(columns), len(tiles)))
    rows = -(-len(tiles) // columns)
    grid = Image.new("RGB", (columns * width, rows * height), (0, 0, 0))
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % columns) * width, (i // columns) * height))
    grid.save(path)
    return path


def save_image_grid(path, rows, scale=1, padding=2):
    """Tiles rows of images into one PNG at `path` (Pillow only).

    Each row is an array `[N, H, W, C]` (C = 1 or 3) of pixels in
    `[0, 1]` (floats) or `[0, 255]` (`uint8`); rows may differ in length.
    Used to show a generative model's samples and reconstructions
    (`recipes/vae_cifar.py`).

    Args:
        path: output file (PNG).
        rows: list of image arrays, one per row of the grid.
        scale: integer upscaling of every image (nearest). Defaults to `1`.
        padding: pixels between images. Defaults to `2`.

    Returns:
        `path`.
    """
    from PIL import Image

    arrays = []
    for row in rows:
        row = np.asarray(row)
        if row.ndim != 4 or row.shape[-1] not in (1, 3) or len(row) == 0:
            raise ValueError(
                "Each row must be a non-empty `[N, H, W, 1 or 3]` array. "
                f"Received: row.shape={row.shape}")
        if row.dtype != np.uint8:
            row = np.clip(np.round(row.astype("float64") * 255), 0, 255)
            row = row.astype(np.uint8)
        if row.shape[-1] == 1:
            row = np.repeat(row, 3, axis=-1)
        arrays.append(row)
    if not arrays:
        raise ValueError("`rows` is empty. Received: rows=[]")
    scale = max(1, int(scale))
    h = max(r.shape[1] for r in arrays) * scale
    w = max(r.shape[2] for r in arrays) * scale
    columns = max(len(r) for r in arrays)
    grid = Image.new("RGB", (columns * (w + padding) + padding,
                             len(arrays) * (h + padding) + padding),
                     (255, 255, 255))
    for i, row in enumerate(arrays):
        for j, image in enumerate(row):
            tile = Image.fromarray(image)
            if scale > 1:
                tile = tile.resize((tile.width * scale, tile.height * scale),
                                   Image.NEAREST)
            grid.paste(tile, (padding + j * (w + padding),
                              padding + i * (h + padding)))
    grid.save(path)
    return path


def save_pair_grid(path, first, second, distances, similar, threshold=None,
                   scale=2, columns=4):
    """Draws verification pairs with their distances into one PNG at `path`.

    Each cell shows the two images of a pair side by side and, under them,
    the distance, whether the pair is truly similar ("same") or not
    ("diff"), and, with a `threshold`, the decision (`d <= threshold`:
    similar); the cell's frame is green where the decision is right, red
    where it is wrong (grey without a threshold). Pillow only.

    Args:
        path: output file (PNG).
        first: `uint8` array `[P, H, W, 3]`, the pairs' first images.
        second: `uint8` array `[P, H, W, 3]`, their second images.
        distances: float array `[P]`.
        similar: bool array `[P]`, the true answer of each pair.
        threshold: the decision threshold, or `None`. Defaults to `None`.
        scale: integer upscaling of the images (nearest). Defaults to `2`.
        columns: pairs per row. Defaults to `4`.

    Returns:
        `path`.
    """
    from PIL import Image
    from PIL import ImageDraw

    first, second = np.asarray(first), np.asarray(second)
    distances = np.asarray(distances, np.float64).reshape(-1)
    similar = np.asarray(similar, bool).reshape(-1)
    if (first.ndim != 4 or first.shape != second.shape or not len(first)
            or distances.shape != (len(first),)
            or similar.shape != (len(first),)):
        raise ValueError(
            "`first` and `second` must be non-empty `[P, H, W, 3]` arrays of "
            "one shape, `distances` and `similar` `[P]`. Received: "
            f"first.shape={first.shape}, second.shape={second.shape}, "
            f"distances.shape={distances.shape}, "
            f"similar.shape={similar.shape}")
    scale = max(1, int(scale))
    h, w = first.shape[1] * scale, first.shape[2] * scale
    border, text_h = 3, 14
    cell_w, cell_h = 2 * w + 3 * border, h + 2 * border + text_h
    columns = max(1, min(int(columns), len(first)))
    rows = (len(first) + columns - 1) // columns
    grid = Image.new("RGB", (columns * (cell_w + 4), rows * (cell_h + 4)),
                     (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for k in range(len(first)):
        r, c = divmod(k, columns)
        x0, y0 = c * (cell_w + 4) + 2, r * (cell_h + 4) + 2
        colour = (128, 128, 128)
        decision = ""
        if threshold is not None:
            said_similar = distances[k] <= threshold
            colour = (40, 160, 40) if said_similar == similar[k] else (
                210, 40, 40)
            decision = " -> same" if said_similar else " -> diff"
        draw.rectangle([x0, y0, x0 + cell_w - 1, y0 + cell_h - 1],
                       fill=colour)
        for j, image in enumerate((first[k], second[k])):
            tile = _as_image(image)
            if scale > 1:
                tile = tile.resize((w, h), Image.NEAREST)
            grid.paste(tile, (x0 + border + j * (w + border), y0 + border))
        truth = "same" if similar[k] else "diff"
        draw.text((x0 + border, y0 + h + border + 1),
                  f"d={distances[k]:.2f} {truth}{decision}",
                  fill=(255, 255, 255))
    grid.save(path)
    return path
