"""Reusable Keras layers."""

from kzoo.layers.mlp_head import MLPHead
from kzoo.layers.distance import Distance
from kzoo.layers.embedding_head import EmbeddingHead
from kzoo.layers.l2_normalize import L2Normalize
from kzoo.layers.non_max_suppression import NonMaxSuppression
from kzoo.layers.yolo_head import YOLOHead
from kzoo.layers.yolo_head import decode_yolo_outputs
from kzoo.layers.landmark_head import LandmarkHead
from kzoo.layers.yolo_decode import YOLODecode
from kzoo.layers.luminance_gray import LuminanceGray
from kzoo.layers.log_mel_spectrogram import LogMelSpectrogram
from kzoo.layers.spec_augment import SpecAugment
