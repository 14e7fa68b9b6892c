"""Package-wide: every constructor argument of every serializable kzoo class
survives get_config / from_config."""

import inspect

import keras
import pytest

import kzoo
from kzoo import _api

# `import kzoo` registers every class; kzoo.data's tf.data-side objects
# exist (and register) under the TensorFlow backend only. Which they are is
# read from their kzoo_export declarations.
TF_DATA_CLASSES = {
    f"kzoo>{name}" for _, module, name, is_class in _api.declarations()
    if is_class and module.startswith("kzoo.data.")}
ON_TF = keras.backend.backend() == "tensorflow"


def _tiny_backbone():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(4)(x), name="tiny")


def _tiny_backbone_map():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=4, padding="same")(inputs)
    return keras.Model(inputs, x, name="tiny_map")


def _tiny_pooled_backbone():
    # A kzoo-style backbone: a feature map, then "backbone_pool".
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="backbone_pool")(x)
    return keras.Model(inputs, x, name="tiny_pooled")


def _view_augmentation():
    # The two-view models' on-device views, as the recipes build them.
    return kzoo.runs.pixel_view_augmentation(seed=3, crop_scale=(0.5, 1.0))


def _initializer(name):
    """An initializer as Keras serialises it (what get_config returns)."""
    return {"module": "keras.initializers", "class_name": name,
            "config": {}, "registered_name": None}


