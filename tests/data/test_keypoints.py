"""kzoo.data.keypoints: CSV reading, the 68-point mirror map, letterboxing
and augmentation whose keypoints follow the pixels exactly."""

import os

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from tests.conftest import datasets_root

PERM = kzoo.data.IBUG_68_FLIP_PERMUTATION


def facial_dir():
    path = os.path.join(datasets_root(), "facial_keypoints")
    if not os.path.isfile(os.path.join(path, "training_keypoints.csv")):
        pytest.skip(f"facial_keypoints not found at {path} (set KZOO_DATA_DIR)")
    return path


# ---------------------------------------------------------------------------
# The 68-point mirror map.


def test_ibug68_permutation_is_an_involution_with_the_standard_pairs():
    assert sorted(PERM) == list(range(68))
    assert all(PERM[PERM[i]] == i for i in range(68))
    pairs = {(0, 16), (1, 15), (7, 9), (17, 26), (21, 22), (31, 35),
             (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47),
             (41, 46), (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),
             (60, 64), (61, 63), (65, 67)}
    for a, b in pairs:
        assert PERM[a] == b and PERM[b] == a
    fixed = [i for i in range(68) if PERM[i] == i]
    assert fixed == [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]
    # every group maps onto itself
    groups = [range(0, 17), range(17, 27), range(27, 36), range(36, 48),
              range(48, 60), range(60, 68)]
    for g in groups:
        assert {PERM[i] for i in g} == set(g)
    # the left eye (36-41) maps onto the right eye (42-47)
    assert {PERM[i] for i in range(36, 42)} == set(range(42, 48))


def test_check_flip_permutation_rejects_non_mirror_maps():
    assert kzoo.data.check_flip_permutation("ibug68") == PERM
    with pytest.raises(ValueError, match="involution"):
        kzoo.data.check_flip_permutation([1, 2, 0])
    with pytest.raises(ValueError, match="each index"):
        kzoo.data.check_flip_permutation([0, 0, 1])
    with pytest.raises(ValueError, match="5 keypoints"):
        kzoo.data.check_flip_permutation([1, 0, 2], num_keypoints=5)
    with pytest.raises(ValueError, match="flip_permutation"):
        kzoo.data.KeypointAugmentation(flip_permutation=None)


def test_mirror_map_matches_the_geometry_of_the_mean_face():
    """On the mean training face, mirroring the points (x -> W - x) and
    permuting them lands each point near its partner: the map pairs the
    right points."""
    names, pts, mask = kzoo.data.read_keypoints_csv(
        os.path.join(facial_dir(), "training_keypoints.csv"))
    # centre each face on its eye-corner midpoint and scale by inter-ocular
    mid = (pts[:, 36] + pts[:, 45]) / 2
    d = np.linalg.norm(pts[:, 45] - pts[:, 36], axis=-1)
    shape = ((pts - mid[:, None]) / d[:, None, None]).mean(0)
    mirrored = shape * np.array([-1.0, 1.0])
    err = np.linalg.norm(mirrored[list(PERM)] - shape, axis=-1)
    assert err.max() < 0.12, err.argmax()
    # without the swap the mirrored left eye is far from the left eye
    assert np.linalg.norm(mirrored[36] - shape[36]) > 0.8


def flip_only(**kw):
    return kzoo.data.KeypointAugmentation(
        scale=(1.0, 1.0), max_shift=0.0, max_rotation=0.0,
        flip_probability=kw.pop("flip_probability", 1.0),
        jitter_probability=0.0, **kw)


