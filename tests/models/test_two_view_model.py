"""TwoViewModel's collapse monitor: the `z_std` metric."""

import keras
import numpy as np
import pytest

import kzoo
from kzoo.models.two_view_model import normalized_embedding_std
from tests.models.test_simsiam import _tiny_backbone


def _models(**kw):
    return {
        "simsiam": lambda: kzoo.models.SimSiam(
            _tiny_backbone(), projection_dim=8, projection_hidden_dims=[8],
            predictor_dim=4, **kw),
        "simclr": lambda: kzoo.models.SimCLR(
            _tiny_backbone(), projection_dim=8, **kw),
        "barlow_twins": lambda: kzoo.models.BarlowTwins(
            _tiny_backbone(), projection_dims=(8, 8, 8), **kw),
    }


def _views(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (n, 8, 8, 3)).astype("float32")
    return {"view_1": x, "view_2": x[::-1].copy()}


def test_formula():
    rng = np.random.default_rng(0)
    # isotropic Gaussian embeddings are spread over the sphere: ~1
    z = rng.normal(size=(4096, 16)).astype("float32")
    assert float(normalized_embedding_std(z)) == pytest.approx(1.0, abs=0.02)
    # scale-free (rows are L2-normalised)
    assert float(normalized_embedding_std(z * 50)) == pytest.approx(
        float(normalized_embedding_std(z)), rel=1e-5)
    # collapsed: every embedding the same (or a multiple of it): 0
    same = np.tile(rng.normal(size=(1, 16)), (32, 1)).astype("float32")
    assert float(normalized_embedding_std(same)) == pytest.approx(0.0, abs=1e-6)
    scaled = same * rng.uniform(1, 5, size=(32, 1)).astype("float32")
    assert float(normalized_embedding_std(scaled)) == pytest.approx(0.0, abs=1e-6)
    assert float(normalized_embedding_std(np.zeros((4, 3), "float32"))) == 0.0
    # hand computed: rows (1, 0), (0, 1): each dimension is (1, 0), std 1/2;
    # mean std 1/2, times sqrt(2)
    z = np.array([[3.0, 0.0], [0.0, 2.0]], "float32")
    assert float(normalized_embedding_std(z)) == pytest.approx(
        np.sqrt(2) / 2, rel=1e-6)
    # numpy reference
    z = rng.normal(size=(10, 5)).astype("float32") + 1.0
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    assert float(normalized_embedding_std(z)) == pytest.approx(
        zn.std(axis=0).mean() * np.sqrt(5), rel=1e-5)


@pytest.mark.parametrize("name", ["simsiam", "simclr", "barlow_twins"])
def test_z_std_is_logged_by_fit_and_evaluate(name):
    keras.utils.set_random_seed(0)
    model = _models()[name]()
    assert model.z_std_tracker in model.metrics
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    views = _views()
    history = model.fit(views, batch_size=8, epochs=2, verbose=0).history
    assert set(history) == {"loss", "z_std"}
    assert len(history["z_std"]) == 2
    assert all(0.0 <= v <= 1.0 for v in history["z_std"])
    logs = model.evaluate(views, batch_size=8, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "z_std"}
    # switched off: no metric, and the setting is serialised
    off = _models(collapse_monitor=False)[name]()
    off.compile(optimizer=keras.optimizers.SGD(0.01))
    assert off.get_config()["collapse_monitor"] is False
    assert type(off).from_config(off.get_config()).collapse_monitor is False
    assert model.get_config()["collapse_monitor"] is True
    history = off.fit(views, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"loss"}


def test_z_std_of_collapsed_and_spread_embeddings():
    model = _models()["simclr"]()
    model.compile(optimizer="sgd")
    rng = np.random.default_rng(1)
    collapsed = np.tile(rng.normal(size=(1, 16)), (64, 1)).astype("float32")
    logs = model.compute_metrics(None, None, {"z1": collapsed, "z2": collapsed})
    assert float(logs["z_std"]) == pytest.approx(0.0, abs=1e-6)
    model.reset_metrics()  # what Keras does at each epoch
    spread = rng.normal(size=(2048, 16)).astype("float32")
    logs = model.compute_metrics(None, None, {"z1": spread, "z2": collapsed})
    assert float(logs["z_std"]) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("name", ["simclr", "barlow_twins"])
def test_monitor_changes_neither_loss_nor_gradients(name):
    views = _views(16, seed=2)
    results = []
    for monitor in (True, False):
        keras.utils.set_random_seed(4)
        model = _models(collapse_monitor=monitor)[name]()
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        history = model.fit(views, batch_size=8, epochs=2, shuffle=False,
                            verbose=0).history
        results.append((history["loss"], model.get_weights()))
    (loss_on, w_on), (loss_off, w_off) = results
    assert loss_on == loss_off
    for a, b in zip(w_on, w_off):
        np.testing.assert_array_equal(a, b)


# Views made by the model (`augmentation`): raw uint8 batches in, no tf.data.


def _augmentation(**kw):
    from kzoo.runs import pixel_view_augmentation

    return pixel_view_augmentation(**{"seed": 5, **kw})


