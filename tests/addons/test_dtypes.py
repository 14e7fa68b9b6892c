"""tensorflow-addons 0.23's own unit-test cases for its metric-learning
losses, re-run on kzoo.addons for the dtypes tfa ran them with, with tfa's
tolerances per dtype; and the dtype convention (tfa's result dtype).

tfa ran the triplet and lifted cases for float32, float16 and bfloat16
(their classes return the input dtype), the contrastive, N-pairs and
distance cases for float32 only; kzoo runs those for float16 / bfloat16 too
(marked "kzoo" below), since its functions and classes keep the input dtype
for every loss. tfa drew random inputs without a seed; here they are seeded.
Expected values come from the float64 numpy references in
`tests/addons/reference.py`, evaluated on the float32 inputs, as tfa's
tests evaluated their numpy references.
"""

import keras
import numpy as np
import pytest

from kzoo import addons as tfa
from tests.addons import reference as ref
from tests.addons.helpers import as_dtype, backend_dtype, dtype_of, f32

# tfa's `test_utils.assert_allclose_according_to_type`: (rtol, atol) chosen
# by the dtype of the loss.
TOLERANCE = {"float32": (1e-6, 1e-6), "float16": (1e-3, 1e-3),
             "bfloat16": (1e-2, 1e-2), "float64": (1e-6, 1e-6)}
TFA_DTYPES = ["float32", "float16", "bfloat16"]
SEEDS = range(3)


def assert_close_according_to_type(got, expected, dtype, float32_tol=None):
    """The result has the input's dtype and is close to the reference: for
    float32 within `float32_tol` (rtol, atol) where tfa's case set its own
    (its contrastive, N-pairs and distance tests), else within the dtype's
    tolerance (tfa's `assert_allclose_according_to_type`)."""
    assert dtype_of(got) == dtype
    rtol, atol = TOLERANCE[dtype]
    if dtype == "float32" and float32_tol is not None:
        rtol, atol = float32_tol
    np.testing.assert_allclose(f32(got), expected, rtol=rtol, atol=atol)


def _uniform_batch(seed, num_data, feat_dim=6, num_classes=4):
    # tfa: np.random.rand embeddings, np.random.randint labels.
    rng = np.random.default_rng(seed)
    embedding = rng.random((num_data, feat_dim)).astype("float32")
    labels = rng.integers(0, num_classes, size=num_data)
    return labels, embedding


# --- tfa triplet_test.py ----------------------------------------------------

