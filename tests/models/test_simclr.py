import keras
import numpy as np

import kzoo
from tests.backend_utils import to_numpy
from tests.conftest import reload_two_view_model
from tests.models.test_simsiam import _tiny_backbone


def _model(**kw):
    return kzoo.models.SimCLR(_tiny_backbone(), projection_dim=8, **kw)


def _images(seed, n=8):
    return np.random.default_rng(seed).integers(
        0, 255, (n, 8, 8, 3)).astype("float32")


def test_fit_lowers_the_loss_and_calls_return_features():
    keras.utils.set_random_seed(0)
    model = _model(temperature=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    x = _images(0, 64).astype("uint8")
    ds = kzoo.data.two_view_dataset(x, batch_size=16, seed=0)
    loss = model.fit(ds, epochs=4, verbose=0).history["loss"]
    assert all(np.isfinite(loss)) and loss[-1] < loss[0]
    assert model.predict(x[:5].astype("float32"), verbose=0).shape == (5, 4)
    out = model({"view_1": x[:2].astype("float32"),
                 "view_2": x[:2].astype("float32")})
    assert set(out) == {"z1", "z2"} and out["z1"].shape == (2, 8)


def test_default_head_is_as_wide_as_the_features():
    model = _model()
    assert model.projector.hidden_dims == [4]
    assert model.temperature == 0.1


def test_loss_is_nt_xent_of_the_projections():
    keras.utils.set_random_seed(1)
    model = _model(temperature=0.2)
    x = _images(1)
    views = {"view_1": x, "view_2": x[::-1].copy()}
    y_pred = model(views, training=False)
    loss = model.compute_loss(x=views, y_pred=y_pred)
    ref = np.mean(to_numpy(kzoo.losses.nt_xent_loss(y_pred["z1"], y_pred["z2"], 0.2)))
    np.testing.assert_allclose(to_numpy(loss), ref, rtol=1e-5)
    # weighted: sample_weight per image
    w = np.array([1, 0, 0, 0, 0, 0, 0, 1], "float32")
    weighted = model.compute_loss(x=views, y_pred=y_pred, sample_weight=w)
    per_pair = to_numpy(kzoo.losses.nt_xent_loss(y_pred["z1"], y_pred["z2"], 0.2))
    np.testing.assert_allclose(to_numpy(weighted), (per_pair[0] + per_pair[-1]) / 8,
                               rtol=1e-5)


def test_bad_views_and_temperature_are_errors():
    model = _model()
    x = _images(2, 2)
    try:
        model({"view_1": x, "view_3": x})
    except ValueError as e:
        assert "Received: inputs keys=['view_1', 'view_3']" in str(e)
    else:
        raise AssertionError("expected a ValueError")
    try:
        _model(temperature=0.0)
    except ValueError as e:
        assert "temperature" in str(e)
    else:
        raise AssertionError("expected a ValueError")


def test_saves_and_loads_as_keras_file(tmp_path):
    keras.utils.set_random_seed(3)
    model = _model(temperature=0.3)
    model.compile(optimizer="sgd")
    path = str(tmp_path / "simclr.keras")
    loaded = reload_two_view_model(model, path, _images(3, 3))
    assert loaded.temperature == 0.3
