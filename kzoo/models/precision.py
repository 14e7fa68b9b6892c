"""A float32 copy of a model trained under a mixed-precision policy."""

import contextlib

import keras

from kzoo._api import kzoo_export

_MIXED = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


def _float32_config(obj):
    """`obj` (a serialised Keras config) with every float16 / bfloat16 /
    mixed dtype policy replaced by `"float32"`."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "DTypePolicy" and isinstance(
                obj.get("config"), dict):
            if obj["config"].get("name") in _MIXED:
                return {**obj, "config": {**obj["config"],
                                          "name": "float32"}}
            return obj
        return {k: (("float32" if v in _MIXED else v)
                    if k == "dtype" and isinstance(v, str)
                    else _float32_config(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_float32_config(v) for v in obj]
    return obj


@contextlib.contextmanager
def _global_policy(name):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def uses_reduced_precision(model):
    """Whether any layer of `model` computes in float16 or bfloat16."""
    layers = model._flatten_layers(include_self=True, recursive=True)
    return any(layer.compute_dtype in ("float16", "bfloat16")
               for layer in layers)


@kzoo_export("kzoo.models.float32_copy")
def float32_copy(model):
    """`model` rebuilt in float32 with the same weights.

    A model built under `keras.mixed_precision`'s `"mixed_bfloat16"` (kzoo's
    `--mixed-precision bfloat16`) keeps float32 weights but computes in
    bfloat16, and its config records that policy in every layer. Exports
    and presets should compute in float32 on any device: this rebuilds the
    model from its config with every reduced-precision policy replaced by
    `"float32"` (sub-layers a layer creates itself follow the global policy,
    which is float32 while rebuilding) and copies the weights, which are
    float32 already. A model that computes in float32 is returned as is.

    Args:
        model: a functional or `Sequential` Keras model (or any model whose
            config rebuilds it).

    Returns:
        A float32 `keras.Model` with `model`'s weights.
    """
    if not uses_reduced_precision(model):
        return model
    config = _float32_config(keras.saving.serialize_keras_object(model))
    with _global_policy("float32"):
        copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy
