"""Reusable Keras layers."""

from kzoo.layers.batch_normalization import BatchNormalization
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
from kzoo.layers.quarter_rotations import QuarterRotations
from kzoo.layers.jigsaw_tiles import JigsawTiles
from kzoo.layers.colorization_split import ColorizationSplit
from kzoo.layers.denoising_corruption import DenoisingCorruption
from kzoo.layers.patch_masking import PatchMasking
from kzoo.layers.random_resized_crop import RandomResizedCrop
from kzoo.layers.random_color_jitter import RandomColorJitter
from kzoo.layers.simsiam_augment import SimSiamAugment
