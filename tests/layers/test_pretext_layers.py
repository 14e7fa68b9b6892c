"""Backend-agnostic pretext layers against their tf.data versions.

Runs under every Keras backend (KERAS_BACKEND=tensorflow, jax, torch):
TensorFlow is imported only as the reference (the `kzoo.data` transforms).
"""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.layers import ColorizationSplit
from kzoo.layers import DenoisingCorruption
from kzoo.layers import JigsawTiles
from kzoo.layers import PatchMasking
from kzoo.layers import QuarterRotations
from kzoo.layers import colorization_split as C
from kzoo.layers.patch_masking import random_patch_mask
from tests.conftest import patch_grid

SEED = tf.constant([3, 4], tf.int64)  # for the tf.data references


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _call(layer, x):
    return tuple(_np(t) for t in layer(x))


def _assert_ulp_close(actual, desired):
    # `x / 255` is `x * (1 / 255)` once XLA or Grappler rewrites it: 1 ulp.
    np.testing.assert_allclose(actual, np.asarray(desired), rtol=1e-6, atol=0)


def _images(n=4, size=8, seed=0, width=None):
    shape = (n, size, width or size, 3)
    return np.random.default_rng(seed).integers(0, 256, shape).astype("uint8")


# --- rotation ---------------------------------------------------------------


def test_quarter_rotations_all_equal_the_tf_data_version():
    x = _images(3)
    inputs, labels = _call(QuarterRotations(), x)
    ref_inputs, ref_labels = kzoo.data.RotationPretext()(x, SEED)
    assert inputs.dtype == np.float32 and labels.dtype == np.int32
    np.testing.assert_array_equal(inputs, ref_inputs.numpy())
    np.testing.assert_array_equal(labels, ref_labels.numpy())
    for j in range(12):
        i, k = divmod(j, 4)
        np.testing.assert_array_equal(inputs[j], np.rot90(x[i], k))  # CCW


def test_quarter_rotations_random_labels_uniform_and_seeded():
    x = _images(2000, 2)
    layer = QuarterRotations(all_rotations=False, seed=1)
    inputs, labels = _call(layer, x)
    assert inputs.shape == x.shape and labels.shape == (2000,)
    assert labels.dtype == np.int32
    for i in range(0, 2000, 37):
        np.testing.assert_array_equal(np.rot90(inputs[i], -labels[i]), x[i])
    counts = np.bincount(labels, minlength=4)
    assert len(counts) == 4
    assert np.all(np.abs(counts - 500) < 80)  # expected 500 +- 19
    again = _call(QuarterRotations(all_rotations=False, seed=1), x)
    np.testing.assert_array_equal(again[1], labels)
    np.testing.assert_array_equal(again[0], inputs)
    # Each call draws anew; another seed draws otherwise.
    assert not np.array_equal(_call(layer, x)[1], labels)
    other = _call(QuarterRotations(all_rotations=False, seed=2), x)[1]
    assert not np.array_equal(other, labels)


def test_quarter_rotations_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"images.shape=\(2, 8, 6, 3\)"):
        QuarterRotations()(_images(2, 8, width=6))
    with pytest.raises(ValueError, match=r"images.shape=\(8, 8, 3\)"):
        QuarterRotations()(_images(1)[0])


# --- jigsaw -----------------------------------------------------------------


def test_jigsaw_permutation_set_is_the_tf_data_one():
    layer = JigsawTiles(num_permutations=100, tile_size=8)
    ref = kzoo.data.JigsawPretext(num_permutations=100, tile_size=8)
    np.testing.assert_array_equal(layer.permutations, ref.permutations)
    assert layer.num_permutations == 100
    assert layer.cell_size == ref.cell_size == 9
    assert JigsawTiles(5).cell_size == kzoo.data.JigsawPretext(5).cell_size


def _cell_image(n, layer):
    side = layer.grid * layer.cell_size
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, side, side, 3)).astype("uint8")