# Non-default values for every constructor argument, per class.
EXAMPLES = {
    "kzoo>MLPHead": lambda: dict(
        hidden_dims=[7, 5], output_dim=3, activation="gelu", use_bias=True,
        batch_norm=False, output_batch_norm=True, output_use_bias=False,
        synchronized=True, kernel_regularizer=keras.regularizers.L2(0.1)),
    "kzoo>SimSiamLoss": lambda: dict(reduction="sum", name="ssl", dtype="float16"),
    "kzoo>ContrastiveLoss": lambda: dict(
        margin=0.5, squared_margin=False, reduction="sum", name="cl",
        dtype="float16"),
    "kzoo>TripletLoss": lambda: dict(
        margin=0.2, distance="cosine", mining="semi-hard", reduction="sum",
        name="tl", dtype="float16", gather_distributed=False),
    "kzoo>SupConLoss": lambda: dict(
        temperature=0.07, reduction="sum", name="sc", dtype="float16", gather_distributed=False),
    "kzoo>NTXentLoss": lambda: dict(
        temperature=0.5, reduction="sum", name="ntx", dtype="float16", gather_distributed=False),
    "kzoo>ClipLoss": lambda: dict(
        temperature=0.5, reduction="sum", name="clip", dtype="float16", gather_distributed=False),
    "kzoo>ActiveTripletFraction": lambda: dict(
        margin=0.2, distance="l2", name="atf", dtype="float16"),
    "kzoo>SimSiam": lambda: dict(
        backbone=_tiny_backbone(), projection_dim=6,
        projection_hidden_dims=[5, 7], predictor_dim=3, synchronized_bn=True,
        collapse_monitor=False, augmentation=_view_augmentation()),
    "kzoo>SimCLR": lambda: dict(
        backbone=_tiny_backbone(), projection_dim=6,
        projection_hidden_dims=[5, 7], temperature=0.3, synchronized_bn=True,
        collapse_monitor=False, augmentation=_view_augmentation()),
    "kzoo>BarlowTwins": lambda: dict(
        backbone=_tiny_backbone(), projection_dims=[5, 7, 6], lambda_=0.01,
        synchronized_bn=True, collapse_monitor=False,
        augmentation=_view_augmentation()),
    "kzoo>NNCLR": lambda: dict(
        backbone=_tiny_backbone(), projection_dim=6,
        projection_hidden_dims=[5, 7], predictor_hidden_dim=3, queue_size=9,
        temperature=0.3, synchronized_bn=True, seed=4,
        augmentation=_view_augmentation()),
    "kzoo>NNCLRLoss": lambda: dict(
        temperature=0.5, reduction="sum", name="nn", dtype="float16",
        gather_distributed=False),
    "kzoo>DCGAN": lambda: dict(
        generator=kzoo.models.dcgan_generator(4, 8, width=2),
        discriminator=kzoo.models.dcgan_discriminator(8, width=2), seed=5),
    "kzoo>AnchorFreeHead": lambda: dict(
        num_classes=3, reg_max=4, box_channels=5, class_channels=6,
        prior=0.1, name="afh"),
    "kzoo>AnchorFreeDetectionLoss": lambda: dict(
        num_classes=3, feature_sizes=[[4, 4], [2, 2]], strides=[8, 16],
        reg_max=4, top_k=5, alpha=1.0, beta=2.0, box_weight=1.0,
        class_weight=2.0, dfl_weight=3.0, reduction="sum", name="afl",
        dtype="float16"),
    "kzoo>AnchorFreeDecode": lambda: dict(
        feature_sizes=[[4, 4], [2, 2]], strides=[8, 16], reg_max=4,
        image_size=32, name="afd"),
    "kzoo>AnchorFreeDetector": lambda: dict(
        backbone=kzoo.models.multiscale_backbone(
            kzoo.models.tiny_darknet((32, 32, 3), width=2),
            ["pool2", "leaky5"]),
        num_classes=3, reg_max=4, head_channels=5, top_k=3, alpha=1.0,
        beta=2.0, box_weight=1.0, class_weight=2.0, dfl_weight=3.0,
        iou_threshold=0.4, score_threshold=0.1, max_detections=7),
    "kzoo>DualEncoder": lambda: dict(
        encoder_a=_tiny_backbone(), encoder_b=_tiny_pooled_backbone(),
        embedding_dim=5, temperature=0.2, learn_temperature=False,
        max_logit_scale=50.0),
    "kzoo>BarlowTwinsLoss": lambda: dict(
        lambda_=0.01, epsilon=1e-3, reduction="sum", name="btl",
        dtype="float16", gather_distributed=False),
    "kzoo>MaskedReconstructionLoss": lambda: dict(
        reduction="sum", name="mrl", dtype="float16"),
    "kzoo>EncoderDecoder": lambda: dict(
        backbone=_tiny_pooled_backbone(), output_channels=2,
        decoder_filters=[6, 5], output_activation="tanh"),
    "kzoo>VAE": lambda: dict(
        backbone=_tiny_pooled_backbone(), latent_dim=3, beta=0.5,
        decoder_filters=[6], seed=7),
    "kzoo>DeepCluster": lambda: dict(
        backbone=_tiny_backbone(), num_clusters=7,
        kernel_initializer=keras.initializers.serialize(
            keras.initializers.RandomNormal(stddev=0.02, seed=1))),
    "kzoo>RotationPretext": lambda: dict(all_rotations=False),
    "kzoo>RandomResizedCrop": lambda: dict(
        size=(5, 6), scale=(0.3, 0.9), ratio=(0.5, 2.0), seed=4, name="rrc",
        dtype="float64"),
    "kzoo>RandomColorJitter": lambda: dict(
        brightness=0.1, contrast=0.2, saturation=0.3, hue=0.05,
        probability=0.5, seed=5, name="cj", dtype="float64"),
    "kzoo>SimSiamAugment": lambda: dict(
        crop_scale=(0.3, 0.9), flip=False, jitter=(0.1, 0.2, 0.3, 0.05),
        jitter_probability=0.5, grayscale_probability=0.1, seed=6, name="sa",
        dtype="float64"),
    "kzoo>QuarterRotations": lambda: dict(all_rotations=False, seed=3),
    "kzoo>JigsawTiles": lambda: dict(
        num_permutations=2, tile_size=8, grid=2, jitter=False,
        permutations=[[1, 0, 3, 2], [3, 2, 1, 0]], seed=2),
    "kzoo>ColorizationSplit": lambda: dict(target="rgb"),
    "kzoo>DenoisingCorruption": lambda: dict(
        noise="masking", stddev=0.3, mask_fraction=0.5, seed=1),
    "kzoo>PatchMasking": lambda: dict(
        patch_size=2, mask_ratio=0.5, fill="mean", seed=7),
    "kzoo>JigsawPretext": lambda: dict(
        num_permutations=2, tile_size=8, grid=2, jitter=False,
        permutations=[[1, 0, 3, 2], [3, 2, 1, 0]]),
    "kzoo>ColorizationPretext": lambda: dict(target="rgb"),
    "kzoo>DenoisingPretext": lambda: dict(
        noise="masking", stddev=0.2, mask_fraction=0.5),
    "kzoo>MaskedPatchPretext": lambda: dict(
        patch_size=2, mask_ratio=0.5, fill="mean"),
    "kzoo>NoisePretext": lambda: dict(size=3, distribution="normal"),
    "kzoo>SimSiamAugmentation": lambda: dict(
        crop_scale=(0.3, 0.9), flip=False, jitter=(0.1, 0.2, 0.3, 0.05),
        jitter_probability=0.5, grayscale_probability=0.1),
    "kzoo>DetectionAugmentation": lambda: dict(
        flip_probability=0.3, scale_range=(0.5, 1.5), translation=0.2,
        jitter=(0.1, 0.2, 0.3, 0.05), jitter_probability=0.5,
        min_visibility=0.4, min_size=3.0, fill_value=0.0),
    "kzoo>Distance": lambda: dict(metric="cosine"),
    "kzoo>L2Normalize": lambda: dict(axis=1, epsilon=1e-6),
    "kzoo>BatchNormalization": lambda: dict(
        axis=1, momentum=0.9, epsilon=1e-2, center=False, scale=False,
        beta_initializer=_initializer("Ones"),
        gamma_initializer=_initializer("Zeros"),
        moving_mean_initializer=_initializer("Ones"),
        moving_variance_initializer=_initializer("Zeros"),
        beta_regularizer=keras.regularizers.L2(0.1),
        gamma_regularizer=keras.regularizers.L2(0.2),
        beta_constraint=None, gamma_constraint=None, renorm=True,
        renorm_clipping={"rmax": 2.0, "rmin": 0.5, "dmax": 1.0},
        renorm_momentum=0.9,
        synchronized=keras.backend.backend() == "tensorflow"),
    "kzoo>EmbeddingHead": lambda: dict(
        embedding_dim=5, normalize=False, hidden_dims=[7, 3],
        activation="gelu"),
    "kzoo>NonMaxSuppression": lambda: dict(
        iou_threshold=0.45, score_threshold=0.25, max_detections=7,
        max_detections_per_class=3, box_format="center_xywh"),
    "kzoo>LandmarkHead": lambda: dict(
        num_landmarks=2, method="regression", pooling="avg", hidden_dims=[5],
        activation="gelu", dropout=0.2,
        initial_landmarks=[[0.1, 0.2], [0.3, 0.4]]),
    "kzoo>LandmarkLoss": lambda: dict(
        point_loss="smooth_l1", coordinate_scale=96.0, wing_width=5.0,
        wing_curvature=1.0, smooth_l1_beta=2.0, presence_weight=0.3,
        reduction="sum", name="lml", dtype="float16"),
    "kzoo>KeypointAugmentation": lambda: dict(
        scale=(0.8, 1.2), max_shift=0.05, max_rotation=10.0,
        flip_probability=0.3, flip_permutation=[1, 0, 2],
        jitter=(0.1, 0.2, 0.3, 0.01), jitter_probability=0.5,
        fill_value=114.0),
    "kzoo>NormalizedMeanError": lambda: dict(
        left_eye=0, right_eye=3, name="nme2", dtype="float16"),
    "kzoo>PercentageCorrectKeypoints": lambda: dict(
        threshold=0.05, left_eye=0, right_eye=3, name="pck2",
        dtype="float16"),
    "kzoo>YOLOHead": lambda: dict(
        num_boxes=3, num_classes=4, layout="anchor", hidden_channels=8,
        objectness_prior=0.1, kernel_regularizer=keras.regularizers.L2(0.1)),
    "kzoo>YOLOTargetEncoder": lambda: dict(
        grid_size=5, num_boxes=2, num_classes=3, image_size=160,
        anchors=[[0.1, 0.2], [0.3, 0.25]]),
    "kzoo>YOLOLoss": lambda: dict(
        num_boxes=2, num_classes=3, anchors=[[0.1, 0.2], [0.3, 0.25]],
        layout="anchor", lambda_coord=2.0, lambda_noobj=0.25, lambda_obj=2.0,
        lambda_class=0.5, box_loss="ciou", objectness_target="one",
        ignore_threshold=0.6, objectness_loss="bce",
        class_loss="crossentropy", reduction="sum", name="yl",
        dtype="float16"),
    "kzoo>LuminanceGray": lambda: dict(name="gray", dtype="float64"),
    "kzoo>PositionEmbedding": lambda: dict(sequence_length=7, name="pos",
                                           dtype="float64"),
    "kzoo>TransformerBlock": lambda: dict(dim=6, heads=3, mlp_dim=5,
                                          dropout=0.1, name="tb"),
    "kzoo>VisionTransformer": lambda: dict(
        image_size=8, patch_size=2, dim=6, depth=2, heads=3, mlp_dim=5,
        dropout=0.1, name="vt"),
    "kzoo>MaskedAutoencoder": lambda: dict(
        backbone=kzoo.models.vit_tiny_cifar((8, 8, 3), patch_size=4, dim=4,
                                            depth=1, heads=2, mlp_dim=4),
        mask_ratio=0.5, decoder_dim=6, decoder_depth=2, decoder_heads=3,
        norm_pix_loss=False, seed=3),
    "kzoo>SpecAugment": lambda: dict(
        freq_masks=3, freq_width=4, time_masks=1, time_width=5,
        mask_value=-1.0, seed=3, name="sa", dtype="float64"),
    "kzoo>LogMelSpectrogram": lambda: dict(
        sampling_rate=16000, frame_length=400, frame_step=160,
        fft_length=512, num_mel_bins=40, lower_edge_hertz=60.0,
        upper_edge_hertz=7600.0, log_offset=1e-3, name="mel",
        dtype="float64"),
    "kzoo>YOLODecode": lambda: dict(
        num_boxes=2, num_classes=3, anchors=[[0.1, 0.2], [0.3, 0.25]],
        layout="anchor", image_size=160, confidence="top_class_x_objectness",
        clip_boxes=False),
    "kzoo>YOLODetector": lambda: dict(
        backbone=_tiny_backbone_map(), num_classes=3, num_boxes=2,
        anchors=[[0.1, 0.2], [0.3, 0.25]], layout="anchor",
        hidden_channels=4, objectness_prior=0.1, lambda_coord=2.0,
        lambda_noobj=0.25, lambda_obj=2.0, lambda_class=0.5, box_loss="giou",
        objectness_target="one", ignore_threshold=0.6,
        objectness_loss="bce", class_loss="crossentropy",
        confidence="top_class_x_objectness", iou_threshold=0.4,
        score_threshold=0.1, max_detections=7),
}


