"""Few labels: a pretrained encoder fine-tuned on 1% or 10% of CIFAR-10.

The semi-supervised protocol of SimCLR (Chen et al., 2020,
https://arxiv.org/abs/2002.05709, section 4.2 and appendix B.5) and of
keras-io's `semisupervised_simclr` example: a class-balanced fraction of
the training labels, fixed by `--label-seed` (the same images for every
encoder and run, `kzoo.data.balanced_subset`), and three ways to use them,
each measured on the 10,000 CIFAR-10 test images:

- `probe_accuracy`: a linear classifier on the frozen encoder's features
  of the labelled images (`kzoo.eval.linear_probe`), beside the same probe
  on the same encoder at random initialisation
  (`random_init_probe_accuracy`);
- `finetune_accuracy`: the whole encoder and a linear layer trained end to
  end on the labelled images (flips and shifts of up to 4 px; SimCLR's
  fine-tuning: SGD with Nesterov momentum 0.9, learning rate 0.05 x batch
  / 256, no weight decay, no warm-up; 60 epochs for 1% of the labels, 30
  for 10%);
- `scratch_accuracy`: the same network, budget and images from random
  initialisation (`--scratch`, on by default), what the pretraining has
  to beat.

The encoder is a kzoo preset (`--encoder simclr_resnet20_cifar10`, any
image preset holding the nested `resnet20_cifar` model), a `.keras` file
of your own run (its `backbone.keras`), or `random`. The fine-tuned
encoder is exported as an embedding SavedModel and the classifier saved as
`MODEL_NAME_classifier.keras`.

    python recipes/finetune_cifar.py --data-dir ../shared/datasets
    python recipes/finetune_cifar.py --encoder barlow_twins_resnet20_cifar10 \\
        --label-fraction 0.01 --data-dir ../shared/datasets
    python recipes/finetune_cifar.py --encoder runs/simclr_cifar10/backbone.keras
"""

import argparse
import os
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

SIMCLR = "SimCLR appendix B.5"
BACKBONE_LAYER = "resnet20_cifar"


