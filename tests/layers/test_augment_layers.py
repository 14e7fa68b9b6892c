"""RandomResizedCrop, RandomColorJitter, SimSiamAugment: the layer form of
kzoo.data.augment (one implementation), on every backend, in a model and
in tf.data, with the distribution of an independent NumPy sampler of the
augmentation's parameters (two-sample Kolmogorov-Smirnov).

Run under KERAS_BACKEND=tensorflow, jax and torch. TensorFlow is imported
under every backend: it runs the tf.data pipelines.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.layers import RandomColorJitter
from kzoo.layers import RandomResizedCrop
from kzoo.layers import SimSiamAugment
from kzoo.layers.random_resized_crop import crop_and_resize


def _np(x):
    return x.numpy() if isinstance(x, tf.Tensor) else \
        keras.ops.convert_to_numpy(x)


# One batch shape for most tests: JAX compiles its eager ops per shape.
def _images(n=8, h=8, w=8, seed=0):
    return np.random.default_rng(seed).uniform(
        size=(n, h, w, 3)).astype("float32")


LAYERS = {
    "crop": lambda seed=None: RandomResizedCrop(seed=seed),
    "jitter": lambda seed=None: RandomColorJitter(probability=1.0,
                                                  seed=seed),
    "simsiam": lambda seed=None: SimSiamAugment(seed=seed),
}


# --------------------------------------------------------------- basics


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_shape_dtype_range_and_uint8_input(name):
    x = _images()
    out = _np(LAYERS[name](seed=1)(x))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, x, atol=1e-3)
    # uint8 pixels are read as [0, 255]: the same as their float / 255.
    x8 = np.round(x * 255).astype("uint8")
    out8 = _np(LAYERS[name](seed=1)(x8))
    ref = _np(LAYERS[name](seed=1)(x8.astype("float32") / 255.0))
    assert out8.dtype == np.float32
    np.testing.assert_allclose(out8, ref, atol=1e-5)


def test_crop_output_size():
    out = _np(RandomResizedCrop(size=(5, 7), seed=0)(_images()))
    assert out.shape == (8, 5, 7, 3)
    # Outside training the whole image is resized (same sampling).
    full = _np(RandomResizedCrop(size=(5, 7))(_images(), training=False))
    ref = tf.image.crop_and_resize(_images(), [[0.0, 0.0, 1.0, 1.0]] * 8,
                                   tf.range(8), (5, 7)).numpy()
    np.testing.assert_allclose(full, ref, atol=1e-5)


@pytest.mark.parametrize("size", [(8, 8), (5, 7), (1, 3)])
def test_crop_sampler_matches_tf_crop_and_resize(size):
    x = _images()
    corners = np.random.default_rng(1).uniform(size=(8, 2, 2))
    boxes = np.concatenate([corners.min(1), corners.max(1)], -1)
    boxes = boxes.astype("float32")
    got = _np(crop_and_resize(keras.ops.convert_to_tensor(x),
                              keras.ops.convert_to_tensor(boxes), size))
    ref = tf.image.crop_and_resize(x, boxes, tf.range(8), size).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_seeded_fresh_per_call_and_per_image(name):
    x = np.repeat(_images(1), 8, axis=0)
    layer = LAYERS[name](seed=3)
    a, b = _np(layer(x)), _np(layer(x))
    np.testing.assert_array_equal(a, _np(LAYERS[name](seed=3)(x)))
    assert not np.allclose(a, b)  # a new draw every call
    assert len({a[i].round(4).tobytes() for i in range(8)}) == 8


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_identity_outside_training(name):
    x = _images()
    layer = LAYERS[name](seed=0)
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    model = keras.Sequential([keras.Input((8, 8, 3)), layer])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.allclose(_np(model(x, training=True)), x, atol=1e-3)


def test_disabled_stages_are_the_identity():
    x = _images()
    layer = SimSiamAugment(crop_scale=None, flip=False,
                           jitter_probability=0.0, grayscale_probability=0.0)
    np.testing.assert_array_equal(_np(layer(x)), x)
    jitter = RandomColorJitter(0.0, 0.0, 0.0, 0.0, probability=1.0)
    np.testing.assert_array_equal(_np(jitter(x)), x)
    crop = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(_np(crop(x)), x, atol=1e-5)


CONFIGS = {
    RandomResizedCrop: dict(size=(5, 6), scale=(0.3, 0.9), ratio=(0.5, 2.0),
                            seed=4, name="rrc", dtype="float64"),
    RandomColorJitter: dict(brightness=0.1, contrast=0.2, saturation=0.3,
                            hue=0.05, probability=0.5, seed=5, name="cj",
                            dtype="float64"),
    SimSiamAugment: dict(crop_scale=(0.3, 0.9), flip=False,
                         jitter=(0.1, 0.2, 0.3, 0.05), jitter_probability=0.5,
                         grayscale_probability=0.1, seed=6, name="sa",
                         dtype="float64"),
}


@pytest.mark.parametrize("cls", list(CONFIGS), ids=lambda c: c.__name__)
def test_get_config_round_trip(cls):
    kwargs = CONFIGS[cls]
    config = cls(**kwargs).get_config()
    for key, value in kwargs.items():
        got = config[key]
        if key == "dtype":
            got = got if isinstance(got, str) else got["config"]["name"]
        assert got == value, key
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(cls(**kwargs)))
    assert type(clone) is cls and clone.get_config() == config


def test_keras_save_and_load(tmp_path):
    inputs = keras.Input((8, 8, 3), dtype="uint8")
    views = SimSiamAugment(crop_scale=(0.3, 1.0), grayscale_probability=0.1,
                           seed=2, name="augment")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(
        views))
    model = keras.Model(inputs, outputs)
    assert model.get_layer("augment").output.dtype == "float32"
    x = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3), "uint8")
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("augment")
    assert isinstance(layer, SimSiamAugment)
    assert layer.get_config() == model.get_layer("augment").get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-5)
    out = _np(layer(x))
    assert out.shape == (8, 8, 8, 3) and 0.0 <= out.min() <= out.max() <= 1.0


def test_inside_a_compiled_training_step():
    # Under JAX, fit jits the step: the layer's draws are traced with the
    # seed-generator state threaded through, as Keras' Random* layers.
    model = keras.Sequential([
        keras.Input((8, 8, 3)), SimSiamAugment(seed=0),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = _images()
    history = model.fit(x, np.zeros((8, 1), "float32"), batch_size=4,
                        epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_in_tf_data_under_every_backend(name):
    # Under JAX / PyTorch the layer runs its TensorFlow version in the
    # pipeline (kzoo.data.augment, seeded by a tf.random.Generator).
    x = _images()

    def run(seed):
        ds = tf.data.Dataset.from_tensor_slices(x).batch(4).map(
            LAYERS[name](seed=seed))
        return np.concatenate([b.numpy() for b in ds])

    a = run(7)
    assert a.shape == x.shape and a.dtype == np.float32
    assert 0.0 <= a.min() <= a.max() <= 1.0
    assert not np.allclose(a, x, atol=1e-3)
    np.testing.assert_array_equal(a, run(7))
    layer = LAYERS[name](seed=1)  # (Keras layers: made outside the map)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4).map(
        lambda b: layer(b, training=False))
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in ds]), x)


def test_unbatched_images_and_per_example_tf_data_map():
    x = _images()
    out = _np(SimSiamAugment(seed=1)(x[0]))
    assert out.shape == (8, 8, 3) and 0.0 <= out.min() <= out.max() <= 1.0
    ds = tf.data.Dataset.from_tensor_slices(x).map(SimSiamAugment(seed=1))
    batch = next(iter(ds.batch(8))).numpy()
    assert batch.shape == x.shape and 0.0 <= batch.min() <= batch.max() <= 1
    assert not np.allclose(batch, x, atol=1e-3)


@pytest.mark.parametrize("make,match", [
    (lambda: RandomResizedCrop(size=(0, 4)), "Received: size="),
    (lambda: RandomResizedCrop(scale=(0.5, 0.2)), "Received: scale="),
    (lambda: RandomResizedCrop(ratio=(2.0, 1.0)), "Received: ratio="),
    (lambda: RandomColorJitter(brightness=1.5), "Received: brightness=1.5"),
    (lambda: RandomColorJitter(hue=0.6), "Received: hue=0.6"),
    (lambda: RandomColorJitter(probability=-0.1),
     r"Received: probability=-0.1"),
    (lambda: SimSiamAugment(crop_scale=(0.0, 1.0)), "Received: crop_scale="),
    (lambda: SimSiamAugment(jitter=(0.4, 0.4)), "Received: jitter="),
    (lambda: SimSiamAugment(grayscale_probability=2),
     "Received: grayscale_probability=2"),
    (lambda: SimSiamAugment(seed="a"), "Received: seed='a'"),
    (lambda: SimSiamAugment()(np.zeros((2, 4, 4, 1), "float32")),
     r"Received: input_shape=\(2, 4, 4, 1\)"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------- same distribution as a NumPy reference
#
# Each statistic is compared between the layer (and kzoo.data's
# SimSiamAugmentation) and NumPy draws of the parameters with a two-sample
# Kolmogorov-Smirnov test: the largest gap between the two empirical CDFs
# must stay under the critical value at ALPHA. N draws per side; with
# N = 3000 and ALPHA = 1e-5 the critical gap is 0.064, while a wrong
# parameter moves some statistic's CDF by 0.2 or more (checked below by
# test_a_wrong_parameter_is_detected: crop scale (0.5, 1), no flip,
# brightness / contrast / saturation 0.2 instead of 0.4, hue 0.05 instead
# of 0.1, jitter probability 0.5, greyscale probability 0.5).

N = 3000
ALPHA = 1e-5


def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov statistic: sup |F_a - F_b|."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_critical(n, m, alpha=ALPHA):
    """Asymptotic critical value of the two-sample KS statistic."""
    return math.sqrt(-0.5 * math.log(alpha / 2.0)) * math.sqrt(
        (n + m) / (n * m))


def ks_failures(stats, reference):
    """Names of the statistics whose distributions differ, with D."""
    failures = {}
    for key, ref in reference.items():
        got = stats[key]
        d = ks_statistic(got, ref)
        if d > ks_critical(len(got), len(ref)):
            failures[key] = round(d, 3)
    return failures


def test_ks_statistic_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.2, 1.0, size=200)
    assert ks_statistic(a, b) == pytest.approx(
        scipy_stats.ks_2samp(a, b).statistic)
    assert ks_statistic([0, 0, 1], [0, 1, 1]) == pytest.approx(1 / 3)


# Crops and flips: an image whose channels are the pixel's x and y
# position (normalised) is resampled bilinearly, so the output's corners
# give the crop box exactly, and its x direction the flip.

def _coordinate_images(n=N, size=8):
    ramp = np.linspace(0.0, 1.0, size, dtype="float32")
    x = np.broadcast_to(ramp[None, :], (size, size))
    y = np.broadcast_to(ramp[:, None], (size, size))
    image = np.stack([x, y, np.full_like(x, 0.5)], axis=-1)
    return np.repeat(image[None], n, axis=0)


def crop_statistics(out):
    x_first, x_last = out[:, 0, 0, 0], out[:, 0, -1, 0]
    y0, y1 = out[:, 0, 0, 1], out[:, -1, 0, 1]
    x0, x1 = np.minimum(x_first, x_last), np.maximum(x_first, x_last)
    width, height = x1 - x0, y1 - y0
    return {
        "area": width * height,
        "log_aspect": np.log(width / height),
        "center_x": (x0 + x1) / 2,
        "center_y": (y0 + y1) / 2,
        "flipped": (x_last < x_first).astype("float32"),
    }


# Colours: 8x8 images whose columns are [grey a, grey a, grey b, grey b,
# colour c x 4] (the same shape as the crop images, for JAX), values chosen
# so that no factor in range clips. Brightness f_b and contrast f_c act on
# the greys (saturation and hue leave them grey): a' = f_b (m + (a - m)
# f_c), with m the image's mean grey. Then the colour pixel before
# saturation is c1 = f_b (m + (c - m) f_c); saturation scales its chroma
# (max - min) by f_s, the hue shift rotates its hue and keeps its chroma;
# a greyscale image has no chroma left.

_A, _B = 0.35, 0.45
_C = np.array([0.48, 0.40, 0.33], "float32")
_LUMA = np.array([0.2989, 0.5870, 0.1140], "float32")


def _colour_images(n=N):
    pixels = np.stack([np.full(3, _A)] * 2 + [np.full(3, _B)] * 2
                      + [_C] * 4).astype("float32")
    return np.repeat(np.repeat(pixels[None, None], 8, axis=1), n, axis=0)


def _hue(rgb):
    high, low = rgb.max(-1), rgb.min(-1)
    chroma = np.maximum(high - low, 1e-12)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    h = np.where(high == r, ((g - b) / chroma) % 6.0,
                 np.where(high == g, (b - r) / chroma + 2.0,
                          (r - g) / chroma + 4.0))
    return h / 6.0


def colour_statistics(out):
    out = out[:, 0].astype("float64")                 # [n, 8, 3]
    m = float((_colour_images(1)[0, 0] @ _LUMA).mean())
    a_out, b_out, c_out = out[:, 0, 0], out[:, 2, 0], out[:, 4]
    chroma_out = c_out.max(-1) - c_out.min(-1)
    gray = chroma_out < 1e-4
    # Greyscale maps a grey v to 0.9999 v (the luma weights' sum): undone,
    # or unjittered greyscale images would read as factors of 0.9999.
    a_out = np.where(gray, a_out / _LUMA.sum(), a_out)
    b_out = np.where(gray, b_out / _LUMA.sum(), b_out)
    product = (a_out - b_out) / (_A - _B)             # f_b f_c
    brightness = (a_out - (_A - m) * product) / m
    contrast = product / brightness
    c1 = brightness[:, None] * m + product[:, None] * (_C - m)
    chroma_in = c1.max(-1) - c1.min(-1)
    shift = (_hue(c_out) - _hue(c1) + 0.5) % 1.0 - 0.5
    # Rounded: the unjittered images' factors (exactly 1 and 0) differ in
    # the last float32 bits between backends, which would split their
    # point masses and show as a CDF gap of their whole weight.
    return {
        "brightness": brightness.round(4),
        "contrast": contrast.round(4),
        "jittered": (np.abs(brightness - 1.0) > 1e-3).astype("float32"),
        "saturation": (chroma_out / chroma_in)[~gray].round(4),
        "hue": shift[~gray].round(4),
        "grayscale": gray.astype("float32"),
    }


def numpy_statistics(n=N, crop_scale=(0.2, 1.0), flip=True,
                     jitter=(0.4, 0.4, 0.4, 0.1), jitter_probability=0.8,
                     grayscale_probability=0.2, seed=0):
    """The statistics above drawn directly from the augmentation's
    parameter distributions with NumPy (an independent reference: no image
    is augmented): torchvision's crop box (area uniform in `crop_scale`,
    log aspect uniform in log(3/4, 4/3), clipped to the image, uniform
    position), a flip with probability 0.5, per jittered image (probability
    `jitter_probability`) uniform brightness / contrast / saturation
    factors and hue shift, greyscale with probability
    `grayscale_probability`."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(*crop_scale, n)
    aspect = np.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3), n))
    width = np.minimum(np.sqrt(area * aspect), 1.0)
    height = np.minimum(np.sqrt(area / aspect), 1.0)
    x0 = rng.uniform(size=n) * (1.0 - width)
    y0 = rng.uniform(size=n) * (1.0 - height)
    flipped = rng.uniform(size=n) < (0.5 if flip else 0.0)
    crops = {"area": width * height, "log_aspect": np.log(width / height),
             "center_x": x0 + width / 2, "center_y": y0 + height / 2,
             "flipped": flipped.astype("float32")}
    jittered = rng.uniform(size=n) < jitter_probability

    def factor(strength):
        return np.where(jittered, rng.uniform(1 - strength, 1 + strength, n),
                        1.0).round(4)

    brightness, contrast, saturation = (factor(j) for j in jitter[:3])
    hue = np.where(jittered, rng.uniform(-jitter[3], jitter[3], n),
                   0.0).round(4)
    gray = rng.uniform(size=n) < grayscale_probability
    colours = {"brightness": brightness, "contrast": contrast,
               "jittered": jittered.astype("float32"),
               "saturation": saturation[~gray], "hue": hue[~gray],
               "grayscale": gray.astype("float32")}
    return crops, colours


