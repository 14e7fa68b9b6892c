"""Supervised contrastive learning on CIFAR-10, beside a cross-entropy baseline.

Follows keras-io's "Supervised Contrastive Learning"
(https://keras.io/examples/vision/supervised-contrastive-learning/), which
reports 81.62% test accuracy on CIFAR-10 after 50 + 50 epochs with a
ResNet50V2 encoder on a GPU:

1. stage 1: the encoder + a `Dense(128, relu)` projection head trained with
   the supervised contrastive loss (`kzoo.losses.SupConLoss`, Khosla et al.
   2020's L_out, temperature 0.05);
2. stage 2: the encoder frozen, a classifier `Dropout(0.5) -> Dense(512,
   relu) -> Dropout(0.5) -> Dense(10, softmax)` trained on top.

Beside it, with the same encoder, head, augmentation, optimizer and number of
epochs (keras-io's "same training budget"): the cross-entropy baseline
(encoder + classifier trained end to end, keras-io's experiment 1), and the
random-initialisation baseline (stage 2 on the untrained, frozen encoder).

Kept from keras-io: Adam 1e-3, batch 265, temperature 0.05, projection 128,
hidden 512, dropout 0.5, augmentation inside the encoder (horizontal flip,
rotation 0.02). Changed, to run on a CPU: the encoder defaults to ResNet-20
(`--encoder resnet50v2` gives keras-io's, about 40x the compute); keras-io's
RandomWidth/RandomHeight(0.2), which change the image size, become a
RandomZoom of +-20% per axis at a fixed size; kzoo encoders rescale pixels
themselves instead of keras-io's adapted Normalization. `--loss npairs`
uses keras-io's own loss (tensorflow-addons' npairs_loss on the similarity
logits, which counts each anchor as its own positive) instead of L_out.

    python recipes/supcon_cifar.py --data-dir ../shared/datasets --epochs 3
    python recipes/supcon_cifar.py --dataset digits --epochs 5   # no download
"""

import argparse
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

KERAS_IO = "keras-io supervised contrastive example"
KERAS_IO_ACCURACY = 0.8162


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="cifar10", datasets=("cifar10", "digits"), epochs=50,
        batch_size=265, seed=0, output_dir=None, model_name=None,
        reference=KERAS_IO + "; each of the three trainings",
    )
    model = parser.add_argument_group("model")
    model.add_argument("--encoder", choices=["resnet20", "resnet18",
                                             "resnet50v2"],
                       default="resnet20",
                       help=f"encoder. Default: resnet20 (kzoo's CPU budget; "
                       f"{KERAS_IO}: resnet50v2).")
    model.add_argument("--projection-dim", type=runs.positive_int, default=128,
                       help=f"width of the Dense(relu) projection head. "
                       f"Default: 128 ({KERAS_IO}).")
    model.add_argument("--hidden-dim", type=runs.positive_int, default=512,
                       help=f"hidden width of the classifier. Default: 512 "
                       f"({KERAS_IO}).")
    model.add_argument("--dropout", type=runs.unit_interval_float, default=0.5,
                       help=f"classifier dropout rate. Default: 0.5 "
                       f"({KERAS_IO}).")
    model.add_argument("--temperature", type=runs.positive_float, default=0.05,
                       help=f"SupCon temperature. Default: 0.05 ({KERAS_IO}).")
    model.add_argument("--loss", choices=["supcon", "npairs"],
                       default="supcon",
                       help="stage-1 loss: 'supcon' (Khosla et al.'s L_out, "
                       "kzoo.losses.SupConLoss) or 'npairs' (keras-io's: "
                       "tensorflow-addons' npairs_loss on the logits). "
                       "Default: supcon.")
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--learning-rate", type=runs.positive_float, default=1e-3,
                     help=f"Adam learning rate. Default: 0.001 ({KERAS_IO}).")
    opt.add_argument("--lr-schedule", choices=["constant", "cosine"],
                     default="constant",
                     help="learning rate over each training: 'constant' "
                     f"({KERAS_IO}) or 'cosine' decay to 0 over its epochs "
                     "(Keras' CosineDecay; every training gets its own). "
                     "Default: constant.")
    opt.add_argument("--classifier-epochs", type=runs.positive_int,
                     default=None,
                     help="epochs of the two classifiers trained on a frozen "
                     "encoder (stage 2 and the random-init baseline). "
                     "Default: --epochs (keras-io).")
    ev = parser.add_argument_group("evaluation")
    ev.add_argument("--baseline", action=argparse.BooleanOptionalAction,
                    default=True,
                    help="also train the cross-entropy baseline (same "
                    "encoder and budget). Default: --baseline.")
    ev.add_argument("--knn-k", type=runs.positive_int, default=200,
                    help="kNN neighbours of the encoder-feature kNN accuracy. "
                    "Default: 200 (lightly, solo-learn).")
    args = parser.parse_args(argv)
    return args


