"""Evaluation of learned representations: weighted kNN and linear probes.

- `kzoo.eval.embed`: embeddings of an image array with a frozen model.
- `kzoo.eval.knn_predict` / `kzoo.eval.knn_accuracy`: weighted cosine kNN
  classifier (Wu et al., 2018; as in solo-learn and lightly).
- `kzoo.eval.linear_probe`: linear classifier on precomputed frozen features.
- `kzoo.eval.augmented_linear_probe`: keras-io's protocol, a softmax layer
  trained through the frozen backbone on flipped images.
- `kzoo.eval.KNNMonitor`: Keras callback logging kNN accuracy during `fit()`.
"""

from kzoo.eval.augmented_probe import augmented_linear_probe
from kzoo.eval.callbacks import KNNMonitor
from kzoo.eval.knn import embed
from kzoo.eval.knn import knn_accuracy
from kzoo.eval.knn import knn_predict
from kzoo.eval.linear_probe import linear_probe

__all__ = ["embed", "knn_predict", "knn_accuracy", "linear_probe", "augmented_linear_probe",
           "KNNMonitor"]
