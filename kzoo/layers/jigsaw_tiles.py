"""Jigsaw puzzle tiles and labels (Noroozi & Favaro, 2016), as a layer."""

import keras

from kzoo._api import kzoo_export
from kzoo._data_ops import KERAS_OPS
from kzoo._docs import fill_doc
from kzoo.jigsaw_permutations import _puzzle_config
from kzoo.jigsaw_permutations import _puzzle_setup
from kzoo.layers._pretext_layer import PretextLayer
from kzoo.layers._pretext_layer import check_image_batch

JIGSAW_ARGS = """num_permutations: size of the permutation set, the number of
    classes. Defaults to `1000` (the paper's best setting).
tile_size: side of a tile in pixels. Defaults to `32`.
grid: tiles per side. Defaults to `3`.
jitter: cut each tile at a random offset in its cell; otherwise at its
    centre. Defaults to `True`.
permutations: explicit integer array `[P, grid * grid]` of distinct
    permutations; its length overrides `num_permutations`. Defaults to
    `None`: `kzoo.data.maximal_hamming_permutations(num_permutations,
    grid * grid, seed=0)` (numpy, cached per process)."""
REASSEMBLE_DOC = """Args:
    tiles: shuffled tiles `[B, grid * grid, t, t, C]`.
    labels: their permutation indices `[B]`.
    stitch: return the tiles laid out side by side as one image
        `[B, grid * t, grid * t, C]` instead of a list of tiles.
        Defaults to `False`.

Returns:
    The tiles in cell order (row-major) `[B, grid * grid, t, t, C]`, or the
    stitched image."""


