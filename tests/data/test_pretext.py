"""Pretext tasks: rotation, jigsaw, colourisation, denoising, masked patches."""

import inspect
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo import jigsaw_permutations as J
from tests.conftest import patch_grid

SEED = tf.constant([3, 4], tf.int64)
OTHER_SEED = tf.constant([5, 6], tf.int64)


def _images(n=4, size=8, seed=0, width=None):
    shape = (n, size, width or size, 3)
    return np.random.default_rng(seed).integers(0, 256, shape).astype("uint8")


# --- rotation ---------------------------------------------------------------


def test_rotation_all_rotations_order_labels_and_inverse():
    x = _images(3)
    inputs, labels = kzoo.data.RotationPretext()(x, SEED)
    assert inputs.shape == (12, 8, 8, 3) and inputs.dtype == tf.float32
    assert labels.dtype == tf.int32
    # The four rotations of image i are adjacent, labelled 0, 1, 2, 3.
    np.testing.assert_array_equal(labels, np.tile(np.arange(4), 3))
    for j in range(12):
        i, k = divmod(j, 4)
        np.testing.assert_array_equal(inputs[j], np.rot90(x[i], k))  # CCW
        np.testing.assert_array_equal(
            tf.image.rot90(inputs[j], -int(labels[j])), x[i].astype("float32")
        )


def test_rotation_random_one_per_image():
    x = _images(64)
    pretext = kzoo.data.RotationPretext(all_rotations=False)
    inputs, labels = pretext(x, SEED)
    assert inputs.shape == x.shape
    for i in range(64):
        np.testing.assert_array_equal(
            tf.image.rot90(inputs[i], -int(labels[i])), x[i].astype("float32")
        )
    assert set(labels.numpy()) == {0, 1, 2, 3}
    again = pretext(x, SEED)
    np.testing.assert_array_equal(again[0], inputs)
    np.testing.assert_array_equal(again[1], labels)
    assert not np.array_equal(pretext(x, OTHER_SEED)[1], labels)


def test_rotation_rejects_rectangular_images():
    with pytest.raises(ValueError, match=r"images.shape=\(2, 8, 6, 3\)"):
        kzoo.data.RotationPretext()(_images(2, 8, width=6), SEED)


# --- jigsaw -----------------------------------------------------------------


def _min_distance(perms):
    perms = np.asarray(perms)
    d = (perms[:, None, :] != perms[None, :, :]).sum(-1)
    np.fill_diagonal(d, perms.shape[1] + 1)
    return d.min()


def test_maximal_hamming_permutations_valid_distinct_and_far_apart():
    perms = kzoo.data.maximal_hamming_permutations(100)
    assert perms.shape == (100, 9) and perms.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perms, 1), np.tile(np.arange(9), (100, 1)))
    assert len({tuple(p) for p in perms}) == 100
    random = np.argsort(np.random.default_rng(0).random((100, 9)), axis=1)
    assert _min_distance(perms) >= _min_distance(random)
    assert _min_distance(perms) >= 6  # a random set of 100 gets ~3
    # Greedy max-min: every new row is as far as any candidate could be.
    all_perms = np.array(list(itertools.permutations(range(9))))
    best = (all_perms[:, None, :] != perms[None, :10, :]).sum(-1).min(1)
    assert (perms[10] != perms[:10]).sum(1).min() == best.max()
    # Cached, read-only, seeded.
    assert kzoo.data.maximal_hamming_permutations(100) is perms
    assert not perms.flags.writeable
    other = kzoo.data.maximal_hamming_permutations(100, seed=1)
    assert not np.array_equal(other, perms)


def test_maximal_hamming_permutations_distinct_and_small_grids():
    J._maximal_hamming_permutations.cache_clear()
    perms = kzoo.data.maximal_hamming_permutations(1000)
    assert len({tuple(p) for p in perms}) == 1000
    # 2x2 grid: all 24 permutations of 4 tiles exist.
    assert len({tuple(p) for p in kzoo.data.maximal_hamming_permutations(24, 4)}) == 24
    with pytest.raises(ValueError, match="num_permutations=25"):
        kzoo.data.maximal_hamming_permutations(25, 4)
    # 4x4 grid: a random candidate pool.
    big = kzoo.data.maximal_hamming_permutations(20, 16)
    np.testing.assert_array_equal(np.sort(big, 1), np.tile(np.arange(16), (20, 1)))