def test_flipping_a_real_face_twice_restores_it_and_keeps_eyes_in_place():
    ds = kzoo.data.load_facial_keypoints("test", facial_dir(), limit=8)
    canvas = kzoo.data.letterbox_keypoint_dataset(ds, 96)
    x0 = canvas.images.astype("float32")
    p0, m0 = canvas.keypoints, canvas.mask
    flip = flip_only()
    x1, p1, m1 = flip(x0, p0, m0, tf.constant([1, 2]))
    x2, p2, m2 = flip(x1, p1, m1, tf.constant([3, 4]))
    np.testing.assert_allclose(x2, x0, atol=1e-3)
    np.testing.assert_allclose(p2, p0, atol=1e-4)
    np.testing.assert_array_equal(m2, m0)
    # once flipped: a mirror image with the points re-indexed
    np.testing.assert_allclose(x1, x0[:, :, ::-1], atol=1e-3)
    np.testing.assert_allclose(np.asarray(p1)[:, list(PERM), 0],
                               96.0 - p0[:, :, 0], atol=1e-4)
    for pts in (p0, np.asarray(p1)):
        # the image-left eye (36-41) and jaw start (0) stay on the image left
        assert np.all(pts[:, 36:42, 0].mean(1) < pts[:, 42:48, 0].mean(1))
        assert np.all(pts[:, 36, 0] < pts[:, 45, 0])
        assert np.all(pts[:, 0, 0] < pts[:, 16, 0])
        assert np.all(pts[:, 48, 0] < pts[:, 54, 0])


# ---------------------------------------------------------------------------
# Geometry: dots drawn at the keypoints stay under them.


def dot_image(size, points, colors=None, value=255.0):
    """An image with a 3x3 dot around each integer pixel; returns the image
    and the exact continuous centres of the dots."""
    img = np.zeros((size[0], size[1], 3), "float32")
    centres = []
    for k, (x, y) in enumerate(points):
        j, i = int(x), int(y)
        img[i - 1:i + 2, j - 1:j + 2] = value if colors is None else colors[k]
        centres.append((j + 0.5, i + 0.5))
    return img, np.asarray(centres, "float32")


def centroid(img, x, y, radius=4):
    """Intensity-weighted centroid of the dot near `(x, y)` (continuous)."""
    g = img.sum(-1)
    i0, j0 = int(np.floor(y)), int(np.floor(x))
    ii, jj = np.mgrid[i0 - radius:i0 + radius + 1, j0 - radius:j0 + radius + 1]
    ok = (ii >= 0) & (jj >= 0) & (ii < g.shape[0]) & (jj < g.shape[1])
    w = np.where(ok, g[np.clip(ii, 0, g.shape[0] - 1),
                       np.clip(jj, 0, g.shape[1] - 1)], 0.0)
    return (np.sum(w * (jj + 0.5)) / w.sum(), np.sum(w * (ii + 0.5)) / w.sum())


@pytest.mark.parametrize("hw", [(50, 30), (30, 50), (40, 40)])
def test_letterbox_moves_keypoints_with_the_pixels(hw):
    # well-separated dots on a jittered grid
    rng = np.random.default_rng(0)
    pts = np.array([(x + rng.integers(-1, 2), y + rng.integers(-1, 2))
                    for x in range(5, hw[1] - 4, 12)
                    for y in range(5, hw[0] - 4, 12)])
    img, centres = dot_image(hw, pts)
    out, moved, scale, offset = kzoo.data.letterbox_keypoints(img, centres, 64)
    out, moved = out.numpy(), moved.numpy()
    assert out.shape == (64, 64, 3)
    for k in range(len(moved)):
        assert centroid(out, *moved[k], radius=4) == pytest.approx(
            tuple(moved[k]), abs=0.15)
    # the longer side fills the canvas, the content is centred
    long_side = max(hw)
    assert float(scale.numpy().max()) == pytest.approx(64 / long_side)
    back = kzoo.data.unletterbox_keypoints(moved, scale, offset).numpy()
    np.testing.assert_allclose(back, centres, atol=1e-4)


def test_letterbox_of_a_batch_matches_single_images_and_pads():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 255, (2, 20, 40, 3)).astype("uint8")
    x, scale, offset = kzoo.data.letterbox_keypoint_images(batch, 32,
                                                           pad_value=7)
    single, _, s1, o1 = kzoo.data.letterbox_keypoints(batch[1], np.zeros(
        (1, 2)), 32, pad_value=7)
    np.testing.assert_allclose(x[1], single, atol=1e-4)
    np.testing.assert_allclose(scale[1], s1)
    np.testing.assert_allclose(offset, [[0.0, 8.0], [0.0, 8.0]])
    assert np.all(x.numpy()[:, :8] == 7) and np.all(x.numpy()[:, 24:] == 7)


