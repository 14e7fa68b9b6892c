"""Evaluation of learned representations: weighted kNN and linear probes.

- `kzoo.eval.embed`: embeddings of an image array with a frozen model.
- `kzoo.eval.knn_predict` / `kzoo.eval.knn_accuracy`: weighted cosine kNN
  classifier (Wu et al., 2018; as in solo-learn and lightly).
- `kzoo.eval.linear_probe`: linear classifier on precomputed frozen features.
- `kzoo.eval.augmented_linear_probe`: keras-io's protocol, a softmax layer
  trained through the frozen backbone on flipped images.
- `kzoo.eval.representation_report`: all of the above for one frozen
  encoder, as one dict (the recipes' protocol).
- `kzoo.eval.KNNMonitor`: Keras callback logging kNN accuracy during `fit()`.
- `kzoo.eval.ProgressLogger`: a plain progress line every N steps (for logs).
- `kzoo.eval.recall_at_k` / `precision_at_1` / `r_precision` / `map_at_r` /
  `retrieval_metrics`: retrieval metrics of Musgrave et al. (2020).
- `kzoo.eval.verification_accuracy` / `kzoo.eval.roc_auc`: pair verification
  from distances (label 0 = similar pair).
- `kzoo.eval.detection_map`: detection mAP, COCO style (equal to
  pycocotools' COCOeval stats) or Pascal VOC style (VOC2010+ all-point AP);
  `kzoo.eval.all_point_average_precision`: the VOC area under a PR curve.
- `kzoo.eval.DetectionMAPCallback`: Keras callback logging a detector's mAP
  on a validation set during `fit()`.
"""

from kzoo.eval.augmented_probe import augmented_linear_probe
from kzoo.eval.callbacks import KNNMonitor
from kzoo.eval.progress import ProgressLogger
from kzoo.eval.knn import embed
from kzoo.eval.knn import knn_accuracy
from kzoo.eval.knn import knn_predict
from kzoo.eval.linear_probe import linear_probe
from kzoo.eval.report import representation_report

__all__ = ["embed", "knn_predict", "knn_accuracy", "linear_probe", "augmented_linear_probe",
           "representation_report", "KNNMonitor", "ProgressLogger"]

# Retrieval (Musgrave et al., 2020) and pair-verification metrics.
from kzoo.eval.retrieval import map_at_r  # noqa: E402
from kzoo.eval.retrieval import pair_distances  # noqa: E402
from kzoo.eval.retrieval import precision_at_1  # noqa: E402
from kzoo.eval.retrieval import r_precision  # noqa: E402
from kzoo.eval.retrieval import recall_at_k  # noqa: E402
from kzoo.eval.retrieval import retrieval_metrics  # noqa: E402
from kzoo.eval.retrieval import roc_auc  # noqa: E402
from kzoo.eval.retrieval import verification_accuracy  # noqa: E402

__all__ += ["recall_at_k", "precision_at_1", "r_precision", "map_at_r",
            "retrieval_metrics", "verification_accuracy", "roc_auc",
            "pair_distances"]

# Facial-landmark metrics (NME, PCK, inter-ocular normaliser).
from kzoo.eval.landmarks import NormalizedMeanError  # noqa: E402
from kzoo.eval.landmarks import PercentageCorrectKeypoints  # noqa: E402
from kzoo.eval.landmarks import inter_ocular_distance  # noqa: E402
from kzoo.eval.landmarks import landmark_errors  # noqa: E402
from kzoo.eval.landmarks import landmark_metrics  # noqa: E402
from kzoo.eval.landmarks import nme  # noqa: E402
from kzoo.eval.landmarks import pck  # noqa: E402

__all__ += ["NormalizedMeanError", "PercentageCorrectKeypoints",
            "inter_ocular_distance", "landmark_errors", "landmark_metrics",
            "nme", "pck"]

# Detection: COCO / Pascal VOC mean average precision and its callback.
from kzoo.eval.detection_map import all_point_average_precision  # noqa: E402
from kzoo.eval.detection_map import detection_map  # noqa: E402
from kzoo.eval.detection_callback import DetectionMAPCallback  # noqa: E402
from kzoo.eval.detection_eval import detect_voc  # noqa: E402
from kzoo.eval.detection_eval import evaluate_voc_detector  # noqa: E402
from kzoo.eval.detection_eval import voc_ground_truth  # noqa: E402

__all__ += ["detection_map", "all_point_average_precision",
            "DetectionMAPCallback", "detect_voc", "evaluate_voc_detector",
            "voc_ground_truth"]

# Dual encoders: retrieval across modalities, zero-shot classification.
from kzoo.eval.cross_modal import cross_modal_recall  # noqa: E402
from kzoo.eval.cross_modal import nearest_centroid_accuracy  # noqa: E402

__all__ += ["cross_modal_recall", "nearest_centroid_accuracy"]

# Masked language models: masked-character accuracy and n-gram baselines.
from kzoo.eval.masked_text import char_ngram_baselines  # noqa: E402
from kzoo.eval.masked_text import masked_char_accuracy  # noqa: E402
from kzoo.eval.masked_text import masked_model_accuracy  # noqa: E402

__all__ += ["char_ngram_baselines", "masked_char_accuracy"]
