"""kzoo.addons as a tensorflow-addons drop-in: import paths, Keras 3
integration (fit, .keras saving) and get_config / from_config."""

import importlib
import inspect

import keras
import numpy as np
import pytest

import kzoo.addons.losses
from kzoo import addons as tfa
from tests.addons.helpers import f32

CLASSES = ["TripletSemiHardLoss", "TripletHardLoss", "ContrastiveLoss",
           "LiftedStructLoss", "NpairsLoss", "NpairsMultilabelLoss"]
FUNCTIONS = ["triplet_semihard_loss", "triplet_hard_loss", "contrastive_loss",
             "lifted_struct_loss", "npairs_loss", "npairs_multilabel_loss"]


def test_import_paths():
    assert tfa.losses is kzoo.addons.losses
    assert isinstance(tfa.losses.TripletSemiHardLoss(), keras.losses.Loss)
    for name in CLASSES + FUNCTIONS:
        assert getattr(tfa.losses, name) is getattr(kzoo.addons.losses, name)
    for module, name in (("triplet", "TripletHardLoss"), ("contrastive", "ContrastiveLoss"),
                         ("lifted", "LiftedStructLoss"), ("npairs", "NpairsLoss")):
        mod = importlib.import_module(f"kzoo.addons.losses.{module}")
        assert getattr(mod, name) is getattr(tfa.losses, name)


def test_tfa_signatures_and_defaults():
    def defaults(obj):
        return {p.name: p.default for p in inspect.signature(obj).parameters.values()
                if p.default is not p.empty}
    L = tfa.losses
    assert list(inspect.signature(L.TripletSemiHardLoss).parameters)[:3] == [
        "margin", "distance_metric", "name"]
    assert defaults(L.TripletSemiHardLoss).items() >= {
        "margin": 1.0, "distance_metric": "L2", "name": None}.items()
    assert list(inspect.signature(L.TripletHardLoss).parameters)[:4] == [
        "margin", "soft", "distance_metric", "name"]
    assert defaults(L.TripletHardLoss).items() >= {"soft": False, "distance_metric": "L2"}.items()
    assert list(inspect.signature(L.ContrastiveLoss).parameters)[:3] == [
        "margin", "reduction", "name"]
    assert defaults(L.ContrastiveLoss).items() >= {
        "margin": 1.0, "reduction": "sum_over_batch_size", "name": "contrastive_loss"}.items()
    assert list(inspect.signature(L.LiftedStructLoss).parameters)[:2] == ["margin", "name"]
    assert defaults(L.NpairsLoss)["name"] == "npairs_loss"
    assert list(inspect.signature(L.triplet_semihard_loss).parameters) == [
        "y_true", "y_pred", "margin", "distance_metric"]
    assert list(inspect.signature(L.triplet_hard_loss).parameters) == [
        "y_true", "y_pred", "margin", "soft", "distance_metric"]
    assert list(inspect.signature(L.lifted_struct_loss).parameters) == [
        "labels", "embeddings", "margin"]
    assert list(inspect.signature(L.contrastive_loss).parameters) == ["y_true", "y_pred", "margin"]
    assert list(inspect.signature(L.npairs_loss).parameters) == ["y_true", "y_pred"]


def test_not_provided_members_say_so():
    with pytest.raises(AttributeError, match="only the metric-learning losses"):
        tfa.losses.SigmoidFocalCrossEntropy
    with pytest.raises(AttributeError, match="provides only `losses`"):
        tfa.layers


def test_configs_saved_with_tensorflow_addons_resolve():
    # tensorflow-addons registered its losses as "Addons>Name".
    fn = keras.saving.deserialize_keras_object("Addons>triplet_semihard_loss")
    assert fn is tfa.losses.triplet_semihard_loss
    loss = keras.losses.deserialize(
        {"class_name": "Addons>TripletSemiHardLoss",
         "config": {"name": None, "reduction": "none", "margin": 0.5, "distance_metric": "L2"}})
    assert isinstance(loss, tfa.losses.TripletSemiHardLoss) and loss.margin == 0.5


def _embedding_batch(seed=0, n=12, d=5):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, size=n), rng.normal(size=(n, d)).astype("float32")


@pytest.mark.parametrize("name, kwargs", [
    ("triplet_semihard_loss", dict(margin=0.5, distance_metric="angular")),
    ("triplet_hard_loss", dict(margin=0.7, soft=True, distance_metric="squared-L2")),
    ("lifted_struct_loss", dict(margin=0.8)),
])
def test_functional_twins_equal_classes(name, kwargs):
    y, x = _embedding_batch()
    cls = {"triplet_semihard_loss": tfa.losses.TripletSemiHardLoss,
           "triplet_hard_loss": tfa.losses.TripletHardLoss,
           "lifted_struct_loss": tfa.losses.LiftedStructLoss}[name]
    assert float(cls(**kwargs)(y, x)) == float(getattr(tfa.losses, name)(y, x, **kwargs))
    sw = np.linspace(0, 1, len(y)).astype("float32")
    # "none" (tfa): a scalar loss times the weights stays per-sample.
    assert cls(**kwargs)(y, x, sample_weight=sw).shape == (len(y),)


def test_npairs_and_contrastive_twins():
    y, x = _embedding_batch()
    sim = x @ x.T
    assert float(tfa.losses.NpairsLoss()(y, sim)) == float(tfa.losses.npairs_loss(y, sim))
    ml = np.eye(12, 4, dtype="int64")
    assert float(tfa.losses.NpairsMultilabelLoss()(ml, sim)) == float(
        tfa.losses.npairs_multilabel_loss(ml, sim))
    # kzoo's embeddings form: the logits are anchors . positives^T.
    pos = x[::-1].copy()
    emb = {"anchors": x, "positives": pos}
    assert float(tfa.losses.NpairsLoss()(y, emb)) == pytest.approx(
        float(tfa.losses.npairs_loss(y, x @ pos.T)), rel=1e-6)
    assert float(tfa.losses.NpairsMultilabelLoss()(ml, emb)) == pytest.approx(
        float(tfa.losses.npairs_multilabel_loss(ml, x @ pos.T)), rel=1e-6)
    with pytest.raises(ValueError, match=r"Missing: \['positives'\]"):
        tfa.losses.NpairsLoss()(y, {"anchors": x})
    d = np.abs(x[:, 0])
    yb = y % 2
    assert float(tfa.losses.ContrastiveLoss(margin=2.0)(yb, d)) == pytest.approx(
        float(np.mean(f32(tfa.losses.contrastive_loss(yb, d, margin=2.0)))), rel=1e-6)


# --- get_config / from_config for every constructor argument --------------


@keras.saving.register_keras_serializable(package="kzoo_addons_test")
def manhattan(x):
    return keras.ops.sum(keras.ops.abs(x[:, None, :] - x[None, :, :]), axis=-1)


EXAMPLES = {
    "TripletSemiHardLoss": dict(margin=0.3, distance_metric=manhattan, name="tsh",
                                reduction="sum_over_batch_size", dtype="float16",
                                gather_distributed=False),
    "TripletHardLoss": dict(margin=0.4, soft=True, distance_metric="angular", name="th",
                            reduction="sum", dtype="float64", gather_distributed=False),
    "ContrastiveLoss": dict(margin=2.5, reduction="sum", name="cl", dtype="float16"),
    "LiftedStructLoss": dict(margin=0.6, name="ls", reduction="sum", dtype="bfloat16",
                             gather_distributed=False),
    "NpairsLoss": dict(name="nl", reduction="sum", dtype="float64",
                       gather_distributed=False),
    "NpairsMultilabelLoss": dict(name="nml", reduction="mean", dtype="float16",
                                 gather_distributed=False),
}


def addons_classes():
    return {k.split(">", 1)[1]: v for k, v in keras.saving.get_custom_objects().items()
            if k.startswith("kzoo.addons>") and inspect.isclass(v)}