def kzoo_classes():
    return {k: v for k, v in keras.saving.get_custom_objects().items()
            if k.startswith("kzoo>")}


def test_every_registered_class_has_an_example():
    missing = sorted(set(kzoo_classes()) - set(EXAMPLES))
    assert not missing, f"add non-default constructor examples for {missing}"
    # (Off TF they register only once a test imports kzoo.data's modules;
    # tests/test_backends.py checks a fresh `import kzoo`.)
    if ON_TF:
        serialisable = TF_DATA_CLASSES & set(EXAMPLES)
        assert len(serialisable) >= 9, serialisable
        assert serialisable <= set(kzoo_classes())


def _normalise(value):
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, keras.regularizers.Regularizer):
        return keras.regularizers.serialize(value)
    if isinstance(value, keras.layers.Layer):  # a backbone, an augmentation
        return value.name
    if isinstance(value, dict):
        if "config" in value and "class_name" in value:
            cfg = value["config"]
            return cfg.get("name", value) if isinstance(cfg, dict) else value
        return {k: _normalise(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_constructor_arguments_round_trip(key):
    if key in TF_DATA_CLASSES and not ON_TF:
        pytest.skip("a kzoo.data (tf.data) object: TensorFlow backend only")
    cls = kzoo_classes()[key]
    kwargs = EXAMPLES[key]()
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    assert {p.name for p in params} <= set(kwargs), "example misses an argument"
    obj = cls(**kwargs)
    config = obj.get_config()
    for p in params:
        assert p.name in config, f"{key}: get_config() lacks {p.name}"
        got = config[p.name]
        if p.name == "activation":
            got = keras.activations.deserialize(got).__name__
            assert got == kwargs[p.name]
            continue
        if p.name == "dtype":
            got = got if isinstance(got, str) else got["config"]["name"]
        assert _normalise(got) == _normalise(kwargs[p.name]), p.name
    clone = cls.from_config(config)
    assert _normalise(clone.get_config()) == _normalise(config)
