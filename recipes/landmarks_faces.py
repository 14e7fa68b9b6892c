"""68 facial landmarks on YouTube Faces frames, with a small CNN from scratch.

Data: `facial_keypoints` (Udacity's extract of the YouTube Faces dataset):
3,462 training and 770 test faces, RGB JPEGs with the longer side 128 px
and 68 iBUG / 300-W landmarks per face in pixels (`--data-dir`: the folder,
or a datasets root holding `facial_keypoints/`; default `$KZOO_DATA_DIR`).
There is no download: without the folder the recipe exits with a message.

Pipeline (`kzoo.data`): every image is letterboxed once to `--image-size`
(aspect ratio kept, centred, black padding; keypoints mapped exactly), then
each training batch gets `kzoo.data.KeypointAugmentation`: zoom
`[0.9, 1.1]` + shift (a random crop), rotation up to `--max-rotation`
degrees, a horizontal flip with the 68-point left/right index swap, colour
jitter; keypoints follow every transform exactly. A validation split
(`--val-fraction` of the training *people*, grouped by file name, so no
person is in both) is held out for the logs.

Model (`build_model`): a small plain CNN (3x3 conv-BN-ReLU blocks, five
stride-2 stages, `--width` base filters), a top-down neck back to stride 8
(12x12 at 96 px) and `kzoo.layers.LandmarkHead` with `--head soft_argmax`:
one heatmap per point, each point the expectation of its heatmap's softmax
(integral regression; it learned in a few hundred steps where a dense
regression from the stride-32 features, `--head regression`, stayed at the
mean shape), giving 68 (x, y) normalised to the input, plus a presence
logit. Loss: `kzoo.losses.LandmarkLoss`, `--point-loss` (L1 by default;
smooth-L1, Wing (Feng et al., 2018) or L2, on coordinate differences in
input pixels) averaged over the visible points, plus the presence BCE
(`--presence-weight`). The data holds faces only, so presence is trained
on positives only and stays near 1: it is wired end to end, but is
meaningful only after training with negatives. AdamW with a cosine
learning-rate decay to 0.

Reported in metrics.json (on the test faces, in pixels of the original
images):

* `test_nme`: mean over faces of the mean point error divided by the
  inter-ocular distance (outer eye corners, points 36 and 45: 300-W's NME);
* `test_pck@0.1`: fraction of points within 0.1 inter-ocular distance;
* `test_failure_rate@0.1`: fraction of faces with NME > 0.1;
* the same for the baseline `mean_shape_*`: the mean training shape (in
  letterboxed, normalised coordinates) placed in every test image.

Also writes `test_landmarks.png` (test faces, true points green, predicted
red) and exports a SavedModel (`kzoo.export.export_landmark_model`): its
`serving_default` takes `uint8` images of any size `[B, H, W, 3]` (one size
per request), letterboxes them in the graph, and returns `landmarks` `[B, 68,
2]` in pixels of the input images and `presence` `[B]`.

Default budget: about 15 minutes on an idle 2-core CPU (11-13 expected):
`--epochs 25` of 97 steps (3,105 training faces after the validation
split, batch 32, 96 px) = 2,425 steps. Measured: 0.47 CPU-seconds per step,
2.7 steps/s on 2 cores shared with other jobs (load ~4), so about 3.5-4
steps/s on an idle machine (10-12 minutes of steps), plus about a minute of
loading, per-epoch validation, evaluation and export.

    python recipes/landmarks_faces.py --data-dir ../shared/datasets
    python recipes/landmarks_faces.py --data-dir ../shared/datasets \
        --point-loss wing --epochs 5
"""

import argparse
import os
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

DATASET = "facial_keypoints"
NAME = "landmarks_faces"
EPOCHS = 25
PNG_NAME = "test_landmarks.png"
TRUE_COLOR = (0, 230, 0)
PRED_COLOR = (255, 40, 40)
EVAL_BATCH_SIZE = 128