@pytest.fixture(scope="module")
def reference():
    return numpy_statistics()


def _augment(images, mode, **kwargs):
    if mode == "kzoo.data":  # the tf.data transform, on [0, 255] pixels
        augment = kzoo.data.SimSiamAugmentation(**kwargs)
        return augment(images * 255.0, tf.constant([11, 12])).numpy() / 255.0
    layer = SimSiamAugment(seed=5, **kwargs)
    if mode == "tf.data":
        return next(iter(tf.data.Dataset.from_tensors(images).map(layer)))
    return _np(layer(images))


def _layer_statistics(mode="eager", **kwargs):
    crop_kwargs = {k: v for k, v in kwargs.items()
                   if k in ("crop_scale", "flip")}
    colour_kwargs = {k: v for k, v in kwargs.items()
                     if k not in ("crop_scale", "flip")}
    crops = _augment(_coordinate_images(), mode, jitter_probability=0.0,
                     grayscale_probability=0.0, **crop_kwargs)
    colours = _augment(_colour_images(), mode, crop_scale=None, flip=False,
                       **colour_kwargs)
    return crop_statistics(_np(crops)), colour_statistics(_np(colours))


def test_recovered_parameters_are_in_range(reference):
    for crops, colours in (reference, _layer_statistics()):
        assert crops["area"].min() > 0.2 - 1e-4
        assert crops["area"].max() < 1.0 + 1e-4
        assert np.abs(crops["log_aspect"]).max() < math.log(4 / 3) + 1e-3
        for key in ("brightness", "contrast", "saturation"):
            values = colours[key]
            assert values.min() > 0.6 - 1e-3 and values.max() < 1.4 + 1e-3
        assert np.abs(colours["hue"]).max() < 0.1 + 1e-3


