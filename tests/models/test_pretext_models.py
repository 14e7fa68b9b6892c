"""EncoderDecoder, VAE, pretext_classifier and jigsaw_network."""

import os

import keras
import numpy as np
import pytest

from kzoo import models


def tiny_backbone(size=16):
    # A small kzoo-style backbone: conv stages, then "backbone_pool".
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same",
                            activation="relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same",
                            activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="backbone_pool")(x)
    return keras.Model(inputs, x)


def images(n=8, size=16, seed=0):
    return np.random.default_rng(seed).integers(
        0, 256, (n, size, size, 3)).astype("float32")


def test_feature_map_model_shares_the_backbone_weights():
    backbone = tiny_backbone()
    fmap = models.feature_map_model(backbone)
    x = images()
    pooled = keras.ops.convert_to_numpy(fmap(x)).mean(axis=(1, 2))
    np.testing.assert_allclose(pooled, backbone.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no layer named"):
        models.feature_map_model(backbone, pool_layer="nope")


def test_conv_decoder_shapes_and_errors():
    dec = models.conv_decoder((4, 4, 8), (16, 16, 2),
                              output_activation="tanh")
    out = dec(np.zeros((3, 4, 4, 8), "float32"))
    assert out.shape == (3, 16, 16, 2)
    with pytest.raises(ValueError, match="power of 2"):
        models.conv_decoder((4, 4, 8), (12, 12, 3))


def test_encoder_decoder_fits_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = models.EncoderDecoder(tiny_backbone(), output_channels=3,
                                  decoder_filters=(8,))
    x = images(16)
    y = x / 255.0
    assert model(x).shape == (16, 16, 16, 3)
    model.compile(keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = os.path.join(tmp_path, "ed.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-5)
    # The encoder shares the backbone: training moved the backbone.
    np.testing.assert_allclose(loaded.backbone.predict(x, verbose=0),
                               model.backbone.predict(x, verbose=0),
                               atol=1e-5)


def test_vae_loss_terms_and_sampling(tmp_path):
    keras.utils.set_random_seed(1)
    vae = models.VAE(tiny_backbone(), latent_dim=4, decoder_filters=(8,),
                     seed=3)
    x = images(16)
    out = vae(x)
    assert out["reconstruction"].shape == (16, 16, 16, 3)
    assert out["mean"].shape == (16, 4)
    # The loss is the mean over images of BCE summed over pixels + KL;
    # recompute it from the outputs in NumPy (inference: z = mean).
    loss = float(vae.compute_loss(x=x, y_pred=out))
    r = np.clip(keras.ops.convert_to_numpy(out["reconstruction"]), 1e-7,
                1 - 1e-7)
    t = x / 255.0
    bce = -(t * np.log(r) + (1 - t) * np.log1p(-r)).reshape(16, -1).sum(1)
    m = keras.ops.convert_to_numpy(out["mean"])
    lv = keras.ops.convert_to_numpy(out["log_var"])
    kl = -0.5 * (1 + lv - m ** 2 - np.exp(lv)).sum(1)
    np.testing.assert_allclose(loss, (bce + kl).mean(), rtol=1e-4)
    vae.compile(keras.optimizers.Adam(1e-3))
    history = vae.fit(x, epochs=3, batch_size=8, verbose=0)
    for key in ("loss", "reconstruction_loss", "kl_loss"):
        assert np.all(np.isfinite(history.history[key]))
    samples = keras.ops.convert_to_numpy(vae.sample(5, seed=0))
    assert samples.shape == (5, 16, 16, 3)
    assert samples.min() >= 0 and samples.max() <= 1
    path = os.path.join(tmp_path, "vae.keras")
    vae.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.encode(x)[0]),
        keras.ops.convert_to_numpy(vae.encode(x)[0]), atol=1e-5)


def test_vae_rejects_bad_arguments():
    with pytest.raises(ValueError, match="latent_dim"):
        models.VAE(tiny_backbone(), latent_dim=0)
    with pytest.raises(ValueError, match="beta"):
        models.VAE(tiny_backbone(), beta=-1.0)


def test_pretext_classifier_and_jigsaw_network(tmp_path):
    backbone = tiny_backbone()
    clf = models.pretext_classifier(backbone, 4, hidden_dims=(8,))
    assert clf(images(3)).shape == (3, 4)
    jig = models.jigsaw_network(tiny_backbone(), num_permutations=10,
                                hidden_dim=8)
    tiles = np.stack([images(9, seed=s) for s in range(2)])
    logits = keras.ops.convert_to_numpy(jig(tiles))
    assert logits.shape == (2, 10)
    # The order of the tiles matters (it is what the network predicts).
    shuffled = keras.ops.convert_to_numpy(jig(tiles[:, ::-1]))
    assert not np.allclose(logits, shuffled)
    path = os.path.join(tmp_path, "jig.keras")
    jig.save(path)
    np.testing.assert_allclose(
        keras.models.load_model(path).predict(tiles, verbose=0), logits,
        atol=1e-5)
    with pytest.raises(ValueError, match="num_classes"):
        models.pretext_classifier(backbone, 1)