METRICS = ["angular", "squared-L2", "L2"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_semihard_triplet_loss(dtype, metric, seed):
    labels, embedding = _uniform_batch(seed, num_data=10)
    expected = ref.triplet_semihard(labels, embedding, 1.0, metric)
    y_pred = as_dtype(embedding, dtype)
    loss = tfa.losses.TripletSemiHardLoss(distance_metric=metric)(labels, y_pred)
    assert_close_according_to_type(loss, expected, dtype)
    fn = tfa.losses.triplet_semihard_loss(labels, y_pred, distance_metric=metric)
    assert_close_according_to_type(fn, expected, dtype)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_hard_triplet_loss(dtype, soft, metric, seed):
    labels, embedding = _uniform_batch(seed, num_data=20)
    expected = ref.triplet_hard(labels, embedding, 1.0, soft, metric)
    y_pred = as_dtype(embedding, dtype)
    loss = tfa.losses.TripletHardLoss(soft=soft, distance_metric=metric)(labels, y_pred)
    assert_close_according_to_type(loss, expected, dtype)
    fn = tfa.losses.triplet_hard_loss(labels, y_pred, soft=soft, distance_metric=metric)
    assert_close_according_to_type(fn, expected, dtype)


# --- tfa lifted_test.py -----------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_lifted_struct_loss(dtype, seed):
    labels, embedding = _uniform_batch(seed, num_data=10)
    labels = labels.astype("float32")  # tfa's case feeds float labels
    expected = ref.lifted_struct(labels, embedding, 1.0)
    y_pred = as_dtype(embedding, dtype)
    assert_close_according_to_type(
        tfa.losses.LiftedStructLoss()(labels, y_pred), expected, dtype)
    assert_close_according_to_type(
        tfa.losses.lifted_struct_loss(labels, y_pred), expected, dtype)


# --- tfa contrastive_test.py (float32 in tfa; float16 / bfloat16: kzoo) ----

Y = np.array([0, 0, 1, 1, 0, 1], "int64")
D = np.array([0.1, 0.3, 1.3, 0.7, 1.1, 0.5], "float32")
WEIGHTS = np.array([1.2, 0.8, 0.5, 0.4, 1.5, 1.0], "float32")


def _weighted_mean(per_pair, weights=1.0):
    return float(np.sum(per_pair * weights) / per_pair.size)


# (name, loss kwargs, y_pred, sample_weight, expected from the reference,
#  tfa's hand-computed value, tfa's float32 (rtol, atol))
CONTRASTIVE_CASES = [
    ("zero_loss", {}, np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0], "float32"), None,
     lambda d: _weighted_mean(ref.contrastive(Y, d)), 0.0, (1e-7, 0.0)),
    ("unweighted", {}, D, None,
     lambda d: _weighted_mean(ref.contrastive(Y, d)), 0.621666, (1e-6, 1e-6)),
    ("sample_weighted", {}, D, WEIGHTS,
     lambda d: _weighted_mean(ref.contrastive(Y, d), WEIGHTS), 0.4425, (1e-7, 0.0)),
    ("non_default_margin", {"margin": 2.0}, D, None,
     lambda d: _weighted_mean(ref.contrastive(Y, d, 2.0)), 1.623333, (1e-6, 1e-6)),
    ("scalar_weighted", {}, D, 6.0,
     lambda d: _weighted_mean(ref.contrastive(Y, d), 6.0), 3.73, (1e-6, 1e-6)),
    ("zero_weighted", {}, D, 0.0, lambda d: 0.0, 0.0, (1e-7, 0.0)),
    ("no_reduction", {"reduction": "none"}, D, None,
     lambda d: ref.contrastive(Y, d), [0.81, 0.49, 1.69, 0.49, 0.0, 0.25], (1e-5, 0.0)),
    ("sum_reduction", {"reduction": "sum"}, D, None,
     lambda d: float(np.sum(ref.contrastive(Y, d))), 3.73, (1e-7, 0.0)),
]


@pytest.mark.parametrize("case", CONTRASTIVE_CASES, ids=[c[0] for c in CONTRASTIVE_CASES])
@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_contrastive_loss(dtype, case):
    _, kwargs, d, weight, expected_fn, tfa_value, float32_tol = case
    expected = expected_fn(d.astype("float64"))
    # The reference reproduces tfa's hand-computed numbers.
    np.testing.assert_allclose(expected, tfa_value, rtol=1e-6, atol=1e-6)
    loss = tfa.losses.ContrastiveLoss(**kwargs)(Y, as_dtype(d, dtype), sample_weight=weight)
    assert_close_according_to_type(loss, expected, dtype, float32_tol)


def test_tfa_contrastive_config():
    cl = tfa.losses.ContrastiveLoss(reduction="sum", name="cl")
    assert cl.name == "cl" and cl.reduction == "sum"


@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_contrastive_function_keeps_dtype(dtype):  # kzoo
    got = tfa.losses.contrastive_loss(Y, as_dtype(D, dtype))
    assert_close_according_to_type(got, ref.contrastive(Y, D), dtype, (1e-5, 0.0))


# --- tfa npairs_test.py (float32 in tfa; float16 / bfloat16: kzoo) ----------

F = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], "float32")
SIM = F @ F.T  # anchors and positives are the same features
SINGLE = np.eye(4, dtype="int64")
MULTI = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]], "int64")


@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_npairs_unweighted(dtype):
    labels = np.array([0, 1, 2, 3], "int64")
    expected = ref.npairs(labels, SIM)
    np.testing.assert_allclose(expected, 0.253856, rtol=1e-6, atol=1e-6)
    for got in (tfa.losses.NpairsLoss()(labels, as_dtype(SIM, dtype)),
                tfa.losses.npairs_loss(labels, as_dtype(SIM, dtype))):
        assert_close_according_to_type(got, expected, dtype, (1e-6, 1e-6))


