import os
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.data import detection as D
from tests.conftest import datasets_root
from tests.data.test_voc import _image
from tests.data.test_voc import _object
from tests.data.test_voc import write_voc

SEED = tf.constant([3, 4], tf.int64)
NO_JITTER = dict(jitter=(0.0, 0.0, 0.0, 0.0))


def _region(image, threshold=127.0):
    """Tight xyxy box (continuous coordinates) of pixels above `threshold`."""
    ys, xs = np.nonzero(np.asarray(image)[..., 0] > threshold)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def _rectangles(n, size, seed=0):
    """`n` black images with one white rectangle each, and its box."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.float32)
    boxes = np.zeros((n, 3, 4), np.float32)
    classes = np.full((n, 3), -1, np.int32)
    for i in range(n):
        x1, y1 = rng.integers(0, size - 12, 2)
        x2 = rng.integers(x1 + 8, size + 1)
        y2 = rng.integers(y1 + 8, size + 1)
        images[i, y1:y2, x1:x2] = 255.0
        boxes[i, 0] = [x1, y1, x2, y2]
        classes[i, 0] = i % 5
    return {"images": images, "boxes": boxes, "classes": classes}


# ---------------------------------------------------------------------------
# Letterbox.


def test_letterbox_geometry_by_hand():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:60, 40:120] = 255
    out, boxes, scale, offset = kzoo.data.letterbox(
        image, [[40.0, 20.0, 120.0, 60.0]], 50)
    # scale 50 / 200; content 25 x 50 at rows 12..36 (offset floor(25 / 2)).
    assert float(scale) == 0.25
    np.testing.assert_array_equal(offset, [0.0, 12.0])
    np.testing.assert_allclose(boxes, [[10.0, 17.0, 30.0, 27.0]])
    assert out.shape == (50, 50, 3) and out.dtype == tf.float32
    out = out.numpy()
    assert (out[:12] == 114).all() and (out[37:] == 114).all()
    reference = tf.image.resize(image.astype("float32"), (25, 50), antialias=True)
    np.testing.assert_allclose(out[12:37], reference, atol=1e-4)
    np.testing.assert_allclose(_region(out), boxes[0], atol=1.0)

    # Portrait, odd padding, custom pad value, no antialiasing.
    out, boxes, scale, offset = kzoo.data.letterbox(
        np.full((30, 11, 3), 7, np.uint8), [[0.0, 0.0, 11.0, 30.0]], 64,
        pad_value=0, antialias=False)
    # new size: 64 x floor(11 * 64 / 30 + 0.5) = 64 x 23; left offset 20.
    np.testing.assert_allclose(float(scale), 64 / 30)
    np.testing.assert_array_equal(offset, [20.0, 0.0])
    np.testing.assert_allclose(boxes, [[20.0, 0.0, 20.0 + 11 * 64 / 30, 64.0]],
                               rtol=1e-6)
    out = out.numpy()
    assert (out[:, 20:43] == 7).all()
    assert (out[:, :20] == 0).all() and (out[:, 43:] == 0).all()


def test_letterbox_images_in_tf_function_with_unknown_shapes():
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def serve(images):
        return kzoo.data.letterbox_images(images, 64)

    for h, w in ((48, 80), (90, 30), (64, 64)):
        batch = np.stack([_image(h, w, seed) for seed in range(3)])
        out, scale, offset = serve(tf.constant(batch))
        assert out.shape == (3, 64, 64, 3) and scale.shape == (3,)
        assert offset.shape == (3, 2)
        for i in range(3):
            ref, _, ref_scale, ref_offset = kzoo.data.letterbox(batch[i], [], 64)
            np.testing.assert_allclose(out[i], ref, atol=1e-3)
            assert float(scale[i]) == float(ref_scale)
            np.testing.assert_array_equal(offset[i], ref_offset)
    floats, _, _ = kzoo.data.letterbox_images(batch.astype("float32"), 64)
    np.testing.assert_allclose(floats, out, atol=1e-3)


def test_letterbox_serving_round_trip_through_a_saved_model(tmp_path):
    class Serve(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8),
            tf.TensorSpec([None, None, 4], tf.float32)])
        def __call__(self, images, boxes):
            x, scale, offset = kzoo.data.letterbox_images(images, 48)
            shape = tf.shape(images)
            boxes_lb = boxes * scale[:, None, None] + tf.tile(offset, [1, 2])[:, None]
            back = kzoo.data.unletterbox_boxes(boxes_lb, scale, offset,
                                               shape[1], shape[2])
            return x, back

    tf.saved_model.save(Serve(), str(tmp_path / "serve"))
    loaded = tf.saved_model.load(str(tmp_path / "serve"))
    images = np.stack([_image(30, 70, 0), _image(30, 70, 1)])
    boxes = tf.constant([[[1.0, 2.0, 50.0, 29.0]], [[0.0, 0.0, 70.0, 30.0]]])
    x, back = loaded(tf.constant(images), boxes)
    assert x.shape == (2, 48, 48, 3)
    np.testing.assert_allclose(back, boxes, atol=1e-4)
    ref, _, _, _ = kzoo.data.letterbox(images[1], [], 48)
    np.testing.assert_allclose(x[1], ref, atol=1e-3)


def test_unletterbox_round_trip_and_clipping():
    rng = np.random.default_rng(0)
    for h, w in ((480, 640), (333, 500), (100, 37)):
        xy = rng.uniform(0, 1, (20, 2, 2)) * [w, h]
        boxes = np.concatenate([xy.min(1), xy.max(1)], -1).astype("float32")
        _, lb_boxes, scale, offset = kzoo.data.letterbox(
            np.zeros((h, w, 3), np.uint8), boxes, 320)
        back = kzoo.data.unletterbox_boxes(lb_boxes, scale, offset, h, w)
        np.testing.assert_allclose(back, boxes, atol=1e-3)
    # Batched: [B, N, 4] with per-image scale / offset / size; boxes in the
    # padding are clipped to the image; zero padding rows stay zero.
    boxes = tf.constant([[[0.0, 40.0, 160.0, 120.0], [0, 0, 0, 0]],
                         [[10.0, 0.0, 400.0, 320.0], [0, 0, 0, 0]]])
    back = kzoo.data.unletterbox_boxes(
        boxes, [0.5, 0.8], [[0.0, 40.0], [0.0, 0.0]], [480, 400], [640, 400])
    np.testing.assert_allclose(
        back, [[[0, 0, 320, 160], [0, 0, 0, 0]],
               [[12.5, 0, 400, 400], [0, 0, 0, 0]]])


# ---------------------------------------------------------------------------
# Augmentation.


def test_flip_and_scale_geometry_by_hand():
    images = np.zeros((1, 64, 64, 3), np.float32)
    images[0, 20:40, 10:30] = 255.0
    batch = {"images": images, "boxes": [[[10.0, 20.0, 30.0, 40.0], [0, 0, 0, 0]]],
             "classes": [[2, -1]]}
    flip = kzoo.data.DetectionAugmentation(
        flip_probability=1.0, scale_range=(1, 1), translation=0.0, **NO_JITTER)
    out = flip(batch, SEED)
    np.testing.assert_allclose(out["boxes"], [[[34.0, 20.0, 54.0, 40.0], [0, 0, 0, 0]]])
    np.testing.assert_array_equal(out["classes"], [[2, -1]])
    np.testing.assert_allclose(out["images"], images[:, :, ::-1], atol=1e-4)

    half = kzoo.data.DetectionAugmentation(
        flip_probability=0.0, scale_range=(0.5, 0.5), translation=0.0, **NO_JITTER)
    out = half(batch, SEED)
    # x' = 0.5 * (x - 32) + 32.
    np.testing.assert_allclose(out["boxes"][0, 0], [21.0, 26.0, 31.0, 36.0])
    np.testing.assert_allclose(_region(out["images"][0]), [21, 26, 31, 36])
    assert float(out["images"][0, 0, 0, 0]) == 114.0  # fill outside the source

    boxes = D.affine_boxes(tf.constant([[[10.0, 20.0, 30.0, 40.0]]]), [True],
                           [2.0], [5.0], [-3.0], 64, 64)
    # x: -2 * (x - 32) + 32 + 5; y: 2 * (y - 32) + 32 - 3.
    np.testing.assert_allclose(boxes, [[[41.0, 5.0, 81.0, 45.0]]])


def test_identity_when_everything_disabled():
    batch = _rectangles(4, 48)
    aug = kzoo.data.DetectionAugmentation(
        flip_probability=0.0, scale_range=(1, 1), translation=0.0, **NO_JITTER)
    out = aug(batch, SEED)
    np.testing.assert_array_equal(out["images"], batch["images"])
    np.testing.assert_array_equal(out["boxes"], batch["boxes"])
    np.testing.assert_array_equal(out["classes"], batch["classes"])


def test_augmented_boxes_enclose_the_transformed_content():
    batch = _rectangles(64, 64)
    aug = kzoo.data.DetectionAugmentation(
        scale_range=(0.5, 1.6), translation=0.3, **NO_JITTER)
    kept = dropped = 0
    for seed in range(4):
        out = aug(batch, tf.constant([seed, 9], tf.int64))
        for i in range(64):
            region = _region(out["images"][i])
            cls = out["classes"][i].numpy()
            assert (cls[1:] == -1).all()
            if cls[0] == -1:
                dropped += 1
                np.testing.assert_array_equal(out["boxes"][i], 0.0)
                # What is left of the rectangle is under 25 % of its area.
                if region is not None:
                    x1, y1, x2, y2 = batch["boxes"][i, 0]
                    area = (region[2] - region[0]) * (region[3] - region[1])
                    assert area <= 0.25 * 2.56 * (x2 - x1) * (y2 - y1) + 64
                continue
            kept += 1
            assert cls[0] == i % 5
            np.testing.assert_allclose(out["boxes"][i, 0], region, atol=1.0)
    assert kept > 200 and dropped > 5


def test_filter_boxes_thresholds_and_compaction():
    ref = tf.constant([[[-30.0, 0, 10, 10], [-31.0, 0, 9, 10], [0, 0, 1.5, 10],
                        [0, 0, 0, 0], [5, 5, 70, 9]]])
    boxes, classes = D.filter_boxes(ref, tf.constant([[1, 2, 3, -1, 4]]), ref,
                                    64, 64, min_visibility=0.25, min_size=2.0)
    # Visible 100 / 400 = 0.25 is kept (>=); 90 / 400 and a 1.5 px side are
    # dropped; the clipped survivors move to the front.
    np.testing.assert_array_equal(classes, [[1, 4, -1, -1, -1]])
    np.testing.assert_allclose(boxes[0, :2], [[0, 0, 10, 10], [5, 5, 64, 9]])
    np.testing.assert_array_equal(boxes[0, 2:], 0.0)


def test_colour_jitter_changes_pixels_not_boxes():
    batch = _rectangles(8, 32)
    batch["images"] = np.random.default_rng(1).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    aug = kzoo.data.DetectionAugmentation(
        flip_probability=0.0, scale_range=(1, 1), translation=0.0,
        jitter=(0.4, 0.4, 0.7, 0.1))
    out = aug(batch, SEED)
    np.testing.assert_array_equal(out["boxes"], batch["boxes"])
    images = out["images"].numpy()
    assert images.min() >= 0.0 and images.max() <= 255.0
    changed = [not np.allclose(images[i], batch["images"][i], atol=1) for i in range(8)]
    assert all(changed)


def test_augmentation_is_deterministic_given_a_seed():
    batch = _rectangles(16, 48)
    aug = kzoo.data.DetectionAugmentation()
    a, b = aug(batch, SEED), aug(batch, SEED)
    for key in ("images", "boxes", "classes"):
        np.testing.assert_array_equal(a[key], b[key])
    c = aug(batch, tf.constant([5, 6], tf.int64))
    assert not np.array_equal(a["boxes"], c["boxes"])
    config = aug.get_config()
    assert kzoo.data.DetectionAugmentation.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="scale_range"):
        kzoo.data.DetectionAugmentation(scale_range=(1.5, 1.0))
    with pytest.raises(ValueError, match="flip_probability"):
        kzoo.data.DetectionAugmentation(flip_probability=2)


# ---------------------------------------------------------------------------
# Padded batches.


def _synthetic_voc(root, n=5, boxes_per_image=(2, 0, 4, 1, 3)):
    rng = np.random.default_rng(0)
    images = {}
    for i in range(n):
        h, w = (40, 60) if i % 2 else (50, 30)
        objects = []
        for k in range(boxes_per_image[i]):
            x1, y1 = rng.integers(0, 10, 2)
            side = 5 + 3 * k  # increasing areas
            objects.append(_object(("cat", "dog")[k % 2],
                                   (x1, y1, x1 + side, y1 + side)))
        images[f"im{i}"] = (_image(h, w, i), objects)
    root = write_voc(root, images, {"train": list(images)})
    return kzoo.data.load_voc(root, "train")


def test_detection_dataset_contract_and_order(tmp_path):
    voc = _synthetic_voc(tmp_path)
    ds = kzoo.data.detection_dataset(voc, image_size=32, batch_size=2,
                                     max_boxes=6, include_metadata=True)
    spec = ds.element_spec
    assert spec["images"].shape.as_list() == [None, 32, 32, 3]
    assert spec["images"].dtype == tf.float32
    assert spec["boxes"].shape.as_list() == [None, 6, 4]
    assert spec["classes"].shape.as_list() == [None, 6]
    assert spec["classes"].dtype == tf.int32
    batches = list(ds)
    assert [len(b["images"]) for b in batches] == [2, 2, 1]
    index = np.concatenate([b["index"] for b in batches])
    np.testing.assert_array_equal(index, np.arange(5))  # source order
    examples = list(voc.as_dataset())
    flat = [{k: b[k][j] for k in b} for b in batches for j in range(len(b["index"]))]
    for ex, got, n in zip(examples, flat, voc.num_boxes()):
        image, boxes, scale, offset = kzoo.data.letterbox(
            ex["image"], ex["boxes"], 32)
        np.testing.assert_allclose(got["images"], image, atol=1e-4)
        np.testing.assert_allclose(got["boxes"][:n], boxes, atol=1e-5)
        np.testing.assert_array_equal(got["classes"][:n], ex["classes"])
        np.testing.assert_array_equal(got["boxes"][n:], 0.0)
        np.testing.assert_array_equal(got["classes"][n:], -1)
        assert float(got["scale"]) == float(scale)
        np.testing.assert_array_equal(got["offset"], offset)
        np.testing.assert_array_equal(got["image_size"], ex["image"].shape[:2])
        back = kzoo.data.unletterbox_boxes(got["boxes"][:n], got["scale"],
                                           got["offset"], *ex["image"].shape[:2])
        np.testing.assert_allclose(back, ex["boxes"], atol=1e-3)
    # A second pass gives the same batches.
    again = list(ds)
    np.testing.assert_array_equal(again[1]["images"], batches[1]["images"])

    # The same pipeline from a tf.data source.
    from_source = list(kzoo.data.detection_dataset(
        voc.as_dataset(), image_size=32, batch_size=2, max_boxes=6))
    for a, b in zip(from_source, batches):
        for key in ("images", "boxes", "classes"):
            np.testing.assert_allclose(a[key], b[key], atol=1e-5)


def test_max_boxes_keeps_the_largest_with_a_counted_warning(tmp_path):
    voc = _synthetic_voc(tmp_path)
    with pytest.warns(UserWarning, match=r"2 images have more than "
                      r"max_boxes=2 boxes; dropped 3 smallest boxes: "
                      r"im2.png \(2\), im4.png \(1\)"):
        ds = kzoo.data.detection_dataset(voc, image_size=32, batch_size=5,
                                         max_boxes=2)
    batch = next(iter(ds))
    assert batch["boxes"].shape == (5, 2, 4)
    # im2 had boxes of sides 5, 8, 11, 14 (classes cat, dog, cat, dog): the
    # two largest remain, in their original order.
    np.testing.assert_array_equal(batch["classes"][2], [0, 1])
    _, expected, _, _ = kzoo.data.letterbox(tf.zeros([50, 30, 3]), voc.boxes[2][2:], 32)
    np.testing.assert_allclose(batch["boxes"][2], expected, atol=1e-5)
    # The tf.data path truncates the same way, in the graph.
    source = next(iter(kzoo.data.detection_dataset(
        voc.as_dataset(), image_size=32, batch_size=5, max_boxes=2)))
    np.testing.assert_allclose(source["boxes"], batch["boxes"], atol=1e-5)
    np.testing.assert_array_equal(source["classes"], batch["classes"])


def test_training_pipeline_is_seeded_and_static(tmp_path):
    voc = _synthetic_voc(tmp_path)

    def take(seed, n=4):
        ds = kzoo.data.detection_dataset(voc, image_size=32, batch_size=2,
                                         max_boxes=6, training=True, seed=seed,
                                         repeat=True)
        assert ds.element_spec["images"].shape.as_list() == [2, 32, 32, 3]
        return [b for b, _ in zip(ds, range(n))]

    a, b, c = take(0), take(0), take(1)
    for x, y in zip(a, b):
        for key in ("images", "boxes", "classes"):
            np.testing.assert_array_equal(x[key], y[key])
    assert not all(np.array_equal(x["images"], y["images"]) for x, y in zip(a, c))
    for batch in a:
        valid = batch["classes"].numpy() >= 0
        boxes = batch["boxes"].numpy()
        assert (boxes[~valid] == 0).all()
        assert (boxes[valid][:, 2:] > boxes[valid][:, :2]).all()
        assert boxes.min() >= 0 and boxes.max() <= 32
    with pytest.raises(ValueError, match="fewer than one batch"):
        kzoo.data.detection_dataset(voc, batch_size=8, training=True)
    with pytest.raises(TypeError, match="voc_or_source"):
        kzoo.data.detection_dataset([1, 2])
    with pytest.raises(ValueError, match="max_boxes"):
        kzoo.data.detection_dataset(voc, max_boxes=0)


# ---------------------------------------------------------------------------
# The real BCCD dataset.


@pytest.fixture(scope="module")
def bccd_train():
    path = os.path.join(datasets_root(), "bccd")
    if not os.path.isdir(os.path.join(path, "Annotations")):
        pytest.skip(f"BCCD VOC folder not found at {path} (set KZOO_DATA_DIR)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the degenerate box, tested elsewhere
        return kzoo.data.load_voc(path, "train")


def test_bccd_augmented_pass_gives_valid_boxes(bccd_train):
    ds = kzoo.data.detection_dataset(bccd_train, image_size=320, batch_size=8,
                                     max_boxes=32, training=True, seed=0)
    start = time.perf_counter()
    images = boxes_seen = 0
    for batch in ds:
        x = batch["images"].numpy()
        boxes = batch["boxes"].numpy()
        classes = batch["classes"].numpy()
        assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 255
        assert np.isfinite(boxes).all()
        assert boxes.min() >= 0 and boxes.max() <= 320
        valid = classes >= 0
        assert set(np.unique(classes)) <= {-1, 0, 1, 2}
        assert (boxes[~valid] == 0).all()
        v = boxes[valid]
        assert (v[:, 2] - v[:, 0] >= 2).all() and (v[:, 3] - v[:, 1] >= 2).all()
        # Valid rows come first.
        assert (np.diff(valid.astype(int), axis=1) <= 0).all()
        images += len(x)
        boxes_seen += valid.sum()
    elapsed = time.perf_counter() - start
    total = int(bccd_train.num_boxes().sum())
    assert images == 200  # 205 images, drop_remainder in training
    assert 0.7 * total < boxes_seen < total
    print(f"one augmented pass over BCCD train (320 px): {elapsed:.2f} s")
