"""DeepCluster: k-means pseudo-labels as classification targets.

Caron et al. (2018), "Deep Clustering for Unsupervised Learning of Visual
Features" (https://arxiv.org/abs/1807.05520), as three reusable parts:

- `assign_clusters`: the clustering step (PCA-whitening, L2 normalisation,
  k-means, empty clusters filled);
- `DeepCluster`: a backbone and a linear classifier over the clusters,
  trained with `fit` on `(images, pseudo_labels)`, whose classifier is
  re-initialised at every reassignment (`reset_head`);
- `DeepClusterCallback`: the per-epoch loop (embed the training set,
  cluster, hand the pseudo-labels to the input pipeline, reset the head, log
  the NMI between consecutive assignments).

The input pipeline (uniform sampling over the clusters) is
`kzoo.data.UniformLabelSampler` and `kzoo.data.deep_cluster_dataset`.
"""

import time
import warnings

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export
from kzoo.eval.knn import _check_positive_int
from kzoo.eval.knn import _to_2d_float32
from kzoo.eval.knn import _to_labels
from kzoo.eval.knn import _to_numpy
from kzoo.eval.knn import embed
from kzoo.models.backbone_config import backbone_from_config
from kzoo.ops import add_regularization_losses

# Principal components whose singular value is below this fraction of the
# largest (variance ratio 1e-8) are dropped before whitening: whitening
# would blow up their rounding noise to unit variance.
_PCA_RELATIVE_TOLERANCE = 1e-4


def _import_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "DeepCluster's clustering step needs scikit-learn (k-means, PCA "
            "and normalized_mutual_info_score). Install it with "
            "`pip install scikit-learn`."
        ) from e


def _pca_whiten_l2(features, pca_dim, seed):
    """PCA to `pca_dim` dims, whitening, then L2 normalisation of rows."""
    from sklearn.decomposition import PCA

    x = features
    if pca_dim is not None:
        n_components = min(pca_dim, x.shape[0], x.shape[1])
        pca = PCA(n_components=n_components, random_state=seed)
        x = pca.fit_transform(x)
        s = pca.singular_values_
        keep = s > s[0] * _PCA_RELATIVE_TOLERANCE
        x = x[:, keep] / np.sqrt(pca.explained_variance_[keep])
        if x.shape[1] == 0:
            # All features are equal: a single point, cluster it as such.
            x = np.zeros((features.shape[0], 1), features.dtype)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype("float32")


