"""Dataset sources, augmentation and `tf.data` pipelines (TensorFlow).

Names load on first use (PEP 562), so that the few pure-Python helpers
other kzoo modules share (`kzoo.data.masked_text`'s character ids and text
normalisation) import without TensorFlow; everything that builds a
`tf.data.Dataset` needs TensorFlow and says so clearly when it is missing.
"""

import importlib

_EXPORTS = {
    "SimSiamAugmentation": "augment",
    "random_color_jitter": "augment",
    "random_flip_and_translate": "augment",
    "random_flip_left_right": "augment",
    "random_grayscale": "augment",
    "random_resized_crop": "augment",
    "labeled_dataset": "pipelines",
    "two_view_dataset": "pipelines",
    "cross_modal_pairs": "cross_modal",
    "AudioDataset": "audio",
    "fit_length": "audio",
    "load_fsdd": "audio",
    "load_spoken_words": "audio",
    "read_wav": "audio",
    "ArrayDataset": "sources",
    "CorruptImageError": "sources",
    "DataUnavailableError": "sources",
    "load_dataset": "sources",
    "load_digits": "sources",
    "load_image_folder": "sources",
    "load_tfds": "sources",
    "resolve_data_dir": "sources",
    "OfflineHardMiner": "offline_hard_miner",
    "hard_triplet_dataset": "offline_hard_miner",
    "class_balanced_dataset": "samplers",
    "pair_dataset": "samplers",
    "fixed_pairs": "samplers",
    "triplet_dataset": "samplers",
    "VOCDataset": "voc",
    "load_voc": "voc",
    "DetectionAugmentation": "detection",
    "detection_dataset": "detection",
    "letterbox": "detection",
    "letterbox_images": "detection",
    "unletterbox_boxes": "detection",
    "IBUG_68_FLIP_PERMUTATION": "keypoints",
    "KeypointAugmentation": "keypoints",
    "KeypointDataset": "keypoint_sources",
    "LetterboxedKeypoints": "keypoints",
    "check_flip_permutation": "keypoints",
    "keypoint_dataset": "keypoints",
    "keypoint_targets": "keypoints",
    "letterbox_keypoint_dataset": "keypoints",
    "letterbox_keypoint_images": "keypoints",
    "letterbox_keypoints": "keypoints",
    "load_facial_keypoints": "keypoint_sources",
    "held_out_people": "keypoint_sources",
    "person_of": "keypoint_sources",
    "select_keypoints": "keypoint_sources",
    "split_held_out_people": "keypoint_sources",
    "load_keypoints_csv": "keypoint_sources",
    "read_keypoints_csv": "keypoint_sources",
    "unletterbox_keypoints": "keypoints",
    "warp_affine": "keypoints",
    "YOLOTargetEncoder": "yolo_targets",
    "kmeans_anchors": "yolo_targets",
    "RotationPretext": "rotation",
    "JigsawPretext": "jigsaw",
    "maximal_hamming_permutations": "jigsaw",
    "ColorizationPretext": "colorization",
    "lab_to_rgb": "colorization",
    "rgb_to_lab": "colorization",
    "DenoisingPretext": "denoising",
    "MaskedPatchPretext": "masked_patches",
    "patch_mask": "masked_patches",
    "pretext_dataset": "pretext_pipelines",
    "UniformLabelSampler": "deep_clustering",
    "deep_cluster_dataset": "deep_clustering",
    "char_vectorizer": "masked_text",
    "char_vocabulary": "masked_text",
    "decode_characters": "masked_text",
    "encode_characters": "masked_text",
    "load_text_entries": "masked_text",
    "mask_characters": "masked_text",
    "normalize_text": "masked_text",
    "split_entries": "masked_text",
    "text_chunks": "masked_text",
    "MaskedTextDataset": "masked_text",
    "normalize_blanks": "masked_text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kzoo.data' has no attribute {name!r}")
    from kzoo._tensorflow import require_tensorflow

    require_tensorflow(f"kzoo.data.{name}")
    value = getattr(importlib.import_module(f"kzoo.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
