"""DualEncoder: CLIP training of two towers with a learnable temperature."""

import math

import keras
import numpy as np
import pytest

from kzoo.losses import clip_loss
from kzoo.models import DualEncoder


def _tower(dim, name):
    inputs = keras.Input((dim,))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(8)(x), name=name)


def _pairs(n=64, seed=0):
    # Modality b is a fixed nonlinear view of a's class: pairs are learnable.
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 16, n)
    centres_a = rng.normal(size=(16, 6))
    centres_b = rng.normal(size=(16, 5))
    a = centres_a[ids] + 0.1 * rng.normal(size=(n, 6))
    b = np.tanh(centres_b[ids]) + 0.1 * rng.normal(size=(n, 5))
    return {"a": a.astype("float32"), "b": b.astype("float32")}, ids


def test_forward_loss_and_scale():
    keras.utils.set_random_seed(0)
    model = DualEncoder(_tower(6, "ta"), _tower(5, "tb"), embedding_dim=4)
    x, ids = _pairs(8)
    out = model(x)
    assert out["a"].shape == (8, 4) and out["b"].shape == (8, 4)
    np.testing.assert_allclose(
        np.linalg.norm(keras.ops.convert_to_numpy(out["a"]), axis=1), 1.0,
        rtol=1e-5)
    assert float(out["scale"]) == pytest.approx(1 / 0.07, rel=1e-5)
    loss = model.compute_loss(y=ids, y_pred=out)
    expected = np.mean(keras.ops.convert_to_numpy(
        clip_loss(out["a"], out["b"], 1 / 0.07, labels=ids)))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.embed_b(x["b"])),
        keras.ops.convert_to_numpy(out["b"]), rtol=1e-6)


def test_fit_learns_pairs_and_the_temperature():
    keras.utils.set_random_seed(1)
    model = DualEncoder(_tower(6, "ta"), _tower(5, "tb"), embedding_dim=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, ids = _pairs(256)
    before = float(model.evaluate(x, ids, batch_size=64, verbose=0,
                                  return_dict=True)["loss"])
    hist = model.fit(x, ids, batch_size=64, epochs=15, verbose=0)
    after = float(model.evaluate(x, ids, batch_size=64, verbose=0,
                                 return_dict=True)["loss"])
    assert after < 0.5 * before
    assert "logit_scale" in hist.history
    assert hist.history["logit_scale"][-1] != pytest.approx(1 / 0.07)
    # Retrieval: each a finds a b of its own id.
    za = keras.ops.convert_to_numpy(model.embed_a(x["a"]))
    zb = keras.ops.convert_to_numpy(model.embed_b(x["b"]))
    hits = ids[np.argmax(za @ zb.T, axis=1)] == ids
    assert hits.mean() > 0.9


def test_scale_is_clipped_and_frozen_when_asked():
    model = DualEncoder(_tower(6, "ta"), _tower(5, "tb"),
                        max_logit_scale=20.0, temperature=0.1,
                        learn_temperature=False)
    model.log_scale.assign(math.log(1000.0))
    assert float(model.logit_scale()) == pytest.approx(20.0, rel=1e-5)
    assert not model.log_scale.trainable


def test_save_and_load(tmp_path):
    keras.utils.set_random_seed(2)
    model = DualEncoder(_tower(6, "ta"), _tower(5, "tb"), embedding_dim=4)
    model.compile(optimizer="adam")
    x, ids = _pairs(16)
    model.fit(x, ids, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "d.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again.embed_a(x["a"])),
        keras.ops.convert_to_numpy(model.embed_a(x["a"])), atol=1e-6)
    assert float(again.logit_scale()) == pytest.approx(
        float(model.logit_scale()))


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="Received: temperature=0.001"):
        DualEncoder(_tower(6, "ta"), _tower(5, "tb"), temperature=0.001)
    with pytest.raises(ValueError, match="Received: embedding_dim=0"):
        DualEncoder(_tower(6, "ta"), _tower(5, "tb"), embedding_dim=0)
    model = DualEncoder(_tower(6, "ta"), _tower(5, "tb"))
    with pytest.raises(ValueError, match="keys 'a' and 'b'"):
        model({"a": np.zeros((1, 6), "float32")})


def test_embedding_models_share_weights_with_the_dual_encoder():
    keras.utils.set_random_seed(3)
    model = DualEncoder(_tower(6, "ta"), _tower(5, "tb"), embedding_dim=4)
    x, _ = _pairs(8)
    for key, embed in (("a", model.embed_a), ("b", model.embed_b)):
        raw = keras.ops.convert_to_numpy(
            model.embedding_model(key)(x[key]))
        unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        np.testing.assert_allclose(
            unit, keras.ops.convert_to_numpy(embed(x[key])), atol=1e-5)
    # Shared weights: doubling the projection doubles the embedding model's
    # output.
    before = keras.ops.convert_to_numpy(model.embedding_model("a")(x["a"]))
    model.projection_a.kernel.assign(
        2.0 * keras.ops.convert_to_numpy(model.projection_a.kernel))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.embedding_model("a")(x["a"])),
        2.0 * before, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Received: modality='c'"):
        model.embedding_model("c")