def test_jigsaw_tiles_equal_the_tf_data_tiles_without_jitter():
    layer = JigsawTiles(num_permutations=50, tile_size=8, jitter=False,
                        seed=0)
    ref = kzoo.data.JigsawPretext(num_permutations=50, tile_size=8,
                                  jitter=False)
    x = _cell_image(6, layer)  # 27 x 27: no resize
    tiles, labels = _call(layer, x)
    assert tiles.shape == (6, 9, 8, 8, 3) and tiles.dtype == np.float32
    assert labels.shape == (6,) and labels.dtype == np.int32
    ref_tiles, ref_labels = ref(x, SEED)
    cells = ref.reassemble(ref_tiles, ref_labels).numpy()
    # Position j holds the tile of cell perm[j], as in the tf.data version.
    perms = layer.permutations[labels]
    for b in range(6):
        for j in range(9):
            np.testing.assert_array_equal(tiles[b, j], cells[b, perms[b, j]])
    np.testing.assert_array_equal(_np(layer.reassemble(tiles, labels)),
                                  cells)
    np.testing.assert_array_equal(
        _np(layer.reassemble(tiles, labels, stitch=True)),
        ref.reassemble(ref_tiles, ref_labels, stitch=True).numpy())


@pytest.mark.parametrize("height,width", [(12, 20), (40, 40)])
def test_jigsaw_resize_matches_the_tf_data_version(height, width):
    # Up- (12 -> 15) and down-sampling (40 -> 15), antialiased.
    layer = JigsawTiles(num_permutations=10, tile_size=4, jitter=False)
    ref = kzoo.data.JigsawPretext(num_permutations=10, tile_size=4,
                                  jitter=False)
    x = _images(3, height, width=width)
    tiles, labels = _call(layer, x)
    ref_tiles, ref_labels = ref(x, SEED)
    np.testing.assert_allclose(
        _np(layer.reassemble(tiles, labels)),
        ref.reassemble(ref_tiles, ref_labels).numpy(), atol=1e-3)


