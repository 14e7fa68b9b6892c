"""Face verification with the triplet loss (FaceNet) on people never seen.

FaceNet (Schroff et al., 2015, https://arxiv.org/abs/1503.03832) as the
course frames it: a network maps a face to a unit-norm 128-d embedding, the
triplet loss with online semi-hard mining pulls the faces of one person
together and pushes other people's at least a margin further away (the
intra-class variation of pose, light and expression is what it has to
absorb), and two faces are "the same person" when their distance is below
a threshold.

Data: the YouTube Faces frames of `facial_keypoints/training/` (3,462
faces, 347 people, 3 or 4 videos of 3 frames each), cropped square around
their 68 keypoints (the role of FaceNet's detector and alignment;
`kzoo.data.load_face_identities`). Split by person: `--holdout-people` of
the people (the same people `landmarks_faces.py` holds out) are the test
set, `--val-people` of the rest choose the threshold, and only the other
people are trained on. Batches are P people x K faces (Hermans et al.,
2017, https://arxiv.org/abs/1703.07737).

Reported on the test people, each beside the same evaluation of the same
network at random initialisation (`random_init_*`) and of the raw pixels
(`pixels_*`: each crop centred and L2-normalised, a normalised
cross-correlation):

- verification accuracy on a balanced set of pairs (every pair of frames
  of one person from *different* videos, since frames of one video are
  near-duplicates, and as many pairs of different people drawn with a
  fixed seed), at the threshold that is best on the validation people's
  pairs (`kzoo.eval.verification_accuracy`);
- ROC AUC of those pairs (`kzoo.eval.roc_auc`);
- a person search: each test face queried among the other test faces,
  its own video's frames excluded (`query_groups`): Recall@1 and @5, MAP@R.

Writes `pairs.png` (test pairs with their distances, framed green where
the threshold decides right) and exports the embedding model (uint8 faces
-> unit-norm embeddings) as a SavedModel.

    python recipes/face_verification.py --data-dir ../shared/datasets
    python recipes/face_verification.py --margin 1.0 --distance l2   # tfa
"""

import argparse
import os
import sys
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

NAME = "face_verification"
DATASET = "facial_keypoints"
FACENET = "FaceNet, Schroff et al. 2015"
RECALL_KS = (1, 5)