def test_the_numpy_reference_tells_a_wrong_parameter():
    # Two NumPy draws with the same parameters agree; a wrong parameter
    # moves its statistic's CDF past the critical gap.
    crops, colours = numpy_statistics(seed=1)
    right = {**crops, **colours}
    reference = {**numpy_statistics()[0], **numpy_statistics()[1]}
    assert not ks_failures(right, reference)
    wrong = {**numpy_statistics(crop_scale=(0.5, 1.0), seed=2)[0]}
    assert "area" in ks_failures(wrong, numpy_statistics()[0])


@pytest.mark.parametrize("mode", ["eager", "tf.data", "kzoo.data"])
def test_same_distribution_as_the_numpy_reference(reference, mode):
    crops, colours = _layer_statistics(mode)
    failures = {**ks_failures(crops, reference[0]),
                **ks_failures(colours, reference[1])}
    assert not failures, failures


def test_stages_draw_independently():
    # Left half red, right half blue: the first pixel tells the flip (its
    # grey level too), the chroma the greyscale. Stages seeded alike would
    # draw the same uniforms: every greyscale image also flipped.
    images = np.zeros((N, 8, 8, 3), "float32")
    images[:, :, :4, 0], images[:, :, 4:, 2] = 1.0, 1.0
    out = _np(SimSiamAugment(crop_scale=None, jitter_probability=0.0,
                             seed=0)(images))
    first = out[:, 0, 0]
    gray = first.max(-1) - first.min(-1) < 1e-4
    flipped = np.where(gray, first[:, 0] < 0.2, first[:, 2] > first[:, 0])
    tolerance = 4 * math.sqrt(0.1 * 0.9 / N)
    assert abs(flipped.mean() - 0.5) < 4 * math.sqrt(0.25 / N)
    assert abs(gray.mean() - 0.2) < 4 * math.sqrt(0.16 / N)
    assert abs((flipped & gray).mean() - 0.1) < tolerance


