"""Why does kzoo's SimSiam loss stay near 0 when keras-io's reaches -0.84?

Runs kzoo's SimSiam at keras-io's exact settings (ResNet-20, batch 128, SGD
0.03 cosine, momentum 0.6, projector 2048, predictor 512, no weight decay
since keras-io's custom train_step never adds its L2 losses, and keras-io's
own weak augmentation), then changes one thing at a time, and records for
each run the loss curve (every 10 steps) and the kNN accuracy (k=200,
T=0.1) of the backbone features on a validation split carved from the
CIFAR-10 *training* set (the test split is never looked at), beside the
same backbone at random initialisation.

Each variant's result is appended to a JSON file as soon as it finishes
(`--out`), and variants already there are skipped, so an interrupted
investigation resumes where it stopped.

    python benchmarks/simsiam_investigation.py --data-dir ../shared/datasets \
        [--train-images 10000] [--val-images 5000] [--epochs 4] \
        [--variants keras_io,keras_io_wd,...]
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# name -> (what changes, overrides of the keras-io baseline)
BASE = dict(augment="keras_io", lr=0.03, momentum=0.6, weight_decay=0.0,
            projection_dim=2048, predictor_dim=512, crop_scale=(0.2, 1.0),
            jitter=(0.4, 0.4, 0.4, 0.1), backbone="resnet20", batch_size=128)
VARIANTS = {
    "keras_io": ("keras-io's exact settings (uint8 jitter)", {}),
    "keras_io_float": ("keras-io's settings, jitter on float pixels in "
                       "[0, 255] (brightness ~0)", dict(augment="keras_io_float")),
    "keras_io_wd": ("float jitter + decoupled weight decay 5e-4",
                    dict(augment="keras_io_float", weight_decay=5e-4)),
    "keras_io_bn_frozen": ("keras-io's settings with every BatchNormalization "
                           "in inference mode at its initial statistics, "
                           "as keras-io's train_step runs them (it calls "
                           "the encoder without training=True)",
                           dict(bn_frozen=True)),
    "kzoo_default": ("kzoo recipe default: paper augmentation + wd 5e-4",
                     dict(augment="simsiam", weight_decay=5e-4)),
    "simsiam_aug": ("paper augmentation (crop 0.2-1, jitter 0.4), no wd",
                    dict(augment="simsiam")),
    "simsiam_aug_crop05": ("paper augmentation with crop area 0.5-1",
                           dict(augment="simsiam", crop_scale=(0.5, 1.0))),
    "simsiam_aug_lr06_m09": ("paper augmentation, lr 0.06 momentum 0.9",
                             dict(augment="simsiam", lr=0.06, momentum=0.9)),
    "simsiam_aug_small_heads": ("paper augmentation, projector 512 / "
                                "predictor 128",
                                dict(augment="simsiam", projection_dim=512,
                                     predictor_dim=128)),
    "simsiam_aug_resnet18": ("paper augmentation, ResNet-18 (CIFAR stem)",
                             dict(augment="simsiam", backbone="resnet18")),
}


def keras_io_augment(images, seed):
    """keras-io's SimSiam `custom_augment`, per image, with stateless seeds.

    Flip; `random_crop` to the full 32x32 (the identity); with p=0.8 the
    colour jitter `tf.image.random_brightness(0.32)`,
    `random_contrast(0.68, 1.32)`, `random_saturation(0.68, 1.32)`,
    `random_hue(0.02)`, clipped; with p=0.2 greyscale. As in keras-io the
    ops run on the `uint8` images: `tf.image`'s adjust functions convert
    `uint8` to floats in [0, 1] and back (saturating), so the brightness
    delta of 0.32 is a third of the pixel range, not 0.32 of 255.
    """
    import tensorflow as tf

    out = _keras_io_ops(tf.cast(images, tf.uint8), seed, 0.32, 255)
    return tf.cast(out, tf.float32)


def keras_io_float_augment(images, seed):
    """The same ops on float pixels in [0, 255]: brightness moves by 0.32
    of 255 (nothing), the other factors are unchanged."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32) / 255.0
    return _keras_io_ops(x, seed, 0.32 / 255.0, 1.0) * 255.0