def test_letterbox_keeps_missing_points_at_zero():
    _, pts, _, _ = kzoo.data.letterbox_keypoints(
        np.zeros((10, 20, 3)), [[5.0, 5.0], [0.0, 0.0]], 40,
        mask=[1.0, 0.0])
    np.testing.assert_allclose(pts.numpy(), [[10.0, 20.0], [0.0, 0.0]])


def test_warp_affine_identity_and_shift_are_exact():
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 255, (1, 12, 12, 3)).astype("float32")
    pts = np.array([[[3.5, 4.5]]], "float32")
    eye = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], "float32")
    out, p = kzoo.data.warp_affine(img, pts, eye)
    np.testing.assert_allclose(out, img, atol=1e-4)
    np.testing.assert_allclose(p, pts)
    shift = np.array([[[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]], "float32")
    out, p = kzoo.data.warp_affine(img, pts, shift, fill_value=9.0)
    np.testing.assert_allclose(out[0, :11, 2:], img[0, 1:, :10], atol=1e-4)
    assert np.all(out.numpy()[0, :, :2] == 9.0)
    np.testing.assert_allclose(p, [[[5.5, 3.5]]])


def test_random_augmentation_moves_keypoints_with_the_dots():
    """Zoom, shift, rotation and flip: every dot's centroid stays under its
    transformed keypoint, and after a flip point i carries the colour of
    the dot that was point perm[i]."""
    perm = (1, 0, 2, 4, 3)  # two mirror pairs and a point on the axis
    colors = np.eye(5, 3, dtype="float32") * 255 + np.array(
        [[0, 0, 0], [0, 0, 0], [0, 0, 0], [120, 120, 0], [0, 120, 120]],
        "float32")
    rng = np.random.default_rng(3)
    size, batch = 64, 12
    grid = np.array([(x, y) for x in (20, 32, 44) for y in (20, 32, 44)])
    images, centres = [], []
    for _ in range(batch):
        pts = grid[rng.permutation(9)[:5]]  # 5 dots >= 12 px apart
        img, c = dot_image((size, size), pts, colors)
        images.append(img)
        centres.append(c)
    images, centres = np.stack(images), np.stack(centres)
    augment = kzoo.data.KeypointAugmentation(
        scale=(0.8, 1.25), max_shift=0.05, max_rotation=30.0,
        flip_probability=0.5, flip_permutation=perm, jitter_probability=0.0)
    seed = tf.constant([5, 6])
    out, moved, mask = augment(images, centres, np.ones((batch, 5)), seed)
    out, moved = out.numpy(), moved.numpy()
    _, flipped = augment.matrices(batch, size, tf.random.experimental
                                  .stateless_split(tf.cast(seed, tf.int64),
                                                   2)[0])
    flipped = flipped.numpy()
    assert 0 < flipped.sum() < batch  # both cases are exercised
    for b in range(batch):
        for k in range(5):
            x, y = moved[b, k]
            assert centroid(out[b], x, y, radius=5) == pytest.approx(
                (x, y), abs=0.1)
            source = perm[k] if flipped[b] else k
            i, j = int(np.floor(y)), int(np.floor(x))
            pixel = out[b, i, j]
            expected = colors[source] / np.linalg.norm(colors[source])
            assert float(pixel @ expected / np.linalg.norm(pixel)) > 0.95
    # the same seed gives the same batch
    again = augment(images, centres, np.ones((batch, 5)), seed)
    np.testing.assert_array_equal(again[0].numpy(), out)


def test_augmentation_keeps_missing_points_missing_and_jitters_colour():
    augment = kzoo.data.KeypointAugmentation(
        flip_probability=1.0, flip_permutation=[1, 0, 2],
        jitter=(0.5, 0.0, 0.0, 0.0), jitter_probability=1.0)
    imgs = np.full((2, 16, 16, 3), 100.0, "float32")
    pts = np.array([[[4.0, 4.0], [0.0, 0.0], [8.0, 8.0]]] * 2, "float32")
    mask = np.array([[1.0, 0.0, 1.0]] * 2, "float32")
    x, p, m = augment(imgs, pts, mask, tf.constant([0, 1]))
    # point 0 was visible, point 1 missing: after the swap 1 is visible
    np.testing.assert_array_equal(m.numpy(), [[0.0, 1.0, 1.0]] * 2)
    np.testing.assert_array_equal(p.numpy()[:, 0], 0.0)
    centre = x.numpy()[:, 8, 8]
    assert not np.allclose(centre, 100.0)  # brightness changed
    assert np.all(x.numpy() >= 0) and np.all(x.numpy() <= 255.0 + 1e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale=(1.2, 0.9)), "scale="),
    (dict(max_shift=2.0), "max_shift=2.0"),
    (dict(max_rotation=-1.0), "max_rotation=-1.0"),
    (dict(flip_probability=1.5), "flip_probability=1.5"),
    (dict(jitter=(0.1, 0.1)), "jitter="),
])
def test_bad_augmentation_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}"):
        kzoo.data.KeypointAugmentation(**kwargs)


