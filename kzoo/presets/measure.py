"""Re-measuring a preset's card from its shipped files.

`measure(name, subset)` evaluates the loaded preset on the real data under
`KZOO_DATA_DIR` (or `data_dir`) with the protocol its card names
(`card["remeasure"]["protocol"]`) and returns the metrics. Two subsets:

- `"full"`: the whole evaluation split of the card's headline (e.g. the
  10,000 CIFAR-10 test images against all 50,000 training images);
- `"ci"`: a fixed, smaller part of it (the card states which and the
  figure it gives), for the test suite's time budget.

`python -m kzoo.presets build` writes both figures into the card; the
tests re-measure the `"ci"` figure (and the full one when slow tests
run) and compare within the card's stated tolerance.
"""

import os

import numpy as np

SUBSETS = ("ci", "full")


def data_root(data_dir=None):
    """`data_dir`, else `$KZOO_DATA_DIR`, else `../shared/datasets` beside
    the checkout."""
    if data_dir:
        return data_dir
    if os.environ.get("KZOO_DATA_DIR"):
        return os.environ["KZOO_DATA_DIR"]
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.abspath(os.path.join(here, "..", "..", "..", "shared",
                                        "datasets"))


def _cifar(protocol, subset, data_dir):
    from kzoo.data import sources

    sizes = protocol[subset]
    train = (sources.load_dataset("cifar10", "train", data_root(data_dir),
                                  limit=sizes["train"])
             if "train" in sizes else None)
    test = sources.load_dataset("cifar10", "test", data_root(data_dir),
                                limit=sizes.get("test"))
    return train, test


def knn_protocol(model, protocol, subset, data_dir=None):
    """Weighted cosine kNN accuracy (k, T of the protocol) of `model`'s
    embeddings: the test images against the training images as the bank."""
    from kzoo import eval as kz_eval

    train, test = _cifar(protocol, subset, data_dir)
    bank = kz_eval.embed(model, train.images)
    queries = kz_eval.embed(model, test.images)
    accuracy = kz_eval.knn_accuracy(bank, train.labels, queries, test.labels,
                                    k=protocol["k"],
                                    temperature=protocol["temperature"])
    return {"knn_accuracy": float(accuracy), "bank": int(len(train.images)),
            "queries": int(len(test.images))}


def classification_protocol(model, protocol, subset, data_dir=None):
    """Top-1 accuracy of a classifier's softmax on the test images."""
    _, test = _cifar(protocol, subset, data_dir)
    from kzoo import eval as kz_eval

    probs = kz_eval.embed(model, test.images)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == test.labels))
    return {"test_accuracy": accuracy, "queries": int(len(test.images))}


def retrieval_protocol(model, protocol, subset, data_dir=None):
    """Recall@K, R-precision and MAP@R (Musgrave et al. 2020) of the test
    images searched in themselves (leave-one-out)."""
    from kzoo import eval as kz_eval

    _, test = _cifar(protocol, subset, data_dir)
    emb = kz_eval.embed(model, test.images)
    metrics = kz_eval.retrieval_metrics(emb, test.labels, k=(1, 2, 4, 8))
    # The recipe's key names (recall_at_1, map_at_r).
    out = {k.replace("@", "_at_"): float(v) for k, v in metrics.items()}
    out["queries"] = int(len(test.images))
    return out


def detection_protocol(model, protocol, subset, data_dir=None):
    """COCO / VOC mAP on a VOC split, through the served computation
    (`kzoo.export.detection_serving_fn`: letterbox, model, boxes mapped
    back to the image's pixels), images at their own size."""
    import keras

    from kzoo import data
    from kzoo.eval.detection_eval import evaluate_voc_detector
    from kzoo.export import detection_serving_fn

    root = data.resolve_data_dir(data_root(data_dir), protocol["dataset"],
                                 marker="Annotations")
    voc = data.load_voc(root, protocol["split"])
    serve = detection_serving_fn(model, protocol["image_size"])
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        serve = tf.function(serve, reduce_retracing=True)
    found, _ = evaluate_voc_detector(serve, voc, list(voc.class_names))
    found = {k: float(v) for k, v in found.items()
             if isinstance(v, (int, float))}
    found["images"] = len(voc.image_paths)
    return found


