"""Serialisation shared by the models that wrap a backbone."""

import copy

import keras


def backbone_from_config(config):
    """A copy of `config` whose `"backbone"` entry is deserialised.

    Every kzoo model that takes a `backbone` (SimSiam, SimCLR, Barlow
    Twins, DeepCluster, EncoderDecoder, VAE, YOLODetector) stores it with
    `keras.saving.serialize_keras_object` in `get_config`, and rebuilds it
    here in `from_config`: `return cls(**backbone_from_config(config))`.
    The config is copied first because `deserialize_keras_object` consumes
    the nested dict.
    """
    config = copy.deepcopy(config)
    config["backbone"] = keras.saving.deserialize_keras_object(
        config["backbone"])
    return config
