"""SpecAugment: masks only in training, of the stated widths, seeded."""

import keras
import numpy as np
import pytest

from kzoo.layers import SpecAugment


def _run(layer, x):
    return keras.ops.convert_to_numpy(layer(x, training=True))


def test_identity_outside_training():
    x = np.random.default_rng(0).normal(size=(2, 20, 16)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(SpecAugment(seed=1)(x)), x)


def test_masks_are_bands_and_spans_of_bounded_width():
    x = np.ones((200, 50, 40), "float32")
    out = _run(SpecAugment(freq_masks=1, freq_width=6, time_masks=1,
                           time_width=9, mask_value=-5.0, seed=3), x)
    assert set(np.unique(out)) <= {1.0, -5.0}
    masked = out == -5.0
    freq_rows = masked.all(axis=1)          # [B, bins] whole bands
    time_cols = masked.all(axis=2)          # [B, frames] whole spans
    for b in range(len(x)):
        # Every masked entry is in a masked band or a masked span.
        np.testing.assert_array_equal(
            masked[b], freq_rows[b][None, :] | time_cols[b][:, None])
        for line, width in [(freq_rows[b], 6), (time_cols[b], 9)]:
            idx = np.flatnonzero(line)
            assert len(idx) <= width
            if len(idx):
                assert idx[-1] - idx[0] + 1 == len(idx)  # contiguous
    widths = freq_rows.sum(axis=1)
    # U{0..6}: every width occurs, mean about 3.
    assert set(widths) == set(range(7))
    assert abs(widths.mean() - 3.0) < 0.5
    # Starts cover the whole axis, edges included.
    touched = freq_rows.any(axis=0)
    assert touched[0] and touched[-1]


def test_seeded_and_per_example():
    x = np.zeros((4, 30, 20), "float32")
    a = _run(SpecAugment(mask_value=1.0, seed=7), x)
    b = _run(SpecAugment(mask_value=1.0, seed=7), x)
    np.testing.assert_array_equal(a, b)
    assert len({a[i].tobytes() for i in range(4)}) > 1


def test_zero_masks_and_config():
    x = np.ones((2, 10, 8), "float32")
    np.testing.assert_array_equal(_run(SpecAugment(freq_masks=0,
                                                   time_masks=0), x), x)
    layer = SpecAugment(3, 4, 1, 2, mask_value=-1.0, seed=5)
    again = SpecAugment.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="Received: time_width=-1"):
        SpecAugment(time_width=-1)
