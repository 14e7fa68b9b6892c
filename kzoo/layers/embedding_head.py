"""Dense embedding head with an L2-normalised output."""

import keras

from kzoo._api import kzoo_export
from kzoo.layers.l2_normalize import L2Normalize


@kzoo_export("kzoo.layers.EmbeddingHead")
class EmbeddingHead(keras.layers.Layer):
    """`Dense` layers mapping features to a (unit-norm) embedding.

    The head of a metric-learning tower: optional hidden
    `Dense(units, activation)` layers, then a linear
    `Dense(embedding_dim)`, then (with `normalize=True`) an L2
    normalisation, so embeddings lie on the unit sphere, where Euclidean and
    cosine distances are monotonically related
    (`||a - b||**2 = 2 - 2 cos(a, b)`).

    Args:
        embedding_dim: width of the embedding. Defaults to none (required).
        normalize: L2-normalise the embedding (`kzoo.layers.L2Normalize`).
            Defaults to `True`.
        hidden_dims: widths of the hidden `Dense` layers. Defaults to `()`
            (a single linear layer).
        activation: activation of the hidden layers. Defaults to `"relu"`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> head = kzoo.layers.EmbeddingHead(64, hidden_dims=[256])
    >>> e = head(np.zeros((4, 512), "float32"))
    >>> e.shape
    (4, 64)
    """

    def __init__(
        self,
        embedding_dim,
        normalize=True,
        hidden_dims=(),
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(embedding_dim) != embedding_dim or int(embedding_dim) < 1:
            raise ValueError(
                "`embedding_dim` must be a positive integer. "
                f"Received: embedding_dim={embedding_dim}"
            )
        hidden_dims = [int(d) for d in hidden_dims]
        if any(d < 1 for d in hidden_dims):
            raise ValueError(
                "`hidden_dims` must be positive integers. "
                f"Received: hidden_dims={hidden_dims}"
            )
        self.embedding_dim = int(embedding_dim)
        self.normalize = bool(normalize)
        self.hidden_dims = hidden_dims
        self.activation = keras.activations.get(activation)
        self._dense_layers = [
            keras.layers.Dense(
                units,
                activation=self.activation,
                name=f"hidden_{i}",
                dtype=self.dtype_policy,
            )
            for i, units in enumerate(self.hidden_dims)
        ]
        self._dense_layers.append(
            keras.layers.Dense(
                self.embedding_dim, name="embedding", dtype=self.dtype_policy
            )
        )
        self._normalize_layer = (
            L2Normalize(name="l2_normalize") if self.normalize else None
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._dense_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs):
        x = inputs
        for layer in self._dense_layers:
            x = layer(x)
        if self._normalize_layer is not None:
            x = self._normalize_layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
                "normalize": self.normalize,
                "hidden_dims": list(self.hidden_dims),
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config