def test_augmentation_config_round_trip():
    a = kzoo.data.KeypointAugmentation(scale=(0.7, 1.2), flip_permutation=[
        1, 0], max_rotation=5.0, fill_value=3.0)
    b = kzoo.data.KeypointAugmentation.from_config(a.get_config())
    assert b.get_config() == a.get_config()


# ---------------------------------------------------------------------------
# Reading.


def write_csv(path, rows, k=3):
    header = "," + ",".join(str(i) for i in range(2 * k))
    with open(path, "w") as f:
        f.write(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_read_csv_missing_values_become_mask_zero_and_coordinates_zero(
        tmp_path):
    path = write_csv(tmp_path / "k.csv", [
        "a.jpg,1,2,3,4,5,6",
        "b.jpg,1,2,,,5,6",          # point 1 empty
        "c.jpg,nan,2,3,NaN,5.5,6",  # point 0: x NaN; point 1: y NaN
        "",
    ])
    names, pts, mask = kzoo.data.read_keypoints_csv(str(path))
    assert names == ["a.jpg", "b.jpg", "c.jpg"]
    assert pts.dtype == np.float32 and pts.shape == (3, 3, 2)
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(pts[1, 1], [0, 0])
    np.testing.assert_array_equal(pts[2], [[0, 0], [0, 0], [5.5, 6]])
    assert np.all(np.isfinite(pts))


def test_read_csv_errors(tmp_path):
    with pytest.raises(ValueError, match="line 2, column 2"):
        kzoo.data.read_keypoints_csv(str(write_csv(
            tmp_path / "a.csv", ["a.jpg,1,abc,3,4,5,6"])))
    with pytest.raises(ValueError, match="line 3: 4 fields"):
        kzoo.data.read_keypoints_csv(str(write_csv(
            tmp_path / "b.csv", ["a.jpg,1,2,3,4,5,6", "b.jpg,1,2,3"])))
    with pytest.raises(ValueError, match="infinite"):
        kzoo.data.read_keypoints_csv(str(write_csv(
            tmp_path / "c.csv", ["a.jpg,1,inf,3,4,5,6"])))
    odd = tmp_path / "d.csv"
    odd.write_text(",0,1,2\na.jpg,1,2,3\n")
    with pytest.raises(ValueError, match="even number"):
        kzoo.data.read_keypoints_csv(str(odd))
    with pytest.raises(ValueError, match="num_keypoints=68"):
        kzoo.data.read_keypoints_csv(str(write_csv(
            tmp_path / "e.csv", ["a.jpg,1,2,3,4,5,6"])), num_keypoints=68)


def test_load_csv_skips_and_counts_unreadable_images(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "a.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    path = write_csv(tmp_path / "k.csv", [
        "a.jpg,1,2,3,4,5,6", "bad.jpg,1,2,3,4,5,6", "gone.jpg,1,2,3,4,5,6"])
    ds = kzoo.data.load_keypoints_csv(str(path), str(tmp_path))
    assert ds.file_names == ["a.jpg"] and len(ds.images) == 1
    assert ds.images[0].shape == (6, 8, 3) and ds.images[0].dtype == np.uint8
    assert [s[0] for s in ds.skipped] == ["bad.jpg", "gone.jpg"]
    assert ds.keypoints.shape == (1, 3, 2)


