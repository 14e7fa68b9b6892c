"""Dataset sources, augmentation and `tf.data` pipelines."""

from kzoo.data.augment import SimSiamAugmentation
from kzoo.data.augment import random_color_jitter
from kzoo.data.augment import random_flip_left_right
from kzoo.data.augment import random_grayscale
from kzoo.data.augment import random_resized_crop
from kzoo.data.pipelines import labeled_dataset
from kzoo.data.pipelines import two_view_dataset
from kzoo.data.sources import ArrayDataset
from kzoo.data.sources import CorruptImageError
from kzoo.data.sources import DataUnavailableError
from kzoo.data.sources import load_dataset
from kzoo.data.sources import load_digits
from kzoo.data.sources import load_image_folder
from kzoo.data.sources import load_tfds
from kzoo.data.sources import resolve_data_dir
from kzoo.data.offline_hard_miner import OfflineHardMiner
from kzoo.data.offline_hard_miner import hard_triplet_dataset
from kzoo.data.samplers import class_balanced_dataset
from kzoo.data.samplers import pair_dataset
from kzoo.data.samplers import triplet_dataset
