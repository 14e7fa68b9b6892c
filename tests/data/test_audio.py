"""Audio sources: WAV reading, the length policy, FSDD and spoken words."""

import os
import wave

import numpy as np
import pytest

from kzoo.data.audio import DIGIT_NAMES
from kzoo.data import (DataUnavailableError, fit_length, load_fsdd,
                       load_spoken_words, read_wav)
from tests.conftest import datasets_root


def _write_wav(path, samples, rate=8000, width=2, channels=1):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(np.asarray(samples).astype("<i2" if width == 2
                                                 else "u1").tobytes())


def test_read_wav_scales_16_bit_and_averages_channels(tmp_path):
    _write_wav(tmp_path / "a.wav", [0, 16384, -32768, 32767])
    samples, rate = read_wav(str(tmp_path / "a.wav"))
    assert rate == 8000 and samples.dtype == np.float32
    np.testing.assert_allclose(samples, [0, 0.5, -1.0, 32767 / 32768])
    _write_wav(tmp_path / "s.wav", [100, 300, -200, 0], channels=2)
    np.testing.assert_allclose(read_wav(str(tmp_path / "s.wav"))[0],
                               [200 / 32768, -100 / 32768])
    _write_wav(tmp_path / "u8.wav", [1, 2], width=1)
    with pytest.raises(ValueError, match="sample width=8 bits"):
        read_wav(str(tmp_path / "u8.wav"))


def test_fit_length_centres():
    x = np.arange(1, 8, dtype=np.float32)          # 7 samples
    np.testing.assert_array_equal(fit_length(x, 3), [3, 4, 5])
    np.testing.assert_array_equal(fit_length(x, 10),
                                  [0, 1, 2, 3, 4, 5, 6, 7, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 7), x)
    with pytest.raises(ValueError, match="Received: length=0"):
        fit_length(x, 0)


def _fsdd_dir():
    path = os.path.join(datasets_root(), "fsdd")
    if not os.path.isdir(os.path.join(path, "recordings")):
        pytest.skip(f"FSDD not found at {path} (set KZOO_DATA_DIR)")
    return path


def test_fsdd_usual_split():
    root = _fsdd_dir()
    test = load_fsdd("test", root)
    assert test.waveforms.shape == (300, 8000)
    assert np.bincount(test.labels).tolist() == [30] * 10
    assert all(int(os.path.basename(f).split("_")[2][:-4]) < 5
               for f in test.files)
    assert len(set(test.speakers)) == 6
    assert [DIGIT_NAMES[d] for d in test.labels] == test.texts
    train = load_fsdd("train", datasets_root(), limit=50)
    assert train.waveforms.shape == (50, 8000)
    assert not set(train.files) & set(test.files)
    assert np.abs(test.waveforms).max() <= 1.0
    assert np.abs(test.waveforms).max() > 0.05   # not silence


def test_spoken_words_split_by_word():
    path = os.path.join(datasets_root(), "spoken_words_pt")
    if not os.path.isfile(os.path.join(path, "metadata.csv")):
        pytest.skip(f"spoken_words_pt not found at {path}")
    test = load_spoken_words("test", path)
    train = load_spoken_words("train", path, limit=400)
    assert test.waveforms.shape == (800, 10000)
    assert len(set(test.texts)) == 200 and len(set(test.labels)) == 200
    assert not set(test.texts) & set(train.texts)
    # Same word, same id; accents survive.
    for i in range(len(test.texts)):
        j = test.texts.index(test.texts[i])
        assert test.labels[i] == test.labels[j]
    assert any(any(c in w for c in "áéíóúãõçâêô") for w in test.texts)
    assert len(set(test.speakers)) == 4


def test_missing_data_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("KZOO_DATA_DIR", raising=False)
    with pytest.raises(DataUnavailableError, match="KZOO_DATA_DIR"):
        load_fsdd("train", None)
    with pytest.raises(DataUnavailableError, match="neither"):
        load_spoken_words("train", str(tmp_path))
    with pytest.raises(ValueError, match="Received: split='dev'"):
        load_fsdd("dev", str(tmp_path))