def _cells(o, puzzle, images, offsets):
    """Tiles `[B, grid * grid, t, t, C]` in cell order (row-major).

    `offsets`: `int32 [B, grid * grid, 2]`, the (row, column) of each tile
    in its cell.
    """
    grid, cell, tile = puzzle.grid, puzzle.cell_size, puzzle.tile_size
    side = grid * cell
    x = o.cast(images, "float32")
    if tuple(x.shape[1:3]) != (side, side):
        x = o.image.resize(x, (side, side), interpolation="bilinear",
                           antialias=True, data_format="channels_last")
    shape = o.shape(x)
    batch, channels = shape[0], shape[3]
    num_tiles = grid * grid
    cells = o.arange(num_tiles, dtype="int32")
    top = (cells // grid) * cell + offsets[..., 0]  # [B, T]
    left = (cells % grid) * cell + offsets[..., 1]
    span = o.arange(tile, dtype="int32")
    rows = top[:, :, None, None] + span[:, None]  # [B, T, t, 1]
    cols = left[:, :, None, None] + span[None, :]  # [B, T, 1, t]
    # One gather of whole pixels: index row * side + col of every tile
    # pixel, [B, T * t * t].
    index = o.reshape(rows * side + cols, (batch, -1))
    pixels = o.reshape(x, (batch, side * side, channels))
    index = o.broadcast_to(index[:, :, None],
                           (batch, num_tiles * tile * tile, channels))
    tiles = o.take_along_axis(pixels, index, axis=1)
    return o.reshape(tiles, (batch, num_tiles, tile, tile, channels))


def _shuffle(o, puzzle, tiles, labels, inverse=False):
    perms = o.take(o.convert_to_tensor(puzzle.permutations, "int32"),
                   o.cast(labels, "int32"), axis=0)  # [B, T]
    if inverse:
        perms = o.argsort(perms, axis=1)
    shape = o.shape(tiles)
    flat = o.reshape(tiles, (shape[0], shape[1], -1))
    index = o.broadcast_to(perms[:, :, None], o.shape(flat))
    return o.reshape(o.take_along_axis(flat, index, axis=1), shape)


def jigsaw_puzzles(o, puzzle, images, seed):
    """The jigsaw task written once on the ops namespace `o`
    (`kzoo._data_ops`) for a `puzzle` (a `JigsawTiles` or a
    `kzoo.data.JigsawPretext`: grid, sizes, jitter, permutations):
    shuffled `float32` tiles `[B, grid * grid, t, t, C]` and `int32`
    permutation labels `[B]`."""
    check_image_batch(images.shape)
    s_jitter, s_label = o.split_seed(seed, 2)
    batch = o.shape(images)[0]
    num_tiles = puzzle.grid * puzzle.grid
    if puzzle.jitter:
        offsets = o.randint(s_jitter, (batch, num_tiles, 2), 0,
                            puzzle.cell_size - puzzle.tile_size + 1)
    else:
        offsets = o.full((batch, num_tiles, 2),
                         (puzzle.cell_size - puzzle.tile_size) // 2,
                         dtype="int32")
    tiles = _cells(o, puzzle, images, offsets)
    labels = o.randint(s_label, (batch,), 0, puzzle.num_permutations)
    return _shuffle(o, puzzle, tiles, labels), labels


def reassemble_tiles(o, puzzle, tiles, labels, stitch=False):
    """Undoes `jigsaw_puzzles`' shuffle (see `JigsawTiles.reassemble`)."""
    cells = _shuffle(o, puzzle, o.convert_to_tensor(tiles), labels,
                     inverse=True)
    if not stitch:
        return cells
    batch, _, height, width, channels = o.shape(cells)
    g = puzzle.grid
    x = o.reshape(cells, (batch, g, g, height, width, channels))
    x = o.transpose(x, (0, 1, 3, 2, 4, 5))  # [B, g, t, g, t, C]
    return o.reshape(x, (batch, g * height, g * width, channels))


@kzoo_export("kzoo.layers.JigsawTiles")
@fill_doc(jigsaw_args=JIGSAW_ARGS)
class JigsawTiles(PretextLayer):
    """Cuts images into shuffled jigsaw puzzle tiles, labelled by shuffle.

    The jigsaw puzzle task of Noroozi & Favaro (2016), computed with
    `keras.ops` and `keras.random` so that it runs on any backend
    (TensorFlow, JAX, PyTorch), inside a training step on an accelerator,
    and in a `tf.data` map under any backend (with TensorFlow there).
    `kzoo.data.JigsawPretext`, the `tf.data` transform, runs the same
    implementation (`jigsaw_puzzles`, the same permutation set) with a
    stateless seed per batch: offsets and labels of the same distribution
    (not the same draws).

    Each image is resized (bilinear, antialiased) to a square of
    `grid x grid` cells of `cell_size = round(tile_size * 75 / 64)` pixels
    (rounded half up; the paper cuts 64 px tiles out of 75 px cells); an
    image already of that size is used as is. From every cell, a
    `tile_size x tile_size` tile is cut at an offset drawn uniformly in
    `[0, cell_size - tile_size]` along each axis, independently per image
    and cell (with `jitter=False`, at the centre offset
    `(cell_size - tile_size) // 2`). Cells are numbered in row-major order.
    One permutation `perm = permutations[label]` is drawn uniformly per
    image, and output position `j` holds the tile cut from cell `perm[j]`.
    `reassemble(tiles, labels)` undoes the shuffle.

    Input: images `[B, H, W, C]` of pixels in `[0, 255]` (any dtype).
    Output: a tuple `(tiles, labels)`: tiles
    `[B, grid * grid, tile_size, tile_size, C]` in `[0, 255]`, of the
    layer's compute dtype (`float32` by default), and `int32` labels `[B]`
    in `[0, num_permutations)`, for `kzoo.models.jigsaw_network`. The layer
    is applied in training and inference alike (its outputs define the
    task).

    Args:
        {jigsaw_args}
        seed: seed of the offsets and labels. Defaults to `None`.
        **kwargs: base layer arguments.

    Example:

    ```python
    jigsaw = kzoo.layers.JigsawTiles(num_permutations=100, seed=0)
    tiles, labels = jigsaw(images)  # inside a custom train_step
    tiles.shape  # (B, 9, 32, 32, 3), for images of any size
    ```

    Reference:
        - [Noroozi & Favaro, 2016, "Unsupervised Learning of Visual
          Representations by Solving Jigsaw Puzzles"](
          https://arxiv.org/abs/1603.09246).
    """

    def __init__(self, num_permutations=1000, tile_size=32, grid=3,
                 jitter=True, permutations=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        _puzzle_setup(self, num_permutations, tile_size, grid, jitter,
                      permutations)

    def _task(self, o, images, seed):
        return jigsaw_puzzles(o, self, images, seed)

    @fill_doc(reassemble_doc=REASSEMBLE_DOC)
    def reassemble(self, tiles, labels, stitch=False):
        """Undoes the shuffle of the layer.

        {reassemble_doc}
        """
        return reassemble_tiles(KERAS_OPS, self, tiles, labels, stitch)

    def compute_output_spec(self, images):
        check_image_batch(images.shape)
        t = self.tile_size
        shape = (images.shape[0], self.grid * self.grid, t, t,
                 images.shape[3])
        return (keras.KerasTensor(shape, dtype=self.compute_dtype),
                keras.KerasTensor((images.shape[0],), dtype="int32"))

    def _task_config(self):
        return _puzzle_config(self)
