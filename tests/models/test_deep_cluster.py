import sys

import keras
import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

import kzoo
from kzoo.models.deep_cluster import _fill_empty_clusters
from tests.backend_utils import to_numpy


def _backbone(shape=(4, 4, 3), width=8):
    inputs = keras.Input(shape)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(width)(x)
    return keras.Model(inputs, x, name="tiny")


def _indexed_images(n, num_groups=4, seed=0):
    """`uint8` [n, 4, 4, 3] images in `num_groups` visual groups, whose
    pixels (0, 0, 0:2) spell the image's index (`_decode` reads it back)."""
    rng = np.random.default_rng(seed)
    groups = np.arange(n) % num_groups
    patterns = rng.integers(0, 256, (num_groups, 4, 4, 3))
    noise = rng.integers(-20, 21, (n, 4, 4, 3))
    images = np.clip(patterns[groups] + noise, 0, 255).astype("uint8")
    images[:, 0, 0, 0] = np.arange(n) // 256
    images[:, 0, 0, 1] = np.arange(n) % 256
    return images, groups


def _decode(images):
    images = np.asarray(images)
    return (images[:, 0, 0, 0] * 256 + images[:, 0, 0, 1]).astype("int64")


# ----------------------------------------------------------- clustering


def test_assign_clusters_finds_separated_clusters():
    rng = np.random.default_rng(0)
    truth = np.arange(90) % 3
    features = rng.normal(size=(3, 16))[truth] * 5 + rng.normal(size=(90, 16))
    # The blobs span 2 directions: PCA to 2 keeps them. (Whitening all 16
    # would scale the 14 noise directions up to the signal's variance.)
    labels, info = kzoo.models.assign_clusters(features, 3, pca_dim=2,
                                               seed=0)
    assert labels.dtype == np.int64 and labels.shape == (90,)
    assert normalized_mutual_info_score(truth, labels) == pytest.approx(1.0)
    assert info["empty_clusters"] == 0
    assert info["cluster_sizes"].tolist() == [30, 30, 30]
    assert np.isfinite(info["inertia"]) and info["inertia"] > 0
    assert info["pca_dim"] == 2
    again, _ = kzoo.models.assign_clusters(features, 3, pca_dim=2, seed=0)
    np.testing.assert_array_equal(labels, again)
    labels, info = kzoo.models.assign_clusters(features, 3, pca_dim=None,
                                               seed=0)
    assert normalized_mutual_info_score(truth, labels) == pytest.approx(1.0)
    assert info["pca_dim"] == 16


def test_duplicate_points_leave_empty_clusters_that_are_filled():
    # 5 distinct points, 6 copies each: k-means can only fill 5 of 8
    # clusters; the 3 empty ones are filled by splitting big ones.
    # (Without PCA: its matrix product can make copies differ by rounding,
    # which k-means then separates.)
    rng = np.random.default_rng(1)
    features = np.repeat(rng.normal(size=(5, 6)), 6, axis=0)
    point = np.repeat(np.arange(5), 6)
    for pca_dim in (None, 256):
        labels, info = kzoo.models.assign_clusters(
            features, 8, pca_dim=pca_dim, seed=0)
        if pca_dim is None:
            assert info["empty_clusters"] == 3
        sizes = np.bincount(labels, minlength=8)
        assert (sizes > 0).all() and sizes.sum() == 30
        np.testing.assert_array_equal(info["cluster_sizes"], sizes)
        # A split only divides the copies of one point: no cluster mixes
        # points.
        for c in range(8):
            assert len(np.unique(point[labels == c])) == 1

    # All points equal (a collapsed backbone): still k non-empty clusters.
    labels, info = kzoo.models.assign_clusters(np.ones((12, 4)), 4, seed=0)
    assert info["empty_clusters"] == 3
    assert (np.bincount(labels, minlength=4) > 0).all()


def test_fill_empty_clusters_splits_by_a_hyperplane():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3))
    labels = np.zeros(40, "int64")  # everything in cluster 0, 1 and 2 empty
    labels, filled = _fill_empty_clusters(x, labels, 3, rng)
    assert filled == 2
    assert (np.bincount(labels, minlength=3) > 0).all()