def test_load_real_facial_keypoints():
    root = facial_dir()
    ds = kzoo.data.load_facial_keypoints("test", root, limit=5)
    assert len(ds.images) == 5 and not ds.skipped
    assert ds.keypoints.shape == (5, 68, 2) and ds.mask.min() == 1
    for img, pts in zip(ds.images, ds.keypoints):
        assert img.dtype == np.uint8 and img.shape[2] == 3
        assert max(img.shape[:2]) == 128
        assert np.all(pts >= 0) and np.all(pts[:, 0] <= img.shape[1])
        assert np.all(pts[:, 1] <= img.shape[0])
    # the datasets root works too
    again = kzoo.data.load_facial_keypoints("test", os.path.dirname(root),
                                            limit=5)
    np.testing.assert_array_equal(again.keypoints, ds.keypoints)


def test_missing_data_dir_is_a_data_unavailable_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KZOO_DATA_DIR", raising=False)
    with pytest.raises(kzoo.data.DataUnavailableError, match="--data-dir"):
        kzoo.data.load_facial_keypoints("train")
    with pytest.raises(kzoo.data.DataUnavailableError, match="--data-dir"):
        kzoo.data.load_facial_keypoints("train", str(tmp_path))
    with pytest.raises(ValueError, match="split='val'"):
        kzoo.data.load_facial_keypoints("val", str(tmp_path))


# ---------------------------------------------------------------------------
# tf.data.


def test_keypoint_dataset_targets():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 255, (5, 32, 32, 3)).astype("uint8")
    pts = rng.uniform(0, 32, (5, 4, 2)).astype("float32")
    mask = np.ones((5, 4), "float32")
    mask[1, 2] = 0
    mask[3] = 0  # no visible point: presence 0
    ds = kzoo.data.keypoint_dataset(images, pts, mask, batch_size=5)
    x, y = next(iter(ds))
    assert x.dtype == tf.float32 and x.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(x.numpy(), images.astype("float32"))
    lm = y["landmarks"].numpy()
    assert lm.shape == (5, 4, 3)
    np.testing.assert_allclose(lm[0, :, :2], pts[0] / 32, rtol=1e-6)
    np.testing.assert_array_equal(lm[..., 2], mask)
    np.testing.assert_array_equal(lm[1, 2, :2], 0.0)
    np.testing.assert_array_equal(y["presence"].numpy()[:, 0],
                                  [1, 1, 1, 0, 1])
    # an explicit absent example has its points masked
    ds = kzoo.data.keypoint_dataset(images, pts, np.ones((5, 4)), 5,
                                    presence=[1, 0, 1, 1, 1])
    _, y = next(iter(ds))
    np.testing.assert_array_equal(y["landmarks"].numpy()[1, :, 2], 0.0)


def test_keypoint_dataset_augments_reproducibly():
    rng = np.random.default_rng(5)
    images = rng.integers(0, 255, (8, 32, 32, 3)).astype("uint8")
    pts = rng.uniform(8, 24, (8, 68, 2)).astype("float32")
    mask = np.ones((8, 68), "float32")

    def first(seed):
        ds = kzoo.data.keypoint_dataset(
            images, pts, mask, 4, augment=kzoo.data.KeypointAugmentation(),
            shuffle=True, seed=seed, drop_remainder=True)
        return [(x.numpy(), y["landmarks"].numpy()) for x, y in ds]

    a, b, c = first(1), first(1), first(2)
    assert len(a) == 2
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[1][1], b[1][1])
    assert not np.array_equal(a[0][1], c[0][1])
    assert not np.allclose(a[0][1][..., :2], 0.0)


