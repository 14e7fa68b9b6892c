"""Supervised cross-entropy on CIFAR-10 (or digits): the upper reference row.

The same ResNet-20 backbone and budget as the self-supervised recipes,
trained with the labels (softmax cross-entropy through a linear layer, the
classic CIFAR augmentation: flip and a random shift of up to 4 pixels),
then evaluated exactly like them: the kNN accuracy (k=200, T=0.1) and the
linear probe of the backbone's pooled features, beside the same backbone at
random initialisation. It is the row a self-supervised method is read
against at the same budget (`benchmarks/ssl_table.py`). Optimiser: SGD
momentum 0.9, weight decay 5e-4, cosine decay from 0.1 (He et al. 2016's
CIFAR settings).

    python recipes/supervised_cifar.py --data-dir ../shared/datasets
    python recipes/supervised_cifar.py --dataset digits --epochs 10
"""

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

HE = "He et al. 2016, CIFAR-10"


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_ssl_args(parser, learning_rate=0.1, reference=HE)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    strategy, run, train, test = runs.start(args, prefix="supervised")

    import keras

    from kzoo import data, models

    steps = runs.steps_per_epoch(len(train.images), args.batch_size)
    with strategy.scope():
        backbone = runs.build_backbone(args, train.images.shape[1:], strategy)
        model = models.pretext_classifier(backbone, len(train.class_names),
                                          name="supervised_classifier")
        model.compile(
            optimizer=runs.build_optimizer(args, steps),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"], jit_compile=args.jit)
    # full batches only, like the other recipes
    ds = data.labeled_dataset(train.images, train.labels, args.batch_size,
                              shuffle=True, seed=args.seed,
                              augment=data.random_flip_and_translate,
                              drop_remainder=True, epochs=args.epochs,
                              initial_epoch=run.initial_epoch())
    return runs.train_self_supervised(args, strategy, run, train, test,
                                      backbone, model, ds, steps)


if __name__ == "__main__":
    runs.main_guard(main)
