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
