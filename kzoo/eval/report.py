"""One call that evaluates a frozen encoder the way every kzoo recipe does."""

from kzoo._api import kzoo_export
from kzoo.eval.augmented_probe import augmented_linear_probe
from kzoo.eval.knn import embed
from kzoo.eval.knn import knn_accuracy
from kzoo.eval.linear_probe import linear_probe


@kzoo_export("kzoo.eval.representation_report")
def representation_report(model, train_images, train_labels, test_images,
                          test_labels, knn_k=200, knn_temperature=0.1,
                          feature_probe_epochs=30, augmented_probe_epochs=0,
                          batch_size=128, seed=0, prefix=""):
    """kNN accuracy and linear probes of a frozen encoder, as one dict.

    The protocol shared by the self-supervised recipes, so that a trained
    encoder and the same encoder at random initialisation (the baseline
    every figure is reported beside) are evaluated identically:

    - `knn_accuracy`: `kzoo.eval.knn_accuracy` of the test embeddings
      against the train embeddings (weighted cosine kNN);
    - `feature_linear_probe_accuracy`: `kzoo.eval.linear_probe` on the
      standardised precomputed features;
    - `linear_probe_accuracy`, only when `augmented_probe_epochs > 0`:
      `kzoo.eval.augmented_linear_probe` (keras-io's protocol, a softmax
      layer trained through the frozen encoder on flipped images).

    Args:
        model: a `keras.Model` mapping images to features `[B, F]`.
        train_images, train_labels: the bank / probe training set.
        test_images, test_labels: the evaluation set.
        knn_k: kNN neighbours. Defaults to `200`.
        knn_temperature: kNN temperature. Defaults to `0.1`.
        feature_probe_epochs: epochs of the feature probe. Defaults to `30`.
        augmented_probe_epochs: epochs of keras-io's probe; `0` skips it.
            Defaults to `0`.
        batch_size: batch size of the augmented probe. Defaults to `128`.
        seed: seed of the probes. Defaults to `0`.
        prefix: prepended to every key (e.g. `"random_init_"`). Defaults to
            `""`.

    Returns:
        A dict of accuracies in `[0, 1]`, keys prefixed by `prefix`.
    """
    train_f = embed(model, train_images)
    test_f = embed(model, test_images)
    out = {
        "knn_accuracy": knn_accuracy(train_f, train_labels, test_f,
                                     test_labels, k=knn_k,
                                     temperature=knn_temperature),
        "feature_linear_probe_accuracy": linear_probe(
            train_f, train_labels, test_f, test_labels,
            epochs=feature_probe_epochs, seed=seed)["accuracy"],
    }
    if augmented_probe_epochs:
        out["linear_probe_accuracy"] = augmented_linear_probe(
            model, train_images, train_labels, test_images, test_labels,
            epochs=augmented_probe_epochs, batch_size=batch_size,
            seed=seed)["accuracy"]
    return {prefix + key: value for key, value in out.items()}