def test_assign_clusters_errors():
    with pytest.raises(ValueError, match="Received: num_clusters=11"):
        kzoo.models.assign_clusters(np.zeros((10, 2)), 11)
    with pytest.raises(ValueError, match="Received: init='x'"):
        kzoo.models.assign_clusters(np.zeros((10, 2)), 2, init="x")
    with pytest.raises(ValueError, match="finite"):
        kzoo.models.assign_clusters(np.full((10, 2), np.nan), 2)


def test_missing_scikit_learn_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        kzoo.models.assign_clusters(np.zeros((10, 2)), 2)


# ------------------------------------------------------------- sampling


def test_every_cluster_is_drawn_equally_often():
    sizes = [1, 3, 50, 10]  # cluster 4 of k=5 is empty
    labels = np.repeat(np.arange(4), sizes)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    sampler = kzoo.data.UniformLabelSampler(
        len(labels), 5, batch_size=7, steps_per_epoch=3, labels=labels,
        seed=0)
    indices, drawn = sampler.sample_epoch()
    assert len(indices) == 21
    np.testing.assert_array_equal(drawn, labels[indices])
    counts = np.bincount(drawn, minlength=5)
    assert counts[4] == 0
    assert counts[:4].max() - counts[:4].min() <= 1 and counts.sum() == 21
    # Stratified inside a cluster: the singleton's only example every time,
    # the cluster of 50 without repetition.
    big = indices[drawn == 2]
    assert len(np.unique(big)) == len(big)

    sampler = kzoo.data.UniformLabelSampler(
        len(labels), 5, batch_size=8, steps_per_epoch=5, labels=labels)
    indices, drawn = sampler.sample_epoch()
    assert np.bincount(drawn, minlength=5)[:4].tolist() == [10] * 4
    assert np.unique(indices[drawn == 0]).size == 1
    # Cluster of 3 asked for 10 draws: each member 3 or 4 times.
    assert sorted(np.bincount(indices[drawn == 1])[
        np.unique(indices[drawn == 1])]) == [3, 3, 4]


def test_sampler_defaults_and_errors():
    sampler = kzoo.data.UniformLabelSampler(100, 10, batch_size=16, seed=0)
    assert sampler.steps_per_epoch == 6 and sampler.version == 0
    # Initial labels: a random balanced assignment.
    assert np.bincount(sampler.labels).tolist() == [10] * 10
    with pytest.raises(ValueError):
        sampler.labels[0] = 3  # read-only
    with pytest.raises(ValueError, match="Received: labels in"):
        sampler.set_labels(np.full(100, 10))
    with pytest.raises(ValueError, match="Received: num_clusters=101"):
        kzoo.data.UniformLabelSampler(100, 101, batch_size=4)


def test_labels_are_fixed_within_a_pass_and_change_between_passes():
    images, _ = _indexed_images(60)
    sampler = kzoo.data.UniformLabelSampler(60, 3, batch_size=6, seed=0)
    ds = kzoo.data.deep_cluster_dataset(images, sampler, seed=0)
    first = sampler.labels
    second = (first + 1) % 3
    iterator = iter(ds)
    batches = [next(iterator) for _ in range(3)]
    sampler.set_labels(second)  # what the callback does, but mid-epoch
    batches += list(iterator)
    assert len(batches) == sampler.steps_per_epoch == 10
    for x, y in batches:
        assert x.dtype == "float32" and x.shape == (6, 4, 4, 3)
        assert y.dtype == "int32"
        np.testing.assert_array_equal(y.numpy(), first[_decode(x)])
    for x, y in ds:  # the next pass reads the new labels
        np.testing.assert_array_equal(y.numpy(), second[_decode(x)])


def test_seeded_epochs_are_reproducible():
    images, _ = _indexed_images(40)

    def epochs():
        sampler = kzoo.data.UniformLabelSampler(40, 4, batch_size=5, seed=3)
        ds = kzoo.data.deep_cluster_dataset(images, sampler, seed=0)
        out = []
        for _ in range(3):
            out.append(np.concatenate([_decode(x) for x, _ in ds]))
            next(iter(ds))  # an iterator started and dropped, as Keras does
        return out

    first, second = epochs(), epochs()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])