def fraction(text):
    """argparse type: a float in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def at_least_two(text):
    """argparse type: an integer >= 2 (K needs a positive besides the anchor)."""
    value = runs.positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"must be >= 2 (each anchor needs a positive of its person in "
            f"the batch), got {value}")
    return value


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset=DATASET, datasets=(DATASET,), epochs=30,
        batch_size=None, seed=0, output_dir=os.path.join("runs", NAME),
        model_name=NAME, reference="10 min with --mixed-precision bfloat16 on "
        "2 CPU cores: benchmarks/results/face_verification.json")
    for action in parser._actions:  # this recipe's data is not a TFDS set
        if action.dest == "data_dir":
            action.help = (
                "the facial_keypoints folder (training/, "
                "training_keypoints.csv) or a datasets root holding it. "
                "Default: $KZOO_DATA_DIR (no download).")
        elif action.dest == "dataset":
            action.help = f"dataset. Default: {DATASET} (the only one)."
        elif action.dest == "limit":
            action.help = "use only the first N faces (smoke runs)."
        elif action.dest == "batch_size":
            action.help = ("GLOBAL batch size: must equal people-per-batch x "
                           "faces-per-person x replicas if given. Default: "
                           "that product.")
    model = parser.add_argument_group("model")
    model.add_argument("--image-size", type=runs.positive_int, default=64,
                       help="side of the square face crops, pixels. "
                       "Default: 64.")
    model.add_argument("--crop-margin", type=runs.non_negative_float,
                       default=0.25,
                       help="crop side = the keypoints' box side x (1 + "
                       "margin). Default: 0.25.")
    model.add_argument("--embedding-dim", type=runs.positive_int, default=128,
                       help=f"width of the L2-normalised embedding. Default: "
                       f"128 ({FACENET}).")
    model.add_argument("--sync-bn", action=argparse.BooleanOptionalAction,
                       default=None,
                       help="cross-replica batch statistics. Default: on when "
                       "training on more than one replica.")
    loss = parser.add_argument_group("loss and batches")
    loss.add_argument("--margin", type=runs.non_negative_float, default=0.2,
                      help=f"triplet margin. Default: 0.2 ({FACENET}, with "
                      f"squared distances).")
    loss.add_argument("--distance", choices=["l2", "squared_l2", "cosine"],
                      default="squared_l2",
                      help=f"distance of the loss and the mining. Default: "
                      f"squared_l2 ({FACENET}).")
    loss.add_argument("--people-per-batch", type=runs.positive_int,
                      default=16,
                      help="P, distinct people per batch. Default: 16.")
    loss.add_argument("--faces-per-person", type=at_least_two, default=4,
                      help="K, faces of each person per batch (>= 2). "
                      "Default: 4 (P x K = 64; Hermans et al. 2017 use "
                      "P=18, K=4).")
    loss.add_argument("--augment", action=argparse.BooleanOptionalAction,
                      default=True,
                      help="random horizontal flip and translation by up to "
                      "1/8 of the side (--augment / --no-augment). Default: "
                      "--augment.")
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--optimizer", choices=["adam", "adamw", "sgd"],
                     default="adam",
                     help="optimizer. Default: adam (FaceNet used AdaGrad; "
                     "Adam as tensorflow-addons' triplet tutorial).")
    opt.add_argument("--learning-rate", type=runs.positive_float,
                     default=1e-3,
                     help="peak learning rate (cosine decay to 0). Default: "
                     "1e-3.")
    opt.add_argument("--lr-schedule", choices=["cosine", "constant"],
                     default="cosine",
                     help="cosine decay to 0 over the run, or constant. "
                     "Default: cosine.")
    opt.add_argument("--momentum", type=runs.non_negative_float, default=0.9,
                     help="SGD momentum (--optimizer sgd only). Default: 0.9.")
    opt.add_argument("--weight-decay", type=runs.non_negative_float,
                     default=0.0,
                     help="decoupled weight decay. Default: 0.")
    ev = parser.add_argument_group("evaluation")
    ev.add_argument("--holdout-people", type=fraction, default=0.2,
                    help="fraction of the people held out of training as the "
                    "test set: a fixed permutation (seed 0, not --seed: "
                    "kzoo.data.held_out_people), the people landmarks_faces.py"
                    " holds out. Default: 0.2.")
    ev.add_argument("--val-people", type=fraction, default=0.15,
                    help="fraction of the other people held out to choose the "
                    "threshold and for the per-epoch logs (seed 1). "
                    "Default: 0.15.")
    ev.add_argument("--eval-every", type=runs.non_negative_int, default=5,
                    help="log the validation people's ROC AUC and Recall@1 "
                    "every N epochs (0: never). Default: 5.")
    ev.add_argument("--png-pairs", type=runs.positive_int, default=8,
                    help="test pairs drawn in pairs.png (half similar). "
                    "Default: 8.")
    args = parser.parse_args(argv)
    if args.holdout_people <= 0 or args.val_people <= 0:
        parser.error("--holdout-people and --val-people must be > 0 (the "
                     "figures are measured on people never trained on)")
    return args


def _fail(message):
    """A usage problem found after parsing: one line on stderr, exit 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def split_people(faces, holdout, val):
    """`(train, val, test)` `FaceIdentities`, disjoint in people."""
    from kzoo import data

    test_people = set(data.held_out_people(faces.file_names, holdout, seed=0))
    rest = [f for f in faces.file_names if data.person_of(f) not in test_people]
    val_people = set(data.held_out_people(rest, val, seed=1))
    train_people = {data.person_of(f) for f in rest} - val_people
    return (data.select_faces(faces, train_people),
            data.select_faces(faces, val_people),
            data.select_faces(faces, test_people))


def pixel_embeddings(images):
    """The raw-pixel baseline: each image centred and L2-normalised."""
    import numpy as np

    x = images.reshape(len(images), -1).astype("float64")
    x -= x.mean(axis=1, keepdims=True)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x.astype("float32")


