"""Triplet loss with online semi-hard mining on CIFAR-10 (or digits).

Metric learning as in FaceNet (Schroff et al., 2015,
https://arxiv.org/abs/1503.03832): a ResNet-20 tower with an L2-normalised
128-d embedding head is trained with the triplet loss, every (anchor,
positive) pair of a batch taking its semi-hard negative (the closest negative
farther than the positive; tensorflow-addons' `TripletSemiHardLoss`). Batches
are P x K class-balanced (P classes, K images each; Hermans et al., 2017,
https://arxiv.org/abs/1703.07737) so that every anchor has positives.

Reported on the CIFAR-10 test split, each beside the same evaluation of the
same model at random initialisation (`random_init_*`):

- Recall@k (k = 1, 2, 4, 8), R-precision and MAP@R (Musgrave et al., 2020,
  https://arxiv.org/abs/2003.08505): the test split searched in itself,
  leave-one-out;
- weighted kNN accuracy (k=200, T=0.1) with the train embeddings as the
  memory bank.

The embedding model is exported as a SavedModel (uint8 images -> unit-norm
128-d embeddings).

Default budget: 1 epoch of the full 50k CIFAR-10 train set (312 P x K
batches of 160 images), sized to finish, evaluation included, in about 20
minutes on a 2-core CPU, where ResNet-20 trains at about 80 images/s and
embeds about 300 images/s (measured on an idle machine); every run embeds
the 60k images twice (random init and trained). That is a short run, not a
converged one: the point is the trained vs random-init comparison, and
`--epochs` scales it up.

    python recipes/triplet_cifar.py                       # CIFAR-10 via TFDS
    python recipes/triplet_cifar.py --data-dir ../shared/datasets
    python recipes/triplet_cifar.py --dataset digits --epochs 5   # no download
    python recipes/triplet_cifar.py --margin 0.2 --distance squared_l2  # FaceNet
"""

import argparse
import os
import sys
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

TFA = "TensorFlow Addons TripletSemiHardLoss tutorial and defaults"
FACENET = "FaceNet, Schroff et al. 2015"
RECALL_KS = (1, 2, 4, 8)  # Oh Song et al. 2016's Recall@k table


def at_least_two(text):
    """argparse type: an integer >= 2 (K needs a positive besides the anchor)."""
    value = runs.positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"must be >= 2 (each anchor needs a positive of its class in the "
            f"batch), got {value}")
    return value


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="cifar10", datasets=("cifar10", "digits"), epochs=1,
        batch_size=None, seed=0, output_dir=None, model_name=None,
        reference="sized for ~20 min on 2 CPU cores",
    )
    # The batch is P x K (x replicas); --batch-size only restates it.
    for action in parser._actions:
        if action.dest == "batch_size":
            action.help = ("GLOBAL batch size: must equal classes-per-batch x "
                           "examples-per-class x replicas if given. Default: "
                           "that product.")
    model = parser.add_argument_group("model")
    model.add_argument("--embedding-dim", type=runs.positive_int, default=128,
                       help=f"width of the L2-normalised embedding. Default: "
                       f"128 ({FACENET}).")
    model.add_argument("--sync-bn", action=argparse.BooleanOptionalAction,
                       default=None,
                       help="cross-replica batch statistics. Default: on when "
                       "training on more than one replica.")
    loss = parser.add_argument_group("loss and batches")
    loss.add_argument("--margin", type=runs.non_negative_float, default=1.0,
                      help=f"triplet margin. Default: 1.0 ({TFA}: "
                      f"TripletSemiHardLoss(margin=1.0) on L2-normalised "
                      f"embeddings; FaceNet uses 0.2 with --distance "
                      f"squared_l2).")
    loss.add_argument("--distance", choices=["l2", "squared_l2", "cosine"],
                      default="l2",
                      help=f"distance of the loss and the mining. Default: l2 "
                      f"(Euclidean, not squared: tfa's default "
                      f"distance_metric='L2'; {FACENET} uses squared_l2).")
    loss.add_argument("--classes-per-batch", type=runs.positive_int,
                      default=10,
                      help="P, distinct classes per batch (at most the number "
                      "of classes). Default: 10 (every CIFAR-10 class, so "
                      "every anchor sees all 9 other classes as negatives).")
    loss.add_argument("--examples-per-class", type=at_least_two, default=16,
                      help="K, images per class per batch (>= 2). Default: 16 "
                      "(P x K = 160 images per step; Hermans et al. 2017 "
                      "use P x K batches).")
    loss.add_argument("--augment", action=argparse.BooleanOptionalAction,
                      default=True,
                      help="random horizontal flip and translation by up to "
                      "1/8 of the image side with zero padding (4 px on "
                      "32x32: the standard CIFAR augmentation of He et al. "
                      "2016). Default: --augment.")
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                     help=f"optimizer. Default: adam ({TFA}: Adam(0.001)).")
    opt.add_argument("--learning-rate", type=runs.positive_float,
                     default=1e-3,
                     help=f"peak learning rate. Default: 1e-3 ({TFA}).")
    opt.add_argument("--lr-schedule", choices=["cosine", "constant"],
                     default="cosine",
                     help="cosine decay to 0 over the run, or constant. "
                     "Default: cosine (the tutorial's constant rate, decayed "
                     "because the default run is short).")
    opt.add_argument("--momentum", type=runs.non_negative_float, default=0.9,
                     help="SGD momentum (--optimizer sgd only). Default: 0.9.")
    opt.add_argument("--weight-decay", type=runs.non_negative_float,
                     default=0.0,
                     help="decoupled weight decay. Default: 0 (the tutorial "
                     "uses none).")
    ev = parser.add_argument_group("evaluation")
    ev.add_argument("--knn-k", type=runs.positive_int, default=200,
                    help="kNN neighbours. Default: 200 (lightly, solo-learn).")
    ev.add_argument("--knn-temperature", type=runs.positive_float, default=0.1,
                    help="kNN temperature. Default: 0.1 (lightly, solo-learn).")
    ev.add_argument("--eval-every", type=runs.non_negative_int, default=1,
                    help="log the test Recall@1 and MAP@R every N epochs "
                    "(0: never). Default: 1.")
    args = parser.parse_args(argv)
    args.model_name = args.model_name or f"triplet_{args.dataset}"
    args.output_dir = args.output_dir or os.path.join("runs", args.model_name)
    return args