def test_jigsaw_jittered_offsets_and_labels_are_uniform_and_seeded():
    layer = JigsawTiles(num_permutations=10, tile_size=16, seed=4)
    cell, t = layer.cell_size, 16
    assert cell == 19  # 4 offsets per axis
    # Pixel values encode their (row, column): offsets are read back.
    side = 3 * cell
    rows, cols = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    image = np.stack([rows, cols, np.zeros_like(rows)], -1).astype("uint8")
    x = np.broadcast_to(image, (300, side, side, 3))
    tiles, labels = _call(layer, x)
    cells = _np(layer.reassemble(tiles, labels))
    top = cells[:, :, 0, 0, 0] - (np.arange(9) // 3) * cell  # [B, T]
    left = cells[:, :, 0, 0, 1] - (np.arange(9) % 3) * cell
    for offsets in (top, left):
        counts = np.bincount(offsets.astype(int).ravel(), minlength=4)
        assert len(counts) == 4  # in [0, cell - t]
        assert np.all(np.abs(counts - 675) < 110)  # 2700 / 4, +- 23
    # Whole tiles: consecutive rows and columns of the image.
    np.testing.assert_array_equal(
        cells[..., 0] - cells[..., :1, :1, 0],
        np.broadcast_to(np.arange(t)[:, None], cells.shape[:-1]))
    counts = np.bincount(labels, minlength=10)
    assert len(counts) == 10 and counts.min() > 10  # expected 30 +- 5
    again = _call(JigsawTiles(num_permutations=10, tile_size=16, seed=4), x)
    np.testing.assert_array_equal(again[0], tiles)
    np.testing.assert_array_equal(again[1], labels)
    assert not np.array_equal(_call(layer, x)[0], tiles)


def test_jigsaw_labels_roughly_uniform():
    layer = JigsawTiles(num_permutations=10, tile_size=2, jitter=False,
                        seed=0)
    _, labels = _call(layer, np.zeros((5000, 6, 6, 3), "uint8"))
    counts = np.bincount(labels, minlength=10)
    assert counts.min() > 400 and counts.max() < 600  # expected 500 +- 21


def test_jigsaw_explicit_permutations_and_errors():
    perms = [[1, 0, 3, 2], [3, 2, 1, 0], [0, 1, 2, 3]]
    layer = JigsawTiles(tile_size=4, grid=2, permutations=perms, seed=0)
    assert layer.num_permutations == 3
    tiles, labels = _call(layer, _images(8))
    assert tiles.shape == (8, 4, 4, 4, 3) and set(labels) <= {0, 1, 2}
    with pytest.raises(ValueError, match="permutation of range"):
        JigsawTiles(grid=2, permutations=[[0, 0, 1, 2]])
    with pytest.raises(ValueError, match="distinct"):
        JigsawTiles(grid=2, permutations=[[0, 1, 2, 3]] * 2)
    with pytest.raises(ValueError, match="permutations.shape"):
        JigsawTiles(permutations=perms)  # grid 3 needs 9
    with pytest.raises(ValueError, match="grid=1"):
        JigsawTiles(grid=1)
    with pytest.raises(ValueError, match="tile_size=0"):
        JigsawTiles(tile_size=0)
    with pytest.raises(ValueError, match="Received: tile_size=True"):
        JigsawTiles(tile_size=True)
    with pytest.raises(ValueError, match="Received: grid=True"):
        JigsawTiles(grid=True)
    with pytest.raises(ValueError, match=r"images.shape=\(8, 8, 3\)"):
        layer(_images(1)[0])


# --- colourisation ----------------------------------------------------------


def test_rgb_to_lab_and_back_equal_the_tf_data_versions():
    rng = np.random.default_rng(0)
    rgb = rng.random((1000, 3)).astype("float32")
    rgb[:10] = rng.random((10, 3)) * 0.03  # dark: the linear segments
    rgb[10:13] = np.eye(3)
    lab = _np(C.rgb_to_lab(rgb))
    assert lab.dtype == np.float32
    np.testing.assert_allclose(lab, kzoo.data.rgb_to_lab(rgb).numpy(),
                               atol=3e-4)  # float32 rounding, L up to 100
    np.testing.assert_allclose(lab[10], (53.2408, 80.0925, 67.2032),
                               atol=0.02)  # sRGB red, scikit-image's value
    np.testing.assert_allclose(_np(C.lab_to_rgb(lab)),
                               kzoo.data.lab_to_rgb(lab).numpy(), atol=2e-5)
    np.testing.assert_allclose(_np(C.lab_to_rgb(lab)), rgb, atol=1e-4)
    # Out of gamut (large b: negative Z) is clipped like scikit-image.
    far = np.array([[50.0, 100.0, 300.0], [20.0, -120.0, -120.0]], "float32")
    np.testing.assert_allclose(_np(C.lab_to_rgb(far)),
                               kzoo.data.lab_to_rgb(far).numpy(), atol=2e-5)


@pytest.mark.parametrize("target", ["lab", "rgb"])
def test_colorization_split_equals_the_tf_data_version(target):
    x = _images(3)
    x[0, 0, :3] = [(0, 0, 0), (255, 255, 255), (3, 1, 2)]
    inputs, targets = _call(ColorizationSplit(target), x)
    ref_inputs, ref_targets = kzoo.data.ColorizationPretext(target)(x)
    assert inputs.dtype == np.float32 and targets.dtype == np.float32
    assert targets.shape == (3, 8, 8, 2 if target == "lab" else 3)
    np.testing.assert_array_equal(inputs[..., 0], inputs[..., 1])
    np.testing.assert_array_equal(inputs[..., 0], inputs[..., 2])
    np.testing.assert_allclose(inputs, ref_inputs.numpy(), atol=2e-3)
    np.testing.assert_allclose(targets, ref_targets.numpy(), atol=1e-5)
    if target == "lab":
        rgb = _np(ColorizationSplit.colorize(inputs, targets))
        np.testing.assert_allclose(
            rgb, kzoo.data.ColorizationPretext.colorize(inputs, targets),
            atol=2e-3)
        np.testing.assert_allclose(rgb, x, atol=0.05)


def test_colorization_split_rejects_non_rgb():
    with pytest.raises(ValueError, match=r"images.shape=\(1, 4, 4, 1\)"):
        ColorizationSplit()(np.zeros((1, 4, 4, 1), "uint8"))
    with pytest.raises(ValueError, match="target=hsv"):
        ColorizationSplit("hsv")


# --- denoising --------------------------------------------------------------


def test_gaussian_noise_statistics_clean_target_and_seed():
    x = np.full((8, 32, 32, 3), 127.5, "float32")
    layer = DenoisingCorruption(stddev=0.1, seed=5)
    noisy, clean = _call(layer, x)
    assert noisy.dtype == np.float32 and clean.dtype == np.float32
    _assert_ulp_close(clean, kzoo.data.DenoisingPretext()(x, SEED)[1])
    noise = noisy / 255.0 - 0.5  # 5 sigma from the clipping bounds
    assert abs(noise.std() - 0.1) < 0.003 and abs(noise.mean()) < 0.003
    assert noise.std(axis=(1, 2, 3)).min() > 0.09  # every image is noisy
    np.testing.assert_array_equal(
        _call(DenoisingCorruption(stddev=0.1, seed=5), x)[0], noisy)
    assert not np.array_equal(_call(layer, x)[0], noisy)
    big, _ = _call(DenoisingCorruption(stddev=1.0, seed=0), x)
    assert big.min() == 0.0 and big.max() == 255.0  # clipped


def test_masking_noise_zeroes_exact_fraction_of_whole_pixels():
    x = _images(300, 10).clip(1, 255)  # no zero pixels in the input
    layer = DenoisingCorruption(noise="masking", mask_fraction=0.25, seed=2)
    noisy, clean = _call(layer, x)
    _assert_ulp_close(clean, kzoo.data.DenoisingPretext()(x, SEED)[1])
    zero = noisy == 0
    assert np.array_equal(zero.all(-1), zero.any(-1))  # whole pixels
    assert np.all(zero.all(-1).sum((1, 2)) == 25)  # round(0.25 * 100)
    kept = ~zero.all(-1)
    np.testing.assert_allclose(noisy[kept], x[kept], atol=1e-4)
    freq = zero.all(-1).mean(0)  # every pixel masked a quarter of the time
    assert np.all(np.abs(freq - 0.25) < 0.11)  # +- 0.025
    assert abs(freq.mean() - 0.25) < 1e-6
    with pytest.raises(ValueError, match="noise=salt"):
        DenoisingCorruption("salt")
    with pytest.raises(ValueError, match="mask_fraction=2"):
        DenoisingCorruption(mask_fraction=2)


# --- masked patches ---------------------------------------------------------


@pytest.mark.parametrize("fill,value", [("zero", 0.0), ("mean", 127.5)])
def test_patch_masking_exact_count_and_the_tf_data_layout(fill, value):
    x = _images(5, 16)
    layer = PatchMasking(patch_size=4, mask_ratio=0.75, fill=fill, seed=1)
    inputs, targets = _call(layer, x)
    assert inputs.shape == (5, 16, 16, 3) and inputs.dtype == np.float32
    assert targets.shape == (5, 16, 16, 4) and targets.dtype == np.float32
    _, ref_targets = kzoo.data.MaskedPatchPretext(fill=fill)(x, SEED)
    _assert_ulp_close(targets[..., :3], ref_targets.numpy()[..., :3])
    mask = targets[..., 3]
    assert set(np.unique(mask)) == {0.0, 1.0}
    grid = patch_grid(mask, 4)
    assert np.all(grid.sum((1, 2)) == 12)  # 0.75 * 16 patches, per image
    masked = mask == 1
    assert np.all(inputs[masked] == value)
    np.testing.assert_array_equal(inputs[~masked], x[~masked])
    assert len({g.tobytes() for g in grid}) > 1
    again = _call(PatchMasking(4, 0.75, fill, seed=1), x)
    np.testing.assert_array_equal(again[1], targets)
    assert not np.array_equal(_call(layer, x)[1], targets)


def test_random_patch_mask_counts_uniformity_and_errors():
    mask = _np(random_patch_mask(2000, 8, 12, 4, 0.5, seed=3))[..., 0]
    grid = patch_grid(mask, 4)  # 2 x 3 patches
    assert np.all(grid.sum((1, 2)) == 3)
    assert np.all(np.abs(grid.mean(0) - 0.5) < 0.05)  # +- 0.011
    one = _np(random_patch_mask(3, 8, 8, 4, 0.3, seed=0))
    assert one.sum((1, 2, 3)).tolist() == [16.0] * 3  # round(1.2) patch
    half = _np(random_patch_mask(3, 4, 4, 2, 0.625, seed=0))  # 2.5 -> 3
    assert half.sum((1, 2, 3)).tolist() == [12.0] * 3
    assert np.all(_np(random_patch_mask(2, 8, 8, 2, 1.0, seed=0)) == 1)
    assert np.all(_np(random_patch_mask(2, 8, 8, 2, 0.0, seed=0)) == 0)
    with pytest.raises(ValueError, match="height=10"):
        random_patch_mask(1, 10, 8, 4, 0.5)
    with pytest.raises(ValueError, match=r"images.shape=\(1, 8, 6, 3\)"):
        PatchMasking(patch_size=4)(_images(1, 8, width=6))
    with pytest.raises(ValueError, match="mask_ratio=1.5"):
        PatchMasking(mask_ratio=1.5)
    with pytest.raises(ValueError, match="fill=noise"):
        PatchMasking(fill="noise")


# --- models, configs --------------------------------------------------------


LAYERS = {
    QuarterRotations: ("RotationPretext", dict(all_rotations=False)),
    JigsawTiles: ("JigsawPretext", dict(
        num_permutations=2, tile_size=4, grid=2, jitter=False,
        permutations=[[1, 0, 3, 2], [3, 2, 1, 0]])),
    ColorizationSplit: ("ColorizationPretext", dict(target="rgb")),
    DenoisingCorruption: ("DenoisingPretext", dict(
        noise="masking", stddev=0.2, mask_fraction=0.5)),
    PatchMasking: ("MaskedPatchPretext", dict(
        patch_size=2, mask_ratio=0.5, fill="mean")),
}


@pytest.mark.parametrize("cls", list(LAYERS), ids=lambda c: c.__name__)
def test_same_arguments_as_the_tf_data_version_and_config(cls):
    name, kwargs = LAYERS[cls]
    reference = getattr(kzoo.data, name)
    assert keras.saving.get_custom_objects()[f"kzoo>{cls.__name__}"] is cls
    params = inspect.signature(cls.__init__).parameters
    ref_params = inspect.signature(reference.__init__).parameters
    for arg, param in ref_params.items():
        if arg != "self":  # same names and defaults
            assert params[arg].default == param.default, arg
    random = "seed" in params
    assert set(params) - set(ref_params) == (
        {"seed", "kwargs"} if random else {"kwargs"})
    if random:
        kwargs = dict(kwargs, seed=7)
    kwargs["name"] = "pretext"
    config = cls(**kwargs).get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    assert cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(cls(**kwargs)))
    assert isinstance(restored, cls) and restored.get_config() == config