def main(argv=None):
    args = parse_args(argv)
    strategy = runs.resolve_strategy(args)
    replicas = strategy.num_replicas_in_sync
    global_batch = args.people_per_batch * args.faces_per_person * replicas
    if args.batch_size is not None and args.batch_size != global_batch:
        _fail(f"--batch-size must equal --people-per-batch x "
                  f"--faces-per-person x replicas = {args.people_per_batch} x "
                  f"{args.faces_per_person} x {replicas} = {global_batch}, or "
                  f"be omitted. Received: --batch-size={args.batch_size}")
    args.batch_size = global_batch
    print(runs.describe_strategy(strategy, global_batch))

    import keras
    import numpy as np

    from kzoo import data
    from kzoo import eval as kz_eval
    from kzoo import layers
    from kzoo import losses
    from kzoo import models
    from kzoo import visualize

    keras.utils.set_random_seed(args.seed)
    run = runs.Run(args, strategy)
    load_start = time.time()
    faces = data.load_face_identities(args.data_dir, args.image_size,
                                      args.crop_margin, args.limit)
    train, val, test = split_people(faces, args.holdout_people,
                                    args.val_people)
    print(f"data: {len(faces.images)} faces of {len(faces.names)} people, "
          f"{args.image_size}x{args.image_size} crops "
          f"({time.time() - load_start:.1f} s); by person: train "
          f"{len(train.names)} people / {len(train.images)} faces, val "
          f"{len(val.names)} / {len(val.images)}, test {len(test.names)} / "
          f"{len(test.images)}")
    if args.people_per_batch > len(train.names):
        _fail(f"--people-per-batch must be at most the number of "
                  f"training people ({len(train.names)}). Received: "
                  f"--people-per-batch={args.people_per_batch}")
    if len(test.names) < 2 or len(val.names) < 2:
        _fail("the validation and test sets need at least 2 people each "
                  f"(got {len(val.names)} and {len(test.names)}): raise "
                  "--limit or the fractions")
    steps_per_epoch = max(1, len(train.images) // global_batch)
    image_shape = train.images.shape[1:]

    with strategy.scope():
        backbone = models.resnet20_cifar(
            input_shape=image_shape,
            synchronized_bn=runs.sync_bn(args, strategy))
        inputs = keras.Input(image_shape, name="images")
        embeddings = layers.EmbeddingHead(args.embedding_dim,
                                          name="embedding_head")(
                                              backbone(inputs))
        model = keras.Model(inputs, embeddings, name="face_embedding")
        model.compile(
            optimizer=runs.build_optimizer(args, steps_per_epoch),
            loss=losses.TripletLoss(margin=args.margin, distance=args.distance,
                                    mining="semi-hard"),
            metrics=[losses.ActiveTripletFraction(margin=args.margin,
                                                  distance=args.distance)],
            jit_compile=args.jit)

    # The same pairs for every model: all cross-video pairs of a person,
    # as many pairs of different people (seed 0).
    val_pairs = kz_eval.verification_pairs(val.people, val.videos, seed=0)
    test_pairs = kz_eval.verification_pairs(test.people, test.videos, seed=0)

    def distances(emb, pairs):
        return np.linalg.norm(emb[pairs[0]] - emb[pairs[1]], axis=1)

    def evaluate(embed, prefix):
        start = time.time()
        val_e, test_e = embed(val.images), embed(test.images)
        val_acc, threshold = kz_eval.verification_accuracy(
            distances(val_e, val_pairs), val_pairs[2])
        test_d = distances(test_e, test_pairs)
        similar = test_pairs[2] == 0
        accuracy = float(np.mean((test_d <= threshold) == similar))
        auc = kz_eval.roc_auc(test_d, test_pairs[2])
        search = kz_eval.retrieval_metrics(
            test_e, test.people, k=RECALL_KS, distance="l2",
            query_groups=test.videos)
        out = {f"{prefix}verification_accuracy": accuracy,
               f"{prefix}roc_auc": auc,
               f"{prefix}threshold": threshold,
               f"{prefix}val_verification_accuracy": val_acc,
               f"{prefix}map_at_r": search["map@r"],
               f"{prefix}eval_seconds": round(time.time() - start, 1)}
        for k in RECALL_KS:
            out[f"{prefix}recall_at_{k}"] = search[f"recall@{k}"]
        label = prefix.rstrip("_").replace("_", " ") or "trained"
        print(f"{label}: verification accuracy {accuracy:.4f} (threshold "
              f"{threshold:.3f} from val people), ROC AUC {auc:.4f}, person "
              f"search Recall@1 {search['recall@1']:.4f}, MAP@R "
              f"{search['map@r']:.4f}")
        return out, test_d, threshold, search

    def embed_model(images):
        return kz_eval.embed(model, images)

    metrics, _, _, _ = evaluate(pixel_embeddings, "pixels_")
    random_init, _, _, _ = evaluate(embed_model, "random_init_")
    metrics.update(random_init)

    class ValidationMonitor(keras.callbacks.Callback):
        """Logs the validation people's ROC AUC / Recall@1 every N epochs."""

        seconds = 0.0

        def on_epoch_end(self, epoch, logs=None):
            last = epoch + 1 == (self.params or {}).get("epochs")
            if not ((epoch + 1) % args.eval_every == 0 or last):
                return
            start = time.time()
            e = kz_eval.embed(model, val.images)
            auc = kz_eval.roc_auc(distances(e, val_pairs), val_pairs[2])
            r1 = kz_eval.recall_at_k(e, val.people, distance="l2",
                                     query_groups=val.videos)
            if logs is not None:
                logs["val_roc_auc"] = auc
                logs["val_recall_at_1"] = r1
            print(f"Epoch {epoch + 1}: validation people ROC AUC {auc:.4f}, "
                  f"Recall@1 {r1:.4f}")
            self.seconds += time.time() - start

    monitor = ValidationMonitor()
    initial_epoch = run.initial_epoch()
    ds = data.class_balanced_dataset(
        train.images, train.people, classes_per_batch=args.people_per_batch,
        examples_per_class=args.faces_per_person, seed=args.seed,
        num_replicas=replicas, steps_per_epoch=steps_per_epoch,
        epochs=args.epochs, initial_epoch=initial_epoch,
        # flip + shift by up to 1/8 of the side, seeded by --seed + 1
        augment_pad=max(1, args.image_size // 8) if args.augment else None)
    fit_start = time.time()
    history = model.fit(
        ds, epochs=args.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=run.callbacks([monitor] if args.eval_every else []),
        shuffle=False, verbose=run.verbose)
    fit_seconds = time.time() - fit_start
    epochs_run = len(history.history.get("loss", []))

    trained, test_d, threshold, search = evaluate(embed_model, "")
    metrics.update(trained)
    metrics.update(runs.fit_summary(history, fit_seconds, steps_per_epoch,
                                    args, strategy))
    metrics.update({
        "final_active_triplet_fraction": (
            history.history["active_triplet_fraction"][-1]
            if epochs_run else None),
        "steps_per_epoch": steps_per_epoch,
        "global_batch_size": global_batch,
        "train_people": len(train.names), "train_faces": len(train.images),
        "val_people": len(val.names), "val_faces": len(val.images),
        "test_people": len(test.names), "test_faces": len(test.images),
        "test_similar_pairs": int(np.sum(test_pairs[2] == 0)),
        "test_dissimilar_pairs": int(np.sum(test_pairs[2] == 1)),
        "search_queries": search["num_queries"],
        "monitor_seconds": round(monitor.seconds, 1),
    })
    if run.chief:
        rng = np.random.default_rng(0)
        similar = np.flatnonzero(test_pairs[2] == 0)
        dissimilar = np.flatnonzero(test_pairs[2] == 1)
        half = args.png_pairs // 2
        shown = np.r_[rng.choice(similar, min(half, len(similar)), False),
                      rng.choice(dissimilar,
                                 min(args.png_pairs - half, len(dissimilar)),
                                 False)]
        metrics["pairs_png"] = visualize.save_pair_grid(
            run.path("pairs.png"), test.images[test_pairs[0][shown]],
            test.images[test_pairs[1][shown]], test_d[shown],
            test_pairs[2][shown] == 0, threshold=threshold)
    run.export_embeddings(model, image_shape, metrics)
    run.finish(metrics)
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