def _cell_image(n, pretext):
    """Images whose cells (after the jigsaw's resize) are all distinct."""
    side = pretext.grid * pretext.cell_size
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, side, side, 3)).astype("uint8")


def test_jigsaw_shapes_and_reassembly_without_jitter():
    pretext = kzoo.data.JigsawPretext(num_permutations=50, tile_size=8,
                                      jitter=False)
    assert pretext.cell_size == 9  # round(8 * 75 / 64 = 9.375)
    assert kzoo.data.JigsawPretext(num_permutations=5).cell_size == 38
    x = _cell_image(6, pretext)  # 27 x 27: the resize is the identity
    tiles, labels = pretext(x, SEED)
    assert tiles.shape == (6, 9, 8, 8, 3) and tiles.dtype == tf.float32
    assert labels.dtype == tf.int32
    # Centre of each cell: offset (9 - 8) // 2 = 0.
    cells = np.stack([x[:, r * 9:r * 9 + 8, c * 9:c * 9 + 8]
                      for r in range(3) for c in range(3)], 1).astype("float32")
    perms = pretext.permutations[labels.numpy()]
    for b in range(6):
        for j in range(9):  # position j holds the tile of cell perm[j]
            np.testing.assert_array_equal(tiles[b, j], cells[b, perms[b, j]])
    np.testing.assert_array_equal(pretext.reassemble(tiles, labels), cells)
    stitched = pretext.reassemble(tiles, labels, stitch=True)
    assert stitched.shape == (6, 24, 24, 3)
    np.testing.assert_array_equal(stitched[:, 8:16, 16:24], cells[:, 5])


def test_jigsaw_jittered_tiles_lie_inside_their_cells():
    pretext = kzoo.data.JigsawPretext(num_permutations=20, tile_size=16)
    cell, t = pretext.cell_size, 16
    assert cell == 19  # round(18.75): 4 offsets per axis
    x = _cell_image(4, pretext).astype("float32")
    tiles, labels = pretext(x, SEED)
    cells = pretext.reassemble(tiles, labels).numpy()
    offsets = []
    for b in range(4):
        for c in range(9):
            r0, c0 = (c // 3) * cell, (c % 3) * cell
            found = [(dy, dx) for dy in range(cell - t + 1)
                     for dx in range(cell - t + 1)
                     if np.array_equal(cells[b, c], x[b, r0 + dy:r0 + dy + t,
                                                      c0 + dx:c0 + dx + t])]
            assert len(found) == 1
            offsets.append(found[0])
    assert len(set(offsets)) > 8  # offsets vary over the 16 possible
    assert {dy for dy, _ in offsets} == {0, 1, 2, 3}


def test_jigsaw_resizes_any_image_and_is_seeded():
    pretext = kzoo.data.JigsawPretext(num_permutations=10, tile_size=4)
    x = _images(5, 12, width=20)
    tiles, labels = pretext(x, SEED)
    assert tiles.shape == (5, 9, 4, 4, 3)
    assert 0.0 <= float(tf.reduce_min(tiles)) and float(tf.reduce_max(tiles)) <= 255.0
    again = pretext(x, SEED)
    np.testing.assert_array_equal(again[0], tiles)
    np.testing.assert_array_equal(again[1], labels)
    assert not np.array_equal(pretext(x, OTHER_SEED)[0], tiles)


def test_jigsaw_labels_roughly_uniform():
    pretext = kzoo.data.JigsawPretext(num_permutations=10, tile_size=2,
                                      jitter=False)
    _, labels = pretext(np.zeros((5000, 6, 6, 3), "uint8"), SEED)
    counts = np.bincount(labels.numpy(), minlength=10)
    assert counts.min() > 400 and counts.max() < 600  # expected 500 +- 21


def test_jigsaw_explicit_permutations_and_errors():
    perms = [[1, 0, 3, 2], [3, 2, 1, 0], [0, 1, 2, 3]]
    pretext = kzoo.data.JigsawPretext(tile_size=4, grid=2, permutations=perms)
    assert pretext.num_permutations == 3
    tiles, labels = pretext(_images(8), SEED)
    assert tiles.shape == (8, 4, 4, 4, 3) and set(labels.numpy()) <= {0, 1, 2}
    with pytest.raises(ValueError, match="permutation of range"):
        kzoo.data.JigsawPretext(grid=2, permutations=[[0, 0, 1, 2]])
    with pytest.raises(ValueError, match="distinct"):
        kzoo.data.JigsawPretext(grid=2, permutations=[[0, 1, 2, 3]] * 2)
    with pytest.raises(ValueError, match="permutations.shape"):
        kzoo.data.JigsawPretext(permutations=perms)  # grid 3 needs 9
    with pytest.raises(ValueError, match="grid=1"):
        kzoo.data.JigsawPretext(grid=1)
    # Booleans are not sizes (the layer twin's rule, one check for both).
    with pytest.raises(ValueError, match="Received: tile_size=True"):
        kzoo.data.JigsawPretext(tile_size=True)
    with pytest.raises(ValueError, match="Received: grid=True"):
        kzoo.data.JigsawPretext(grid=True)


# --- colourisation ----------------------------------------------------------


@pytest.mark.parametrize("rgb,lab", [
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.2408, 80.0925, 67.2032)),
    ((0.0, 1.0, 0.0), (87.7347, -86.1827, 83.1793)),
    ((0.0, 0.0, 1.0), (32.2970, 79.1875, -107.8602)),
    ((0.5, 0.5, 0.5), (53.3889, 0.0, 0.0)),
    # Dark colours, on the linear segments of the sRGB and CIE curves
    # (float64 CIE formulas with scikit-image's constants).
    ((0.08, 0.08, 0.08), (6.4987, 0.0, 0.0)),
    ((0.1, 0.02, 0.05), (3.1820, 8.3952, -0.4044)),
])
def test_rgb_to_lab_reference_values(rgb, lab):
    np.testing.assert_allclose(kzoo.data.rgb_to_lab(rgb), lab, atol=0.02)
    np.testing.assert_allclose(kzoo.data.lab_to_rgb(lab), rgb, atol=1e-3)


