import inspect

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy
from tests.conftest import reload_two_view_model
from tests.models.test_simsiam import _tiny_backbone


def _model(**kw):
    kw.setdefault("projection_dims", (16, 16, 8))
    return kzoo.models.BarlowTwins(_tiny_backbone(), **kw)


def _images(seed, n=8):
    return np.random.default_rng(seed).integers(
        0, 255, (n, 8, 8, 3)).astype("float32")


def test_fit_lowers_the_loss_and_calls_return_features():
    keras.utils.set_random_seed(0)
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    # fixed views (a noisy copy): with random crops, the loss of so small a
    # model jumps from epoch to epoch
    rng = np.random.default_rng(0)
    x = _images(0, 64)
    noisy = np.clip(x + rng.normal(0, 20, x.shape), 0, 255).astype("float32")
    views = {"view_1": x, "view_2": noisy}
    history = model.fit(views, batch_size=32, epochs=4, shuffle=False,
                        verbose=0).history
    loss = history["loss"]
    assert all(np.isfinite(loss)) and loss[-1] < loss[0]
    assert all(0.0 <= v <= 1.0 for v in history["z_std"])
    assert model.predict(x[:5], verbose=0).shape == (5, 4)
    out = model({"view_1": x[:2], "view_2": x[:2]})
    assert set(out) == {"z1", "z2"} and out["z1"].shape == (2, 8)


def test_projector_is_the_papers():
    model = _model(projection_dims=[6, 7, 5])
    layers = [type(layer).__name__ for layer in model.projector._blocks]
    assert layers == ["Dense", "BatchNormalization", "Activation",
                      "Dense", "BatchNormalization", "Activation", "Dense"]
    dense = [layer for layer in model.projector._blocks
             if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [6, 7, 5]
    assert not any(d.use_bias for d in dense)
    defaults = inspect.signature(kzoo.models.BarlowTwins).parameters
    assert tuple(defaults["projection_dims"].default) == (5000, 5000, 5000)
    assert defaults["lambda_"].default == 0.0051


def test_loss_is_barlow_twins_of_the_projections():
    keras.utils.set_random_seed(1)
    model = _model(lambda_=0.2)
    x = _images(1)
    views = {"view_1": x, "view_2": x[::-1].copy()}
    y_pred = model(views, training=False)
    loss = model.compute_loss(x=views, y_pred=y_pred)
    ref = kzoo.losses.barlow_twins_loss(y_pred["z1"], y_pred["z2"], 0.2)
    np.testing.assert_allclose(to_numpy(loss), to_numpy(ref), rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: projection_dims=\[\]"):
        _model(projection_dims=[])
    with pytest.raises(ValueError, match=r"Received: projection_dims=\(4, 0\)"):
        _model(projection_dims=(4, 0))
    with pytest.raises(ValueError, match=r"Received: lambda_=-1"):
        _model(lambda_=-1)


def test_saves_and_loads_as_keras_file(tmp_path):
    keras.utils.set_random_seed(3)
    model = _model(lambda_=0.01, collapse_monitor=False)
    model.compile(optimizer="sgd")
    path = str(tmp_path / "barlow_twins.keras")
    loaded = reload_two_view_model(model, path, _images(3, 3))
    assert loaded.lambda_ == 0.01 and loaded.projection_dims == [16, 16, 8]
    assert loaded.collapse_monitor is False
    config = model.get_config()
    clone = kzoo.models.BarlowTwins.from_config(config)
    assert clone.get_config()["lambda_"] == 0.01