def _keras_io_ops(images, seed, brightness, high):
    import tensorflow as tf

    n = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 1)
    per_image = tf.random.stateless_uniform(
        [n, 7, 2], seeds[0], minval=0, maxval=2**31 - 1, dtype=tf.int64)

    def one(args):
        x, s = args
        x = tf.image.stateless_random_flip_left_right(x, s[0])

        def jitter(x):
            x = tf.image.stateless_random_brightness(x, brightness, s[1])
            x = tf.image.stateless_random_contrast(x, 1 - 0.32, 1 + 0.32, s[2])
            x = tf.image.stateless_random_saturation(x, 1 - 0.32, 1 + 0.32,
                                                     s[3])
            x = tf.image.stateless_random_hue(x, 0.2 * 0.1, s[4])
            return tf.clip_by_value(x, tf.cast(0, x.dtype),
                                    tf.cast(high, x.dtype))

        u = tf.random.stateless_uniform([2], s[5])
        x = tf.cond(u[0] < 0.8, lambda: jitter(x), lambda: x)
        x = tf.cond(u[1] < 0.2,
                    lambda: tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 3]),
                    lambda: x)
        return x

    return tf.map_fn(one, (images, per_image),
                     fn_output_signature=images.dtype)


def load_split(data_dir, train_images, val_images, seed=0):
    from kzoo import data

    cache = os.path.join("/tmp", "kzoo_cifar10_train.npz")
    if os.path.exists(cache):
        d = np.load(cache)
        images, labels = d["images"], d["labels"]
    else:
        train = data.load_dataset("cifar10", "train", data_dir)
        images, labels = train.images, train.labels
        np.savez(cache, images=images, labels=labels)
    order = np.random.default_rng(seed).permutation(len(images))
    val = order[:val_images]
    tr = order[val_images:val_images + train_images]
    return images[tr], labels[tr], images[val], labels[val]


