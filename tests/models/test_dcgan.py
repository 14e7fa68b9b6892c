"""DCGAN (kzoo.models.DCGAN): each loss moves only its own network, the
step trains on every backend, shapes, serialisation."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy


def _gan(cls=kzoo.models.DCGAN, run_eagerly=False):
    keras.utils.set_random_seed(0)
    g = kzoo.models.dcgan_generator(8, 8, width=4)
    d = kzoo.models.dcgan_discriminator(8, width=4)
    gan = cls(g, d, seed=0)
    gan.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=run_eagerly)
    return gan


class OnlyD(kzoo.models.DCGAN):
    def _gan_losses(self, y_pred):
        d, g = super()._gan_losses(y_pred)
        return d, 0.0 * g


class OnlyG(kzoo.models.DCGAN):
    def _gan_losses(self, y_pred):
        d, g = super()._gan_losses(y_pred)
        return 0.0 * d, g


def _step(cls):
    # Eagerly, op by op: compiled, the three loss variants are three
    # graphs that TensorFlow's graph optimiser may fuse differently on
    # some CPUs (a CI machine's generator step differed by 3e-4 between
    # them), which would test the optimiser, not which loss moves what.
    gan = _gan(cls, run_eagerly=True)
    rng = np.random.default_rng(1)
    batch = {"images": rng.integers(0, 256, (8, 8, 8, 3)).astype("float32"),
             "noise": rng.normal(size=(8, 8)).astype("float32")}
    gan.train_on_batch(batch)
    return ([to_numpy(v) for v in gan.generator.trainable_variables],
            [to_numpy(v) for v in gan.discriminator.trainable_variables])


def test_each_loss_moves_only_its_network():
    g_full, d_full = _step(kzoo.models.DCGAN)
    g_d, d_d = _step(OnlyD)
    g_g, d_g = _step(OnlyG)
    g0, d0 = ([to_numpy(v) for v in m.trainable_variables]
              for m in (_gan().generator, _gan().discriminator))
    # the discriminator moves with d_loss alone exactly as with both
    for a, b in zip(d_full, d_d):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # ... and g_loss alone leaves it where it was
    for a, b in zip(d_g, d0):
        np.testing.assert_array_equal(a, b)
    # the generator moves with g_loss alone as with both; d_loss leaves it
    for a, b in zip(g_full, g_g):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b in zip(g_d, g0):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(g_full, g0))


def test_fit_logs_features_generate_and_serialisation(tmp_path):
    gan = _gan()
    x = np.random.default_rng(2).integers(0, 256, (32, 8, 8, 3)).astype(
        "float32")
    history = gan.fit(x, batch_size=8, epochs=2, verbose=0).history
    assert {"d_loss", "g_loss", "d_real", "d_fake", "loss"} <= set(history)
    assert all(np.isfinite(history["loss"]))
    assert 0 <= history["d_real"][-1] <= 1
    features = gan.predict(x[:3], verbose=0)
    assert features.shape == (3, 4)  # one 4-channel block at 8 px
    images = to_numpy(gan.generate(np.zeros((2, 8), "float32")))
    assert images.shape == (2, 8, 8, 3) and 0 <= images.min() <= images.max() <= 1
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    np.testing.assert_allclose(loaded.predict(x[:3], verbose=0), features,
                               atol=1e-5)
    encoder = kzoo.models.dcgan_features(gan.discriminator)
    np.testing.assert_allclose(encoder.predict(x[:3], verbose=0), features,
                               atol=1e-5)


def test_sizes():
    g = kzoo.models.dcgan_generator(16, 32)
    d = kzoo.models.dcgan_discriminator(32)
    assert g.output_shape == (None, 32, 32, 3)
    assert d.output_shape == [(None, 1), (None, 64 + 128 + 256)]
    with pytest.raises(ValueError, match="image_size"):
        kzoo.models.dcgan_generator(16, 24)