_SLOW = pytest.mark.slow  # (each about 0.3 s under PyTorch on 2 cores)
_CROP = {"area", "log_aspect", "center_x", "center_y"}
_JITTER = {"brightness", "contrast", "jittered", "saturation", "hue"}


@pytest.mark.parametrize("kwargs,statistic,affected", [
    (dict(crop_scale=(0.5, 1.0)), "area", _CROP),
    (dict(grayscale_probability=0.5), "grayscale", {"grayscale"}),
    pytest.param(dict(flip=False), "flipped", {"flipped"}, marks=_SLOW),
    pytest.param(dict(jitter=(0.2, 0.4, 0.4, 0.1)), "brightness",
                 {"brightness"}, marks=_SLOW),
    pytest.param(dict(jitter=(0.4, 0.2, 0.4, 0.1)), "contrast",
                 {"contrast"}, marks=_SLOW),
    pytest.param(dict(jitter=(0.4, 0.4, 0.2, 0.1)), "saturation",
                 {"saturation"}, marks=_SLOW),
    pytest.param(dict(jitter=(0.4, 0.4, 0.4, 0.05)), "hue", {"hue"},
                 marks=_SLOW),
    pytest.param(dict(jitter_probability=0.5), "jittered", _JITTER,
                 marks=_SLOW),
])
def test_a_wrong_parameter_is_detected(reference, kwargs, statistic,
                                       affected):
    # The test above would fail if the layer had this parameter wrong: the
    # layer with it, against the reference with the right one, differs in
    # `statistic`, and in no statistic that the parameter does not affect.
    crops, colours = _layer_statistics(**kwargs)
    failures = {**ks_failures(crops, reference[0]),
                **ks_failures(colours, reference[1])}
    assert statistic in failures, failures
    assert set(failures) <= affected, failures
