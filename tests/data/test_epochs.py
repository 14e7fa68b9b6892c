"""Samplers keyed on (seed, epoch): `epochs=` / `initial_epoch=`.

With `epochs`, every kzoo sampler's batches are a function of the seed
and the epoch's index alone: a dataset that starts at `initial_epoch=k`
holds exactly the batches of epochs `k..` of the full one, and `fit`
under a `tf.distribute` strategy trains on the same batches as without
one (the weights after training are equal).
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from tests.conftest import subprocess_env

LABELS = np.repeat(np.arange(5), 4)
IDS = np.arange(len(LABELS), dtype="float32")[:, None]
IMAGES = np.random.RandomState(0).randint(
    0, 256, (len(LABELS), 8, 8, 3)).astype("uint8")


def _rotate(images, seed):  # a pretext transform: ids survive it
    return images, images[:, 0, 0, 0]


SAMPLERS = {
    "pair": lambda **kw: kzoo.data.pair_dataset(IDS, LABELS, 6, **kw),
    "triplet": lambda **kw: kzoo.data.triplet_dataset(IDS, LABELS, 6, **kw),
    "class_balanced": lambda **kw: kzoo.data.class_balanced_dataset(
        IDS, LABELS, 2, 2, steps_per_epoch=3, **kw),
    "class_balanced_augmented": lambda **kw: kzoo.data.class_balanced_dataset(
        IMAGES, LABELS, 2, 2, steps_per_epoch=3, augment_pad=2, **kw),
    "two_view": lambda **kw: kzoo.data.two_view_dataset(IMAGES, 8, **kw),
    "labeled": lambda **kw: kzoo.data.labeled_dataset(
        IMAGES, LABELS, 8, shuffle=True, **kw),
    "pretext": lambda **kw: kzoo.data.pretext_dataset(
        IMAGES, 8, _rotate, **kw),
    "cross_modal": lambda **kw: kzoo.data.cross_modal_pairs(
        IDS, LABELS, IDS + 100, LABELS, 8, **kw),
    "keypoints": lambda **kw: kzoo.data.keypoint_dataset(
        IMAGES, np.full((len(LABELS), 68, 2), 4.0), np.ones((len(LABELS), 68)), 8,
        shuffle=True, augment=kzoo.data.KeypointAugmentation(), **kw),
}


def _batches(ds):
    return [[np.asarray(t).tolist() for t in tf.nest.flatten(b)]
            for b in ds]


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    from tests.data.test_detection import _synthetic_voc

    return _synthetic_voc(tmp_path_factory.mktemp("voc"))


def _sampler(name, voc):
    if name == "detection":
        return lambda **kw: kzoo.data.detection_dataset(
            voc, image_size=32, batch_size=2, training=True, **kw)
    return SAMPLERS[name]


NAMES = sorted(SAMPLERS) + ["detection"]


@pytest.mark.parametrize("name", NAMES)
def test_epoch_k_of_a_resumed_dataset_is_epoch_k_of_the_full_one(name, voc):
    make = _sampler(name, voc)
    full = make(seed=3, epochs=3)
    steps = kzoo.data.steps_per_epoch(full, 3)
    assert len(full) == 3 * steps
    batches = _batches(full)
    assert _batches(full) == batches  # every iterator: the same stream
    resumed = make(seed=3, epochs=3, initial_epoch=2)
    assert kzoo.data.steps_per_epoch(resumed, 3, 2) == steps
    assert _batches(resumed) == batches[2 * steps:]
    # each epoch draws anew, and another seed gives other batches
    assert batches[:steps] != batches[steps:2 * steps]
    assert _batches(make(seed=4, epochs=3)) != batches


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_datasets_draw_anew_each_iteration(name, voc):
    ds = _sampler(name, voc)(seed=3)
    first, second = _batches(ds), _batches(ds)
    assert first != second
    again = _sampler(name, voc)(seed=3)  # but the same seed, the same draws
    assert _batches(again) == first and _batches(again) == second


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "`epochs` must be a positive integer"),
    ({"epochs": 2.5}, "`epochs` must be a positive integer"),
    ({"epochs": 2, "initial_epoch": 2}, "`initial_epoch` must be"),
    ({"epochs": 2, "initial_epoch": -1}, "`initial_epoch` must be"),
    ({"initial_epoch": 1}, "`initial_epoch` needs `epochs`"),
])
def test_bad_epochs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kzoo.data.pair_dataset(IDS, LABELS, 6, seed=0, **kwargs)


def test_detection_epochs_need_a_voc_dataset_and_no_repeat(voc):
    with pytest.raises(ValueError, match="`epochs` needs a kzoo.data.VOC"):
        kzoo.data.detection_dataset(voc, batch_size=2, repeat=True, epochs=2)
    with pytest.raises(ValueError, match="`epochs` needs a kzoo.data.VOC"):
        kzoo.data.detection_dataset(voc.as_dataset(), batch_size=2, epochs=2)


def test_steps_per_epoch_refuses_a_dataset_of_other_epochs():
    ds = kzoo.data.pair_dataset(IDS, LABELS, 6, seed=0, epochs=3)
    with pytest.raises(ValueError, match="whole number of epochs"):
        kzoo.data.steps_per_epoch(ds, 5)
    one = kzoo.data.pair_dataset(IDS, LABELS, 6, seed=0)
    assert kzoo.data.steps_per_epoch(one, 1) == len(one)


_STRATEGY_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import kzoo
x = np.arange(16, dtype="float32")[:, None]
y = np.repeat(np.arange(4), 4)
ds = kzoo.data.triplet_dataset(x, y, 4, seed=0, epochs=3).map(
    lambda t, labels: (t[:, 0], t[:, 1] - t[:, 2]))
if sys.argv[1] == "mirrored":
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
else:
    strategy = tf.distribute.get_strategy()
with strategy.scope():
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones")])
    model.compile(keras.optimizers.SGD(0.001), "mse")
model.fit(ds, epochs=3, steps_per_epoch=kzoo.data.steps_per_epoch(ds, 3),
          verbose=0)
print(json.dumps([w.ravel().tolist() for w in model.get_weights()]))
"""


def _trained_weights(strategy):
    result = subprocess.run(
        [sys.executable, "-c", _STRATEGY_SCRIPT, strategy],
        env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return [np.array(w) for w in
            json.loads(result.stdout.strip().splitlines()[-1])]


def test_fit_trains_on_the_same_batches_under_a_mirrored_strategy():
    """Without `epochs`, `fit` under MirroredStrategy iterates the dataset
    once more than without (observed on TensorFlow 2.21), so a one-epoch
    sampler gives other batches from the second epoch on; with `epochs`
    the stream is keyed on (seed, epoch) and the training is the same."""
    one = _trained_weights("default")
    mirrored = _trained_weights("mirrored")
    for a, b in zip(one, mirrored):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
