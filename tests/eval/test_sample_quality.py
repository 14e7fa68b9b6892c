"""kzoo.eval.precision_recall (Kynkäänniemi et al. 2019) by hand."""

import numpy as np
import pytest

import kzoo


def test_hand_case_on_a_line():
    # real points 0, 1, 2, 3; k=1 radii: 1 each. Fakes 0.5 (inside), 10
    # (outside): precision 1/2. Fake radii: |0.5 - 10| = 9.5 each, so
    # the real points within 9.5 of a fake: all 4: recall 1.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    assert kzoo.eval.precision_recall(real, fake, k=1) == {
        "precision": 0.5, "recall": 1.0}


def test_identical_and_disjoint_sets():
    x = np.random.default_rng(0).normal(size=(200, 4))
    assert kzoo.eval.precision_recall(x, x) == {"precision": 1.0,
                                                 "recall": 1.0}
    assert kzoo.eval.precision_recall(x, x + 100.0) == {"precision": 0.0,
                                                         "recall": 0.0}
    # a collapsed generator: realistic samples, no coverage
    collapsed = np.repeat(x[:1], 50, axis=0) + 1e-3
    r = kzoo.eval.precision_recall(x, collapsed, k=3)
    assert r["precision"] == 1.0 and r["recall"] < 0.05
    # blocks do not change the result
    assert kzoo.eval.precision_recall(x, x[::-1] * 1.1, batch_size=7) == \
        kzoo.eval.precision_recall(x, x[::-1] * 1.1)


def test_errors():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="more than k"):
        kzoo.eval.precision_recall(x, x[:3], k=3)
    with pytest.raises(ValueError, match="same width"):
        kzoo.eval.precision_recall(x, np.zeros((5, 3)), k=1)
    with pytest.raises(ValueError, match="finite"):
        kzoo.eval.precision_recall(x + np.nan, x, k=1)
