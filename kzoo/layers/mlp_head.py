"""A generic MLP head: the projector / predictor of SSL methods."""

import keras

from kzoo._api import kzoo_export
from kzoo.layers._batch_norm import batch_normalization


@kzoo_export("kzoo.layers.MLPHead")
class MLPHead(keras.layers.Layer):
    """Stack of `Dense -> BatchNormalization -> activation` blocks.

    Every SSL method's projector and predictor is one of these: the hidden
    blocks are `Dense(units) -> BatchNormalization -> activation`, the output
    block is `Dense(output_dim)`, optionally followed by a
    `BatchNormalization` (SimSiam's projector ends with one, its predictor
    does not).

    Args:
        hidden_dims: list of hidden widths, one block each. Defaults to
            `(2048,)`.
        output_dim: width of the output. Defaults to `2048`.
        activation: activation of the hidden blocks. Defaults to `"relu"`.
        use_bias: whether hidden `Dense` layers have a bias (the following
            BatchNormalization makes it redundant). Defaults to `False`.
        batch_norm: whether hidden blocks have BatchNormalization. Defaults
            to `True`.
        output_batch_norm: whether the output `Dense` is followed by a
            BatchNormalization. Defaults to `False`.
        output_use_bias: whether the output `Dense` has a bias. Defaults to
            `True`.
        synchronized: use cross-replica (synchronised) batch statistics, as
            the SimSiam paper does: `BatchNormalization(synchronized=True)`
            under `tf.distribute`; on JAX, `keras.distribution.DataParallel`
            computes global batch statistics already. Defaults to `False`.
        kernel_regularizer: regularizer of every `Dense` kernel. Defaults to
            `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> head = kzoo.layers.MLPHead(hidden_dims=[512], output_dim=128)
    >>> head(np.zeros((4, 32), "float32")).shape
    (4, 128)
    """

    def __init__(
        self,
        hidden_dims=(2048,),
        output_dim=2048,
        activation="relu",
        use_bias=False,
        batch_norm=True,
        output_batch_norm=False,
        output_use_bias=True,
        synchronized=False,
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(output_dim) < 1:
            raise ValueError(
                f"`output_dim` must be a positive integer. "
                f"Received: output_dim={output_dim}"
            )
        self.hidden_dims = [int(d) for d in hidden_dims]
        self.output_dim = int(output_dim)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.batch_norm = batch_norm
        self.output_batch_norm = output_batch_norm
        self.output_use_bias = output_use_bias
        self.synchronized = synchronized
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

        def bn(name):
            return batch_normalization(
                synchronized=synchronized, name=name, dtype=self.dtype_policy
            )

        self._blocks = []
        for i, units in enumerate(self.hidden_dims):
            block = [
                keras.layers.Dense(
                    units,
                    use_bias=use_bias,
                    kernel_regularizer=self.kernel_regularizer,
                    name=f"dense_{i}",
                    dtype=self.dtype_policy,
                )
            ]
            if batch_norm:
                block.append(bn(f"bn_{i}"))
            block.append(
                keras.layers.Activation(
                    self.activation, name=f"act_{i}", dtype=self.dtype_policy
                )
            )
            self._blocks.extend(block)
        self._blocks.append(
            keras.layers.Dense(
                self.output_dim,
                use_bias=output_use_bias,
                kernel_regularizer=self.kernel_regularizer,
                name="output_dense",
                dtype=self.dtype_policy,
            )
        )
        if output_batch_norm:
            self._blocks.append(bn("output_bn"))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._blocks:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._blocks:
            if isinstance(layer, keras.layers.BatchNormalization):
                x = layer(x, training=training)
            else:
                x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dims": list(self.hidden_dims),
                "output_dim": self.output_dim,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "batch_norm": self.batch_norm,
                "output_batch_norm": self.output_batch_norm,
                "output_use_bias": self.output_use_bias,
                "synchronized": self.synchronized,
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config
