"""Reusable Keras layers."""

from kzoo.layers.mlp_head import MLPHead