def fraction(text):
    """argparse type: a float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset=DATASET, datasets=(DATASET,), epochs=EPOCHS,
        batch_size=32, seed=0, output_dir=os.path.join("runs", NAME),
        model_name=NAME, reference="about 15 minutes on an idle 2-core CPU")
    for action in parser._actions:  # this recipe's data is not a TFDS set
        if action.dest == "data_dir":
            action.help = (
                "the facial_keypoints folder (training/, test/, "
                "training_keypoints.csv, test_keypoints.csv) or a datasets "
                "root holding it. Default: $KZOO_DATA_DIR (no download).")
        elif action.dest == "dataset":
            action.help = f"dataset. Default: {DATASET} (the only one)."
        elif action.dest == "limit":
            action.help = ("use only the first N faces of each split "
                           "(smoke runs).")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--image-size", type=runs.positive_int, default=96,
        help="side of the square letterboxed model input, pixels (the "
        "images are at most 128 px). Default: 96.")
    model.add_argument(
        "--width", type=runs.positive_int, default=24,
        help="filters of the first CNN stage (doubling per stage, capped at "
        "8x). Default: 24.")
    model.add_argument(
        "--head", choices=["soft_argmax", "regression"], default="soft_argmax",
        help="kzoo.layers.LandmarkHead method: 'soft_argmax' (heatmaps at "
        "stride 8 after a top-down neck, points = softmax expectations) or "
        "'regression' (dense layer on the flattened stride-32 features, "
        "starting at the mean training shape). Default: soft_argmax.")
    model.add_argument(
        "--dropout", type=fraction, default=0.0,
        help="dropout before the landmark head's outputs. Default: 0.")
    loss = parser.add_argument_group("loss")
    loss.add_argument(
        "--point-loss", choices=["l1", "smooth_l1", "wing", "l2"],
        default="l1",
        help="per-coordinate loss on the differences in input pixels "
        "(kzoo.losses.LandmarkLoss; smooth-L1 beta = 1 px, Wing w = 10, eps "
        "= 2 px). Default: l1 (best of the four in a 4-epoch check: test "
        "NME 0.128, smooth_l1 0.129, wing 0.142, l2 0.146).")
    loss.add_argument(
        "--presence-weight", type=runs.non_negative_float, default=0.1,
        help="weight of the presence BCE. Default: 0.1.")
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--learning-rate", type=runs.positive_float, default=2e-3,
                     help="AdamW peak learning rate (cosine decay to 0). "
                     "Default: 2e-3.")
    opt.add_argument("--weight-decay", type=runs.non_negative_float,
                     default=1e-4, help="AdamW weight decay. Default: 1e-4.")
    aug = parser.add_argument_group("augmentation")
    aug.add_argument("--augment", action=argparse.BooleanOptionalAction,
                     default=True, help="keypoint-aware augmentation "
                     "(--augment / --no-augment). Default: --augment.")
    aug.add_argument("--max-rotation", type=runs.non_negative_float,
                     default=15.0, help="largest random rotation, degrees. "
                     "Default: 15.")
    ev = parser.add_argument_group("evaluation")
    ev.add_argument("--holdout-people", type=fraction, default=0.2,
                    help="fraction of the people (of training/ and test/ "
                    "together) held out of training: all their faces in "
                    "both folders are the 'heldout_' evaluation, on people "
                    "never seen in training. A fixed permutation (seed 0, "
                    "not --seed: kzoo.data.held_out_people), so every run "
                    "holds out the same people. The published test/ split "
                    "holds other frames of the training videos (see the "
                    "data README): its 'test_' figures, on the test/ faces "
                    "of the other people, are optimistic. 0: none. "
                    "Default: 0.2.")
    ev.add_argument("--val-fraction", type=fraction, default=0.1,
                    help="fraction of the training people held out for "
                    "validation logs (0: none). Default: 0.1.")
    ev.add_argument("--png-faces", type=runs.positive_int, default=16,
                    help="test faces drawn in test_landmarks.png. "
                    "Default: 16.")
    args = parser.parse_args(argv)
    if args.image_size % 32:
        parser.error(f"--image-size must be a multiple of 32 (five stride-2 "
                     f"stages), got {args.image_size}")
    if args.max_rotation > 180:
        parser.error(f"--max-rotation must be <= 180, got {args.max_rotation}")
    return args


def person_of(file_name):
    """`Luis_Fonsi_21.jpg` -> `Luis_Fonsi` (YouTube Faces: name_frame)."""
    from kzoo.data import keypoints

    return keypoints.person_of(file_name)


def split_by_person(file_names, val_fraction, seed):
    """Indices `(train, val)`: `val_fraction` of the people to validation."""
    import numpy as np

    people = np.array([person_of(f) for f in file_names])
    unique = np.unique(people)
    rng = np.random.default_rng(seed)
    n_val = int(round(len(unique) * val_fraction))
    val_people = set(rng.permutation(unique)[:n_val].tolist())
    is_val = np.array([p in val_people for p in people], bool)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def build_model(image_size, width=24, num_landmarks=68, dropout=0.0,
                head="soft_argmax", neck_filters=96, initial_landmarks=None):
    """Plain CNN, a small top-down neck and `kzoo.layers.LandmarkHead`.

    On raw 0..255 pixels (rescaled inside). Backbone: five stages, each
    `Conv3x3(stride 2)-BN-ReLU` then `Conv3x3-BN-ReLU` (the first stage
    without its second block), filters `width * 2**i` capped at
    `8 * width`: strides 2 ... 32. With `head="soft_argmax"` a top-down
    neck (FPN-like: upsample x2, add a 1x1 projection of the lateral
    stage, BN-ReLU, Conv3x3-BN-ReLU; `neck_filters` wide) brings the
    stride-32 features back to stride 8 (12x12 at 96 px), where the head's
    heatmaps live; `head="regression"` flattens the stride-32 features.
    """
    import keras
    from keras import layers

    from kzoo import layers as kz_layers
    from kzoo.layers import LandmarkHead

    def conv_bn_relu(x, filters, kernel, strides, name):
        x = layers.Conv2D(filters, kernel, strides=strides, padding="same",
                          use_bias=False, kernel_initializer="he_normal",
                          name=f"{name}_conv")(x)
        x = kz_layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    stages = []
    for stage in range(5):
        filters = width * min(2 ** stage, 8)
        x = conv_bn_relu(x, filters, 3, 2, f"stage{stage}_down")
        if stage:  # the full-resolution block would be the costliest
            x = conv_bn_relu(x, filters, 3, 1, f"stage{stage}_block")
        stages.append(x)
    if head == "soft_argmax":
        for level in (3, 2):  # stride 32 -> 16 -> 8
            x = layers.UpSampling2D(2, interpolation="bilinear",
                                    name=f"neck{level}_up")(x)
            x = layers.Conv2D(neck_filters, 1, use_bias=False,
                              name=f"neck{level}_top")(x)
            lateral = layers.Conv2D(neck_filters, 1, use_bias=False,
                                    name=f"neck{level}_lateral")(stages[level])
            x = layers.Add(name=f"neck{level}_add")([x, lateral])
            x = kz_layers.BatchNormalization(name=f"neck{level}_bn")(x)
            x = layers.ReLU(name=f"neck{level}_relu")(x)
            x = conv_bn_relu(x, neck_filters, 3, 1, f"neck{level}_block")
    outputs = LandmarkHead(num_landmarks, method=head, dropout=dropout,
                           initial_landmarks=(initial_landmarks
                                              if head == "regression" else None),
                           name="landmark_head")(x)
    return keras.Model(inputs, outputs, name="landmarks_cnn")


def make_loss(args):
    from kzoo import losses

    return losses.LandmarkLoss(point_loss=args.point_loss,
                               coordinate_scale=float(args.image_size),
                               presence_weight=args.presence_weight)


def predict_points(model, canvas, image_size):
    """Predicted points in pixels of the original images, `[N, K, 2]`."""
    import numpy as np

    from kzoo import data

    out = model.predict(canvas.images.astype("float32"),
                        batch_size=EVAL_BATCH_SIZE, verbose=0)
    points = out["landmarks"] * float(image_size)
    return np.asarray(data.unletterbox_keypoints(points, canvas.scale,
                                                 canvas.offset))


def mean_shape_points(mean_shape, canvas, image_size):
    """The baseline: the mean normalised training shape in every image."""
    import numpy as np

    from kzoo import data

    points = np.broadcast_to(mean_shape * float(image_size),
                             canvas.keypoints.shape).astype("float32")
    return np.asarray(data.unletterbox_keypoints(points, canvas.scale,
                                                 canvas.offset))


def draw_landmarks(image, true_points=None, predicted_points=None, mask=None,
                   scale=3, radius=1):
    """A PIL image, upscaled by `scale`, with true (green) and predicted
    (red) points drawn as dots at `(x, y) * scale` (continuous pixels)."""
    import numpy as np
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    for points, color in ((true_points, TRUE_COLOR),
                          (predicted_points, PRED_COLOR)):
        if points is None:
            continue
        for k, (x, y) in enumerate(np.asarray(points, np.float64)):
            if (mask is not None and mask[k] <= 0) or not np.isfinite([x, y]).all():
                continue
            cx, cy = x * scale, y * scale
            r = radius * scale / 2 + 0.5
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    return img


def save_landmark_grid(path, images, true_points, predicted_points, mask=None,
                       columns=4, scale=2):
    """Tiles `draw_landmarks` of several faces into one PNG at `path`."""
    from PIL import Image

    tiles = [draw_landmarks(img, true_points[i], predicted_points[i],
                            None if mask is None else mask[i], scale=scale)
             for i, img in enumerate(images)]
    if not tiles:
        raise ValueError("`images` must not be empty. Received: 0 images")
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles)
    columns = min(columns, len(tiles))
    rows = (len(tiles) + columns - 1) // columns
    grid = Image.new("RGB", (columns * cell_w, rows * cell_h), (40, 40, 40))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid.paste(tile, (c * cell_w + (cell_w - tile.width) // 2,
                          r * cell_h + (cell_h - tile.height) // 2))
    grid.save(path)
    return path


def main(argv=None):
    args = parse_args(argv)
    strategy, run = runs.open_run(args)

    import numpy as np

    from kzoo import data, eval as kz_eval

    load_start = time.time()
    train_all = data.load_facial_keypoints("train", args.data_dir, args.limit)
    test = data.load_facial_keypoints("test", args.data_dir, args.limit)
    for name, split in (("train", train_all), ("test", test)):
        if split.skipped:
            print(f"warning: {len(split.skipped)} {name} rows skipped "
                  f"(unreadable images), e.g. {split.skipped[0]}")
    heldout, heldout_people = None, []
    if args.holdout_people:
        kept, heldout, heldout_people = data.split_held_out_people(
            {"train": train_all, "test": test}, args.holdout_people)
        train_all, test = kept["train"], kept["test"]
        print(f"held out: {len(heldout_people)} people, "
              f"{len(heldout.images)} faces (never seen in training)")
    size = args.image_size
    train_canvas = data.letterbox_keypoint_dataset(train_all, size)
    test_canvas = data.letterbox_keypoint_dataset(test, size)
    heldout_canvas = (data.letterbox_keypoint_dataset(heldout, size)
                      if heldout is not None and len(heldout.images) else None)
    train_idx, val_idx = split_by_person(train_all.file_names,
                                         args.val_fraction, args.seed)
    if len(train_idx) == 0:
        raise SystemExit("error: --val-fraction leaves no training faces")
    num_landmarks = train_canvas.keypoints.shape[1]
    print(f"data: {len(train_idx)} train / {len(val_idx)} validation / "
          f"{len(test.images)} test faces, {num_landmarks} landmarks, "
          f"letterboxed to {size}x{size} in {time.time() - load_start:.1f}s")

    def subset(c, idx):
        return c.images[idx], c.keypoints[idx], c.mask[idx]

    x_tr, p_tr, m_tr = subset(train_canvas, train_idx)
    # The mean training shape, normalised to the input (visible points).
    counts = np.maximum(m_tr.sum(axis=0), 1.0)[:, None]
    mean_shape = (p_tr * m_tr[..., None]).sum(axis=0) / counts / size

    augment = (data.KeypointAugmentation(max_rotation=args.max_rotation)
               if args.augment else None)
    steps = runs.steps_per_epoch(len(train_idx), args.batch_size)
    train_ds = data.keypoint_dataset(
        x_tr, p_tr, m_tr, args.batch_size, augment=augment, shuffle=True,
        seed=args.seed, drop_remainder=True, epochs=args.epochs,
        initial_epoch=run.initial_epoch())
    val_ds = None
    if len(val_idx):
        val_ds = data.keypoint_dataset(*subset(train_canvas, val_idx),
                                       EVAL_BATCH_SIZE)

    with strategy.scope():
        model = build_model(size, args.width, num_landmarks, args.dropout,
                            head=args.head, initial_landmarks=mean_shape)
        model.compile(
            optimizer=runs.build_optimizer(args, steps, optimizer="adamw"),
            loss=make_loss(args),
            metrics={"landmarks": [kz_eval.NormalizedMeanError(),
                                   kz_eval.PercentageCorrectKeypoints(0.1)]},
            jit_compile=args.jit)
    print(f"model: {model.count_params():,} parameters, {steps} steps/epoch")

    fit_start = time.time()
    history = model.fit(train_ds, epochs=args.epochs, steps_per_epoch=steps,
                        validation_data=val_ds, callbacks=run.callbacks(),
                        verbose=run.verbose)
    fit_seconds = time.time() - fit_start

    metrics = {}
    evaluations = [("test_", test, test_canvas)]
    if heldout_canvas is not None:
        evaluations.insert(0, ("heldout_", heldout, heldout_canvas))
    drawn = None
    for split, faces, canvas in evaluations:
        predicted = predict_points(model, canvas, size)
        baseline = mean_shape_points(mean_shape, canvas, size)
        for prefix, points in ((split, predicted),
                               ("mean_shape_" + split, baseline)):
            m = kz_eval.landmark_metrics(faces.keypoints, points, faces.mask)
            metrics.update({prefix + k: v for k, v in m.items()})
            runs.print_metrics(prefix.rstrip("_"), m)
        drawn = drawn or (faces, predicted)

    png = run.path(PNG_NAME)
    faces, predicted = drawn  # the held-out people's faces when there are
    n = min(args.png_faces, len(faces.images))
    save_landmark_grid(png, faces.images[:n], faces.keypoints[:n],
                       predicted[:n], faces.mask[:n])
    print(f"landmark grid: {png}")

    summary = runs.fit_summary(history, fit_seconds, steps, args, strategy)
    metrics.update(summary)
    metrics.update({
        "dataset": DATASET,
        "normalizer": "inter-ocular distance: true outer eye corners, "
                      "points 36 and 45 (300-W)",
        "pck_rule": "error < 0.1 * inter-ocular distance, pooled over "
                    "visible points",
        "coordinates": "pixels of the original test images",
        "image_size": size,
        "point_loss": args.point_loss,
        "num_landmarks": int(num_landmarks),
        "train_images": int(len(train_idx)),
        "val_images": int(len(val_idx)),
        "test_images": int(len(test.images)),
        "heldout_images": int(len(heldout.images)) if heldout else 0,
        "heldout_people": heldout_people,
        "test_split_note": ("test_: the published test/ faces of the "
                            "training people (other frames of their "
                            "training videos: optimistic); heldout_: every "
                            "face of people never seen in training"),
        "steps_per_epoch": steps,
        "train_steps_per_second": (
            round(summary["epochs_run_in_this_process"] * steps / fit_seconds,
                  2) if summary["epochs_run_in_this_process"] else None),
        "parameters": int(model.count_params()),
        "landmarks_png": png,
    })
    # Off TensorFlow: a .keras file and the command exporting it.
    version_dir = run.export_model("landmarks", model, metrics,
                                   image_size=size)
    if version_dir:
        print(f"SavedModel: {version_dir} (uint8 images of any size -> "
              f"landmarks [B, {num_landmarks}, 2] in input pixels, presence)")
    run.finish(metrics)
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