def test_every_class_is_registered_and_has_an_example():
    assert set(addons_classes()) == set(EXAMPLES) == set(CLASSES)
    for name in CLASSES:
        assert keras.saving.get_registered_name(getattr(tfa.losses, name)) == f"kzoo.addons>{name}"
    for name in FUNCTIONS:
        assert keras.saving.get_registered_name(getattr(tfa.losses, name)) == f"kzoo.addons>{name}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_constructor_arguments_round_trip(name):
    cls = addons_classes()[name]
    kwargs = EXAMPLES[name]
    params = [p.name for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    assert set(params) == set(kwargs), "example misses an argument"
    for p in params:
        default = inspect.signature(cls.__init__).parameters[p].default
        assert kwargs[p] != default, f"{p}: use a non-default value"
    obj = cls(**kwargs)
    config = obj.get_config()
    clone = cls.from_config(config)
    for p in params:
        assert p in config, f"{name}: get_config() lacks {p}"
        assert getattr(clone, p) == kwargs[p], p
        if p == "distance_metric" and callable(kwargs[p]):
            assert clone.distance_metric is kwargs[p]
        elif p != "distance_metric":
            assert config[p] == kwargs[p], p
    assert clone.get_config() == config
    # and through keras' generic (de)serialisation, like tfa's tests
    again = keras.losses.deserialize(keras.losses.serialize(obj))
    assert type(again) is cls and again.get_config() == config


# --- Keras 3 training and .keras saving ------------------------------------


def _embedding_model(dim=4):
    inputs = keras.Input((5,))
    return keras.Model(inputs, keras.layers.Dense(dim)(inputs))


@pytest.mark.parametrize("loss", [
    tfa.losses.TripletSemiHardLoss(),
    tfa.losses.TripletSemiHardLoss(distance_metric="angular"),
    tfa.losses.TripletHardLoss(soft=True, distance_metric="squared-L2"),
    tfa.losses.LiftedStructLoss(),
    tfa.losses.triplet_semihard_loss,
], ids=["semihard", "semihard-angular", "hard-soft", "lifted", "function"])
def test_fit_embedding_losses(loss):
    keras.utils.set_random_seed(0)
    y, x = _embedding_batch(n=32)
    model = _embedding_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_fit_with_xla():
    keras.utils.set_random_seed(0)
    y, x = _embedding_batch(n=32)
    model = _embedding_model()
    model.compile(optimizer="sgd", loss=tfa.losses.TripletSemiHardLoss(), jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


class _Similarity(keras.layers.Layer):
    def call(self, inputs):
        a, b = inputs
        return keras.ops.matmul(a, keras.ops.transpose(b))


def test_fit_npairs_and_contrastive():
    keras.utils.set_random_seed(0)
    y, x = _embedding_batch(n=32)
    a, b = keras.Input((5,)), keras.Input((5,))
    dense = keras.layers.Dense(4)
    sim = keras.Model([a, b], _Similarity()([dense(a), dense(b)]))
    sim.compile(optimizer="sgd", loss=tfa.losses.NpairsLoss())
    hist = sim.fit([x, x + 0.01], y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    sim.compile(optimizer="sgd", loss=tfa.losses.NpairsMultilabelLoss())
    hist = sim.fit([x, x], np.eye(3)[y], batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])

    dist = keras.Model(a, keras.layers.Dense(1, activation="softplus")(a))
    dist.compile(optimizer="sgd", loss=tfa.losses.ContrastiveLoss(margin=2.0))
    hist = dist.fit(x, y % 2, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


@pytest.mark.parametrize("loss", [
    tfa.losses.TripletSemiHardLoss(margin=0.5, distance_metric="angular"),
    tfa.losses.TripletHardLoss(margin=0.3, soft=True),
    tfa.losses.triplet_hard_loss,
], ids=["semihard", "hard", "function"])
def test_keras_save_and_load_compiled_model(tmp_path, loss):
    y, x = _embedding_batch(n=16)
    model = _embedding_model()
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.loss) is type(model.loss) or loaded.loss is model.loss
    if isinstance(loss, keras.losses.Loss):
        assert loaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(loaded.evaluate(x, y, batch_size=16, verbose=0),
                               model.evaluate(x, y, batch_size=16, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("loss, fn", [
    (tfa.losses.TripletSemiHardLoss(), tfa.losses.triplet_semihard_loss),
    (tfa.losses.TripletHardLoss(), tfa.losses.triplet_hard_loss),
    (tfa.losses.LiftedStructLoss(), tfa.losses.lifted_struct_loss),
])
def test_large_integer_labels_stay_distinct(loss, fn):
    # float32(16777217) == float32(16777216): Keras 3 would cast y_true to
    # float32 and merge these classes; the classes keep them apart, as tfa.
    _, x = _embedding_batch(n=6)
    big = np.array([16777216, 16777217, 16777216, 16777218, 16777217, 5], "int64")
    small = np.array([0, 1, 0, 2, 1, 3])
    expected = float(fn(small, x))
    assert float(fn(big, x)) == pytest.approx(expected, rel=1e-6)
    assert float(loss(big, x)) == pytest.approx(expected, rel=1e-6)
    assert float(loss(big[:, None], x)) == pytest.approx(expected, rel=1e-6)
    sim = x @ x.T
    assert float(tfa.losses.NpairsLoss()(big, sim)) == pytest.approx(
        float(tfa.losses.npairs_loss(small, sim)), rel=1e-6)


_NO_TF_SCRIPT = """
import sys
import numpy as np
from kzoo import addons as tfa
x = np.random.default_rng(0).random((6, 3)).astype("float32")
y = np.array([0, 0, 1, 1, 2, 2])
L = tfa.losses
for loss in (L.TripletSemiHardLoss(), L.TripletHardLoss(soft=True),
             L.LiftedStructLoss(), L.NpairsLoss()):
    loss(y, {"anchors": x, "positives": x} if loss.name == "npairs_loss" else x)
L.NpairsMultilabelLoss()(np.eye(3)[y], x @ x.T)
L.ContrastiveLoss()(y % 2, x[:, 0])
L.metric_learning.angular_distance(x)
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
print("TF-MODULES", loaded[:3])
assert not loaded
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_no_tensorflow_import_off_the_tf_backend(backend):
    # kzoo.addons is written with keras.ops: under JAX / PyTorch, importing
    # it and computing every loss loads no TensorFlow module.
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    pytest.importorskip(backend)
    proc = subprocess.run([sys.executable, "-c", _NO_TF_SCRIPT], capture_output=True,
                          text=True, env=subprocess_env(KERAS_BACKEND=backend), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