def run_variant(name, cfg, x_tr, y_tr, x_val, y_val, epochs, seed, log_every,
                schedule_epochs=None):
    import keras

    from kzoo import data, eval as kz_eval, models

    keras.utils.set_random_seed(seed)
    build = {"resnet20": models.resnet20_cifar,
             "resnet18": models.resnet18_cifar}[cfg["backbone"]]
    backbone = build(input_shape=x_tr.shape[1:])
    model = models.SimSiam(backbone, projection_dim=cfg["projection_dim"],
                           projection_hidden_dims=[cfg["projection_dim"]],
                           predictor_dim=cfg["predictor_dim"])
    if cfg.get("bn_frozen"):
        # Keras 3: a BatchNormalization with trainable=False runs in
        # inference mode (moving mean 0, variance 1 at initialisation) and
        # updates nothing; keras-io's gamma / beta did train, these do not.
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    steps = len(x_tr) // cfg["batch_size"]
    schedule = keras.optimizers.schedules.CosineDecay(
        cfg["lr"], decay_steps=(schedule_epochs or epochs) * steps)
    model.compile(optimizer=keras.optimizers.SGD(
        schedule, momentum=cfg["momentum"],
        weight_decay=cfg["weight_decay"] or None))

    def knn():
        bank = kz_eval.embed(backbone, x_tr)
        query = kz_eval.embed(backbone, x_val)
        return kz_eval.knn_accuracy(bank, y_tr, query, y_val, k=200,
                                    temperature=0.1)

    random_knn = knn()
    if cfg["augment"] == "keras_io":
        augment = keras_io_augment
    elif cfg["augment"] == "keras_io_float":
        augment = keras_io_float_augment
    else:
        augment = data.SimSiamAugmentation(crop_scale=cfg["crop_scale"],
                                           jitter=cfg["jitter"])
    ds = data.two_view_dataset(x_tr, cfg["batch_size"], augment=augment,
                               seed=seed)
    curve = []

    class Curve(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step % log_every == 0:
                curve.append((self.step, float(logs["loss"])))

    epoch_loss, epoch_knn = [], []

    class EpochKNN(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epoch_loss.append(float(logs["loss"]))
            epoch_knn.append(knn())
            print(f"  {name} epoch {epoch + 1}: loss {epoch_loss[-1]:.4f} "
                  f"kNN {epoch_knn[-1]:.4f}", flush=True)

    start = time.time()
    model.fit(ds, epochs=epochs, callbacks=[Curve(), EpochKNN()], verbose=0)
    seconds = time.time() - start
    # Collapse check: per-dimension std of l2-normalised projector outputs
    # (1/sqrt(d) when the outputs spread over the sphere, 0 when collapsed).
    z = keras.ops.convert_to_numpy(model.encode(
        x_val[:512].astype("float32"), training=False))
    z = z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-12)
    return {
        "variant": name, "config": cfg, "epochs": epochs, "seed": seed,
        "schedule_epochs": schedule_epochs or epochs,
        "steps_per_epoch": steps, "random_init_knn": random_knn,
        "epoch_loss": epoch_loss, "epoch_knn": epoch_knn,
        "final_knn": epoch_knn[-1], "knn_gain": epoch_knn[-1] - random_knn,
        "loss_curve": curve, "fit_seconds_incl_knn": round(seconds, 1),
        "z_std_times_sqrt_d": float(z.std(axis=0).mean() * np.sqrt(z.shape[1])),
    }


def report(results):
    """The runs as a markdown table (what the README shows)."""
    lines = ["| variant | what changes | train images x epochs (steps) | "
             "mean loss of each epoch | kNN random init | kNN trained | gain "
             "| z std x sqrt(d) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        losses = ", ".join(f"{v:.3f}" for v in r["epoch_loss"])
        lines.append(
            f"| `{r['variant']}` | {r['description']} "
            f"| {r['train_images']} x {r['epochs']} "
            f"({r['epochs'] * r['steps_per_epoch']}"
            + (f" of a {r['schedule_epochs']}-epoch schedule"
               if r.get("schedule_epochs", r["epochs"]) != r["epochs"]
               else "") + f") | {losses} "
            f"| {100 * r['random_init_knn']:.2f}% "
            f"| {100 * r['final_knn']:.2f}% "
            f"| {100 * r['knn_gain']:+.2f} "
            f"| {r['z_std_times_sqrt_d']:.3f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"))
    p.add_argument("--train-images", type=int, default=10000)
    p.add_argument("--val-images", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--schedule-epochs", type=int, default=None,
                   help="length of the cosine decay in epochs (keras-io: 5) "
                   "when only its first --epochs are run. Default: --epochs.")
    p.add_argument("--seed", type=int, default=26)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--out", default="benchmarks/results/simsiam_investigation.json")
    p.add_argument("--report", action="store_true",
                   help="only print the results file as a markdown table.")
    args = p.parse_args()
    if args.report:
        with open(args.out) as f:
            print(report(json.load(f)))
        return
    x_tr, y_tr, x_val, y_val = load_split(args.data_dir, args.train_images,
                                          args.val_images)
    print(f"train {len(x_tr)}, validation {len(x_val)} (both from CIFAR-10 "
          f"train)", flush=True)
    results = []
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    for r in results:
        # Runs made before keras_io_augment kept keras-io's uint8 pixels
        # ran the jitter on float pixels in [0, 255]: rename them.
        if r["variant"] == "keras_io" and not r.get("augment_fixed"):
            r["variant"] = "keras_io_float"
            r["config"]["augment"] = "keras_io_float"
        if r["variant"] in VARIANTS:
            r["description"] = VARIANTS[r["variant"]][0]
    done = {(r["variant"], r["epochs"], r["seed"], r["train_images"])
            for r in results}
    for name in args.variants.split(","):
        if (name, args.epochs, args.seed, len(x_tr)) in done:
            print(f"{name}: done already, skipped")
            continue
        what, overrides = VARIANTS[name]
        cfg = dict(BASE, **overrides)
        print(f"{name}: {what}", flush=True)
        r = run_variant(name, cfg, x_tr, y_tr, x_val, y_val, args.epochs,
                        args.seed, args.log_every, args.schedule_epochs)
        r["augment_fixed"] = True
        r["description"] = what
        r["train_images"] = len(x_tr)
        results.append(r)
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        print(f"{name}: random init kNN {r['random_init_knn']:.4f}, final "
              f"{r['final_knn']:.4f} (gain {r['knn_gain']:+.4f}), losses "
              f"{[round(v, 3) for v in r['epoch_loss']]}, "
              f"{r['fit_seconds_incl_knn']} s", flush=True)


if __name__ == "__main__":
    main()
