"""Rotation prediction (RotNet) inputs and labels, as a layer."""

import keras

from kzoo._api import kzoo_export
from kzoo.layers._pretext_layer import PretextLayer
from kzoo.layers._pretext_layer import check_image_batch


def _check_images(shape, name):
    check_image_batch(shape)
    height, width = shape[1], shape[2]
    if height is not None and width is not None and height != width:
        raise ValueError(
            f"`{name}` needs square images (a quarter turn changes the "
            "shape of a rectangular one). "
            f"Received: images.shape={tuple(shape)}"
        )


def quarter_rotations(o, images, seed, all_rotations=True,
                      name="QuarterRotations"):
    """The rotation task, written once on the ops namespace `o`
    (`kzoo._data_ops`): `float32` images `[4B or B, S, S, C]` and `int32`
    labels. `QuarterRotations` runs it with `keras.ops` (a `SeedGenerator`
    seed), `kzoo.data.RotationPretext` with TensorFlow in `tf.data` (a
    stateless seed per batch)."""
    _check_images(images.shape, name)
    x = o.cast(images, "float32")
    rotated = [x] + [o.rot90(x, k, axes=(1, 2)) for k in (1, 2, 3)]
    shape = o.shape(x)
    batch = shape[0]
    if all_rotations:
        # [B, 4, S, S, C]: the four rotations of each image, adjacent.
        stacked = o.stack(rotated, axis=1)
        inputs = o.reshape(stacked, (-1,) + tuple(shape[1:]))
        labels = o.reshape(
            o.broadcast_to(o.arange(4, dtype="int32")[None, :], (batch, 4)),
            (-1,))
        return inputs, labels
    labels = o.randint(seed, (batch,), 0, 4, dtype="int32")
    selector = o.reshape(labels, (-1, 1, 1, 1))
    inputs = rotated[0]
    for k in (1, 2, 3):
        inputs = o.where(selector == k, rotated[k], inputs)
    return inputs, labels


@kzoo_export("kzoo.layers.QuarterRotations")
class QuarterRotations(PretextLayer):
    """Rotates images by quarter turns and labels them with the turn count.

    The inputs and labels of the rotation prediction task of Gidaris et al.
    (2018, RotNet), computed with `keras.ops` and `keras.random` so that it
    runs on any backend (TensorFlow, JAX, PyTorch), inside a training step
    on an accelerator, and in a `tf.data` map under any backend (there it
    computes with TensorFlow). `kzoo.data.RotationPretext`, the `tf.data`
    transform, runs the same implementation (`quarter_rotations`) with a
    stateless seed per batch: same outputs, and random labels from the
    same distribution (not the same draws).

    The label `k` in `{0, 1, 2, 3}` means the image was rotated by `k * 90`
    degrees counter-clockwise (`np.rot90(image, k)`), so
    `np.rot90(inputs[i], -k)` gives back the original image.

    With `all_rotations=True` (the paper's recipe), the output batch has
    `4 * B` images, the four rotations of image `i` adjacent: output
    `4 * i + k` is image `i` rotated by `k` quarter turns, with label `k`
    (nothing is random). With `all_rotations=False`, each image gets one
    rotation drawn uniformly, and the batch keeps its size `B`.

    Input: square images `[B, S, S, C]` of pixels in `[0, 255]` (any
    dtype). Output: a tuple `(inputs, labels)`, the rotated images as
    floats (the layer's compute dtype, `float32` by default) in `[0, 255]`
    and `int32` labels `[4 * B]` or `[B]`, for a 4-way classifier and
    `SparseCategoricalCrossentropy`. The layer is applied in training and
    inference alike (its outputs define the task).

    Args:
        all_rotations: output all four rotations of every image (batch of
            `4 * B`); otherwise one random rotation per image. Defaults to
            `True`.
        seed: seed of the random rotations. Defaults to `None`.
        **kwargs: base layer arguments.

    Example:

    ```python
    rotate = kzoo.layers.QuarterRotations(all_rotations=False, seed=0)
    inputs, labels = rotate(images)  # inside a custom train_step
    ```

    Reference:
        - [Gidaris et al., 2018, "Unsupervised Representation Learning by
          Predicting Image Rotations"](https://arxiv.org/abs/1803.07728).
    """

    def __init__(self, all_rotations=True, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.all_rotations = bool(all_rotations)

    def _task(self, o, images, seed):
        return quarter_rotations(o, images, seed, self.all_rotations,
                                 name=type(self).__name__)

    def compute_output_spec(self, images):
        _check_images(images.shape, type(self).__name__)
        batch = images.shape[0]
        if self.all_rotations:
            batch = None if batch is None else 4 * batch
        return (
            keras.KerasTensor((batch,) + tuple(images.shape[1:]),
                              dtype=self.compute_dtype),
            keras.KerasTensor((batch,), dtype="int32"),
        )

    def _task_config(self):
        return {"all_rotations": self.all_rotations}