def landmarks_protocol(model, protocol, subset, data_dir=None):
    """NME, PCK and failure rate on the faces of the held-out people
    (`kzoo.data.split_held_out_people`), in pixels of the original
    images."""
    from kzoo import data
    from kzoo.eval.landmarks import landmark_metrics

    root = data_root(data_dir)
    splits = {s: data.load_facial_keypoints(s, root) for s in ("train",
                                                               "test")}
    _, held, people = data.split_held_out_people(
        splits, protocol["holdout_people"])
    size = protocol["image_size"]
    canvas = data.letterbox_keypoint_dataset(held, size)
    out = model.predict(canvas.images.astype("float32"), batch_size=128,
                        verbose=0)
    points = np.asarray(out["landmarks"]) * float(size)
    points = np.asarray(data.unletterbox_keypoints(points, canvas.scale,
                                                   canvas.offset))
    found = landmark_metrics(held.keypoints, points, held.mask)
    found = {"heldout_" + k: float(v) for k, v in found.items()}
    found["heldout_people"] = len(people)
    return found


def audio_image_protocol(parts, protocol, subset, data_dir=None):
    """Cross-modal Recall@1 both ways and zero-shot accuracy of FSDD's
    test clips against scikit-learn's test digit images."""
    from kzoo import data
    from kzoo import eval as kz_eval

    audio_model, image_model = parts["audio"], parts["image"]
    num_samples = int(audio_model.inputs[0].shape[1])
    audio = data.load_fsdd("test", data_root(data_dir), num_samples)
    digits = data.load_digits("test")
    za = audio_model.predict(audio.waveforms, batch_size=256, verbose=0)
    zi = image_model.predict(digits.images.astype("float32"),
                             batch_size=256, verbose=0)
    recall = kz_eval.cross_modal_recall(za, audio.labels, zi, digits.labels,
                                        ks=(1, 5))
    return {"audio_to_image_recall@1": float(recall["a_to_b_recall@1"]),
            "image_to_audio_recall@1": float(recall["b_to_a_recall@1"]),
            "zero_shot_accuracy": float(kz_eval.nearest_centroid_accuracy(
                za, audio.labels, zi, digits.labels)),
            "clips": int(len(audio.labels)), "images": int(len(digits.labels))}


def audio_text_protocol(parts, protocol, subset, data_dir=None, card=None):
    """Recall@K of the held-out words' clips against their spellings."""
    from kzoo import data
    from kzoo import eval as kz_eval
    from kzoo.presets._tokenizer import CharTokenizer

    audio_model, text_model = parts["audio"], parts["text"]
    num_samples = int(audio_model.inputs[0].shape[1])
    test = data.load_spoken_words("test", data_root(data_dir), num_samples)
    seen = {}
    for text, label in zip(test.texts, test.labels.tolist()):
        seen.setdefault(label, text)
    labels = sorted(seen)
    tokenizer = CharTokenizer(**card["tokenizer"])
    za = audio_model.predict(test.waveforms, batch_size=256, verbose=0)
    zt = text_model.predict(tokenizer([seen[k] for k in labels]),
                            batch_size=256, verbose=0)
    recall = kz_eval.cross_modal_recall(za, test.labels, zt,
                                        np.asarray(labels), ks=(1, 5, 10))
    out = {}
    for k in (1, 5, 10):
        out[f"audio_to_text_recall@{k}"] = float(recall[f"a_to_b_recall@{k}"])
        out[f"text_to_audio_recall@{k}"] = float(recall[f"b_to_a_recall@{k}"])
    out.update({"clips": int(len(test.labels)), "words": len(labels)})
    return out