def label_fraction(text):
    """argparse type: a float in (0, 1]."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="cifar10", datasets=("cifar10", "digits",
                                             "bccd_cells"),
        epochs=None, batch_size=64, seed=0, output_dir=None, model_name=None,
        reference=SIMCLR)
    for action in parser._actions:
        if action.dest == "epochs":
            action.help = (f"fine-tuning epochs. Default: 60 with at most 1% "
                           f"of the labels, else 30 ({SIMCLR}).")
    few = parser.add_argument_group("labels and encoder")
    few.add_argument("--encoder", default="simclr_resnet20_cifar10",
                     help="the pretrained encoder: a kzoo preset name, a "
                     ".keras file (a backbone, or a model holding the "
                     f"nested '{BACKBONE_LAYER}'), or 'random'. Default: "
                     "simclr_resnet20_cifar10.")
    few.add_argument("--label-fraction", type=label_fraction, default=0.1,
                     help="share of each class's training labels used "
                     "(0.01 and 0.1 are SimCLR's). Default: 0.1.")
    few.add_argument("--label-seed", type=int, default=0,
                     help="seed of the labelled subset (not --seed: every "
                     "run and encoder sees the same images). Default: 0.")
    few.add_argument("--scratch", action=argparse.BooleanOptionalAction,
                     default=True,
                     help="also train the same network from random "
                     "initialisation on the same labels and budget. "
                     "Default: --scratch.")
    runs.add_scaled_sgd_args(parser, rate_per_256=0.05, reference=SIMCLR,
                             weight_decay=0.0, nesterov=True)
    ev = parser.add_argument_group("evaluation")
    ev.add_argument("--probe-epochs", type=runs.positive_int, default=100,
                    help="epochs of the linear probe on the frozen features "
                    "of the labelled images. Default: 100.")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 60 if args.label_fraction <= 0.01 else 30
    runs.scaled_learning_rate(args, 0.05)
    args.optimizer = "sgd"
    args.nesterov = True
    return args


def load_encoder(spec, image_shape):
    """The backbone `spec` names (preset, .keras file or 'random') and a
    short description of it."""
    import keras

    from kzoo import models, presets

    if spec == "random":
        return (models.resnet20_cifar(input_shape=image_shape),
                "ResNet-20 at random initialisation")
    if spec.endswith(".keras"):
        if not os.path.isfile(spec):
            raise SystemExit(f"error: --encoder {spec}: no such file")
        model = keras.saving.load_model(spec, compile=False)
        what = f"the file {spec}"
    elif spec in presets.names():
        model = presets.load(spec)
        what = f"the preset {spec}"
    else:
        raise SystemExit(
            f"error: --encoder must be a preset ({', '.join(presets.names())}"
            f"), a .keras file or 'random'. Received: --encoder={spec}")
    names = [layer.name for layer in model.layers]
    backbone = (model.get_layer(BACKBONE_LAYER) if BACKBONE_LAYER in names
                else model)
    if tuple(backbone.input_shape[1:]) != tuple(image_shape):
        raise SystemExit(
            f"error: the encoder takes images {backbone.input_shape[1:]}, "
            f"the data is {tuple(image_shape)}. Received: --encoder={spec}")
    if len(backbone.output_shape) != 2:
        raise SystemExit(
            f"error: the encoder must output features [N, F]; it outputs "
            f"{backbone.output_shape}. Received: --encoder={spec}")
    # Fine-tuning trains every layer: a model may have been saved with its
    # encoder frozen (the SupCon preset's classifier stage freezes it).
    backbone.trainable = True
    return backbone, what


def main(argv=None):
    args = parse_args(argv)
    tag = os.path.splitext(os.path.basename(args.encoder))[0]
    percent = f"{100 * args.label_fraction:g}pct"
    prefix = f"finetune_{tag}_{percent}"
    strategy, run, train, test = runs.start(args, prefix=prefix)

    import keras
    import numpy as np

    from kzoo import data
    from kzoo import eval as kz_eval
    from kzoo import models

    image_shape = train.images.shape[1:]
    num_classes = len(train.class_names)
    subset = data.balanced_subset(train.labels, args.label_fraction,
                                  args.label_seed)
    x_few, y_few = train.images[subset], train.labels[subset]
    steps = runs.steps_per_epoch(len(x_few), args.batch_size)
    print(f"labels: {len(subset)} training images "
          f"({100 * args.label_fraction:g}% of each class, label seed "
          f"{args.label_seed}); {steps} steps x {args.epochs} epochs")
    test_ds = data.labeled_dataset(test.images, test.labels, 256)
    metrics = {"labelled_images": int(len(subset)),
               "label_fraction": args.label_fraction,
               "encoder": args.encoder}
    fit_seconds = {}

    def probe(backbone):
        result = kz_eval.linear_probe(
            kz_eval.embed(backbone, x_few), y_few,
            kz_eval.embed(backbone, test.images), test.labels,
            num_classes=num_classes, epochs=args.probe_epochs,
            seed=args.seed)
        return result["accuracy"]

    def train_classifier(backbone, stage):
        with strategy.scope():
            classifier = models.pretext_classifier(
                backbone, num_classes, name=f"{stage}_classifier")
            classifier.compile(
                optimizer=runs.build_optimizer(args, steps),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True),
                metrics=["accuracy"], jit_compile=args.jit)
        ds = data.labeled_dataset(
            x_few, y_few, args.batch_size, shuffle=True, seed=args.seed,
            augment=data.random_flip_and_translate, drop_remainder=True,
            epochs=args.epochs, initial_epoch=run.initial_epoch(stage))
        start = time.time()
        history = classifier.fit(ds, epochs=args.epochs,
                                 steps_per_epoch=steps,
                                 callbacks=run.callbacks(stage=stage),
                                 shuffle=False, verbose=run.verbose)
        fit_seconds[stage] = round(time.time() - start, 1)
        accuracy = float(classifier.evaluate(test_ds, verbose=0,
                                             return_dict=True)["accuracy"])
        metrics[f"{stage}_final_train_accuracy"] = float(
            history.history["accuracy"][-1]) if history.history else None
        return classifier, accuracy

    with strategy.scope():
        random_backbone = models.resnet20_cifar(input_shape=image_shape)
        backbone, what = load_encoder(args.encoder, image_shape)
    print(f"encoder: {what}")
    metrics["random_init_probe_accuracy"] = probe(random_backbone)
    metrics["probe_accuracy"] = probe(backbone)
    print(f"linear probe on {len(subset)} labels: "
          f"{metrics['probe_accuracy']:.4f} (random init "
          f"{metrics['random_init_probe_accuracy']:.4f})")
    classifier, metrics["finetune_accuracy"] = train_classifier(
        backbone, "finetune")
    print(f"fine-tuned: test accuracy {metrics['finetune_accuracy']:.4f}")
    if args.scratch:
        _, metrics["scratch_accuracy"] = train_classifier(random_backbone,
                                                          "scratch")
        print(f"from scratch on the same labels: test accuracy "
              f"{metrics['scratch_accuracy']:.4f}")
    metrics["fit_seconds"] = fit_seconds
    metrics["test_images"] = int(len(test.images))
    metrics["class_counts"] = np.bincount(y_few,
                                          minlength=num_classes).tolist()
    run.export_embeddings(backbone, image_shape, metrics)
    run.save_keras(classifier, f"{args.model_name}_classifier", metrics)
    run.finish(metrics)
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
