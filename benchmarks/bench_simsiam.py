"""Throughput of kzoo's SimSiam training step and two-view input pipeline.

Each kzoo component is timed beside a straightforward implementation of the
same thing, in the same process, on the same data, and the ratio printed:

* pipeline: `kzoo.data.two_view_dataset` (one vectorised augmentation per
  batch, stateless seeds) vs. keras-io's SimSiam pipeline (a per-example
  `tf.image` augmentation mapped over each example, two zipped datasets);
* train step: `kzoo.models.SimSiam.fit` (Keras' compiled `tf.function`
  step, with and without XLA) vs. the same model trained with a plain
  eager `tf.GradientTape` loop (keras-io's train_step, run eagerly).

Machines are noisy (2 shared cores here): ratios are the result, absolute
images/s only context. Usage:

    python benchmarks/bench_simsiam.py [--steps 20] [--batch-size 128]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

import kzoo  # noqa: E402


def per_example_augment(image):
    """keras-io's custom_augment (flip + crop, jitter p=0.8, grey p=0.2).

    On the uint8 image, as keras-io does: `tf.image`'s adjust functions
    convert it to [0, 1] floats and back, so brightness moves by up to a
    third of the range. The result is cast to float32 for the model.
    """
    image = tf.image.random_flip_left_right(image)
    image = tf.image.random_crop(image, (32, 32, 3))

    def jitter(x):
        x = tf.image.random_brightness(x, max_delta=0.8 * 0.4)
        x = tf.image.random_contrast(x, lower=1 - 0.8 * 0.4, upper=1 + 0.8 * 0.4)
        x = tf.image.random_saturation(x, lower=1 - 0.8 * 0.4, upper=1 + 0.8 * 0.4)
        x = tf.image.random_hue(x, max_delta=0.2 * 0.1)
        return tf.clip_by_value(x, 0, 255)

    def drop(x):
        return tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 3])

    image = tf.cond(tf.random.uniform([]) < 0.8, lambda: jitter(image), lambda: image)
    image = tf.cond(tf.random.uniform([]) < 0.2, lambda: drop(image), lambda: image)
    return tf.cast(image, tf.float32)


def per_example_pipeline(images, batch_size, seed):
    def one():
        return (tf.data.Dataset.from_tensor_slices(images)
                .shuffle(1024, seed=seed)
                .map(per_example_augment, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(batch_size, drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE))
    return tf.data.Dataset.zip((one(), one())).map(
        lambda a, b: {"view_1": a, "view_2": b})


def time_pipeline(ds, batches):
    it = iter(ds)
    next(it)  # warm-up (graph building, first shuffle fill)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return time.perf_counter() - start


def build_model(seed, jit):
    keras.utils.set_random_seed(seed)
    model = kzoo.models.SimSiam(kzoo.models.resnet20_cifar())
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.6),
                  jit_compile=jit)
    return model


def time_fit(model, batches, steps):
    ds = tf.data.Dataset.from_tensor_slices(batches).repeat()
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # compile / warm-up
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - start


def time_eager(model, batches, steps):
    opt = model.optimizer
    loss_fn = kzoo.losses.SimSiamLoss()
    n = len(batches["view_1"])

    def step(i):
        views = {k: v[i % n] for k, v in batches.items()}
        with tf.GradientTape() as tape:
            out = model(views, training=True)
            loss = loss_fn(None, out)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))

    step(0)
    start = time.perf_counter()
    for i in range(steps):
        step(i + 1)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed train steps")
    parser.add_argument("--pipeline-batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data-dir", default=os.environ.get("KZOO_DATA_DIR"),
                        help="CIFAR-10 image folder root (default: random images)")
    args = parser.parse_args()
    b = args.batch_size
    if args.data_dir:
        images = kzoo.data.load_dataset("cifar10", "train", args.data_dir,
                                        limit=20000).images
        source = "CIFAR-10 (first 20,000 train images)"
    else:
        images = np.random.default_rng(0).integers(0, 256, (20000, 32, 32, 3), dtype=np.uint8)
        source = "random 32x32 images"
    print(f"machine: {os.cpu_count()} CPU cores; TF {tf.__version__}, Keras "
          f"{keras.__version__}; data: {source}; batch {b}")

    n = args.pipeline_batches
    t_kzoo = time_pipeline(kzoo.data.two_view_dataset(images, b, seed=0), n)
    t_ref = time_pipeline(per_example_pipeline(images, b, seed=0), n)
    r_kzoo, r_ref = n * b / t_kzoo, n * b / t_ref
    print(f"two-view pipeline: kzoo {r_kzoo:8.0f} img/s | per-example "
          f"{r_ref:8.0f} img/s | ratio {r_kzoo / r_ref:5.2f}x")

    rng = np.random.default_rng(1)
    batches = {k: rng.integers(0, 256, (4, b, 32, 32, 3)).astype("float32")
               for k in ("view_1", "view_2")}
    s = args.steps
    t_fit = time_fit(build_model(0, False), batches, s)
    t_jit = time_fit(build_model(0, True), batches, s)
    t_eager = time_eager(build_model(0, False), batches, s)
    r_fit, r_jit, r_eager = (s * b / t for t in (t_fit, t_jit, t_eager))
    print(f"SimSiam train step (ResNet-20, 2 views): kzoo fit {r_fit:6.1f} img/s "
          f"| kzoo fit --jit {r_jit:6.1f} img/s | eager GradientTape "
          f"{r_eager:6.1f} img/s | ratio fit/eager {r_fit / r_eager:5.2f}x, "
          f"jit/eager {r_jit / r_eager:5.2f}x")


if __name__ == "__main__":
    main()
