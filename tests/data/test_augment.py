import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo._data_ops import TF_OPS
from kzoo.data import augment as A
from kzoo.layers.random_color_jitter import hue_shift

SEED = tf.constant([3, 4], tf.int64)


def _images(n=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3)).astype("uint8")


def test_output_range_shape_dtype_and_determinism():
    aug = kzoo.data.SimSiamAugmentation()
    x = _images()
    a, b = aug(x, SEED), aug(x, SEED)
    assert a.shape == x.shape and a.dtype == tf.float32
    assert float(tf.reduce_min(a)) >= 0.0 and float(tf.reduce_max(a)) <= 255.0
    np.testing.assert_array_equal(a, b)
    c = aug(x, tf.constant([5, 6], tf.int64))
    assert not np.array_equal(a, c)


def test_identity_when_everything_disabled():
    aug = kzoo.data.SimSiamAugmentation(crop_scale=None, flip=False,
                                        jitter_probability=0.0,
                                        grayscale_probability=0.0)
    x = _images()
    np.testing.assert_allclose(aug(x, SEED), x.astype("float32"), atol=1e-4)


def test_flip_mirrors_exactly_the_selected_images():
    x = tf.constant(_images(64), tf.float32)
    y = A.random_flip_left_right(x, SEED)
    flipped = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(64)]
    kept = [np.array_equal(y[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54


def test_grayscale_probability_and_channels():
    x = tf.constant(_images(400), tf.float32) / 255.0
    y = A.random_grayscale(x, SEED, probability=0.2).numpy()
    gray = np.all(np.isclose(y[..., 0], y[..., 1]) & np.isclose(y[..., 1], y[..., 2]), axis=(1, 2))
    assert 0.1 < gray.mean() < 0.3
    all_gray = A.random_grayscale(x, SEED, probability=1.0).numpy()
    ref = (x.numpy() * [0.2989, 0.5870, 0.1140]).sum(-1)
    np.testing.assert_allclose(all_gray[..., 0], ref, atol=1e-5)


def test_color_jitter_matches_factor_semantics():
    # brightness only, p=1: every image is scaled by one factor in [0.6, 1.4]
    x = tf.fill((50, 4, 4, 3), 0.5)
    y = A.random_color_jitter(x, SEED, brightness=0.4, contrast=0, saturation=0,
                              hue=0, probability=1.0).numpy()
    factors = y[:, 0, 0, 0] / 0.5
    assert np.all(factors >= 0.6 - 1e-6) and np.all(factors <= 1.4 + 1e-6)
    assert np.allclose(y, y[:, :1, :1, :1])
    # probability 0 leaves images untouched
    z = A.random_color_jitter(x, SEED, probability=0.0)
    np.testing.assert_array_equal(z, x)


def test_hue_shift_of_half_turn_maps_red_to_cyan():
    red = tf.constant([[[[1.0, 0.0, 0.0]]]])
    out = hue_shift(TF_OPS, red, tf.constant([0.5])).numpy().ravel()
    np.testing.assert_allclose(out, [0.0, 1.0, 1.0], atol=1e-5)


def test_random_resized_crop_full_scale_is_identity():
    x = tf.constant(_images(4), tf.float32)
    y = A.random_resized_crop(x, SEED, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(y, x, atol=1e-3)
    z = A.random_resized_crop(x, SEED, scale=(0.2, 0.3))
    assert z.shape == x.shape and not np.allclose(z, x)


@pytest.mark.parametrize("kwargs,match", [
    ({"jitter_probability": 1.5}, "jitter_probability=1.5"),
    ({"crop_scale": (0.5, 0.2)}, "crop_scale="),
    ({"jitter": (0.4, 0.4)}, "jitter="),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kzoo.data.SimSiamAugmentation(**kwargs)


def test_flip_and_translate_moves_exact_pixels_with_zero_fill():

    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (64, 8, 8, 3)).astype("float32")
    out = A.random_flip_and_translate(tf.constant(images), tf.constant([3, 4]),
                                    pad=2).numpy()
    assert out.shape == images.shape
    shifts, flips = set(), set()
    for x, y in zip(images, out):
        matches = []
        for flip in (False, True):
            src = x[:, ::-1] if flip else x
            padded = np.pad(src, ((2, 2), (2, 2), (0, 0)))
            for dy in range(5):
                for dx in range(5):
                    if np.array_equal(padded[dy:dy + 8, dx:dx + 8], y):
                        matches.append((flip, dy, dx))
        assert len(matches) == 1, matches
        flips.add(matches[0][0])
        shifts.add(matches[0][1:])
    # Random per image: both flip states and many of the 25 shifts occur.
    assert flips == {False, True} and len(shifts) > 10
    again = A.random_flip_and_translate(tf.constant(images), tf.constant([3, 4]),
                                      pad=2).numpy()
    np.testing.assert_array_equal(out, again)
