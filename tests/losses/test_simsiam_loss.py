import numpy as np
import pytest

import kzoo
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import BACKEND
from tests.backend_utils import as_dtype
from tests.backend_utils import f32
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def _views(seed=0, b=6, d=5):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=(b, d)).astype("float32")
            for k in ("p1", "p2", "z1", "z2")}


def _cos(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_matches_hand_computed_case():
    # p1 = (1, 0), z2 = (1, 1): cos = 1/sqrt(2); p2 = (0, 2), z1 = (0, -3): cos = -1.
    y = {"p1": np.array([[1.0, 0.0]], "float32"),
         "z2": np.array([[1.0, 1.0]], "float32"),
         "p2": np.array([[0.0, 2.0]], "float32"),
         "z1": np.array([[0.0, -3.0]], "float32")}
    expected = 0.5 * (-1 / np.sqrt(2)) + 0.5 * 1.0
    got = float(kzoo.losses.SimSiamLoss()(None, y))
    assert got == pytest.approx(expected, abs=1e-6)


def test_matches_numpy_reference_and_functional_twin():
    y = _views()
    ref = 0.5 * -_cos(y["p1"], y["z2"]) + 0.5 * -_cos(y["p2"], y["z1"])
    per_example = kzoo.losses.simsiam_loss(y["p1"], y["p2"], y["z1"], y["z2"])
    np.testing.assert_allclose(to_numpy(per_example), ref, rtol=1e-5, atol=1e-6)
    loss = kzoo.losses.SimSiamLoss()(None, y)
    assert float(loss) == pytest.approx(ref.mean(), abs=1e-6)


def test_sample_weight_and_reduction_left_to_base_class():
    y = _views()
    w = np.array([1, 0, 0, 0, 0, 0], "float32")
    per_example = to_numpy(kzoo.losses.simsiam_loss(y["p1"], y["p2"], y["z1"], y["z2"]))
    weighted = kzoo.losses.SimSiamLoss()(None, y, sample_weight=w)
    assert float(weighted) == pytest.approx(per_example[0] / 6, abs=1e-6)
    none = kzoo.losses.SimSiamLoss(reduction="none")(None, y)
    assert none.shape == (6,)


def test_stop_gradient_on_targets():
    y = _views()
    keys = list(y)
    _, grads = value_and_grad(
        lambda *v: kzoo.losses.SimSiamLoss()(None, dict(zip(keys, v))),
        *y.values())
    grads = dict(zip(keys, grads))
    if BACKEND == "jax":  # JAX has no None gradient: exactly zero
        assert np.all(grads["z1"] == 0) and np.all(grads["z2"] == 0)
    else:
        assert grads["z1"] is None and grads["z2"] is None
    assert np.abs(grads["p1"]).sum() > 0
    assert np.abs(grads["p2"]).sum() > 0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_degenerate_inputs_are_finite(dtype):
    zeros = as_dtype(np.zeros((4, 8)), dtype)
    same = as_dtype(np.ones((4, 8)), dtype)
    for v in (zeros, same):
        loss, grads = value_and_grad(
            lambda p1, p2, z1, z2: kzoo.losses.SimSiamLoss()(
                None, {"p1": p1, "p2": p2, "z1": z1, "z2": z2}),
            v, v, v, v)
        assert np.isfinite(float(f32(loss)))
        for g in grads[:2]:
            assert g is not None and np.all(np.isfinite(f32(g)))
    # identical views reach the minimum
    ones = {k: as_dtype(np.ones((4, 8)), dtype) for k in ("p1", "p2", "z1", "z2")}
    assert float(kzoo.losses.SimSiamLoss()(None, ones)) == pytest.approx(-1.0, abs=1e-2)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    y = _views(1)
    assert_computed_in_float32(kzoo.losses.simsiam_loss, *y.values(),
                               dtype=dtype)
    assert_computed_in_float32(kzoo.losses.negative_cosine_similarity,
                               y["p1"], y["z2"], dtype=dtype)
    assert_computed_in_float32(
        lambda *v: kzoo.losses.SimSiamLoss()(None, dict(zip(y, v))),
        *y.values(), dtype=dtype)


def test_missing_keys_error():
    with pytest.raises(ValueError, match="Received: y_pred keys"):
        kzoo.losses.SimSiamLoss()(None, {"p1": np.ones((2, 2), "float32")})