def test_augmentation_is_applied_per_batch():
    images, _ = _indexed_images(16)
    sampler = kzoo.data.UniformLabelSampler(16, 2, batch_size=4, seed=0)
    ds = kzoo.data.deep_cluster_dataset(
        images, sampler, augment=lambda x, s: 255.0 - x, seed=0)
    x, _ = next(iter(ds))
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 255.0
    assert ds.cardinality().numpy() == 4


# --------------------------------------------------------------- model


def test_reset_head_reinitialises_weights_and_optimizer_state():
    keras.utils.set_random_seed(0)
    init = keras.initializers.GlorotUniform(seed=3)
    model = kzoo.models.DeepCluster(_backbone(), num_clusters=5,
                                    kernel_initializer=init)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    images, groups = _indexed_images(40)
    model.fit(images.astype("float32"), groups, batch_size=8, epochs=1,
              verbose=0)
    fresh = keras.ops.convert_to_numpy(init((8, 5)))
    kernel = model.classifier.kernel
    assert not np.allclose(kernel.numpy(), fresh)
    momenta = model.optimizer.momentums
    index = model.optimizer._get_variable_index
    backbone_momentum = momenta[index(model.backbone.trainable_variables[0])]
    before = backbone_momentum.numpy().copy()
    assert np.abs(momenta[index(kernel)].numpy()).max() > 0

    assert model.reset_head() == 2  # momentum of kernel and bias
    np.testing.assert_allclose(kernel.numpy(), fresh)
    np.testing.assert_array_equal(model.classifier.bias.numpy(), 0.0)
    np.testing.assert_array_equal(momenta[index(kernel)].numpy(), 0.0)
    np.testing.assert_array_equal(
        momenta[index(model.classifier.bias)].numpy(), 0.0)
    np.testing.assert_array_equal(backbone_momentum.numpy(), before)


def test_default_reset_draws_new_small_weights_and_resets_adam():
    keras.utils.set_random_seed(1)
    model = kzoo.models.DeepCluster(_backbone(width=64), num_clusters=50)
    model.compile(optimizer=keras.optimizers.Adam(use_ema=True))
    images, groups = _indexed_images(16)
    model.fit(images.astype("float32"), groups, batch_size=8, epochs=1,
              verbose=0)
    model.reset_head()
    first = model.classifier.kernel.numpy().copy()
    model.reset_head()
    second = model.classifier.kernel.numpy()
    assert not np.allclose(first, second)  # N(0, 0.01), new draw each time
    assert 0.008 < second.std() < 0.012 and abs(second.mean()) < 0.002
    opt = model.optimizer
    i = opt._get_variable_index(model.classifier.kernel)
    np.testing.assert_array_equal(opt._momentums[i].numpy(), 0.0)
    np.testing.assert_array_equal(opt._velocities[i].numpy(), 0.0)
    # The EMA copy starts again from the new weights.
    np.testing.assert_allclose(
        opt._model_variables_moving_average[i].numpy(), second)