def _fill_empty_clusters(x, labels, num_clusters, rng):
    """Splits a non-empty cluster into every empty one; returns the count."""
    sizes = np.bincount(labels, minlength=num_clusters)
    empty = np.flatnonzero(sizes == 0)
    for cluster in empty:
        # Pick the cluster to split with probability proportional to its
        # size minus one (faiss' rule, used by the paper's code).
        weights = np.maximum(sizes - 1, 0).astype("float64")
        big = rng.choice(num_clusters, p=weights / weights.sum())
        members = np.flatnonzero(labels == big)
        # The centroid and a small random perturbation of it as the two new
        # centroids, members reassigned to the closer one: a random
        # hyperplane through the centroid.
        direction = rng.normal(size=x.shape[1])
        side = (x[members] - x[members].mean(axis=0)) @ direction > 0
        moved = members[side]
        if moved.size in (0, members.size):
            # Identical points: no hyperplane separates them; move half.
            moved = rng.choice(members, members.size // 2, replace=False)
        labels[moved] = cluster
        sizes[big] -= moved.size
        sizes[cluster] = moved.size
    return labels, int(empty.size)


@kzoo_export("kzoo.models.assign_clusters")
def assign_clusters(features, num_clusters, pca_dim=256, init="k-means++",
                    max_iter=300, seed=None):
    """Clusters features into pseudo-labels, DeepCluster's way.

    Following Caron et al. (2018) and their code (`preprocess_features`,
    `run_kmeans`): the features are reduced to `pca_dim` dimensions by PCA
    with whitening (every component scaled to unit variance), each row is
    L2-normalised, and k-means (scikit-learn's `KMeans`, Lloyd's algorithm,
    one run) clusters them into `num_clusters` clusters.

    Empty clusters: k-means relocates clusters that become empty during its
    iterations, but the final assignment can still leave some empty (always
    when there are fewer distinct points than clusters). Each one is then
    filled as in the paper: a non-empty cluster is drawn with probability
    proportional to its size minus one (faiss' rule), and its members are
    split between it and the empty cluster by a random hyperplane through
    its centroid (the centroid and a small random perturbation of it as the
    two new centroids); members that no hyperplane separates (duplicated
    points) are split in random halves. Every returned cluster is then
    non-empty.

    Why `KMeans` and not `MiniBatchKMeans`: on 10,000 x 256 features (2
    loaded CPU cores, scikit-learn 1.9, k=100, 3 seeds), full-batch Lloyd
    iterations to convergence cost 0.2-0.4 s of CPU from a random start,
    while `MiniBatchKMeans(batch_size=1024)` took 0.6-2.6 s and ended with a
    higher k-means objective (+0.5 % on Gaussian noise, +0.4-2 % on a
    100-component mixture, where its NMI to the true components was
    0.96-0.98 against 0.98-0.99). Mini-batches only pay off for far more
    points than a CIFAR-sized training set. The cost of `KMeans` is in its
    k-means++ initialisation (about 4-5 s of CPU there, 10 times the
    iterations), which finds the better clustering (mixture NMI 0.994 vs
    0.976, objective 1.7 % lower), hence the default. At CIFAR scale
    (50,000 x 512 features, a 100-component mixture, PCA to 256, k=100,
    same machine) a whole call took 14-22 s of CPU with k-means++ (NMI
    0.995) and 5-7 s with `init="random"` (NMI 0.980, objective 1.8 %
    higher), both converging in under 20 iterations. `init="random"` is
    what the paper's faiss k-means does (with 20 iterations): the fast
    choice for a large `k` or many points.

    Args:
        features: array `[N, F]` of features (the backbone's outputs).
        num_clusters: number of clusters `k`, at most `N`.
        pca_dim: number of PCA components kept, clipped to `min(N, F)`;
            components with a negligible variance (below `1e-8` of the
            largest) are dropped before whitening. With at most `pca_dim`
            features (ResNet-20's 64) the whitening spans every feature
            direction, the weak ones scaled up to unit variance like the
            strong ones. `None` skips the PCA and whitening (rows are still
            L2-normalised). Defaults to `256` (the paper's, for AlexNet's
            4096 features).
        init: k-means initialisation, `"k-means++"` or `"random"` (see
            above). Defaults to `"k-means++"`.
        max_iter: maximum number of Lloyd iterations. Defaults to `300`.
        seed: integer seed of the PCA solver, k-means and the filling of
            empty clusters. Defaults to `None` (nondeterministic).

    Returns:
        A tuple `(labels, info)`: `labels` an `int64` array `[N]` of cluster
        ids in `[0, k)`, every cluster non-empty; `info` a dict with
        `"empty_clusters"` (how many empty clusters were filled),
        `"inertia"` (the k-means objective, the sum of squared distances of
        the points to their centroid in the whitened, normalised space,
        before the filling), `"cluster_sizes"` (`int64` `[k]`, after the
        filling), `"pca_dim"` (the dimension clustered) and `"n_iter"` (the
        k-means iterations).

    Example:

    >>> features = np.random.default_rng(0).normal(size=(1000, 64))
    >>> labels, info = kzoo.models.assign_clusters(features, 10, seed=0)
    >>> labels.shape, int(info["cluster_sizes"].sum())
    ((1000,), 1000)

    Reference:
        - [Caron et al., 2018](https://arxiv.org/abs/1807.05520), sections
          3.2 and 3.3; `clustering.py` of facebookresearch/deepcluster.
    """
    _import_sklearn()
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    features = _to_2d_float32(features, "features")
    num_examples = features.shape[0]
    num_clusters = _check_positive_int(num_clusters, "num_clusters")
    if num_clusters > num_examples:
        raise ValueError(
            "`num_clusters` must not exceed the number of feature rows "
            f"({num_examples}). Received: num_clusters={num_clusters}"
        )
    if pca_dim is not None:
        pca_dim = _check_positive_int(pca_dim, "pca_dim")
    if init not in ("k-means++", "random"):
        raise ValueError(
            "`init` must be 'k-means++' or 'random'. "
            f"Received: init={init!r}"
        )
    max_iter = _check_positive_int(max_iter, "max_iter")
    if not np.all(np.isfinite(features)):
        raise ValueError(
            "`features` must be finite (a diverged backbone gives NaN or inf "
            "features). Received: features with non-finite values"
        )
    seed_sequence = np.random.SeedSequence(seed)
    pca_seed, kmeans_seed = seed_sequence.generate_state(2)
    x = _pca_whiten_l2(features, pca_dim, int(pca_seed))
    kmeans = KMeans(num_clusters, init=init, n_init=1, max_iter=max_iter,
                    random_state=int(kmeans_seed))
    with warnings.catch_warnings():
        # Duplicate points leave clusters empty: filled below.
        warnings.filterwarnings(
            "ignore", message="Number of distinct clusters",
            category=ConvergenceWarning,
        )
        labels = kmeans.fit_predict(x).astype("int64")
    rng = np.random.default_rng(seed_sequence.spawn(1)[0])
    labels, num_empty = _fill_empty_clusters(x, labels, num_clusters, rng)
    info = {
        "empty_clusters": num_empty,
        "inertia": float(kmeans.inertia_),
        "cluster_sizes": np.bincount(labels, minlength=num_clusters),
        "pca_dim": int(x.shape[1]),
        "n_iter": int(kmeans.n_iter_),
    }
    return labels, info


def _fresh_initializer(initializer):
    """An initializer that draws new values: Keras initializers with
    `seed=None` draw the same values at every call, so they are re-created;
    seeded ones (an integer seed: the same values; a `SeedGenerator`: new
    ones) are kept."""
    config = initializer.get_config()
    if isinstance(config, dict) and "seed" in config and (
        config["seed"] is None
    ):
        return initializer.__class__.from_config(config)
    return initializer


def _optimizer_slot_lists(optimizer, num_variables):
    """Attributes of `optimizer` that hold one optimizer variable (or
    `None`) per trained variable, by name."""
    owned = {id(v) for v in optimizer.variables}
    slots = {}
    for name, value in vars(optimizer).items():
        if name in ("_variables", "_trainable_variables"):
            continue
        if (
            isinstance(value, (list, tuple))
            and len(value) == num_variables
            and any(v is not None for v in value)
            and all(v is None or id(v) in owned for v in value)
        ):
            slots[name] = value
    return slots


def _reset_optimizer_slots(optimizer, variables):
    """Gives the optimizer state of `variables` its initial values.

    A throwaway optimizer of the same class and configuration is built on
    `variables` alone; its fresh slots (zero momenta, Adagrad's initial
    accumulators, EMA copies of the current weights, ...) are copied into
    the matching slots of `optimizer`, except the `use_ema` averages, which
    get the variables' current values. Returns the number of slot variables
    reset.
    """
    if optimizer is None or not getattr(optimizer, "built", False):
        return 0
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:  # keras.optimizers.LossScaleOptimizer
        return _reset_optimizer_slots(inner, variables)
    try:
        positions = [optimizer._get_variable_index(v) for v in variables]
    except (KeyError, AttributeError):
        return 0  # The optimizer does not train these variables.
    slots = _optimizer_slot_lists(
        optimizer, len(optimizer._trainable_variables)
    )
    try:
        fresh = optimizer.__class__.from_config(optimizer.get_config())
        fresh.build(list(variables))
        fresh_slots = _optimizer_slot_lists(fresh, len(variables))
    except Exception as e:  # A custom optimizer that cannot be cloned.
        warnings.warn(
            f"Could not re-create the state of {type(optimizer).__name__} "
            f"({e}); the classifier's optimizer slots are zeroed instead.",
            stacklevel=3,
        )
        fresh_slots = None
    count = 0
    for name, slot_list in slots.items():
        for i, position in enumerate(positions):
            target = slot_list[position]
            if target is None:
                continue
            if name == "_model_variables_moving_average":
                # `use_ema`: the average of weights that just changed is
                # the weights (Keras sets it so at the first step).
                target.assign(variables[i].value)
            elif fresh_slots is None:
                target.assign(ops.zeros(target.shape, target.dtype))
            elif name in fresh_slots and fresh_slots[name][i] is not None:
                target.assign(fresh_slots[name][i].value)
            else:
                continue
            count += 1
    return count


@kzoo_export("kzoo.models.DeepCluster")
class DeepCluster(keras.Model):
    """DeepCluster (Caron et al., 2018) as a `keras.Model` that trains with
    `fit`.

    A backbone and a linear classifier over `num_clusters` pseudo-classes,
    trained with sparse categorical cross-entropy on k-means pseudo-labels
    of the backbone's own features. Every epoch, `kzoo.models.
    DeepClusterCallback` embeds the training set, clusters it
    (`kzoo.models.assign_clusters`), hands the new labels to the input
    pipeline (`kzoo.data.deep_cluster_dataset`) and calls `reset_head()`:
    the cluster ids of two clusterings are unrelated, so the classifier
    starts again from a fresh initialisation.

    Feed it batches `(images, pseudo_labels)`. Called on images, the model
    returns the backbone features (what you evaluate and export, and what
    is clustered); `classify(images)` returns the classifier's logits.
    Regularization losses of the backbone and classifier (`model.losses`)
    are added to the training loss; the paper's weight decay (`1e-5`) is
    better given to the optimizer. Compiled `metrics` would see the
    features, not the logits: compile without them.

    The paper's number of clusters is ten times the number of classes
    (`k = 10000` for ImageNet's 1000: over-segmentation helps, its Figure
    3b). The default `100` applies this to CIFAR-10.

    Args:
        backbone: a `keras.Model` mapping images to features `[B, F]`.
        num_clusters: number of pseudo-classes `k`. Defaults to `100`
            (10 x the 10 classes of CIFAR-10, the paper's ratio).
        kernel_initializer: initializer of the classifier kernel, used again
            by every `reset_head()`; the bias starts at zero. An initializer
            without a seed draws new values at every reset; with an integer
            seed, the same values. Defaults to `None`:
            `keras.initializers.RandomNormal(stddev=0.01)` (the paper's
            code).
        **kwargs: base `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    backbone = kzoo.models.resnet20_cifar()
    model = kzoo.models.DeepCluster(backbone, num_clusters=100)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    sampler = kzoo.data.UniformLabelSampler(len(x), 100, batch_size=256)
    ds = kzoo.data.deep_cluster_dataset(x, sampler)
    model.fit(ds, epochs=100,
              callbacks=[kzoo.models.DeepClusterCallback(x, sampler)])
    features = model.predict(test_images)  # backbone features
    ```

    Reference:
        - [Caron et al., 2018, "Deep Clustering for Unsupervised Learning of
          Visual Features"](https://arxiv.org/abs/1807.05520); code:
          facebookresearch/deepcluster.
    """

    def __init__(self, backbone, num_clusters=100, kernel_initializer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.num_clusters = _check_positive_int(num_clusters, "num_clusters")
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.01)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.classifier = keras.layers.Dense(
            self.num_clusters,
            kernel_initializer=self.kernel_initializer,
            bias_initializer="zeros",
            name="classifier",
            dtype=self.dtype_policy,
        )
        self.classification_loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True
        )
        if getattr(self.backbone, "built", False) and self.backbone.inputs:
            self.build(tuple(self.backbone.inputs[0].shape))

    def build(self, input_shape=None):
        if not self.backbone.built:
            self.backbone.build(input_shape)
        self.classifier.build(tuple(self.backbone.outputs[0].shape))
        self.built = True

    def call(self, inputs, training=False):
        return self.backbone(inputs, training=training)

    def classify(self, images, training=False):
        """Logits `[B, num_clusters]` of the classifier for a batch."""
        return self.classifier(
            self.backbone(images, training=training), training=training
        )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if y is None:
            raise ValueError(
                "DeepCluster trains on `(images, pseudo_labels)` batches "
                "(see `kzoo.data.deep_cluster_dataset`). Received: y=None"
            )
        logits = ops.cast(self.classifier(y_pred, training=training),
                          "float32")
        # Loss.__call__ reduces to the local batch mean and scales it by
        # 1 / num_replicas under tf.distribute.
        loss = self.classification_loss(y, logits, sample_weight=sample_weight)
        loss = add_regularization_losses(loss, self.losses)
        return loss

    def reset_head(self):
        """Re-initialises the classifier and its optimizer state.

        The kernel gets new values from `kernel_initializer`, the bias
        zeros. If the model is compiled and its optimizer built, the
        optimizer state of the classifier's variables (SGD's momentum,
        Adam's moments, ...) returns to its initial value (zeros for
        momenta): a throwaway optimizer of the same class and configuration
        is built on the classifier's variables and its fresh slots are
        copied in (the `use_ema` average takes the new weights), as if the
        classifier had just been created, which is what the paper's code
        does by creating a new layer and a new optimizer for it every epoch
        (there, plain SGD for the classifier). Step counters are the
        optimizer's and
        stay shared: Adam's bias correction therefore does not restart for
        the classifier (its first updates after a reset are larger than
        those of a new Adam; SGD is unaffected).

        Returns:
            The number of optimizer variables reset (`0` if the model has no
            built optimizer).
        """
        if not self.classifier.built:
            return 0
        kernel, bias = self.classifier.kernel, self.classifier.bias
        initializer = _fresh_initializer(self.kernel_initializer)
        kernel.assign(initializer(tuple(kernel.shape), dtype=kernel.dtype))
        bias.assign(ops.zeros(tuple(bias.shape), dtype=bias.dtype))
        return _reset_optimizer_slots(
            getattr(self, "optimizer", None), [kernel, bias]
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "num_clusters": self.num_clusters,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**backbone_from_config(config))


