"""Imports `kzoo.data`'s serialisable classes (private; `import kzoo` does
it under the TensorFlow backend, where TensorFlow is loaded already)."""

from kzoo.data.augment import SimSiamAugmentation  # noqa: F401
from kzoo.data.colorization import ColorizationPretext  # noqa: F401
from kzoo.data.denoising import DenoisingPretext  # noqa: F401
from kzoo.data.detection import DetectionAugmentation  # noqa: F401
from kzoo.data.jigsaw import JigsawPretext  # noqa: F401
from kzoo.data.keypoints import KeypointAugmentation  # noqa: F401
from kzoo.data.masked_patches import MaskedPatchPretext  # noqa: F401
from kzoo.data.rotation import RotationPretext  # noqa: F401
from kzoo.data.yolo_targets import YOLOTargetEncoder  # noqa: F401
