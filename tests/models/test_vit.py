"""The small ViT and the masked autoencoder (kzoo.models.vit): patch
layout, the encoder sees the visible patches only, the loss on the masked
patches by hand, training, serialisation. Backend-agnostic."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy


def _backbone(size=16, patch=4):
    return kzoo.models.vit_tiny_cifar((size, size, 3), patch_size=patch,
                                      dim=16, depth=1, heads=2, mlp_dim=16)


def _mae(**kw):
    keras.utils.set_random_seed(0)
    return kzoo.models.MaskedAutoencoder(_backbone(), decoder_dim=8,
                                         decoder_depth=1, decoder_heads=2,
                                         **kw)


def _images(seed, n=4, size=16):
    return np.random.default_rng(seed).integers(
        0, 256, (n, size, size, 3)).astype("float32")


def test_patchify_is_mae_layout_and_unpatchify_inverts_it():
    x = _images(0, 2, 8)
    p = to_numpy(kzoo.models.patchify(x, 4))
    assert p.shape == (2, 4, 48)
    # patch 1 is the top-right 4x4 square, flattened row by row
    np.testing.assert_array_equal(p[:, 1], x[:, :4, 4:, :].reshape(2, 48))
    np.testing.assert_array_equal(p[:, 2], x[:, 4:, :4, :].reshape(2, 48))
    np.testing.assert_array_equal(
        to_numpy(kzoo.models.unpatchify(p, 4, 3)), x)


def test_masks_keep_the_lowest_noise_patches():
    model = _mae(mask_ratio=0.75)
    noise = np.random.default_rng(1).random((4, 16)).astype("float32")
    out = model({"images": _images(1), "noise": noise})
    mask = to_numpy(out["mask"])
    assert out["pred"].shape == (4, 16, 48) and model.num_keep == 4
    assert np.all(mask.sum(1) == 12)
    kept = np.argsort(noise, axis=1)[:, :4]
    for b in range(4):
        assert set(np.flatnonzero(mask[b] == 0)) == set(kept[b])


def test_the_encoder_never_sees_the_masked_patches():
    # Dropped, not zeroed: changing the pixels of masked patches changes
    # nothing the model predicts.
    model = _mae()
    x = _images(2)
    noise = np.random.default_rng(3).random((4, 16)).astype("float32")
    out = model({"images": x, "noise": noise})
    mask = to_numpy(out["mask"])
    patches = to_numpy(kzoo.models.patchify(x, 4))
    scrambled = np.where(mask[..., None] > 0, 255.0 - patches, patches)
    x2 = to_numpy(kzoo.models.unpatchify(scrambled.astype("float32"), 4, 3))
    out2 = model({"images": x2, "noise": noise})
    np.testing.assert_allclose(to_numpy(out2["pred"]),
                               to_numpy(out["pred"]), atol=1e-5)
    # ... while a visible patch does change it
    x3 = x.copy()
    visible = int(np.flatnonzero(mask[0] == 0)[0])
    r, c = divmod(visible, 4)
    x3[0, 4 * r:4 * r + 4, 4 * c:4 * c + 4] = 255.0 - x3[0, 4 * r:4 * r + 4,
                                                         4 * c:4 * c + 4]
    out3 = model({"images": x3, "noise": noise})
    assert np.abs(to_numpy(out3["pred"])[0] - to_numpy(out["pred"])[0]).max() \
        > 1e-4


@pytest.mark.parametrize("norm_pix", [True, False])
def test_loss_is_the_masked_patches_squared_error_by_hand(norm_pix):
    model = _mae(norm_pix_loss=norm_pix)
    x = _images(4)
    noise = np.random.default_rng(5).random((4, 16)).astype("float32")
    inputs = {"images": x, "noise": noise}
    out = model(inputs)
    pred, mask = to_numpy(out["pred"]), to_numpy(out["mask"])
    target = to_numpy(kzoo.models.patchify(x / 255.0, 4)).astype("float64")
    if norm_pix:
        target = (target - target.mean(-1, keepdims=True)) / np.sqrt(
            target.var(-1, keepdims=True) + 1e-6)
    per_patch = ((pred - target) ** 2).mean(-1)
    expected = np.mean((per_patch * mask).sum(1) / mask.sum(1))
    loss = to_numpy(model.compute_loss(x=inputs, y_pred=out))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_fit_lowers_the_loss_features_and_serialisation(tmp_path):
    model = _mae()
    model.compile(optimizer=keras.optimizers.AdamW(3e-3))
    x = _images(6, 32)
    rng = np.random.default_rng(7)
    losses = [model.fit({"images": x, "noise": rng.random((32, 16)).astype(
        "float32")}, epochs=1, batch_size=8, verbose=0).history["loss"][0]
        for _ in range(6)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    features = model.predict(x[:3], verbose=0)
    assert features.shape == (3, 16)
    # without a noise in the input the model draws one
    assert model({"images": x[:2]})["mask"].shape == (2, 16)
    model.save(tmp_path / "mae.keras")
    loaded = keras.saving.load_model(tmp_path / "mae.keras")
    assert isinstance(loaded, kzoo.models.MaskedAutoencoder)
    np.testing.assert_allclose(loaded.predict(x[:3], verbose=0), features,
                               atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="VisionTransformer"):
        kzoo.models.MaskedAutoencoder(kzoo.models.resnet20_cifar((8, 8, 3)))
    with pytest.raises(ValueError, match="mask_ratio"):
        kzoo.models.MaskedAutoencoder(_backbone(), mask_ratio=1.0)
    with pytest.raises(ValueError, match="patch_size"):
        kzoo.models.vit_tiny_cifar((30, 30, 3), patch_size=4)
    with pytest.raises(ValueError, match="heads"):
        kzoo.models.TransformerBlock(10, 3, 8)