@kzoo_export("kzoo.models.DeepClusterCallback")
class DeepClusterCallback(keras.callbacks.Callback):
    """Re-clusters the training set at the start of every epoch.

    DeepCluster's outer loop, as a Keras callback. In `on_epoch_begin`:

    1. embeds `images` with the current model in inference mode
       (`kzoo.eval.embed`; no augmentation), the backbone features of a
       `kzoo.models.DeepCluster`;
    2. clusters them into `sampler.num_clusters` clusters with
       `kzoo.models.assign_clusters` (PCA-whitening to `pca_dim`, L2
       normalisation, k-means, empty clusters filled), with a new k-means
       seed every epoch, as the paper's code does;
    3. hands the labels to `sampler` (`set_labels`), which
       `kzoo.data.deep_cluster_dataset` reads when Keras starts the epoch's
       pass: every batch of the epoch carries this assignment;
    4. calls `model.reset_head()` (new classifier weights and optimizer
       state).

    At the end of the epoch it writes into `logs` (hence `History`,
    `CSVLogger`, ... placed after it): `cluster_nmi`, the normalized mutual
    information between this epoch's assignment and the previous one (the
    paper's measure of stability, Figure 2b; `NaN` at the first
    clustering), `empty_clusters` (how many were filled), `kmeans_inertia`
    and, given `true_labels`, `label_nmi` (NMI with the real classes, the
    paper's Figure 2a). The same values are kept per epoch in
    `self.history`.

    Args:
        images: array `[N, ...]` of the training images, the same as the
            sampler's and the dataset's.
        sampler: the `kzoo.data.UniformLabelSampler` of the training
            dataset.
        embedding_model: optional `keras.Model` or callable mapping a batch
            of images to features `[B, F]`. Defaults to `None` (the trained
            model, whose call returns the backbone features).
        pca_dim: PCA dimension of the clustering. Defaults to `256`.
        init: k-means initialisation, `"k-means++"` or `"random"`. Defaults
            to `"k-means++"`.
        max_iter: maximum number of k-means iterations. Defaults to `300`.
        embed_batch_size: batch size of the embedding passes. Defaults to
            `256`.
        true_labels: optional integer array `[N]` of real classes, only to
            log `label_nmi`. Defaults to `None`.
        reset_head: call `model.reset_head()` after every reassignment.
            Defaults to `True`.
        seed: integer seed of the clusterings. Defaults to `None`
            (nondeterministic).
        verbose: `1` prints one line per clustering, `0` is silent.
            Defaults to `1`.

    Example:

    ```python
    sampler = kzoo.data.UniformLabelSampler(len(x), 100, batch_size=256,
                                            seed=0)
    callback = kzoo.models.DeepClusterCallback(x, sampler, seed=0)
    model.fit(kzoo.data.deep_cluster_dataset(x, sampler, seed=0),
              epochs=100, callbacks=[callback])
    print(callback.history[-1]["cluster_nmi"])
    ```

    Reference:
        - [Caron et al., 2018](https://arxiv.org/abs/1807.05520).
    """

    def __init__(
        self,
        images,
        sampler,
        embedding_model=None,
        pca_dim=256,
        init="k-means++",
        max_iter=300,
        embed_batch_size=256,
        true_labels=None,
        reset_head=True,
        seed=None,
        verbose=1,
    ):
        super().__init__()
        from kzoo.data.deep_clustering import UniformLabelSampler

        _import_sklearn()
        if not isinstance(sampler, UniformLabelSampler):
            raise ValueError(
                "`sampler` must be a `kzoo.data.UniformLabelSampler`. "
                f"Received: sampler={sampler!r}"
            )
        self.images = _to_numpy(images)
        if len(self.images) != sampler.num_examples:
            raise ValueError(
                f"`images` must hold the sampler's {sampler.num_examples} "
                f"examples. Received: len(images)={len(self.images)}"
            )
        self.sampler = sampler
        if embedding_model is not None and not callable(embedding_model):
            raise ValueError(
                "`embedding_model` must be a `keras.Model`, a callable or "
                f"`None`. Received: embedding_model={embedding_model!r}"
            )
        self.embedding_model = embedding_model
        self.pca_dim = pca_dim
        self.init = init
        self.max_iter = max_iter
        self.embed_batch_size = _check_positive_int(
            embed_batch_size, "embed_batch_size"
        )
        if true_labels is not None:
            true_labels = _to_labels(
                true_labels, len(self.images), "true_labels", "images"
            )
        self.true_labels = true_labels
        self.reset_head = reset_head
        self.seed = seed
        self.verbose = verbose
        self._seed_sequence = np.random.SeedSequence(seed)
        self.labels = None
        self.history = []
        self._logs = {}

    @property
    def num_clusters(self):
        return self.sampler.num_clusters

    def on_train_begin(self, logs=None):
        model_clusters = getattr(self.model, "num_clusters", None)
        if model_clusters is not None and model_clusters != self.num_clusters:
            raise ValueError(
                "The model's classifier and the sampler must have the same "
                f"number of clusters. Received: model.num_clusters="
                f"{model_clusters}, sampler.num_clusters={self.num_clusters}"
            )
        if self.reset_head and not hasattr(self.model, "reset_head"):
            raise ValueError(
                "The model has no `reset_head()` method (a "
                "`kzoo.models.DeepCluster` has); pass `reset_head=False` to "
                f"keep its classifier. Received: model={type(self.model)}"
            )

    def _embed(self):
        model = self.embedding_model
        if model is None:
            model = self.model
        return embed(model, self.images, batch_size=self.embed_batch_size)

    def reassign(self):
        """Embeds, clusters, installs the new labels and resets the head.

        Returns:
            The dict of what is logged (`cluster_nmi`, `empty_clusters`,
            `kmeans_inertia`, maybe `label_nmi`).
        """
        from sklearn.metrics import normalized_mutual_info_score

        start = time.perf_counter()
        features = self._embed()
        seed = int(self._seed_sequence.spawn(1)[0].generate_state(1)[0])
        labels, info = assign_clusters(
            features, self.num_clusters, pca_dim=self.pca_dim,
            init=self.init, max_iter=self.max_iter, seed=seed,
        )
        nmi = float("nan")
        if self.labels is not None:
            nmi = float(normalized_mutual_info_score(self.labels, labels))
        self.sampler.set_labels(labels)
        self.labels = labels
        if self.reset_head:
            self.model.reset_head()
        logs = {
            "cluster_nmi": nmi,
            "empty_clusters": info["empty_clusters"],
            "kmeans_inertia": info["inertia"],
        }
        if self.true_labels is not None:
            logs["label_nmi"] = float(
                normalized_mutual_info_score(self.true_labels, labels)
            )
        seconds = time.perf_counter() - start
        self.history.append(dict(logs, cluster_sizes=info["cluster_sizes"],
                                 seconds=seconds))
        if self.verbose:
            sizes = info["cluster_sizes"]
            print(
                f"DeepCluster: {len(labels)} images in {self.num_clusters} "
                f"clusters ({seconds:.1f} s): NMI with the previous "
                f"assignment {nmi:.3f}, {info['empty_clusters']} empty "
                f"clusters filled, sizes {int(sizes.min())}-"
                f"{int(sizes.max())}"
            )
        return logs

    def on_epoch_begin(self, epoch, logs=None):
        self._logs = self.reassign()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self._logs)
            self.history[-1]["epoch"] = epoch + 1