def build_encoder(args, input_shape, keras, models):
    """Augmentation (active only in training) + backbone, 0..255 inputs."""
    if args.encoder == "resnet50v2":
        inputs = keras.Input(input_shape)
        x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
        features = keras.applications.ResNet50V2(
            include_top=False, weights=None, input_shape=input_shape,
            pooling="avg")(x)
        backbone = keras.Model(inputs, features, name="resnet50v2")
    else:
        build = {"resnet20": models.resnet20_cifar,
                 "resnet18": models.resnet18_cifar}[args.encoder]
        backbone = build(input_shape=input_shape)
    augment = keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=args.seed),
        keras.layers.RandomRotation(0.02, seed=args.seed + 1),
        keras.layers.RandomZoom((-0.2, 0.2), (-0.2, 0.2), seed=args.seed + 2),
    ], name="augmentation")
    inputs = keras.Input(input_shape)
    encoder = keras.Model(inputs, backbone(augment(inputs)), name="encoder")
    return encoder, backbone


def build_classifier(args, encoder, num_classes, keras, trainable):
    """keras-io's classifier on `encoder` (frozen when not `trainable`)."""
    encoder.trainable = trainable
    inputs = keras.Input(encoder.inputs[0].shape[1:])
    x = encoder(inputs)
    x = keras.layers.Dropout(args.dropout)(x)
    x = keras.layers.Dense(args.hidden_dim, activation="relu")(x)
    x = keras.layers.Dropout(args.dropout)(x)
    # float32 whatever --mixed-precision (Keras' mixed-precision rule for
    # the softmax output).
    outputs = keras.layers.Dense(num_classes, activation="softmax",
                                 dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="classifier")
    epochs = (args.epochs if trainable
              else args.classifier_epochs or args.epochs)
    model.compile(optimizer=adam(args, epochs),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=args.jit)
    return model