def _raw_images(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 8, 8, 3)).astype("uint8")


def _seed_states(layer):
    return [keras.ops.convert_to_numpy(v) for v in layer.variables]


@pytest.mark.parametrize("name", ["simsiam", "simclr", "barlow_twins"])
def test_augmentation_fits_on_raw_images(name):
    keras.utils.set_random_seed(0)
    model = _models(augmentation=_augmentation())[name]()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    before = _seed_states(model.augmentation)
    assert before  # the seed generators' states are the model's variables
    x = _raw_images()
    history = model.fit(kzoo.arrays.TwoViewArrays(x, 8, seed=0), epochs=1,
                        shuffle=False, verbose=0).history
    assert set(history) == {"loss", "z_std"}
    assert np.isfinite(history["loss"]).all()
    # The compiled step wrote the advanced seeds back: new draws next step.
    after = _seed_states(model.augmentation)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    # Inference: the backbone's features of the images as given.
    np.testing.assert_allclose(model.predict(x[:4], verbose=0),
                               model.backbone.predict(x[:4], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_augmentation_draws_two_different_views():
    keras.utils.set_random_seed(1)
    model = _models(augmentation=_augmentation())["simclr"]()
    x = _raw_images(8)
    out = model(x, training=True)
    assert set(out) == {"z1", "z2"}
    assert not np.allclose(keras.ops.convert_to_numpy(out["z1"]),
                           keras.ops.convert_to_numpy(out["z2"]))
    # Without an augmentation a training call on images is unchanged.
    plain = _models()["simclr"]()
    assert tuple(plain(x.astype("float32"), training=True).shape) == (8, 4)


def test_identity_augmentation_gives_the_images_back():
    """Two draws of an identity augmentation: both views are the images,
    so the loss is the one of a two-view dict of the same pixels."""
    keras.utils.set_random_seed(2)
    identity = _augmentation(crop_scale=None, flip=False,
                             jitter_probability=0.0,
                             grayscale_probability=0.0)
    x = _raw_images(8)
    views = keras.ops.convert_to_numpy(identity(x, training=True))
    np.testing.assert_allclose(views, x.astype("float32"), atol=1e-4)
    model = _models(augmentation=identity)["simsiam"]()
    from_images = model(x, training=True)
    from_dict = model({"view_1": x.astype("float32"),
                       "view_2": x.astype("float32")}, training=True)
    to_numpy = keras.ops.convert_to_numpy
    for key in ("p1", "p2", "z1", "z2"):
        np.testing.assert_allclose(to_numpy(from_images[key]),
                                   to_numpy(from_dict[key]),
                                   rtol=1e-4, atol=1e-5)


def test_augmentation_is_serialised(tmp_path):
    keras.utils.set_random_seed(3)
    aug = _augmentation(crop_scale=(0.5, 1.0))
    model = _models(augmentation=aug)["simsiam"]()
    config = model.get_config()
    clone = type(model).from_config(config)
    stage = clone.augmentation.layers[0]
    assert isinstance(stage, kzoo.layers.SimSiamAugment)
    assert stage.crop_scale == (0.5, 1.0) and stage.seed == 5
    assert _models()["simsiam"]().get_config()["augmentation"] is None
    model.compile(optimizer="sgd")
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _raw_images(3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    assert loaded.augmentation.layers[0].crop_scale == (0.5, 1.0)
    with pytest.raises(ValueError, match="augmentation"):
        _models(augmentation="simsiam")["simsiam"]()


@pytest.mark.tf_backend
def test_on_device_views_have_the_range_of_two_view_dataset():
    """The backbone reads the same pixel range from either input path:
    `kzoo.data.two_view_dataset` yields [0, 255], and so does
    `pixel_view_augmentation` (SimSiamAugment's [0, 1], times 255)."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (256, 16, 16, 3)).astype("uint8")
    identity = dict(crop_scale=None, flip=False, jitter_probability=0.0,
                    grayscale_probability=0.0)
    tf_views = next(iter(kzoo.data.two_view_dataset(
        x, 256, augment=kzoo.data.SimSiamAugmentation(**identity),
        shuffle=False)))
    device = np.asarray(_augmentation(**identity)(x, training=True))
    for view in ("view_1", "view_2"):
        np.testing.assert_allclose(np.asarray(tf_views[view]), device,
                                   atol=1e-4)
    np.testing.assert_allclose(device, x.astype("float32"), atol=1e-4)
    # The full augmentation: the same range and close statistics.
    tf_full = np.asarray(next(iter(kzoo.data.two_view_dataset(
        x, 256, seed=0, shuffle=False)))["view_1"])
    device_full = np.asarray(_augmentation()(x, training=True))
    for views in (tf_full, device_full):
        assert views.min() >= 0.0 and views.max() <= 255.0
        assert views.max() > 200.0  # pixels, not [0, 1]
    assert abs(tf_full.mean() - device_full.mean()) < 8.0
    assert abs(tf_full.std() - device_full.std()) < 8.0
