"""A backbone's feature map with a convolutional decoder back to pixels."""

import keras
from keras import layers

from kzoo._api import kzoo_export
from kzoo.layers.batch_normalization import BatchNormalization
from kzoo.models.backbone_config import backbone_from_config

POOL_LAYER = "backbone_pool"


@kzoo_export("kzoo.models.feature_map_model")
def feature_map_model(backbone, pool_layer=POOL_LAYER):
    """The part of a kzoo backbone before its global pooling.

    kzoo's backbones (`resnet20_cifar`, `resnet18_cifar`, ...) end with a
    `GlobalAveragePooling2D` named `"backbone_pool"`; this returns a model
    sharing their layers (and weights) that maps images to the feature map
    the pooling reads, `[B, h, w, C]`.

    Args:
        backbone: a functional `keras.Model` with a layer named
            `pool_layer`.
        pool_layer: name of the pooling layer. Defaults to
            `"backbone_pool"`.

    Returns:
        A functional `keras.Model` `images -> [B, h, w, C]`.
    """
    try:
        pool = backbone.get_layer(pool_layer)
    except ValueError:
        raise ValueError(
            f"The backbone has no layer named {pool_layer!r}: pass a kzoo "
            "backbone or the name of its global pooling layer. Received: "
            f"backbone={backbone.name}, pool_layer={pool_layer}"
        ) from None
    return keras.Model(backbone.inputs, pool.input,
                       name=f"{backbone.name}_feature_map")


@kzoo_export("kzoo.models.conv_decoder")
def conv_decoder(input_shape, output_shape, filters=(128, 64, 32),
                 output_activation="sigmoid", name="decoder"):
    """Upsampling convolutional decoder `[h, w, C] -> [H, W, out]`.

    Each stage doubles the resolution (`UpSampling2D(2)` with bilinear
    interpolation, then `Conv2D 3x3 -> BatchNormalization -> ReLU`) until
    it reaches `output_shape[:2]`; a final `Conv2D 3x3` gives the output
    channels with `output_activation`. Stages beyond `len(filters)` reuse
    the last width.

    Args:
        input_shape: `(h, w, C)` of the feature map.
        output_shape: `(H, W, channels)`; `H / h` and `W / w` must be the
            same power of 2.
        filters: widths of the upsampling stages. Defaults to
            `(128, 64, 32)`.
        output_activation: activation of the output. Defaults to
            `"sigmoid"` (targets in `[0, 1]`).
        name: model name. Defaults to `"decoder"`.

    Returns:
        A functional `keras.Model`.
    """
    h, w = int(input_shape[0]), int(input_shape[1])
    out_h, out_w, channels = (int(d) for d in output_shape)
    factor = out_h // h
    stages = factor.bit_length() - 1
    if (factor < 1 or factor * h != out_h or out_w != w * factor
            or 2 ** stages != factor):
        raise ValueError(
            "The output size must be the input size times a power of 2 on "
            f"both axes. Received: input_shape={tuple(input_shape)}, "
            f"output_shape={tuple(output_shape)}"
        )
    filters = list(filters) or [32]
    inputs = keras.Input(tuple(input_shape), name="feature_map")
    x = inputs
    for i in range(stages):
        width = filters[min(i, len(filters) - 1)]
        x = layers.UpSampling2D(2, interpolation="bilinear",
                                name=f"up_{i}")(x)
        x = layers.Conv2D(width, 3, padding="same", use_bias=False,
                          name=f"conv_{i}")(x)
        x = BatchNormalization(name=f"bn_{i}")(x)
        x = layers.ReLU(name=f"relu_{i}")(x)
    outputs = layers.Conv2D(channels, 3, padding="same",
                            activation=output_activation, name="output",
                            dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@kzoo_export("kzoo.models.EncoderDecoder")
class EncoderDecoder(keras.Model):
    """A kzoo backbone's feature map decoded back to an image.

    The model of the pixel-prediction pretext tasks: colorization (grey
    image in, colour channels out), denoising autoencoders (noisy image in,
    clean image out) and masked-patch autoencoders (masked image in,
    whole image out, loss on the masked patches). The encoder is the
    backbone up to its global pooling (`feature_map_model`), the decoder is
    `conv_decoder`; there are no skip connections, so everything the
    decoder draws must pass through the encoder's feature map, the
    representation being learned.

    Train it with `fit(inputs, targets)` and a pixel loss
    (`keras.losses.MeanSquaredError`, `kzoo.losses.MaskedReconstructionLoss`);
    evaluate and export `model.backbone`, whose pooled features are what
    every kzoo self-supervised method is compared on.

    Args:
        backbone: a kzoo backbone (functional, `[B, H, W, 3]` pixels in
            `[0, 255]` -> pooled features, with a `"backbone_pool"` layer).
        output_channels: channels of the decoded image. Defaults to `3`.
        decoder_filters: widths of the decoder stages. Defaults to
            `(128, 64, 32)`.
        output_activation: activation of the decoder output. Defaults to
            `"sigmoid"`.
        **kwargs: base `keras.Model` arguments.

    Example:

    ```python
    backbone = kzoo.models.resnet20_cifar()
    model = kzoo.models.EncoderDecoder(backbone, output_channels=2,
                                       output_activation="tanh")
    model.compile("adam", loss="mse")
    model.fit(kzoo.data.pretext_dataset(images, 128,
                                        kzoo.data.ColorizationPretext()))
    ```
    """

    def __init__(self, backbone, output_channels=3,
                 decoder_filters=(128, 64, 32), output_activation="sigmoid",
                 **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.output_channels = int(output_channels)
        self.decoder_filters = [int(f) for f in decoder_filters]
        self.output_activation = output_activation
        self.encoder = feature_map_model(backbone)
        image_shape = tuple(backbone.inputs[0].shape[1:])
        self.decoder = conv_decoder(
            tuple(self.encoder.outputs[0].shape[1:]),
            image_shape[:2] + (self.output_channels,),
            filters=self.decoder_filters,
            output_activation=output_activation)
        self.build((None,) + image_shape)

    def build(self, input_shape):
        self.built = True

    def call(self, images, training=False):
        return self.decoder(self.encoder(images, training=training),
                            training=training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "output_channels": self.output_channels,
            "decoder_filters": list(self.decoder_filters),
            "output_activation": self.output_activation,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**backbone_from_config(config))