@pytest.mark.parametrize("cls", list(LAYERS), ids=lambda c: c.__name__)
def test_compiled_in_a_model_saved_and_seeded(cls, tmp_path):
    # predict_on_batch compiles (tf.function / jax.jit) on tf and jax.
    _, kwargs = LAYERS[cls]
    kwargs = dict(kwargs, seed=3) if cls is not ColorizationSplit else kwargs
    images = keras.Input((8, 8, 3), dtype="uint8")
    model = keras.Model(images, cls(**kwargs)(images))
    x = _images(4)
    eager = _call(cls(**kwargs), x)
    out = model.predict_on_batch(x)
    assert len(out) == 2
    for got, spec, want in zip(out, model.outputs, eager):
        got = _np(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert spec.shape[1:] == want.shape[1:]
        _assert_ulp_close(got, want)  # same seed, same draws
    path = str(tmp_path / "pretext.keras")
    model.save(path)
    again = keras.models.load_model(path)
    assert again.layers[-1].get_config() == model.layers[-1].get_config()


@pytest.mark.tf_backend
def test_dynamic_shapes_in_a_tf_function():
    layers = [QuarterRotations(seed=0), QuarterRotations(False, seed=0),
              PatchMasking(patch_size=2, seed=0),
              DenoisingCorruption(seed=0),
              DenoisingCorruption("masking", seed=0),
              JigsawTiles(num_permutations=5, tile_size=2, seed=0),
              ColorizationSplit()]
    spec = tf.TensorSpec([None, None, None, 3], tf.uint8)
    for layer in layers:
        fn = tf.function(layer.__call__, input_signature=[spec])
        for size in (4, 8):
            inputs, targets = fn(_images(3, size))
            assert inputs.shape[0] in (3, 12)
    masked = tf.function(PatchMasking(2, 0.5, seed=0).__call__,
                         input_signature=[spec])(_images(3, 8))[1]
    assert np.all(masked.numpy()[..., 3].sum((1, 2)) == 32)  # 8 of 16


# --- one implementation, in tf.data and in the step -------------------------


@pytest.mark.parametrize("cls", list(LAYERS), ids=lambda c: c.__name__)
def test_layer_runs_in_a_tf_data_map_on_every_backend(cls):
    # Under JAX / PyTorch the layer computes with TensorFlow inside the map
    # (kzoo._data_ops.TF_OPS); the tf.data transform runs the same function.
    _, kwargs = LAYERS[cls]
    kwargs = dict(kwargs, seed=5) if cls is not ColorizationSplit else kwargs
    x = _images(6)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(3).map(cls(**kwargs))
    batches = list(ds)
    assert len(batches) == 2
    eager = _call(cls(**kwargs), x[:3])
    for got, want in zip(batches[0], eager):
        got = got.numpy()
        assert got.shape == want.shape and got.dtype == want.dtype
    if cls is ColorizationSplit:  # deterministic: the same values
        for got, want in zip(batches[0], eager):
            np.testing.assert_allclose(got.numpy(), want, atol=1e-4)
    if cls is QuarterRotations:  # a random rotation of each image
        inputs, labels = (t.numpy() for t in batches[1])
        for image, rotated, k in zip(x[3:], inputs, labels):
            np.testing.assert_array_equal(rotated, np.rot90(image, k))


def test_tf_data_transforms_have_no_tensorflow_twin():
    # kzoo.data's pretext transforms call the layers' implementation: the
    # modules import no TensorFlow of their own.
    import importlib

    for name in ("rotation", "jigsaw", "colorization", "denoising",
                 "masked_patches"):
        source = inspect.getsource(importlib.import_module(f"kzoo.data.{name}"))
        assert "import tensorflow" not in source, name
        assert "from kzoo._data_ops import TF_OPS" in source, name


@pytest.mark.parametrize("name,kwargs", [
    ("RotationPretext", dict(all_rotations=False)),
    ("JigsawPretext", dict(num_permutations=4, tile_size=2, grid=2)),
    ("DenoisingPretext", dict()),
    ("DenoisingPretext", dict(noise="masking")),
    ("MaskedPatchPretext", dict(patch_size=2)),
    ("ColorizationPretext", dict()),
])
def test_tf_data_transform_is_a_function_of_its_stateless_seed(name, kwargs):
    # The tf.data side computes with TensorFlow whatever Keras' backend is
    # (this file also runs under JAX): the same stateless seed gives the
    # same batch, another seed another one.
    transform = getattr(kzoo.data, name)(**kwargs)
    x = _images(5, 8, seed=4)
    inputs, targets = transform(x, SEED)
    again = transform(x, SEED)
    np.testing.assert_array_equal(inputs.numpy(), again[0].numpy())
    np.testing.assert_array_equal(targets.numpy(), again[1].numpy())
    other = transform(x, tf.constant([5, 6], tf.int64))
    if name != "ColorizationPretext":
        assert not np.array_equal(inputs.numpy(), other[0].numpy())