@pytest.mark.parametrize("indicators, tfa_value", [(SINGLE, 0.253856), (MULTI, 1.420522)],
                         ids=["single_label", "multilabel"])
@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_npairs_multilabel(dtype, indicators, tfa_value):
    expected = ref.npairs_multilabel(indicators, SIM)
    np.testing.assert_allclose(expected, tfa_value, rtol=1e-6, atol=1e-6)
    for got in (tfa.losses.NpairsMultilabelLoss()(indicators, as_dtype(SIM, dtype)),
                tfa.losses.npairs_multilabel_loss(indicators, as_dtype(SIM, dtype))):
        assert_close_according_to_type(got, expected, dtype, (1e-6, 1e-6))


@pytest.mark.tf_backend
@pytest.mark.parametrize("indicators", [SINGLE, MULTI], ids=["single_label", "multilabel"])
@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_npairs_multilabel_sparse(dtype, indicators):
    import tensorflow as tf

    sparse = tf.sparse.from_dense(tf.constant(indicators))
    got = tfa.losses.NpairsMultilabelLoss()(sparse, as_dtype(SIM, dtype))
    assert_close_according_to_type(got, ref.npairs_multilabel(indicators, SIM), dtype, (1e-6, 1e-6))


def test_tfa_npairs_config():
    assert tfa.losses.NpairsLoss(name="nl").name == "nl"
    assert tfa.losses.NpairsLoss().reduction == "none"
    nml = tfa.losses.NpairsMultilabelLoss(name="nml")
    assert nml.name == "nml" and nml.reduction == "none"


# --- tfa metric_test.py (float32 in tfa; float16 / bfloat16: kzoo) ---------


@pytest.mark.parametrize("dtype", TFA_DTYPES)
def test_tfa_pairwise_distance(dtype):
    pd = tfa.losses.metric_learning.pairwise_distance
    zero = pd(as_dtype([[1.0, 0.5], [1.0, 0.5]], dtype), squared=False)
    assert dtype_of(zero) == dtype
    np.testing.assert_allclose(np.sum(f32(zero)), 0.0, rtol=1e-6, atol=1e-6)
    x = as_dtype([[0.5, 0.5], [1.0, 1.0]], dtype)
    r = np.sqrt(2) / 2
    assert_close_according_to_type(pd(x, squared=False), [[0, r], [r, 0]], dtype, (1e-6, 1e-6))
    assert_close_according_to_type(pd(x, squared=True), [[0, 0.5], [0.5, 0]], dtype, (1e-6, 1e-6))
    # Close embeddings (1 + 2e-7 * uniform) encourage rounding errors; the
    # distances stay non-negative.
    close = 1.0 + 2e-7 * np.random.default_rng(0).random((64, 6))
    assert np.all(f32(pd(as_dtype(close, dtype), squared=False)) >= 0)


# --- the dtype convention ----------------------------------------------------

_RNG = np.random.default_rng(5)
_LABELS = _RNG.integers(0, 3, size=8)
_X = _RNG.random((8, 4)).astype("float32")



def _logits(x):
    # numpy keeps float64 (Keras' PyTorch backend's matmul returns float32
    # for float64 inputs).
    if isinstance(x, np.ndarray):
        return x @ x.T
    return keras.ops.matmul(x, keras.ops.transpose(x))