def test_lab_round_trip():
    rgb = np.random.default_rng(0).random((1000, 3)).astype("float32")
    rgb[:10] = np.random.default_rng(1).random((10, 3)) * 0.03  # dark: linear
    lab = kzoo.data.rgb_to_lab(rgb)
    assert lab.shape == (1000, 3) and lab.dtype == tf.float32
    assert 0 <= float(tf.reduce_min(lab[:, 0])) and float(tf.reduce_max(lab[:, 0])) <= 100
    np.testing.assert_allclose(kzoo.data.lab_to_rgb(lab), rgb, atol=1e-4)


@pytest.mark.parametrize("target", ["lab", "rgb"])
def test_colorization_inputs_are_grey_with_the_image_lightness(target):
    x = _images(3)
    inputs, targets = kzoo.data.ColorizationPretext(target)(x, SEED)
    assert inputs.shape == (3, 8, 8, 3) and inputs.dtype == tf.float32
    inputs = inputs.numpy()
    np.testing.assert_array_equal(inputs[..., 0], inputs[..., 1])
    np.testing.assert_array_equal(inputs[..., 0], inputs[..., 2])
    assert inputs.min() >= 0 and inputs.max() <= 255.0 + 1e-3
    lightness = kzoo.data.rgb_to_lab(x / 255.0)[..., 0]
    np.testing.assert_allclose(
        kzoo.data.rgb_to_lab(inputs / 255.0)[..., 0], lightness, atol=1e-3)
    if target == "lab":
        assert targets.shape == (3, 8, 8, 2)
        np.testing.assert_allclose(
            targets * 128.0, kzoo.data.rgb_to_lab(x / 255.0)[..., 1:], atol=1e-4)
        # Grey input + ab target give back the image.
        rgb = kzoo.data.ColorizationPretext.colorize(inputs, targets)
        np.testing.assert_allclose(rgb, x, atol=0.05)
    else:
        assert targets.shape == (3, 8, 8, 3)
        np.testing.assert_allclose(targets, x / 255.0, atol=1e-6)


def test_colorization_grey_image_is_unchanged():
    grey = np.repeat(_images(2)[..., :1], 3, axis=-1)
    inputs, ab = kzoo.data.ColorizationPretext()(grey, SEED)
    np.testing.assert_allclose(inputs, grey, atol=0.01)
    np.testing.assert_allclose(ab, 0.0, atol=1e-3)


# --- denoising --------------------------------------------------------------


