"""Audio sources: WAV clips in memory at one length (FSDD, spoken words).

Every clip is read with Python's `wave` module (16-bit PCM, mono) into
`float32` samples in `[-1, 1)` and brought to one length, so a batch is a
plain `[N, samples]` array and the model's `kzoo.layers.LogMelSpectrogram`
sees fixed-size inputs. The length policy (`fit_length`): a longer clip
keeps its centre, a shorter one is padded with silence on both sides
(centred), so the speech stays in the middle of the window either way.
"""

import collections
import csv
import os
import re
import wave

import numpy as np

from kzoo._api import kzoo_export
from kzoo.data.sources import DataUnavailableError
from kzoo.data.sources import resolve_data_dir

AudioDataset = kzoo_export("kzoo.data.AudioDataset")(collections.namedtuple(
    "AudioDataset", ["waveforms", "labels", "texts", "speakers",
                     "sampling_rate", "files"]))
AudioDataset.__doc__ = """Clips of one split, at one length.

Fields:
    waveforms: `float32` array `[N, samples]` in `[-1, 1)`.
    labels: `int32` array `[N]`: the digit (FSDD) or the word's id (spoken
        words; equal ids = the same word).
    texts: list of `N` strings: the digit's name or the word.
    speakers: list of `N` speaker (voice) names.
    sampling_rate: samples per second.
    files: list of `N` paths.
"""

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six",
               "seven", "eight", "nine")


@kzoo_export("kzoo.data.read_wav")
def read_wav(path):
    """`(float32 samples in [-1, 1), sampling rate)` of a 16-bit PCM WAV.

    Multi-channel files are averaged to mono.

    Raises:
        ValueError: the file is not 16-bit PCM.
    """
    with wave.open(path, "rb") as f:
        width, channels = f.getsampwidth(), f.getnchannels()
        rate, frames = f.getframerate(), f.readframes(f.getnframes())
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV is read. Received: "
                         f"sample width={8 * width} bits")
    samples = np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


@kzoo_export("kzoo.data.fit_length")
def fit_length(samples, length):
    """One clip at exactly `length` samples: centre crop or centred padding.

    Args:
        samples: 1-D array.
        length: positive number of samples.

    Returns:
        `float32` array `[length]`: the middle `length` samples of a longer
        clip, or a shorter clip with `(length - n) // 2` zeros before it and
        the rest after.
    """
    if length <= 0:
        raise ValueError(f"`length` must be positive. Received: "
                         f"length={length}")
    samples = np.asarray(samples, np.float32)
    n = len(samples)
    if n >= length:
        start = (n - length) // 2
        return samples[start:start + length]
    before = (length - n) // 2
    return np.pad(samples, (before, length - n - before))


def _load(files, length, expected_rate):
    waves = np.zeros((len(files), length), np.float32)
    for i, path in enumerate(files):
        samples, rate = read_wav(path)
        if rate != expected_rate:
            raise ValueError(f"{path}: sampling rate {rate}, expected "
                             f"{expected_rate}. Received: rate={rate}")
        waves[i] = fit_length(samples, length)
    return waves


_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


@kzoo_export("kzoo.data.load_fsdd")
def load_fsdd(split="train", data_dir=None, length=8000, limit=None):
    """The Free Spoken Digit Dataset (3,000 clips, 6 speakers, 8 kHz).

    The usual split: recordings with index 0-4 of every speaker and digit
    are the test split (300 clips), the rest train (2,700).

    Args:
        split: `"train"` or `"test"`. Defaults to `"train"`.
        data_dir: the `fsdd` folder (holding `recordings/`) or a datasets
            root; `None` reads `KZOO_DATA_DIR`.
        length: samples per clip (`fit_length`). Defaults to `8000` (1 s;
            95% of the clips are shorter than 0.7 s).
        limit: keep the first `limit` clips (in file-name order). Defaults
            to `None`.

    Returns:
        An `AudioDataset` (labels = digits, texts = digit names).
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: "
                         f"split={split!r}")
    root = resolve_data_dir(data_dir, "fsdd", marker="recordings")
    if root is None:
        raise DataUnavailableError(
            "FSDD has no download here: pass --data-dir DIR (a datasets "
            "root holding fsdd/recordings/) or set KZOO_DATA_DIR.")
    folder = os.path.join(root, "recordings")
    rows = []
    for name in sorted(os.listdir(folder)):
        match = _FSDD_NAME.match(name)
        if not match:
            continue
        digit, speaker, index = match.groups()
        if (int(index) < 5) == (split == "test"):
            rows.append((os.path.join(folder, name), int(digit), speaker))
    if limit is not None:
        rows = rows[:limit]
    files = [r[0] for r in rows]
    return AudioDataset(
        _load(files, length, 8000), np.array([r[1] for r in rows], np.int32),
        [DIGIT_NAMES[r[1]] for r in rows], [r[2] for r in rows], 8000, files)


@kzoo_export("kzoo.data.load_spoken_words")
def load_spoken_words(split="train", data_dir=None, length=10000,
                      limit=None):
    """kzoo's spoken Portuguese words (1,000 words x 4 voices, 8 kHz).

    Split by word (`metadata.csv`): 800 words train, 200 held-out words
    test. Labels are word ids over the whole dataset (the same word has
    the same id in any split).

    Args:
        split: `"train"` or `"test"`. Defaults to `"train"`.
        data_dir: the `spoken_words_pt` folder or a datasets root; `None`
            reads `KZOO_DATA_DIR`.
        length: samples per clip (`fit_length`). Defaults to `10000`
            (1.25 s; the longest clip is 1.2 s).
        limit: keep the first `limit` clips. Defaults to `None`.

    Returns:
        An `AudioDataset` (labels = word ids, texts = words, speakers =
        voices).
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: "
                         f"split={split!r}")
    root = resolve_data_dir(data_dir, "spoken_words_pt",
                            marker="metadata.csv")
    if root is None:
        raise DataUnavailableError(
            "spoken_words_pt has no download: pass --data-dir DIR (a "
            "datasets root holding spoken_words_pt/) or set KZOO_DATA_DIR.")
    with open(os.path.join(root, "metadata.csv"), newline="",
              encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    words = sorted({r["text"] for r in rows})
    word_id = {w: i for i, w in enumerate(words)}
    rows = [r for r in rows if r["split"] == split]
    if limit is not None:
        rows = rows[:limit]
    files = [os.path.join(root, r["file"]) for r in rows]
    return AudioDataset(
        _load(files, length, 8000),
        np.array([word_id[r["text"]] for r in rows], np.int32),
        [r["text"] for r in rows], [r["voice"] for r in rows], 8000, files)
