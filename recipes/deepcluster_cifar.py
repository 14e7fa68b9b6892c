"""DeepCluster (Caron et al. 2018) on CIFAR-10 (or digits): pseudo-labels.

At the start of every epoch the whole training set is embedded with the
current backbone, the features are PCA-whitened, L2-normalised and
clustered by k-means (scikit-learn), the cluster ids become the labels,
the classifier head is re-initialised, and the epoch samples the same
number of images from every cluster (`kzoo.models.DeepCluster`,
`kzoo.models.DeepClusterCallback`, `kzoo.data.UniformLabelSampler`). The
paper's settings: k = 10 x the number of classes (100 here), SGD momentum
0.9, learning rate 0.05, weight decay 1e-5, random resized crops and
flips; batch 128 and 5 epochs are the budget of simsiam_cifar.py. The
PCA keeps 128 of ResNet-20's 256 feature dimensions (whitening all of
them amplifies the noise dimensions).

Logs `cluster_nmi` (NMI between consecutive assignments, the paper's
stability measure) and `label_nmi` (NMI with the true labels, which are
used for nothing else), reports the kNN accuracy (k=200, T=0.1) and the
linear probe of the backbone features beside the same backbone at random
initialisation, and exports the backbone as an embedding SavedModel.

    python recipes/deepcluster_cifar.py --data-dir ../shared/datasets
    python recipes/deepcluster_cifar.py --dataset digits --num-clusters 30
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

PAPER = "Caron et al. 2018"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    model = runs.add_ssl_args(parser, learning_rate=0.05,
                              weight_decay=1e-5, reference=PAPER)
    model.add_argument("--num-clusters", type=runs.positive_int, default=100,
                       help=f"k of k-means. Default: 100 (10 x the classes, "
                       f"{PAPER}).")
    model.add_argument("--pca-dim", type=runs.positive_int, default=128,
                       help="PCA dimensions kept before whitening and "
                       "k-means. Default: 128.")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    strategy, run, train, test = runs.start(args, prefix="deepcluster")

    from kzoo import data, models

    n = len(train.images)
    steps = runs.steps_per_epoch(n, args.batch_size)
    if args.num_clusters > n:
        raise SystemExit(f"error: --num-clusters {args.num_clusters} is "
                         f"larger than the {n} training images")
    with strategy.scope():
        backbone = runs.build_backbone(args, train.images.shape[1:], strategy)
        model = models.DeepCluster(backbone, num_clusters=args.num_clusters)
        model.compile(optimizer=runs.build_optimizer(args, steps),
                      jit_compile=args.jit)
    sampler = data.UniformLabelSampler(n, args.num_clusters, args.batch_size,
                                       seed=args.seed)
    augment = data.SimSiamAugmentation(jitter_probability=0.0,
                                       grayscale_probability=0.0)
    ds = data.deep_cluster_dataset(train.images, sampler, augment=augment,
                                   seed=args.seed)
    relabel = models.DeepClusterCallback(
        train.images, sampler, embedding_model=backbone,
        pca_dim=min(args.pca_dim, int(backbone.outputs[0].shape[-1])),
        true_labels=train.labels, seed=args.seed)
    return runs.train_self_supervised(args, strategy, run, train, test,
                                      backbone, model, ds, steps,
                                      extra_callbacks=[relabel],
                                      fit_steps=False)


if __name__ == "__main__":
    runs.main_guard(main)