def adam(args, epochs):
    """Adam at --learning-rate, constant or cosine-decayed over `epochs`
    (keras-io's optimizer)."""
    steps = -(-args.train_images // args.batch_size)
    return runs.build_optimizer(args, steps, optimizer="adam", epochs=epochs)


def main(argv=None):
    args = parse_args(argv)
    strategy, run, train, test = runs.start(args, prefix="supcon")

    import keras

    from kzoo import addons, data, eval as kz_eval, losses, models

    num_classes = len(train.class_names)
    image_shape = train.images.shape[1:]
    args.train_images = len(train.images)  # for the cosine schedules
    runs.steps_per_epoch(len(train.images), args.batch_size)  # batch fits
    # labeled_dataset keeps the last, smaller batch.
    steps_per_epoch = -(-len(train.images) // args.batch_size)
    test_ds = data.labeled_dataset(test.images, test.labels, args.batch_size)
    metrics = {"keras_io_reference_accuracy": KERAS_IO_ACCURACY}
    fit_seconds = {}

    def fit(model, stage, epochs=None):
        # Every stage's epoch e: the same batches (keyed on seed and e).
        epochs = epochs or args.epochs
        train_ds = data.labeled_dataset(
            train.images, train.labels, args.batch_size, shuffle=True,
            seed=args.seed, epochs=epochs,
            initial_epoch=run.initial_epoch(stage))
        start = time.time()
        history = model.fit(train_ds, epochs=epochs,
                            steps_per_epoch=steps_per_epoch,
                            callbacks=run.callbacks(stage=stage),
                            shuffle=False, verbose=run.verbose)
        fit_seconds[stage] = round(time.time() - start, 1)
        return history

    def test_accuracy(classifier):
        return float(classifier.evaluate(test_ds, verbose=0,
                                         return_dict=True)["accuracy"])

    def knn(backbone):
        return kz_eval.knn_accuracy(
            kz_eval.embed(backbone, train.images), train.labels,
            kz_eval.embed(backbone, test.images), test.labels, k=args.knn_k)

    with strategy.scope():
        encoder, backbone = build_encoder(args, image_shape, keras, models)
        head = keras.layers.Dense(args.projection_dim, activation="relu",
                                  name="projection")
        pretrain = keras.Model(encoder.inputs, head(encoder.outputs[0]),
                               name="supcon_pretraining")
        if args.loss == "supcon":
            loss = losses.SupConLoss(temperature=args.temperature)
        else:
            loss = _npairs_loss(args.temperature, keras, addons)
        pretrain.compile(optimizer=adam(args, args.epochs),
                         loss=loss, jit_compile=args.jit)

    # Random-init baseline: stage 2 on the untrained encoder. Its weights are
    # saved first and restored after, so stage 1 starts from the same init.
    init_weights = backbone.get_weights()
    metrics["random_init_knn_accuracy"] = knn(backbone)
    with strategy.scope():
        frozen_random = build_classifier(args, encoder, num_classes, keras,
                                         trainable=False)
    fit(frozen_random, "random_init_classifier", args.classifier_epochs)
    metrics["random_init_test_accuracy"] = test_accuracy(frozen_random)
    backbone.set_weights(init_weights)

    # Stage 1: supervised contrastive pretraining.
    encoder.trainable = True
    history = fit(pretrain, "supcon")
    metrics["supcon_final_loss"] = float(history.history["loss"][-1])
    metrics["knn_accuracy"] = knn(backbone)
    # Stage 2: frozen encoder + classifier.
    with strategy.scope():
        classifier = build_classifier(args, encoder, num_classes, keras,
                                      trainable=False)
    fit(classifier, "classifier", args.classifier_epochs)
    metrics["test_accuracy"] = test_accuracy(classifier)
    run.export_embeddings(backbone, image_shape, metrics)
    # The classifier (images -> class probabilities), for a preset.
    run.save_keras(classifier, f"{args.model_name}_classifier", metrics)

    if args.baseline:
        # Cross-entropy baseline: a fresh encoder from the same init,
        # trained end to end with the classifier (keras-io's experiment 1).
        with strategy.scope():
            ce_encoder, ce_backbone = build_encoder(args, image_shape, keras,
                                                    models)
            ce_backbone.set_weights(init_weights)
            ce = build_classifier(args, ce_encoder, num_classes, keras,
                                  trainable=True)
        fit(ce, "cross_entropy")
        metrics["cross_entropy_test_accuracy"] = test_accuracy(ce)
        metrics["cross_entropy_knn_accuracy"] = knn(ce_backbone)

    runs.print_metrics("test accuracy", {
        k: v for k, v in metrics.items() if k.endswith("accuracy")})
    metrics.update({
        "loss": args.loss,
        "encoder": args.encoder,
        "epochs": args.epochs,
        "classifier_epochs": args.classifier_epochs or args.epochs,
        "lr_schedule": args.lr_schedule,
        "batch_size": args.batch_size,
        "fit_seconds": fit_seconds,
        "train_images": int(len(train.images)),
        "test_images": int(len(test.images)),
        "steps_per_epoch": steps_per_epoch,
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
    })
    run.finish(metrics)
    return metrics


def _npairs_loss(temperature, keras, addons):
    """keras-io's loss: npairs_loss(labels, normalised z z^T / temperature)."""
    from keras import ops

    from kzoo import ops as kops

    class KerasIoSupervisedContrastiveLoss(keras.losses.Loss):
        def call(self, y_true, y_pred):
            z = kops.l2_normalize(y_pred)
            logits = ops.matmul(z, ops.transpose(z)) / temperature
            return addons.losses.npairs_loss(ops.reshape(y_true, (-1,)),
                                             logits)

    return KerasIoSupervisedContrastiveLoss(name="npairs_loss")


if __name__ == "__main__":
    runs.main_guard(main)
