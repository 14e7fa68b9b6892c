import numpy as np
import pytest

import kzoo


def test_structure_and_shapes():
    head = kzoo.layers.MLPHead(hidden_dims=[16, 8], output_dim=4,
                               output_batch_norm=True, output_use_bias=False)
    out = head(np.random.rand(3, 5).astype("float32"), training=True)
    assert out.shape == (3, 4)
    names = [w.path for w in head.weights]
    assert any("output_bn" in n for n in names)
    # hidden dense layers have no bias (use_bias=False), output has none either
    assert not any("bias" in n and "dense" in n for n in names)


def test_no_batch_norm():
    head = kzoo.layers.MLPHead(hidden_dims=[8], output_dim=2, batch_norm=False)
    head(np.zeros((2, 3), "float32"))
    assert not any("bn" in w.path for w in head.weights)


def test_invalid_output_dim():
    with pytest.raises(ValueError, match="Received: output_dim=0"):
        kzoo.layers.MLPHead(output_dim=0)