def test_gaussian_denoising_noise_statistics_and_target():
    x = np.full((8, 32, 32, 3), 127.5, "float32")
    pretext = kzoo.data.DenoisingPretext(stddev=0.1)
    noisy, clean = pretext(x, SEED)
    assert noisy.dtype == tf.float32 and clean.dtype == tf.float32
    np.testing.assert_allclose(clean, x / 255.0)
    noise = noisy.numpy() / 255.0 - 0.5  # 5 sigma from the clipping bounds
    assert abs(noise.std() - 0.1) < 0.003 and abs(noise.mean()) < 0.003
    assert noise.std(axis=(1, 2, 3)).min() > 0.09  # every image is noisy
    np.testing.assert_array_equal(pretext(x, SEED)[0], noisy)
    assert not np.array_equal(pretext(x, OTHER_SEED)[0], noisy)
    # Clipped to [0, 255].
    big, _ = kzoo.data.DenoisingPretext(stddev=1.0)(x, SEED)
    assert float(tf.reduce_min(big)) == 0.0 and float(tf.reduce_max(big)) == 255.0


def test_masking_denoising_zeroes_exact_fraction_of_whole_pixels():
    x = _images(6, 10).clip(1, 255)  # no zero pixels in the input
    pretext = kzoo.data.DenoisingPretext(noise="masking", mask_fraction=0.25)
    noisy, clean = pretext(x, SEED)
    np.testing.assert_allclose(clean, x / 255.0, atol=1e-7)
    noisy = noisy.numpy()
    zero = noisy == 0
    assert np.array_equal(zero.all(-1), zero.any(-1))  # whole pixels
    assert np.all(zero.all(-1).sum((1, 2)) == 25)  # round(0.25 * 100)
    kept = ~zero.all(-1)
    np.testing.assert_allclose(noisy[kept], x[kept], atol=1e-4)
    assert not np.array_equal(zero[0], zero[1])


# --- masked patches ---------------------------------------------------------


@pytest.mark.parametrize("fill,value", [("zero", 0.0), ("mean", 127.5)])
def test_masked_patches_exact_count_whole_patches_and_layout(fill, value):
    x = _images(5, 16)
    pretext = kzoo.data.MaskedPatchPretext(patch_size=4, mask_ratio=0.75, fill=fill)
    inputs, targets = pretext(x, SEED)
    assert inputs.shape == (5, 16, 16, 3) and inputs.dtype == tf.float32
    assert targets.shape == (5, 16, 16, 4) and targets.dtype == tf.float32
    inputs, targets = inputs.numpy(), targets.numpy()
    np.testing.assert_allclose(targets[..., :3], x / 255.0, atol=1e-7)
    mask = targets[..., 3]
    assert set(np.unique(mask)) == {0.0, 1.0}
    grid = patch_grid(mask, 4)
    assert np.all(grid.sum((1, 2)) == 12)  # 0.75 * 16 patches, per image
    masked = mask == 1
    assert np.all(inputs[masked] == value)
    np.testing.assert_array_equal(inputs[~masked], x[~masked].astype("float32"))
    assert len({g.tobytes() for g in grid}) > 1
    np.testing.assert_array_equal(pretext(x, SEED)[1], targets)
    assert not np.array_equal(pretext(x, OTHER_SEED)[1], targets)


def test_masked_patch_targets_fit_the_masked_reconstruction_loss():
    loss_fn = getattr(kzoo.losses, "masked_reconstruction_loss", None)
    if loss_fn is None:
        pytest.skip("kzoo.losses.masked_reconstruction_loss not available")
    x = _images(3, 8)
    inputs, targets = kzoo.data.MaskedPatchPretext(patch_size=2)(x, SEED)
    clean = x / 255.0
    np.testing.assert_allclose(loss_fn(targets, clean), 0.0, atol=1e-10)
    # Errors on visible pixels do not count; on masked ones they do.
    visible = targets.numpy()[..., 3:] == 0
    off = np.where(visible, 1.0 - clean, clean)
    np.testing.assert_allclose(loss_fn(targets, off), 0.0, atol=1e-10)
    np.testing.assert_allclose(loss_fn(targets, clean + 0.5), 0.25, atol=1e-6)


def test_patch_mask_counts_and_uniformity():
    mask = kzoo.data.patch_mask(2000, 8, 12, 4, 0.5, SEED).numpy()[..., 0]
    grid = patch_grid(mask, 4)  # 2 x 3 patches
    assert np.all(grid.sum((1, 2)) == 3)
    freq = grid.mean(0)  # each patch masked half the time
    assert np.all(np.abs(freq - 0.5) < 0.05)
    assert kzoo.data.patch_mask(3, 8, 8, 4, 0.3, SEED).numpy().sum((1, 2, 3)).tolist() \
        == [16.0] * 3  # round(0.3 * 4) = 1 patch of 16 px
    assert np.all(kzoo.data.patch_mask(2, 8, 8, 2, 1.0, SEED) == 1)
    assert np.all(kzoo.data.patch_mask(2, 8, 8, 2, 0.0, SEED) == 0)
    with pytest.raises(ValueError, match="height=10"):
        kzoo.data.patch_mask(1, 10, 8, 4, 0.5, SEED)
    with pytest.raises(ValueError, match=r"images.shape=\(1, 8, 6, 3\)"):
        kzoo.data.MaskedPatchPretext(patch_size=4)(_images(1, 8, width=6), SEED)