CALLS = {
    "triplet_semihard_loss": lambda x: tfa.losses.triplet_semihard_loss(_LABELS, x),
    "triplet_hard_loss": lambda x: tfa.losses.triplet_hard_loss(_LABELS, x, soft=True),
    "lifted_struct_loss": lambda x: tfa.losses.lifted_struct_loss(_LABELS, x),
    "contrastive_loss": lambda x: tfa.losses.contrastive_loss(_LABELS % 2, x[:, 0]),
    "npairs_loss": lambda x: tfa.losses.npairs_loss(_LABELS, _logits(x)),
    "npairs_multilabel_loss": lambda x: tfa.losses.npairs_multilabel_loss(
        np.eye(3)[_LABELS], _logits(x)),
    "pairwise_distance": lambda x: tfa.losses.metric_learning.pairwise_distance(x),
    "angular_distance": lambda x: tfa.losses.metric_learning.angular_distance(x),
    "TripletSemiHardLoss": lambda x, **kw: tfa.losses.TripletSemiHardLoss(**kw)(_LABELS, x),
    "TripletHardLoss": lambda x, **kw: tfa.losses.TripletHardLoss(**kw)(_LABELS, x),
    "LiftedStructLoss": lambda x, **kw: tfa.losses.LiftedStructLoss(**kw)(_LABELS, x),
    "ContrastiveLoss": lambda x, **kw: tfa.losses.ContrastiveLoss(**kw)(_LABELS % 2, x[:, 0]),
    "NpairsLoss": lambda x, **kw: tfa.losses.NpairsLoss(**kw)(
        _LABELS, {"anchors": x, "positives": x}),
    "NpairsMultilabelLoss": lambda x, **kw: tfa.losses.NpairsMultilabelLoss(**kw)(
        np.eye(3)[_LABELS], {"anchors": x, "positives": x}),
}
CLASSES = [name for name in CALLS if name[0].isupper()]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_result_has_the_input_dtype(name, dtype):
    # tfa's functions, and its classes under tf.keras 2 (which did not cast
    # y_pred), return y_pred's dtype; kzoo's too (classes: dtype=None).
    got = CALLS[name](as_dtype(_X, dtype))
    assert dtype_of(got) == backend_dtype(dtype)
    expected = f32(CALLS[name](_X))
    rtol, atol = TOLERANCE[dtype]
    np.testing.assert_allclose(f32(got), expected, rtol=max(rtol, 1e-5), atol=max(atol, 1e-6))


@pytest.mark.parametrize("name", CLASSES)
def test_explicit_dtype_is_keras_convention(name):
    # An explicit dtype: Keras 3's Loss convention, inputs cast to it and a
    # result of that dtype, whatever y_pred's dtype.
    assert dtype_of(CALLS[name](as_dtype(_X, "float16"), dtype="float32")) == "float32"
    assert dtype_of(CALLS[name](_X, dtype="float16")) == "float16"
    assert dtype_of(CALLS[name](_X, dtype="mixed_bfloat16")) == "bfloat16"
    cls = getattr(tfa.losses, name)
    assert cls().get_config()["dtype"] is None
    assert cls(dtype="float32").get_config()["dtype"] == "float32"
    assert cls.from_config(cls().get_config())(*_class_args(name)).dtype == \
        cls()(*_class_args(name)).dtype


def _class_args(name):
    x = as_dtype(_X, "float16")
    if name.startswith("Npairs"):
        labels = np.eye(3)[_LABELS] if "Multilabel" in name else _LABELS
        return labels, {"anchors": x, "positives": x}
    if name == "ContrastiveLoss":
        return _LABELS % 2, x[:, 0]
    return _LABELS, x


def test_half_inputs_are_computed_in_float32():
    # Each distance 200 costs 200**2 = 40000 (fits float16), but their sum,
    # 160000, does not: a float16 computation (tfa's for this loss) gives
    # inf; kzoo computes in float32 and returns 40000 as float16.
    d = np.full(4, 200.0, "float16")
    got = tfa.losses.ContrastiveLoss()(np.ones(4), d)
    assert dtype_of(got) == "float16" and float(f32(got)) == 40000.0
    # Squared norms of 4 * 150**2 = 90000 overflow float16; the distances
    # (hundreds) do not. tfa computed the triplet losses in float32 too.
    rng = np.random.default_rng(1)
    x = (rng.choice([-150.0, 150.0], size=(8, 4)) + rng.normal(size=(8, 4))).astype("float16")
    y = rng.integers(0, 2, size=8)
    for fn, ref_fn in ((tfa.losses.triplet_semihard_loss, ref.triplet_semihard),
                       (tfa.losses.triplet_hard_loss, ref.triplet_hard)):
        got = fn(y, x)
        assert dtype_of(got) == "float16"
        np.testing.assert_allclose(f32(got), ref_fn(y, x.astype("float32")), rtol=1e-3)


def test_fit_with_float16_outputs():
    # A Keras 3 model whose output is float16 (mixed precision): the losses
    # return float16 values, which Keras' compile loss casts to float32.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, dtype="mixed_float16")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss=tfa.losses.TripletSemiHardLoss())
    history = model.fit(_X, _LABELS, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
