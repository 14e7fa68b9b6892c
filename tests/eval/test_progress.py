"""kzoo.eval.ProgressLogger: a line every N steps, one per epoch."""

import io
import re

import keras
import numpy as np
import pytest

from kzoo import eval as kz_eval


def test_prints_every_n_steps_and_each_epoch():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    stream = io.StringIO()
    x = np.zeros((40, 3), "float32")
    y = np.zeros((40, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0,
              callbacks=[kz_eval.ProgressLogger(3, batch_size=4,
                                                stream=stream)])
    lines = stream.getvalue().splitlines()
    # 10 steps per epoch: lines at steps 3, 6, 9, then the epoch summary.
    steps = [int(m.group(1)) for line in lines
             for m in [re.search(r"step (\d+)/10", line)] if m]
    assert steps == [3, 6, 9, 3, 6, 9]
    assert sum("done in" in line for line in lines) == 2
    assert lines[0].startswith("epoch 1/2 step 3/10 (30%) loss ")
    assert "img/s" in lines[0] and "eta" in lines[0]


def test_rejects_bad_period():
    with pytest.raises(ValueError, match="every_n_steps"):
        kz_eval.ProgressLogger(0)
