"""Cross-modal recall (both directions, duplicates by label) and
nearest-centroid zero-shot accuracy, on hand-built embeddings."""

import numpy as np
import pytest

from kzoo.eval import cross_modal_recall, nearest_centroid_accuracy


def _unit(angles):
    return np.stack([np.cos(angles), np.sin(angles)], 1).astype("float32")


def test_both_directions_by_hand():
    # Audio: 4 clips, words 0, 0, 1, 2. Texts: words 0, 1, 2, 3 (once each).
    audio = _unit(np.array([0.0, 0.1, 1.0, 2.9]))
    audio_ids = np.array([0, 0, 1, 2])
    text = _unit(np.array([0.05, 1.05, 2.0, 3.0]))
    text_ids = np.array([0, 1, 2, 3])
    m = cross_modal_recall(audio, audio_ids, text, text_ids, ks=(1, 2))
    # a -> b: clips 0, 1 -> text 0 (hit); clip 2 -> text 1 (hit); clip 3
    # (angle 2.9) -> text 3 first (miss), text 2 second (hit at 2).
    assert m["a_to_b_recall@1"] == pytest.approx(3 / 4)
    assert m["a_to_b_recall@2"] == pytest.approx(1.0)
    # b -> a: text 3 has no clip (excluded); text 0 -> clip 0 (hit), text 1
    # -> clip 2 (hit), text 2 (2.0) -> nearest clip 2.9 (word 2): hit.
    assert m["b_to_a_excluded_queries"] == 1
    assert m["b_to_a_recall@1"] == pytest.approx(1.0)
    assert m["a_to_b_excluded_queries"] == 0


def test_any_duplicate_counts_once():
    # Two identical texts of word 7: retrieving either is a hit, and the
    # second copy is not a distractor that pushes the truth out of top-1.
    audio = _unit(np.array([0.0]))
    text = _unit(np.array([0.01, 0.01, 3.0]))
    m = cross_modal_recall(audio, [7], text, [7, 7, 8], ks=(1,))
    assert m["a_to_b_recall@1"] == 1.0
    m = cross_modal_recall(audio, [8], text, [7, 7, 8], ks=(1, 2, 3))
    assert (m["a_to_b_recall@1"], m["a_to_b_recall@2"],
            m["a_to_b_recall@3"]) == (0.0, 0.0, 1.0)


def test_nearest_centroid():
    rng = np.random.default_rng(0)
    centres = _unit(np.linspace(0, 2 * np.pi, 5, endpoint=False))
    img_labels = np.repeat(np.arange(5), 20)
    images = centres[img_labels] + 0.05 * rng.normal(size=(100, 2))
    audio = centres[[0, 1, 2, 3, 4, 0]] * 3.0  # scale does not matter
    acc = nearest_centroid_accuracy(audio, [0, 1, 2, 3, 4, 1], images,
                                    img_labels)
    assert acc == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="one embedding width"):
        nearest_centroid_accuracy(np.zeros((2, 3)), [0, 1], images,
                                  img_labels)
    with pytest.raises(ValueError, match="One label per embedding"):
        nearest_centroid_accuracy(audio, [0], images, img_labels)
