"""Rotation prediction pretext task (RotNet)."""

from kzoo._api import kzoo_export
from kzoo._data_ops import TF_OPS
from kzoo.data._config import ConstructorConfig
from kzoo.layers.quarter_rotations import quarter_rotations


@kzoo_export("kzoo.data.RotationPretext")
class RotationPretext(ConstructorConfig):
    """Rotation prediction (RotNet) inputs and labels for a batch of images.

    The self-supervised task of Gidaris et al. (2018): a network learns
    features by classifying by how many quarter turns an image was rotated.
    The label `k` in `{0, 1, 2, 3}` means the image was rotated by `k * 90`
    degrees counter-clockwise, exactly `tf.image.rot90(image, k)`, so
    `tf.image.rot90(inputs[i], -k)` gives back the original image.

    With `all_rotations=True` (the paper's recipe: its best results feed
    the four rotations of each image together), the output batch has
    `4 * B` images, ordered so that the four rotations of image `i` are
    adjacent: output `4 * i + k` is image `i` rotated by `k` quarter turns,
    with label `k` (the same order as the reference PyTorch code, which
    stacks the rotations per image). Any contiguous slice of a multiple of
    4 images, such as the per-replica part of a global batch under
    `tf.distribute`, then holds all four labels in equal number. The `seed`
    is not used. With `all_rotations=False`, each image gets one rotation
    drawn uniformly from `seed` and the batch keeps its size `B`.

    Takes square images `[B, S, S, 3]` of pixels in `[0, 255]` (any dtype)
    and returns `(inputs, labels)`: `float32` pixels in `[0, 255]` and
    `int32` labels, for a 4-way softmax classifier and
    `SparseCategoricalCrossentropy`. The computation is
    `kzoo.layers.QuarterRotations`' (one implementation, run here with
    TensorFlow and the pipeline's stateless seed).

    Args:
        all_rotations: feed all four rotations of every image (batch of
            `4 * B`); otherwise one random rotation per image. Defaults to
            `True`.

    Example:

    >>> pretext = kzoo.data.RotationPretext()
    >>> inputs, labels = pretext(images, seed=tf.constant([1, 2]))
    >>> ds = kzoo.data.pretext_dataset(train.images, 128, pretext, seed=0)

    References:
        - [Gidaris et al., 2018](https://arxiv.org/abs/1803.07728):
          Unsupervised Representation Learning by Predicting Image
          Rotations.
    """

    def __init__(self, all_rotations=True):
        self.all_rotations = bool(all_rotations)

    def __call__(self, images, seed):
        return quarter_rotations(TF_OPS, images, seed,
                                 all_rotations=self.all_rotations,
                                 name=type(self).__name__)
