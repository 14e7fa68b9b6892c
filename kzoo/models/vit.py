"""A small Vision Transformer and the masked autoencoder (MAE) that trains it.

`VisionTransformer` (Dosovitskiy et al., 2021) is a layer: patch embedding
(a strided convolution), learned position embeddings, pre-norm transformer
blocks and a final layer norm; called on images it returns the mean of its
output tokens. It also exposes the two halves MAE needs, `tokens(images)`
and `encode(tokens)`, so that the encoder can run on the visible patches
alone. `vit_tiny_cifar` wraps it as a backbone like kzoo's ResNets (pixels
in `[0, 255]` -> `[B, dim]` features).

`MaskedAutoencoder` (He et al., 2021) drops a random 75% of the patches
(dropped, not zeroed: the encoder never sees them), encodes the rest,
and a light decoder reconstructs every patch from the encoded ones and a
shared mask token; the loss is the squared error on the masked patches,
each target patch normalised by its own mean and variance
(`norm_pix_loss`, the paper's default).
"""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo.losses.masked_reconstruction_loss import MaskedReconstructionLoss
from kzoo.models.backbone_config import backbone_from_config
from kzoo.ops import add_regularization_losses


@kzoo_export("kzoo.models.TransformerBlock")
class TransformerBlock(keras.layers.Layer):
    """A pre-norm transformer block: `x + MHA(LN(x))`, then `x + MLP(LN(x))`.

    The block of ViT and MAE (GELU MLP, layer norm epsilon 1e-6).

    Args:
        dim: token width.
        heads: attention heads (`dim` must be a multiple).
        mlp_dim: hidden width of the MLP.
        dropout: dropout rate of the attention and the MLP. Defaults to
            `0.0`.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, dim, heads, mlp_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = check_positive_int(dim, "dim")
        self.heads = check_positive_int(heads, "heads")
        self.mlp_dim = check_positive_int(mlp_dim, "mlp_dim")
        if self.dim % self.heads:
            raise ValueError("`dim` must be a multiple of `heads`. Received: "
                             f"dim={dim}, heads={heads}")
        self.dropout = float(dropout)
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6,
                                                     name="norm1")
        self.attention = keras.layers.MultiHeadAttention(
            self.heads, self.dim // self.heads, dropout=self.dropout,
            name="attention")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6,
                                                     name="norm2")
        self.mlp1 = keras.layers.Dense(self.mlp_dim, activation="gelu",
                                       name="mlp1")
        self.mlp2 = keras.layers.Dense(self.dim, name="mlp2")
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        self.norm1.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.norm2.build(input_shape)
        self.mlp1.build(input_shape)
        self.mlp2.build(tuple(input_shape[:-1]) + (self.mlp_dim,))
        self.built = True

    def call(self, x, training=False):
        h = self.norm1(x)
        x = x + self.attention(h, h, training=training)
        h = self.mlp2(self.drop(self.mlp1(self.norm2(x)), training=training))
        return x + self.drop(h, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, heads=self.heads, mlp_dim=self.mlp_dim,
                      dropout=self.dropout)
        return config


@kzoo_export("kzoo.models.VisionTransformer")
class VisionTransformer(keras.layers.Layer):
    """A Vision Transformer encoder: images -> mean of its output tokens.

    Pixels in `[0, 255]` are scaled to `[-1, 1]`, cut into `patch_size`
    squares embedded by a strided convolution, learned position embeddings
    are added, `depth` pre-norm `TransformerBlock`s and a final layer norm
    follow, and the tokens are averaged (no class token; MAE reports both
    poolings). `tokens(images)` and `encode(tokens)` are the two halves,
    for a masked autoencoder whose encoder sees a subset of the tokens.

    Args:
        image_size: side of the square input images. Defaults to `32`.
        patch_size: side of the patches (must divide `image_size`).
            Defaults to `4`.
        dim: token width. Defaults to `128`.
        depth: transformer blocks. Defaults to `6`.
        heads: attention heads. Defaults to `4`.
        mlp_dim: hidden width of the blocks' MLPs. Defaults to `256`.
        dropout: dropout rate. Defaults to `0.0`.
        **kwargs: base `keras.layers.Layer` arguments.

    Reference:
        - [Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words"](
          https://arxiv.org/abs/2010.11929).
    """

    def __init__(self, image_size=32, patch_size=4, dim=128, depth=6,
                 heads=4, mlp_dim=256, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.image_size = check_positive_int(image_size, "image_size")
        self.patch_size = check_positive_int(patch_size, "patch_size")
        if self.image_size % self.patch_size:
            raise ValueError(
                "`patch_size` must divide `image_size`. Received: "
                f"image_size={image_size}, patch_size={patch_size}")
        self.dim = check_positive_int(dim, "dim")
        self.depth = check_positive_int(depth, "depth")
        self.heads = check_positive_int(heads, "heads")
        self.mlp_dim = check_positive_int(mlp_dim, "mlp_dim")
        self.dropout = float(dropout)
        self.grid = self.image_size // self.patch_size
        self.num_patches = self.grid ** 2
        self.patch_embedding = keras.layers.Conv2D(
            self.dim, self.patch_size, strides=self.patch_size,
            name="patch_embedding")
        self.blocks = [TransformerBlock(self.dim, self.heads, self.mlp_dim,
                                        self.dropout, name=f"block{i}")
                       for i in range(self.depth)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6,
                                                    name="norm")

    def build(self, input_shape):
        self.patch_embedding.build(
            (None, self.image_size, self.image_size, input_shape[-1]))
        self.positions = self.add_weight(
            shape=(self.num_patches, self.dim), name="positions",
            initializer=keras.initializers.RandomNormal(stddev=0.02))
        token_shape = (None, None, self.dim)
        for block in self.blocks:
            block.build(token_shape)
        self.norm.build(token_shape)
        self.built = True

    def tokens(self, images):
        """`[B, H, W, C]` pixels in `[0, 255]` -> `[B, N, dim]` embedded
        patches with their positions, in row-major patch order."""
        x = ops.cast(images, self.compute_dtype) / 127.5 - 1.0
        x = self.patch_embedding(x)
        x = ops.reshape(x, (-1, self.num_patches, self.dim))
        return x + ops.cast(self.positions, x.dtype)[None]

    def encode(self, tokens, training=False):
        """The transformer blocks and the final norm on `[B, n, dim]`."""
        for block in self.blocks:
            tokens = block(tokens, training=training)
        return self.norm(tokens)

    def call(self, images, training=False):
        return ops.mean(self.encode(self.tokens(images), training), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(image_size=self.image_size, patch_size=self.patch_size,
                      dim=self.dim, depth=self.depth, heads=self.heads,
                      mlp_dim=self.mlp_dim, dropout=self.dropout)
        return config


@kzoo_export("kzoo.models.vit_tiny_cifar")
def vit_tiny_cifar(input_shape=(32, 32, 3), patch_size=4, dim=128, depth=6,
                   heads=4, mlp_dim=256, synchronized_bn=False, name=None):
    """A small ViT backbone for 32 x 32 images (keras-io's MAE encoder size).

    64 patches of 4 x 4 pixels, width 128, 6 blocks of 4 heads (about 0.8M
    parameters): the encoder of keras-io's `masked_image_modeling`
    example. A functional model holding the `VisionTransformer` layer
    `"vit"`, mapping pixels in `[0, 255]` to `[B, dim]` features, like
    kzoo's ResNet backbones (`synchronized_bn` is accepted for the same
    signature; a ViT has no batch norm).

    Args:
        input_shape: `(size, size, channels)`. Defaults to `(32, 32, 3)`.
        patch_size: patch side. Defaults to `4`.
        dim: width. Defaults to `128`.
        depth: blocks. Defaults to `6`.
        heads: attention heads. Defaults to `4`.
        mlp_dim: MLP width. Defaults to `256`.
        synchronized_bn: ignored. Defaults to `False`.
        name: model name. Defaults to `"vit_tiny_cifar"`.

    Returns:
        A functional `keras.Model`.
    """
    del synchronized_bn  # no batch norm in a ViT
    if len(input_shape) != 3 or input_shape[0] != input_shape[1]:
        raise ValueError("`input_shape` must be a square `(size, size, "
                         f"channels)`. Received: input_shape={input_shape}")
    images = keras.Input(tuple(input_shape), name="images")
    features = VisionTransformer(input_shape[0], patch_size, dim, depth,
                                 heads, mlp_dim, name="vit")(images)
    return keras.Model(images, features, name=name or "vit_tiny_cifar")


def find_vision_transformer(backbone):
    """The `VisionTransformer` layer of `backbone` (or `backbone` itself)."""
    if isinstance(backbone, VisionTransformer):
        return backbone
    for layer in getattr(backbone, "layers", []):
        if isinstance(layer, VisionTransformer):
            return layer
    raise ValueError(
        "The backbone must hold a `kzoo.models.VisionTransformer` layer "
        "(e.g. `kzoo.models.vit_tiny_cifar()`): a masked autoencoder drops "
        f"patch tokens, which a CNN has not. Received: backbone={backbone!r}")


@kzoo_export("kzoo.models.patchify")
def patchify(images, patch_size):
    """`[B, H, W, C]` -> `[B, N, patch_size * patch_size * C]`, patches in
    row-major order, each flattened row by row (MAE's layout)."""
    shape = ops.shape(images)
    h, w, c = images.shape[1], images.shape[2], images.shape[3]
    gh, gw = h // patch_size, w // patch_size
    x = ops.reshape(images, (shape[0], gh, patch_size, gw, patch_size, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (shape[0], gh * gw, patch_size * patch_size * c))


@kzoo_export("kzoo.models.unpatchify")
def unpatchify(patches, patch_size, channels=3):
    """The inverse of `patchify` for square images."""
    shape = ops.shape(patches)
    grid = int(round(patches.shape[1] ** 0.5))
    x = ops.reshape(patches, (shape[0], grid, grid, patch_size, patch_size,
                              channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (shape[0], grid * patch_size, grid * patch_size,
                           channels))


def _gather_tokens(tokens, indices):
    """`tokens[b, indices[b, i], :]` for `[B, N, D]` tokens."""
    index = ops.broadcast_to(indices[..., None],
                             (ops.shape(indices)[0], ops.shape(indices)[1],
                              ops.shape(tokens)[-1]))
    return ops.take_along_axis(tokens, index, axis=1)


@kzoo_export("kzoo.models.MaskedAutoencoder")
class MaskedAutoencoder(keras.Model):
    """MAE (He et al., 2021) as a `keras.Model` that trains with `fit`.

    Per image, the patches are ranked by a uniform noise and the first
    `int(N * (1 - mask_ratio))` are kept (the paper's random shuffle): only
    they go through the ViT encoder. A linear layer maps the encoded tokens
    to the decoder's width, a learned mask token fills the dropped places,
    the tokens are put back in image order, decoder position embeddings
    are added, and `decoder_depth` transformer blocks and a linear layer
    predict every patch's pixels. The loss is
    `kzoo.losses.MaskedReconstructionLoss` on the masked patches, the
    target being each patch's pixels in `[0, 1]`, normalised by the
    patch's own mean and variance when `norm_pix_loss` (MAE's default).

    Input: a dict `{"images": [B, H, W, C] in [0, 255], "noise": [B, N]}`
    (the noise from the input pipeline, so a seed gives the same masks on
    any strategy), or images alone with `"noise"` drawn from `seed`.
    Called on that dict the model returns `{"pred": [B, N, P], "mask":
    [B, N]}` (1 = masked); called on an image tensor, the backbone
    features (what is evaluated and exported).

    Args:
        backbone: a model holding a `VisionTransformer` layer
            (`kzoo.models.vit_tiny_cifar()`).
        mask_ratio: fraction of the patches dropped. Defaults to `0.75`.
        decoder_dim: decoder width. Defaults to `64`.
        decoder_depth: decoder blocks. Defaults to `2`.
        decoder_heads: decoder attention heads. Defaults to `4`.
        norm_pix_loss: normalise each target patch. Defaults to `True`.
        seed: seed of the noise drawn when the input has none. Defaults to
            `None`.
        **kwargs: base `keras.Model` arguments.

    Example:

    ```python
    backbone = kzoo.models.vit_tiny_cifar()
    mae = kzoo.models.MaskedAutoencoder(backbone)
    mae.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05))
    mae.fit({"images": x_train.astype("float32"),
             "noise": np.random.rand(len(x_train), 64)}, epochs=5)
    features = backbone.predict(x_test)
    ```

    Reference:
        - [He et al., 2021, "Masked Autoencoders Are Scalable Vision
          Learners"](https://arxiv.org/abs/2111.06377).
    """

    def __init__(self, backbone, mask_ratio=0.75, decoder_dim=64,
                 decoder_depth=2, decoder_heads=4, norm_pix_loss=True,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.vit = find_vision_transformer(backbone)
        if not 0.0 < float(mask_ratio) < 1.0:
            raise ValueError("`mask_ratio` must be in (0, 1). Received: "
                             f"mask_ratio={mask_ratio!r}")
        self.mask_ratio = float(mask_ratio)
        self.num_keep = max(1, int(self.vit.num_patches
                                   * (1.0 - self.mask_ratio)))
        self.decoder_dim = check_positive_int(decoder_dim, "decoder_dim")
        self.decoder_depth = check_positive_int(decoder_depth,
                                                "decoder_depth")
        self.decoder_heads = check_positive_int(decoder_heads,
                                                "decoder_heads")
        self.norm_pix_loss = bool(norm_pix_loss)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.decoder_embed = keras.layers.Dense(self.decoder_dim,
                                                name="decoder_embed")
        self.decoder_blocks = [
            TransformerBlock(self.decoder_dim, self.decoder_heads,
                             4 * self.decoder_dim, name=f"decoder_block{i}")
            for i in range(self.decoder_depth)]
        self.decoder_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, name="decoder_norm")
        self.patch_values = self.vit.patch_size ** 2 * 3
        self.decoder_pred = keras.layers.Dense(
            self.patch_values, dtype="float32", name="decoder_pred")
        self.reconstruction_loss = MaskedReconstructionLoss()
        self._build_if_backbone_built()

    def _build_if_backbone_built(self):
        if getattr(self.backbone, "built", False) and getattr(
                self.backbone, "inputs", None):
            self.build(tuple(self.backbone.inputs[0].shape))

    def build(self, input_shape=None):
        if isinstance(input_shape, dict):
            input_shape = input_shape["images"]
        if not self.backbone.built:
            self.backbone.build(input_shape)
        n = self.vit.num_patches
        self.mask_token = self.add_weight(
            shape=(self.decoder_dim,), name="mask_token",
            initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.decoder_positions = self.add_weight(
            shape=(n, self.decoder_dim), name="decoder_positions",
            initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.decoder_embed.build((None, None, self.vit.dim))
        for block in self.decoder_blocks:
            block.build((None, n, self.decoder_dim))
        self.decoder_norm.build((None, n, self.decoder_dim))
        self.decoder_pred.build((None, n, self.decoder_dim))
        self.built = True

    def forward(self, images, noise, training=False):
        """`{"pred": [B, N, P], "mask": [B, N]}` for images and a noise."""
        tokens = self.vit.tokens(images)
        order = ops.argsort(noise, axis=1)  # the kept patches first
        restore = ops.argsort(order, axis=1)
        visible = _gather_tokens(tokens, order[:, :self.num_keep])
        x = self.decoder_embed(self.vit.encode(visible, training=training))
        batch = ops.shape(x)[0]
        fill = ops.broadcast_to(
            ops.cast(self.mask_token, x.dtype)[None, None],
            (batch, self.vit.num_patches - self.num_keep, self.decoder_dim))
        x = _gather_tokens(ops.concatenate([x, fill], axis=1), restore)
        x = x + ops.cast(self.decoder_positions, x.dtype)[None]
        for block in self.decoder_blocks:
            x = block(x, training=training)
        pred = self.decoder_pred(self.decoder_norm(x))
        mask = ops.cast(ops.greater_equal(restore, self.num_keep), "float32")
        return {"pred": pred, "mask": mask}

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            images = inputs["images"]
            noise = inputs.get("noise")
            if noise is None:
                noise = keras.random.uniform(
                    (ops.shape(images)[0], self.vit.num_patches),
                    seed=self.seed_generator)
            return self.forward(images, noise, training=training)
        return self.backbone(inputs, training=training)

    def targets(self, images):
        """The reconstruction targets `[B, N, P]` of `images` in `[0, 255]`:
        pixels in `[0, 1]`, per-patch normalised with `norm_pix_loss`."""
        target = patchify(ops.cast(images, "float32") / 255.0,
                          self.vit.patch_size)
        if self.norm_pix_loss:
            mean = ops.mean(target, axis=-1, keepdims=True)
            var = ops.var(target, axis=-1, keepdims=True)
            target = (target - mean) / ops.sqrt(var + 1e-6)
        return target

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        if not isinstance(y_pred, dict) or not isinstance(x, dict):
            return None  # predict() on plain images: features, no loss
        y_true = ops.concatenate(
            [self.targets(x["images"]), y_pred["mask"][..., None]], axis=-1)
        loss = self.reconstruction_loss(y_true, y_pred["pred"],
                                        sample_weight=sample_weight)
        return add_regularization_losses(loss, self.losses)

    def get_config(self):
        config = super().get_config()
        config.update({
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "mask_ratio": self.mask_ratio, "decoder_dim": self.decoder_dim,
            "decoder_depth": self.decoder_depth,
            "decoder_heads": self.decoder_heads,
            "norm_pix_loss": self.norm_pix_loss, "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**backbone_from_config(config))