# --- pipeline and configs ---------------------------------------------------


def test_pretext_dataset_shapes_and_seeded_determinism():
    x = _images(20, 8)
    ds = kzoo.data.pretext_dataset(x, 8, kzoo.data.RotationPretext(
        all_rotations=False), seed=7)
    batches = list(ds)
    assert len(batches) == 2  # 20 // 8, remainder dropped
    inputs, labels = batches[0]
    assert inputs.shape == (8, 8, 8, 3) and inputs.dtype == tf.float32
    assert labels.shape == (8,) and labels.dtype == tf.int32
    again = list(kzoo.data.pretext_dataset(x, 8, kzoo.data.RotationPretext(
        all_rotations=False), seed=7))
    for (a, la), (b, lb) in zip(batches, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    second_epoch = list(ds)
    assert not np.array_equal(batches[0][0], second_epoch[0][0])
    # every rotated-back input is one of the images
    flat = {im.tobytes() for im in x.astype("float32")}
    for im, k in zip(inputs.numpy(), labels.numpy()):
        assert np.rot90(im, -k).tobytes() in flat
    masked = next(iter(kzoo.data.pretext_dataset(
        x, 4, kzoo.data.MaskedPatchPretext(patch_size=2), seed=0,
        shuffle=False)))
    assert masked[0].shape == (4, 8, 8, 3) and masked[1].shape == (4, 8, 8, 4)
    with pytest.raises(ValueError, match="batch_size=32"):
        kzoo.data.pretext_dataset(x, 32, kzoo.data.RotationPretext())


CONFIGS = {
    "RotationPretext": dict(all_rotations=False),
    "JigsawPretext": dict(num_permutations=2, tile_size=8, grid=2, jitter=False,
                          permutations=[[1, 0, 3, 2], [3, 2, 1, 0]]),
    "ColorizationPretext": dict(target="rgb"),
    "DenoisingPretext": dict(noise="masking", stddev=0.2, mask_fraction=0.5),
    "MaskedPatchPretext": dict(patch_size=2, mask_ratio=0.5, fill="mean"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_round_trip(name):
    cls = getattr(kzoo.data, name)
    assert keras.saving.get_custom_objects()[f"kzoo>{name}"] is cls
    kwargs = CONFIGS[name]
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert params == set(kwargs)
    config = cls(**kwargs).get_config()
    assert config == kwargs
    assert cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(cls(**kwargs)))
    assert isinstance(restored, cls) and restored.get_config() == config


# --- noise (MAE's patch ranking, a GAN's latent codes) ------------------------
@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_noise_pretext_is_seeded_and_has_its_distribution(distribution):
    transform = kzoo.data.NoisePretext(4096, distribution)
    images = tf.zeros([3, 8, 8, 3], tf.uint8)
    (a, targets), (b, _) = (transform(images, SEED) for _ in range(2))
    assert a["noise"].shape == (3, 4096) and a["images"].dtype == tf.float32
    np.testing.assert_array_equal(targets.numpy(), np.zeros(3))
    np.testing.assert_array_equal(a["noise"].numpy(), b["noise"].numpy())
    (c, _) = transform(images, OTHER_SEED)
    assert not np.array_equal(a["noise"].numpy(), c["noise"].numpy())
    noise = a["noise"].numpy().ravel()
    if distribution == "uniform":  # U[0, 1): mean 1/2, variance 1/12
        assert noise.min() >= 0 and noise.max() < 1
        assert abs(noise.mean() - 0.5) < 0.01
        assert abs(noise.var() - 1 / 12) < 0.005
    else:  # N(0, 1)
        assert abs(noise.mean()) < 0.03 and abs(noise.std() - 1) < 0.03


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 0}, "Received: size=0"),
    ({"size": 2.5}, "Received: size=2.5"),
    ({"size": 4, "distribution": "gamma"}, "Received: distribution='gamma'"),
])
def test_noise_pretext_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kzoo.data.NoisePretext(**kwargs)