def test_fit_keeps_each_epochs_assignment_and_resets_the_head():
    """Labels seen batch by batch during `fit` are the assignment made at
    the start of their epoch; the head is fresh after every assignment."""
    keras.utils.set_random_seed(2)
    seen = []

    class Recording(kzoo.models.DeepCluster):
        def compute_loss(self, x=None, y=None, y_pred=None,
                         sample_weight=None, training=True):
            seen.append((epoch_of[0], _decode(x), np.asarray(y)))
            return super().compute_loss(x, y, y_pred, sample_weight, training)

    images, _ = _indexed_images(48)
    init = keras.initializers.GlorotUniform(seed=5)
    model = Recording(_backbone(), num_clusters=4, kernel_initializer=init)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  run_eagerly=True)
    sampler = kzoo.data.UniformLabelSampler(48, 4, batch_size=8, seed=0)
    clusterer = kzoo.models.DeepClusterCallback(
        images, sampler, seed=0, verbose=0)
    assignments, head_fresh = [], []
    epoch_of = [None]
    fresh = keras.ops.convert_to_numpy(init((8, 4)))

    def on_epoch_begin(epoch, logs):
        epoch_of[0] = epoch
        assignments.append(clusterer.labels.copy())
        head_fresh.append(np.allclose(model.classifier.kernel.numpy(), fresh))

    ds = kzoo.data.deep_cluster_dataset(images, sampler, seed=0)
    recorder = keras.callbacks.LambdaCallback(on_epoch_begin=on_epoch_begin)
    history = model.fit(ds, epochs=3, verbose=0,
                        callbacks=[clusterer, recorder])
    assert head_fresh == [True, True, True]
    # The assignments differ from epoch to epoch (so stale labels would be
    # caught below).
    assert not np.array_equal(assignments[0], assignments[1])
    assert not np.array_equal(assignments[1], assignments[2])
    assert len(seen) == 3 * sampler.steps_per_epoch
    for epoch, indices, labels in seen:
        np.testing.assert_array_equal(labels, assignments[epoch][indices])
    # The model trained in between: its weights moved away from the head's
    # initial values, so each reset above was a real reset.
    assert not np.allclose(model.classifier.kernel.numpy(), fresh)
    # Uniform over clusters within every epoch.
    for e in range(3):
        y = np.concatenate([s[2] for s in seen if s[0] == e])
        counts = np.bincount(y, minlength=4)
        assert counts.max() - counts.min() <= 1
    logs = history.history
    assert np.isnan(logs["cluster_nmi"][0])
    assert all(0.0 <= v <= 1.0 for v in logs["cluster_nmi"][1:])
    assert logs["empty_clusters"] == [0, 0, 0]
    assert len(clusterer.history) == 3


def test_fit_end_to_end_on_clustered_data():
    keras.utils.set_random_seed(3)
    images, groups = _indexed_images(96, num_groups=4, seed=3)
    model = kzoo.models.DeepCluster(_backbone(), num_clusters=8)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    sampler = kzoo.data.UniformLabelSampler(96, 8, batch_size=16, seed=0)
    callback = kzoo.models.DeepClusterCallback(
        images, sampler, true_labels=groups, seed=0, verbose=0)
    ds = kzoo.data.deep_cluster_dataset(
        images, sampler, augment=kzoo.data.random_flip_and_translate, seed=0)
    history = model.fit(ds, epochs=3, verbose=0, callbacks=[callback])
    logs = history.history
    assert len(logs["loss"]) == 3 and all(np.isfinite(logs["loss"]))
    assert all(0.0 <= v <= 1.0 for v in logs["cluster_nmi"][1:])
    # 8 clusters over-segment 4 visual groups, which they keep apart.
    assert min(logs["label_nmi"]) > 0.5
    assert set(logs) >= {"kmeans_inertia", "empty_clusters"}
    features = model.predict(images[:5].astype("float32"), verbose=0)
    assert features.shape == (5, 8)
    assert model.classify(images[:5].astype("float32")).shape == (5, 8)


def test_callback_checks_the_number_of_clusters():
    images, _ = _indexed_images(16)
    model = kzoo.models.DeepCluster(_backbone(), num_clusters=3)
    model.compile(optimizer="sgd")
    sampler = kzoo.data.UniformLabelSampler(16, 4, batch_size=4)
    callback = kzoo.models.DeepClusterCallback(images, sampler, verbose=0)
    with pytest.raises(ValueError, match="sampler.num_clusters=4"):
        model.fit(kzoo.data.deep_cluster_dataset(images, sampler),
                  epochs=1, verbose=0, callbacks=[callback])


def test_config_and_keras_file_round_trip(tmp_path):
    keras.utils.set_random_seed(4)
    init = keras.initializers.RandomNormal(stddev=0.02, seed=1)
    model = kzoo.models.DeepCluster(_backbone(), num_clusters=6,
                                    kernel_initializer=init, name="dc")
    config = model.get_config()
    assert config["num_clusters"] == 6
    clone = kzoo.models.DeepCluster.from_config(config)
    assert clone.num_clusters == 6
    assert clone.kernel_initializer.get_config()["stddev"] == 0.02
    model.compile(optimizer="sgd")
    path = str(tmp_path / "deep_cluster.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _indexed_images(3)[0].astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               loaded.predict(x, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(model.classify(x)),
                               to_numpy(loaded.classify(x)),
                               rtol=1e-5, atol=1e-6)
    assert loaded.num_clusters == 6
