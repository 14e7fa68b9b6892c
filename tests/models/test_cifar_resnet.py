import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy


def test_resnet20_matches_keras_io_layout():
    model = kzoo.models.resnet20_cifar()
    assert model.output_shape == (None, 256)
    # 3 stages x 2 bottleneck blocks x 3 convs + 3 projections + stem = 22 convs
    convs = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    assert len(convs) == 22
    assert model.get_layer("backbone_pool") is not None
    out = model(np.random.randint(0, 255, (2, 32, 32, 3)).astype("float32"))
    assert out.shape == (2, 256) and np.all(np.isfinite(to_numpy(out)))


def test_resnet18_cifar_stem():
    model = kzoo.models.resnet18_cifar(width=8)
    assert model.output_shape == (None, 64)
    assert model.get_layer("stem_conv").strides == (1, 1)
    assert not any("pool" in l.name and "backbone" not in l.name for l in model.layers)


def test_rejects_bad_depth():
    with pytest.raises(ValueError, match="Received: depth=21"):
        kzoo.models.cifar_resnet_v2(depth=21)


def test_synchronized_bn_flag():
    model = kzoo.models.resnet20_cifar(synchronized_bn=True)
    bns = [l for l in model.layers if l.__class__.__name__ == "BatchNormalization"]
    # Keras synchronises under tf.distribute only; JAX's DataParallel
    # computes global batch statistics with plain BatchNormalization.
    on_tf = keras.backend.backend() == "tensorflow"
    assert bns and all(l.synchronized == on_tf for l in bns)