def _fail(message):
    """A usage problem found after parsing: one line, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    args = parse_args(argv)
    strategy = runs.resolve_strategy(args)
    replicas = strategy.num_replicas_in_sync
    global_batch = args.classes_per_batch * args.examples_per_class * replicas
    if args.batch_size is not None and args.batch_size != global_batch:
        _fail(f"--batch-size must equal --classes-per-batch x "
              f"--examples-per-class x replicas = {args.classes_per_batch} x "
              f"{args.examples_per_class} x {replicas} = {global_batch}, or be "
              f"omitted. Received: --batch-size={args.batch_size}")
    args.batch_size = global_batch
    print(runs.describe_strategy(strategy, global_batch))

    import keras
    import numpy as np

    from kzoo import data, eval as kz_eval, layers, losses, models

    keras.utils.set_random_seed(args.seed)
    run = runs.Run(args, strategy)
    train = data.load_dataset(args.dataset, "train", args.data_dir, args.limit)
    test = data.load_dataset(args.dataset, "test", args.data_dir, args.limit)
    num_classes = len(np.unique(train.labels))
    print(f"data: {len(train.images)} train / {len(test.images)} test images "
          f"{train.images.shape[1:]}, {num_classes} classes in train")
    if args.classes_per_batch > num_classes:
        _fail(f"--classes-per-batch must be at most the number of classes in "
              f"the training set ({num_classes}). Received: "
              f"--classes-per-batch={args.classes_per_batch}")
    steps_per_epoch = max(1, len(train.images) // global_batch)
    image_shape = train.images.shape[1:]

    with strategy.scope():
        backbone = models.resnet20_cifar(input_shape=image_shape,
                                         synchronized_bn=runs.sync_bn(args, strategy))
        inputs = keras.Input(image_shape, name="images")
        embeddings = layers.EmbeddingHead(args.embedding_dim,
                                          name="embedding_head")(backbone(inputs))
        model = keras.Model(inputs, embeddings, name="triplet_embedding")
        model.compile(
            optimizer=runs.build_optimizer(args, steps_per_epoch),
            loss=losses.TripletLoss(margin=args.margin, distance=args.distance,
                                    mining="semi-hard"),
            metrics=[losses.ActiveTripletFraction(margin=args.margin,
                                                  distance=args.distance)],
            jit_compile=args.jit)

    def retrieval(test_emb):
        # Unit-norm embeddings: cosine and Euclidean rankings coincide.
        return kz_eval.retrieval_metrics(test_emb, test.labels, k=RECALL_KS)

    def evaluate(prefix):
        start = time.time()
        train_e = kz_eval.embed(model, train.images)
        test_e = kz_eval.embed(model, test.images)
        r = retrieval(test_e)
        knn = kz_eval.knn_accuracy(train_e, train.labels, test_e, test.labels,
                                   k=args.knn_k,
                                   temperature=args.knn_temperature)
        out = {f"{prefix}recall_at_{k}": r[f"recall@{k}"] for k in RECALL_KS}
        out[f"{prefix}r_precision"] = r["r_precision"]
        out[f"{prefix}map_at_r"] = r["map@r"]
        out[f"{prefix}knn_accuracy"] = knn
        out[f"{prefix}eval_seconds"] = round(time.time() - start, 1)
        label = "random init" if prefix else "trained"
        print(f"{label}: Recall@1 {r['recall@1']:.4f}, MAP@R {r['map@r']:.4f}, "
              f"R-precision {r['r_precision']:.4f}, kNN accuracy {knn:.4f} "
              f"({r['num_queries']} test queries, leave-one-out)")
        return out, r["num_queries"]

    # The baseline: the same evaluation of the same model (backbone and
    # head) at its random initialisation.
    metrics, num_queries = evaluate("random_init_")

    class RetrievalMonitor(keras.callbacks.Callback):
        """Logs the test Recall@1 / MAP@R every N epochs (and the last)."""

        seconds = 0.0

        def on_epoch_end(self, epoch, logs=None):
            last = epoch + 1 == (self.params or {}).get("epochs")
            if not ((epoch + 1) % args.eval_every == 0 or last):
                return
            start = time.time()
            r = retrieval(kz_eval.embed(model, test.images))
            if logs is not None:
                logs["test_recall_at_1"] = r["recall@1"]
                logs["test_map_at_r"] = r["map@r"]
            print(f"Epoch {epoch + 1}: test Recall@1 {r['recall@1']:.4f}, "
                  f"MAP@R {r['map@r']:.4f}")
            self.seconds += time.time() - start

    monitor = RetrievalMonitor()
    # All the epochs in one stream of --seed (the same batches on any
    # strategy); a resumed run skips the epochs its backup has done.
    initial_epoch = run.initial_epoch()
    ds = data.class_balanced_dataset(
        train.images, train.labels, classes_per_batch=args.classes_per_batch,
        examples_per_class=args.examples_per_class, seed=args.seed,
        num_replicas=replicas, steps_per_epoch=steps_per_epoch,
        epochs=args.epochs, initial_epoch=initial_epoch,
        # flip + shift by up to 1/8 of the side, seeded by --seed + 1
        augment_pad=max(1, image_shape[0] // 8) if args.augment else None)
    fit_start = time.time()
    history = model.fit(
        ds, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
        callbacks=run.callbacks([monitor] if args.eval_every else []),
        shuffle=False, verbose=run.verbose)
    fit_seconds = time.time() - fit_start
    epochs_run = len(history.history.get("loss", []))
    train_seconds = fit_seconds - monitor.seconds

    trained, _ = evaluate("")
    metrics.update(trained)
    # train_images_per_second counts fit's wall time (monitor included), as
    # in every recipe; the _excluding_monitor figure is the training alone.
    metrics.update(runs.fit_summary(history, fit_seconds, steps_per_epoch,
                                    args, strategy))
    metrics.update({
        "final_active_triplet_fraction": (
            history.history["active_triplet_fraction"][-1]
            if epochs_run else None),
        "steps_per_epoch": steps_per_epoch,
        "global_batch_size": global_batch,
        "train_images": int(len(train.images)),
        "test_images": int(len(test.images)),
        "retrieval_queries": num_queries,
        "monitor_seconds": round(monitor.seconds, 1),
        "train_images_per_second_excluding_monitor": (
            round(epochs_run * steps_per_epoch * global_batch / train_seconds, 1)
            if epochs_run else None),
        "knn_k": args.knn_k,
        "knn_temperature": args.knn_temperature,
    })
    run.export_embeddings(model, image_shape, metrics)
    run.finish(metrics)
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
