"""BarlowTwinsLoss / barlow_twins_loss (Zbontar et al., 2021)."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import as_dtype
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import assert_finite
from tests.backend_utils import dtype_of
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def ref(z1, z2, lambda_, epsilon):
    """Loops: standardise each dimension (biased variance), c, the sums."""
    z1, z2 = np.asarray(z1, "float64"), np.asarray(z2, "float64")
    n, d = z1.shape

    def standardise(z):
        out = np.zeros_like(z)
        for j in range(d):
            mean = sum(z[k, j] for k in range(n)) / n
            var = sum((z[k, j] - mean) ** 2 for k in range(n)) / n
            for k in range(n):
                out[k, j] = (z[k, j] - mean) / np.sqrt(var + epsilon)
        return out

    a, b = standardise(z1), standardise(z2)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[k, i] * b[k, j] for k in range(n)) / n
            loss += (1 - c_ij) ** 2 if i == j else lambda_ * c_ij ** 2
    return loss


def _views(seed=0, n=8, d=5):
    rng = np.random.default_rng(seed)
    z1 = rng.normal(size=(n, d)).astype("float32")
    return z1, (z1 + 0.5 * rng.normal(size=(n, d))).astype("float32")


def test_hand_computed():
    # 4 x 3 embeddings. Standardised columns (mean 0, biased variance 1):
    #   z1: A = (1, -1, 1, -1), B = (1, 1, -1, -1), a constant column -> 0
    #   z2: A (from 3A + 1), C = (1, -1, -1, 1), B (from 10B)
    z1 = np.array([[1, 2, 5], [-1, 2, 5], [1, -2, 5], [-1, -2, 5]], "float32")
    z2 = np.array([[4, 1, 10], [-2, -1, 10], [4, -1, -10], [-2, 1, -10]],
                  "float32")
    # c = z1n.T @ z2n / 4: A.A = 4, B.B = 4, A.C = A.B = B.C = 0
    #   c = [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    # diagonal: (1 - 1)^2 + (1 - 0)^2 + (1 - 0)^2 = 2; off-diagonal: 1^2
    for lambda_ in (0.0051, 0.5):
        expected = 2.0 + lambda_ * 1.0
        got = kzoo.losses.barlow_twins_loss(z1, z2, lambda_, epsilon=1e-12)
        assert float(got) == pytest.approx(expected, rel=1e-6)
        assert ref(z1, z2, lambda_, 1e-12) == pytest.approx(expected, rel=1e-9)
    loss = kzoo.losses.BarlowTwinsLoss(lambda_=0.5, epsilon=1e-12)
    assert float(loss(None, {"z1": z1, "z2": z2})) == pytest.approx(2.5, rel=1e-6)
    # BatchNorm's epsilon shrinks a column of variance v by
    # sqrt(v / (v + eps)); the raw variances are 1, 4 (z1) and 9, 100 (z2):
    eps = 0.5

    def shrink(v):
        return np.sqrt(v / (v + eps))

    c_00 = shrink(1) * shrink(9)
    c_12 = shrink(4) * shrink(100)
    assert float(kzoo.losses.barlow_twins_loss(z1, z2, 0.5, eps)) == \
        pytest.approx((1 - c_00) ** 2 + 2 + 0.5 * c_12 ** 2, rel=1e-6)


def test_identity_cross_correlation_is_the_minimum():
    z = np.array([[1, 1], [-1, 1], [1, -1], [-1, -1]], "float32") * 3 + 7
    assert float(kzoo.losses.barlow_twins_loss(z, z, epsilon=0.0)) == \
        pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("lambda_,epsilon", [(0.0051, 1e-5), (1.0, 0.0),
                                             (0.0, 1e-3)])
def test_matches_numpy(lambda_, epsilon):
    z1, z2 = _views()
    expected = ref(z1, z2, lambda_, epsilon)
    got = kzoo.losses.barlow_twins_loss(z1, z2, lambda_, epsilon)
    assert dtype_of(got) == "float32" and tuple(got.shape) == ()
    assert float(got) == pytest.approx(expected, rel=1e-5)
    loss = kzoo.losses.BarlowTwinsLoss(lambda_=lambda_, epsilon=epsilon)
    assert float(loss(None, {"z1": z1, "z2": z2})) == pytest.approx(
        expected, rel=1e-5)


def test_invariances():
    z1, z2 = _views(1)
    base = float(kzoo.losses.barlow_twins_loss(z1, z2))
    # symmetric in the two views (c is transposed)
    assert float(kzoo.losses.barlow_twins_loss(z2, z1)) == pytest.approx(
        base, rel=1e-5)
    # the order of the pairs in the batch does not matter
    perm = np.random.default_rng(0).permutation(len(z1))
    assert float(kzoo.losses.barlow_twins_loss(z1[perm], z2[perm])) == \
        pytest.approx(base, rel=1e-5)
    # per-dimension shifts and positive scales are standardised away
    scale = np.array([0.5, 2.0, 3.0, 1.0, 4.0], "float32")
    shifted = z1 * scale + np.arange(5, dtype="float32")
    assert float(kzoo.losses.barlow_twins_loss(shifted, z2, epsilon=0.0)) == \
        pytest.approx(float(kzoo.losses.barlow_twins_loss(z1, z2, epsilon=0.0)),
                      rel=1e-4)


def test_reduction_of_a_batch_level_loss():
    z1, z2 = _views(2, n=6)
    y_pred = {"z1": z1, "z2": z2}
    batch = float(kzoo.losses.barlow_twins_loss(z1, z2))
    mean = kzoo.losses.BarlowTwinsLoss()(None, y_pred)
    assert float(mean) == pytest.approx(batch, rel=1e-6)
    total = kzoo.losses.BarlowTwinsLoss(reduction="sum")(None, y_pred)
    assert float(total) == pytest.approx(6 * batch, rel=1e-6)
    none = kzoo.losses.BarlowTwinsLoss(reduction="none")(None, y_pred)
    np.testing.assert_allclose(to_numpy(none), np.full(6, batch), rtol=1e-6)
    with pytest.raises(ValueError, match=r"sample_weight.*Received: "
                                         r"sample_weight=ndarray of shape \(6,\)"):
        kzoo.losses.BarlowTwinsLoss()(None, y_pred, sample_weight=np.ones(6))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_degenerate_batches(dtype):
    loss = kzoo.losses.BarlowTwinsLoss()
    z1, z2 = _views(3, n=4, d=3)
    cases = [
        (z1, z2),
        (z1[:1], z2[:1]),                          # N = 1
        (np.zeros_like(z1), np.zeros_like(z2)),    # all dimensions constant
        (np.ones_like(z1), z2),                    # one view collapsed
        (np.concatenate([z1[:, :2], np.full((4, 1), 3.0, "float32")], 1), z2),
        (z1, z1),                                  # identical views
    ]
    for a, b in cases:
        value, grads = value_and_grad(
            lambda va, vb: loss(None, {"z1": va, "z2": vb}),
            as_dtype(a, dtype), as_dtype(b, dtype))
        assert_finite(value, grads)
    # constant dimensions standardise to 0: every c_ii = 0, loss = D
    assert float(loss(None, {"z1": z1[:1], "z2": z2[:1]})) == 3.0
    zeros = np.zeros_like(z1)
    assert float(loss(None, {"z1": zeros, "z2": zeros})) == 3.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    z1, z2 = _views(4)
    assert_computed_in_float32(kzoo.losses.barlow_twins_loss, z1, z2,
                               dtype=dtype)
    assert_computed_in_float32(kzoo.losses.standardize_over_batch, z1,
                               dtype=dtype)
    loss = kzoo.losses.BarlowTwinsLoss()
    assert_computed_in_float32(lambda a, b: loss(None, {"z1": a, "z2": b}),
                               z1, z2, dtype=dtype)


def test_bad_arguments():
    for name, value in (("lambda_", -0.1), ("epsilon", -1e-5),
                        ("lambda_", "1")):
        with pytest.raises(ValueError, match=f"Received: {name}={value!r}"):
            kzoo.losses.BarlowTwinsLoss(**{name: value})
        with pytest.raises(ValueError, match=f"Received: {name}={value!r}"):
            kzoo.losses.barlow_twins_loss(np.ones((2, 2)), np.ones((2, 2)),
                                          **{name: value})
    with pytest.raises(ValueError, match=r"Received: z1.shape=\(4, 2\), "
                                         r"z2.shape=\(4, 3\)"):
        kzoo.losses.barlow_twins_loss(np.ones((4, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"Received: y_pred keys=\['z1'\]"):
        kzoo.losses.BarlowTwinsLoss()(None, {"z1": np.ones((2, 2), "float32")})


def test_config_round_trip():
    loss = kzoo.losses.BarlowTwinsLoss(lambda_=0.01, epsilon=1e-4,
                                       reduction="sum", name="bt")
    config = loss.get_config()
    assert config["lambda_"] == 0.01 and config["epsilon"] == 1e-4
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, kzoo.losses.BarlowTwinsLoss)
    assert clone.get_config() == config