def masked_text_protocol(model, protocol, subset, data_dir=None, card=None):
    """Masked-character accuracy on the test entries of the protocol's
    text dataset (the recipe's split and fixed masking); the `"ci"` subset
    may cap the number of test pieces (`{"limit": N}`: the first N)."""
    from kzoo import data
    from kzoo.eval.masked_text import masked_model_accuracy

    vocab = card["tokenizer"]["vocabulary"]
    length = card["tokenizer"]["sequence_length"]
    dataset = protocol.get("dataset", "fortunes_br")
    if dataset == "text":  # the name in cards built before pt_docs existed
        dataset = "fortunes_br"
    test_entries = data.text_splits(dataset, data_root(data_dir))[2]
    ids = data.encode_characters(data.text_chunks(test_entries, length),
                                 vocab, length)
    if protocol[subset].get("limit"):
        ids = ids[:protocol[subset]["limit"]]
    fixed = data.mask_characters(ids, np.random.default_rng(0),
                                 len(vocab) + 2, vocab.index(" ") + 2,
                                 protocol["mask_rate"])
    return {"test_masked_accuracy": float(masked_model_accuracy(model,
                                                                *fixed)),
            "masked_characters": int(np.sum(fixed[2]))}


def verification_protocol(model, protocol, subset, data_dir=None,
                          card=None):
    """Verification accuracy at the card's threshold and ROC AUC on the
    fixed test pairs of scikit-learn's digits (the recipe's pairs)."""
    from kzoo import data
    from kzoo import eval as kz_eval

    test = data.load_digits("test")
    pairs = data.fixed_pairs(test.labels, protocol["pair_seed"],
                             protocol["pairs_per_example"])
    emb = kz_eval.embed(model, test.images)
    distances = kz_eval.pair_distances(emb, pairs)[""]
    threshold = card["verification"]["threshold"]
    similar = pairs[2] == 0
    return {"verification_accuracy": float(np.mean(
                (distances <= threshold) == similar)),
            "roc_auc": float(kz_eval.roc_auc(distances, pairs[2])),
            "pairs": int(len(pairs[2]))}


MULTI_PART = {"audio_image": audio_image_protocol,
              "audio_text": audio_text_protocol}
NEEDS_CARD = {"audio_text", "masked_text", "verification"}

PROTOCOLS = {
    "verification": verification_protocol,
    "masked_text": masked_text_protocol,
    "detection": detection_protocol,
    "landmarks": landmarks_protocol,
    "knn": knn_protocol,
    "classification": classification_protocol,
    "retrieval": retrieval_protocol,
}


def measure(name, subset="ci", data_dir=None, model=None, card=None):
    """Re-measures preset `name` on `subset` (`"ci"` or `"full"`).

    Args:
        name: a preset name (its card and model are loaded), or any name
            when `card` and `model` are given (building a preset).
        subset: `"ci"` or `"full"`. Defaults to `"ci"`.
        data_dir: the datasets root. Defaults to `None` (`data_root()`).
        model: the model to measure. Defaults to `None` (`load(name)`).
        card: the card. Defaults to `None` (`card(name)`).

    Returns:
        The protocol's metrics, a dict of floats and counts.
    """
    from kzoo import presets

    if subset not in SUBSETS:
        raise ValueError(f"`subset` must be one of {SUBSETS}. Received: "
                         f"subset={subset!r}")
    card = card if card is not None else presets.card(name)
    protocol = card["remeasure"]["protocol"]
    kind = protocol["kind"]
    if kind in MULTI_PART:
        # `model`: a dict of the parts (building), else each part loaded.
        parts = model if model is not None else {
            part: presets.load(name, part=part) for part in card["models"]}
        extra = {"card": card} if kind in NEEDS_CARD else {}
        return MULTI_PART[kind](parts, protocol, subset, data_dir, **extra)
    if model is None:
        model = presets.load(name, part=protocol.get("part"))
    extra = {"card": card} if kind in NEEDS_CARD else {}
    return PROTOCOLS[kind](model, protocol, subset, data_dir, **extra)