def test_keypoint_dataset_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        kzoo.data.keypoint_dataset(np.zeros((2, 8, 6, 3), "uint8"),
                                   np.zeros((2, 3, 2)), np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="keypoints.shape"):
        kzoo.data.keypoint_dataset(np.zeros((2, 8, 8, 3), "uint8"),
                                   np.zeros((3, 3, 2)), np.ones((3, 3)), 2)
    with pytest.raises(ValueError, match="mask.shape"):
        kzoo.data.keypoint_dataset(np.zeros((2, 8, 8, 3), "uint8"),
                                   np.zeros((2, 3, 2)), np.ones((2, 4)), 2)
    with pytest.raises(ValueError, match="batch_size=0"):
        kzoo.data.keypoint_dataset(np.zeros((2, 8, 8, 3), "uint8"),
                                   np.zeros((2, 3, 2)), np.ones((2, 3)), 0)


def test_held_out_people_is_fixed_and_whole_people():
    names = [f"{p}_{v}{f}.jpg" for p in ("Ann_Lee", "Bob", "Cy_D_E", "Dee",
                                         "Eve_Ma") for v in (0, 1)
             for f in range(3)]
    people = kzoo.data.held_out_people(names, 0.4)
    assert people == kzoo.data.held_out_people(list(reversed(names)), 0.4)
    assert len(people) == 2 and set(people) <= {"Ann_Lee", "Bob", "Cy_D_E",
                                                "Dee", "Eve_Ma"}
    assert kzoo.data.held_out_people(names, 0.0) == []
    assert kzoo.data.person_of("Cy_D_E_12.jpg") == "Cy_D_E"
    with pytest.raises(ValueError, match="Received: fraction=1.0"):
        kzoo.data.held_out_people(names, 1.0)


def test_split_held_out_people_keeps_people_apart_in_every_folder():
    def faces(names):
        n = len(names)
        return kzoo.data.KeypointDataset(
            [np.full((4, 4, 3), i, np.uint8) for i in range(n)],
            np.arange(n * 2 * 2, dtype="float32").reshape(n, 2, 2),
            np.ones((n, 2), "float32"), names, [])

    train = faces([f"{p}_0{f}.jpg" for p in "ABCDEFGHIJ" for f in range(3)])
    test = faces([f"{p}_0{f}.jpg" for p in "ABCDEFGHIJ" for f in (5,)])
    kept, held, people = kzoo.data.split_held_out_people(
        {"train": train, "test": test}, 0.3)
    assert len(people) == 3
    person = kzoo.data.person_of
    for d in kept.values():
        assert not {person(f) for f in d.file_names} & set(people)
    assert {person(f) for f in held.file_names} == set(people)
    assert len(held.file_names) == 3 * 3 + 3
    assert len(kept["train"].file_names) == 21 and len(
        kept["test"].file_names) == 7
    # Images, points and names stay together.
    for i, f in enumerate(held.file_names):
        src = train if f in train.file_names else test
        j = src.file_names.index(f)
        np.testing.assert_array_equal(held.images[i], src.images[j])
        np.testing.assert_array_equal(held.keypoints[i], src.keypoints[j])


def test_real_faces_held_out_people():
    path = os.path.join(datasets_root(), "facial_keypoints")
    if not os.path.isdir(path):
        pytest.skip(f"facial_keypoints not at {path}")
    names = (sorted(os.listdir(os.path.join(path, "training")))
             + sorted(os.listdir(os.path.join(path, "test"))))
    people = kzoo.data.held_out_people(names, 0.2)
    assert len(people) == round(347 * 0.2)
