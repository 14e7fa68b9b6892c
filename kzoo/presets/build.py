"""Building a preset from a recipe run: `python -m kzoo.presets build`.

Each preset has a spec in `SPECS`: the recipe that trains it, how its
inference model is made from the run's saved `.keras` files, which of the
run's metrics go into the card beside which baseline, its headline and
target, the data and licence, and the re-measure protocol. Building reads
the run directory (`args.json`, `metrics.json`, `history*.csv`, the
`.keras` files), assembles the float32 inference model, saves it, measures
it with `kzoo.presets.measure` on both subsets, and writes `card.json` with
the sha256 of every file.

    python -m kzoo.presets build simclr_resnet20_cifar10 \\
        --run runs/presets/simclr_resnet20_cifar10 --wall-time 6851 \\
        --commit 0123abc
"""

import csv
import datetime
import json
import os
import platform
import shutil
import subprocess

CIFAR10 = {
    "name": "CIFAR-10",
    "licence": "CIFAR-10 (Krizhevsky, 2009), distributed for research "
               "without a stated licence; read here from the JPEG copy in "
               "../shared/datasets/cifar10 (a lossy re-encoding)",
}
CIFAR_KNN = {"kind": "knn", "k": 200, "temperature": 0.1,
             "full": {"train": None, "test": None},
             "ci": {"train": 10000, "test": 2000}}
CIFAR_SPLIT = ("trained on the 50,000 CIFAR-10 training images (labels "
               "unused); evaluated on the 10,000 test images, never seen in "
               "training, with the 50,000 training images as the kNN bank")
_SSL_METRICS = [
    ("knn_accuracy", "kNN accuracy (k=200, T=0.1), CIFAR-10 test",
     "random_init_knn_accuracy", "same ResNet-20 at random initialisation"),
    ("feature_linear_probe_accuracy",
     "linear probe on standardised frozen features, CIFAR-10 test",
     "random_init_feature_linear_probe_accuracy",
     "same ResNet-20 at random initialisation"),
]


def _ssl_spec(method, recipe, target=None):
    return {
        "task": "image_embedding",
        "recipe": recipe,
        "summary": (f"{method} ResNet-20 encoder trained self-supervised on "
                    "CIFAR-10: 32x32 RGB images -> 256-d L2-normalised "
                    "embeddings"),
        "build": "image_embedding",
        "inputs": "images: float32 [N, 32, 32, 3], RGB pixel values in "
                  "[0, 255] (uint8 arrays are accepted and converted)",
        "outputs": "embeddings: float32 [N, 256], unit L2 norm (the "
                   "ResNet-20's pooled features, normalised); the encoder "
                   "is the nested model 'resnet20_cifar' for fine-tuning",
        "data": {**CIFAR10, "split": CIFAR_SPLIT},
        "metrics": _SSL_METRICS,
        "headline": "knn_accuracy",
        "target": target,
        "remeasure": {"protocol": CIFAR_KNN, "metric": "knn_accuracy",
                      "tolerance": 0.005,
                      "tolerance_why": "a different CPU, oneDNN version or "
                      "backend changes float32 rounding, which can flip a "
                      "few near-tied kNN votes: 0.5 points (10 of the 2,000 "
                      "CI queries)"},
    }


SPECS = {
    "simclr_resnet20_cifar10": {**_ssl_spec(
        "SimCLR", "recipes/simclr_cifar.py",
        target={"metric": "knn_accuracy", "at_least": 0.60,
                "source": "issue 19: SimCLR kNN >= 60%"}),
        # lr 0.3: chosen on a validation split (docs/ssl.md, "Within one hour").
        "train_args": ["--epochs", "30", "--learning-rate", "0.3",
                       "--mixed-precision", "bfloat16", "--knn-every", "5"]},
    "simsiam_resnet20_cifar10": {**_ssl_spec(
        "SimSiam", "recipes/simsiam_cifar.py",
        target={"metric": "knn_gain", "at_least": 0.05,
                "source": "issue 19: SimSiam kNN at least 5 points above "
                          "its random encoder"}),
        # lr 0.06 / momentum 0.9: the best SimSiam variant on the
        # validation split (docs/ssl.md, "What SimSiam's loss should look like").
        "train_args": ["--epochs", "30", "--learning-rate", "0.06",
                       "--momentum", "0.9", "--probe-epochs", "0",
                       "--mixed-precision", "bfloat16", "--knn-every", "5"]},
    "barlow_twins_resnet20_cifar10": {**_ssl_spec(
        "Barlow Twins", "recipes/barlow_twins_cifar.py"),
        "train_args": ["--epochs", "30", "--mixed-precision", "bfloat16",
                       "--knn-every", "5"]},
    "deepcluster_resnet20_cifar10": {**_ssl_spec(
        "DeepCluster", "recipes/deepcluster_cifar.py"),
        # The best pretext method of the comparison table (+4.07 kNN
        # points over its random encoder at 234 steps).
        "train_args": ["--epochs", "30", "--mixed-precision", "bfloat16",
                       "--knn-every", "5"]},
    "supcon_resnet20_cifar10": {
        "task": "image_classification",
        "recipe": "recipes/supcon_cifar.py",
        "train_args": ["--epochs", "25", "--classifier-epochs", "5",
                       "--lr-schedule", "cosine", "--mixed-precision",
                       "bfloat16"],
        "summary": "CIFAR-10 classifier: a ResNet-20 encoder trained with "
                   "the supervised contrastive loss (Khosla et al. 2020), "
                   "then frozen under keras-io's classifier head",
        "build": "classifier",
        "inputs": "images: float32 [N, 32, 32, 3], RGB pixel values in "
                  "[0, 255] (uint8 arrays are accepted and converted)",
        "outputs": "probabilities float32 [N, 10] over CIFAR-10's classes "
                   "(airplane, automobile, bird, cat, deer, dog, frog, "
                   "horse, ship, truck); the encoder is the nested model "
                   "'resnet20_cifar' (256-d features)",
        "class_names": ["airplane", "automobile", "bird", "cat", "deer",
                        "dog", "frog", "horse", "ship", "truck"],
        "data": {**CIFAR10, "split": "trained on the 50,000 CIFAR-10 "
                 "training images; evaluated on the 10,000 test images, "
                 "never seen in training"},
        "metrics": [
            ("test_accuracy", "test accuracy, CIFAR-10 (10,000 images)",
             "cross_entropy_test_accuracy", "the same encoder and classifier "
             "trained end to end with cross-entropy, same epochs and "
             "schedule (keras-io's experiment 1)"),
            ("test_accuracy", "test accuracy, CIFAR-10",
             "random_init_test_accuracy", "the classifier on the frozen "
             "random-init encoder"),
            ("knn_accuracy", "kNN accuracy (k=200) of the encoder features",
             "random_init_knn_accuracy", "same encoder at random "
             "initialisation"),
        ],
        "headline": "test_accuracy",
        "target": {"metric": "test_accuracy", "at_least": 0.85,
                   "source": "issue 19: SupCon test accuracy >= 85% and "
                             "above its cross-entropy twin"},
        "remeasure": {"protocol": {"kind": "classification",
                                   "full": {"test": None},
                                   "ci": {"test": 2000}},
                      "metric": "test_accuracy", "tolerance": 0.005,
                      "tolerance_why": "rounding can flip a few near-tied "
                      "argmaxes: 0.5 points (10 of the 2,000 CI images)"},
    },
    "triplet_resnet20_cifar10": {
        "task": "image_embedding",
        "recipe": "recipes/triplet_cifar.py",
        "train_args": ["--epochs", "20", "--eval-every", "2",
                       "--mixed-precision", "bfloat16"],
        "summary": "ResNet-20 + 128-d embedding head trained with the "
                   "triplet loss and online semi-hard mining (FaceNet) on "
                   "P x K batches of CIFAR-10: images -> unit-norm "
                   "embeddings for search",
        "build": "image_embedding",
        "inputs": "images: float32 [N, 32, 32, 3], RGB pixel values in "
                  "[0, 255] (uint8 arrays are accepted and converted)",
        "outputs": "embeddings float32 [N, 128], unit L2 norm",
        "data": {**CIFAR10, "split": "trained on the 50,000 CIFAR-10 "
                 "training images (with labels); evaluated on the 10,000 "
                 "test images searched in themselves (leave-one-out), never "
                 "seen in training"},
        "metrics": [
            ("recall_at_1", "Recall@1, CIFAR-10 test searched in itself",
             "random_init_recall_at_1", "same network at random "
             "initialisation"),
            ("map_at_r", "MAP@R, CIFAR-10 test", "random_init_map_at_r",
             "same network at random initialisation"),
            ("knn_accuracy", "weighted kNN accuracy (train split as bank)",
             "random_init_knn_accuracy", "same network at random "
             "initialisation"),
        ],
        "headline": "recall_at_1",
        "target": {"metric": "recall_at_1", "at_least": 0.65,
                   "source": "issue 19: triplet Recall@1 >= 65%"},
        "remeasure": {"protocol": {"kind": "retrieval",
                                   "full": {"test": None},
                                   "ci": {"test": 2000}},
                      "metric": "recall_at_1", "tolerance": 0.005,
                      "tolerance_why": "rounding can reorder near-tied "
                      "neighbours: 0.5 points (10 of 2,000 CI queries)"},
    },
    "siamese_smallcnn_digits": {
        "task": "pair_verification",
        "recipe": "recipes/siamese_contrastive.py",
        "train_args": ["--epochs", "200", "--val-fraction", "0.2",
                       "--tower-width", "4", "--embedding-dim", "32",
                       "--mixed-precision", "float32"],
        "summary": "keras-io's siamese tower, 4 times wider (16 and 64 "
                   "filters) with a 32-d embedding, trained with the "
                   "course's contrastive loss on scikit-learn's digits "
                   "(keras-io's width 1 / 10-d tower: 88.2% on the "
                   "validation pairs, this one 96.3%): two digits "
                   "are the same class when their embeddings' L2 distance "
                   "is below the card's threshold",
        "build": "tower",
        "inputs": "images: float32 [N, 32, 32, 3], pixel values in [0, 255] "
                  "(scikit-learn's 8x8 digits upsampled, white on black)",
        "outputs": "embeddings float32 [N, 32] (tanh; not normalised): a "
                   "pair is 'same digit' when the L2 distance <= "
                   "card['verification']['threshold']",
        "data": {"name": "scikit-learn's digits (UCI optical digits)",
                 "licence": "BSD-3-Clause (scikit-learn); UCI optical "
                            "recognition of handwritten digits",
                 "split": "scikit-learn's 1,797 images split 80/20 (seed 0); "
                          "20% of each class of the training part held out "
                          "for validation pairs (which choose the "
                          "threshold); 718 fixed test pairs of the 359 test "
                          "images, never seen in training"},
        "metrics": [
            ("verification_accuracy", "verification accuracy, test pairs, "
             "L2 threshold chosen on validation pairs",
             "random_init_verification_accuracy",
             "same tower at random initialisation, its own threshold"),
            ("roc_auc", "ROC AUC of the L2 distance, test pairs",
             "random_init_roc_auc", "same tower at random initialisation"),
            ("test_accuracy", "keras-io's accuracy (distance < 0.5)",
             "random_init_test_accuracy", "same tower at random "
             "initialisation"),
        ],
        "headline": "verification_accuracy",
        "target": {"metric": "verification_accuracy", "at_least": 0.96,
                   "source": "issue 19: siamese verification >= 96% on "
                             "digits (keras-io: 95.77% on MNIST)"},
        "remeasure": {"protocol": {"kind": "verification",
                                   "dataset": "digits", "pair_seed": 2,
                                   "pairs_per_example": 2,
                                   "ci": {}, "full": {}},
                      "metric": "verification_accuracy", "tolerance": 0.0028,
                      "tolerance_why": "718 pairs (the CI subset is all of "
                      "them): 0.28 points is 2 pairs at the threshold"},
    },
    "yolo_tinydarknet_bccd": {
        "task": "detection",
        "recipe": "recipes/yolo_bccd.py",
        "train_args": ["--epochs", "120", "--image-size", "416",
                       "--train-split", "trainval", "--mixed-precision",
                       "bfloat16"],
        "summary": "YOLOv2-style detector (tiny-darknet backbone, 5 k-means "
                   "anchors, trained from scratch) of blood cells: "
                   "Platelets, RBC, WBC; decoding and NMS included",
        "build": "detection",
        "inputs": "images: float32 [N, 416, 416, 3], RGB pixel values in "
                  "[0, 255], letterboxed to the square (aspect kept, centred, "
                  "grey padding: kzoo.data.letterbox_images; `kzoo detect` "
                  "and the SavedModel export do it for images of any size)",
        "outputs": "dict: boxes float32 [N, 100, 4] (x1, y1, x2, y2 in "
                   "pixels of the 416x416 input), classes int32 [N, 100] "
                   "(0 Platelets, 1 RBC, 2 WBC; -1 padding), scores [N, 100], "
                   "num_detections [N]; after class-wise NMS at IoU 0.5, "
                   "scores above 0.001 (COCO evaluation's threshold: keep "
                   "score >= 0.25 for display, as `kzoo detect` does)",
        "class_names": ["Platelets", "RBC", "WBC"],
        "data": {"name": "BCCD (Shenggan/BCCD_Dataset)",
                 "licence": "MIT (../shared/datasets/bccd/LICENSE)",
                 "split": "trained on BCCD's trainval split (292 images: "
                          "train + val); evaluated on its test split, 72 "
                          "images never seen in training"},
        "metrics": [
            ("coco_AP50", "COCO AP at IoU 0.5, BCCD test (72 images)",
             "random_init_coco_AP50",
             "same detector at random initialisation"),
            ("coco_AP", "COCO AP (IoU .50:.95), BCCD test",
             "random_init_coco_AP", "same detector at random initialisation"),
            ("coco_AP75", "COCO AP at IoU 0.75, BCCD test",
             "random_init_coco_AP75",
             "same detector at random initialisation"),
            ("voc_mAP", "Pascal VOC mAP50 (all-point), BCCD test",
             "random_init_voc_mAP", "same detector at random initialisation"),
            ("coco_AP50/Platelets", "COCO AP50, platelets",
             "random_init_coco_AP50/Platelets",
             "same detector at random initialisation"),
            ("coco_AP50/RBC", "COCO AP50, red cells",
             "random_init_coco_AP50/RBC",
             "same detector at random initialisation"),
            ("coco_AP50/WBC", "COCO AP50, white cells",
             "random_init_coco_AP50/WBC",
             "same detector at random initialisation"),
        ],
        "headline": "coco_AP50",
        "target": {"metric": "coco_AP50", "at_least": 0.80,
                   "source": "issue 19: YOLO BCCD AP50 >= 0.80"},
        "remeasure": {"protocol": {"kind": "detection", "dataset": "bccd",
                                   "split": "test", "image_size": 416,
                                   "ci": {}, "full": {}},
                      "metric": "coco_AP50", "tolerance": 0.01,
                      "tolerance_why": "72 images: the CI subset is the "
                      "whole test split; another CPU's rounding can move a "
                      "near-threshold box across IoU 0.5 or reorder tied "
                      "scores"},
    },
    "audio_image_clip_fsdd_digits": {
        "task": "audio_image_retrieval",
        "recipe": "recipes/audio_image_contrastive.py",
        "train_args": ["--epochs", "100", "--mixed-precision", "bfloat16"],
        "summary": "CLIP-style dual encoder of spoken digits (FSDD "
                   "recordings) and digit images (scikit-learn's 8x8 digits "
                   "upsampled to 32x32): both towers, embeddings in one "
                   "space",
        "build": "dual",
        "parts": ["audio", "image"],
        "default_part": "audio",
        "audio": {"sampling_rate": 8000, "num_samples": 8000,
                  "length_policy": "kzoo.data.fit_length: a longer clip "
                  "keeps its centre, a shorter one is centred in silence"},
        "inputs": "part 'audio': waveforms float32 [N, 8000], 8 kHz mono in "
                  "[-1, 1] (1 s; fit other lengths with kzoo.data.fit_length"
                  "); part 'image': images float32 [N, 32, 32, 3] in "
                  "[0, 255] (white digit on black, as scikit-learn's digits "
                  "upsampled)",
        "outputs": "embeddings float32 [N, 64], unit L2 norm; an audio clip "
                   "and an image of the same digit are close",
        "data": {"name": "Free Spoken Digit Dataset (FSDD) + scikit-learn's "
                         "digits",
                 "licence": "FSDD: CC BY-SA 4.0 (Jakobovski et al.); "
                            "scikit-learn digits: BSD-3-Clause (UCI optical "
                            "digits)",
                 "split": "FSDD's usual split: recordings 0-4 of every "
                          "speaker and digit (300 clips) are the test set, "
                          "never trained on; digits: scikit-learn's images "
                          "split 80/20 (359 test images)"},
        "metrics": [
            ("audio_to_image_recall@1", "audio -> image Recall@1 (300 test "
             "clips against 359 test images)",
             "random_init_audio_to_image_recall@1",
             "same dual encoder at random initialisation (chance 10%)"),
            ("image_to_audio_recall@1", "image -> audio Recall@1",
             "random_init_image_to_audio_recall@1",
             "same dual encoder at random initialisation (chance 10%)"),
            ("zero_shot_accuracy", "audio -> nearest image-class centroid "
             "accuracy", "random_init_zero_shot_accuracy",
             "same dual encoder at random initialisation (chance 10%)"),
        ],
        "headline": "audio_to_image_recall@1",
        "target": {"metric": "audio_to_image_recall@1", "at_least": 0.98,
                   "source": "issue 19: audio<->image Recall@1 >= 98%"},
        "remeasure": {"protocol": {"kind": "audio_image", "dataset": "fsdd",
                                   "ci": {}, "full": {}},
                      "metric": "audio_to_image_recall@1", "tolerance": 0.0067,
                      "tolerance_why": "300 queries (the CI subset is the "
                      "whole test set): 0.67 points is 2 clips whose nearest "
                      "image can flip under another CPU's rounding"},
    },
    "audio_text_clip_spoken_words_pt": {
        "task": "audio_text_retrieval",
        "recipe": "recipes/audio_text_contrastive.py",
        "train_args": ["--epochs", "200", "--mixed-precision", "bfloat16"],
        "summary": "CLIP-style dual encoder of spoken Portuguese words "
                   "(espeak-ng voices) and their spelling (a character "
                   "transformer): both towers; finds the written word of a "
                   "clip among words never trained on",
        "build": "dual",
        "parts": ["audio", "text"],
        "default_part": "audio",
        "tokenizer_part": "text",
        "audio": {"sampling_rate": 8000, "num_samples": 10000,
                  "length_policy": "kzoo.data.fit_length: a longer clip "
                  "keeps its centre, a shorter one is centred in silence"},
        "inputs": "part 'audio': waveforms float32 [N, 10000], 8 kHz mono in "
                  "[-1, 1] (1.25 s; fit other lengths with kzoo.data."
                  "fit_length); part 'text': int32 ids [N, 16] from "
                  "kzoo.presets.tokenizer(name)(words)",
        "outputs": "embeddings float32 [N, 64], unit L2 norm; a clip and "
                   "the spelling of its word are close",
        "data": {"name": "spoken_words_pt (1,000 Portuguese words x 4 "
                         "espeak-ng voices, made for kzoo)",
                 "licence": "generated with espeak-ng (GPL-3 program; its "
                            "output is not restricted); words from "
                            "fortunes-br (GPL-2+)",
                 "split": "200 words held out entirely (their 800 clips are "
                          "the test set: words never trained on); the voice "
                          "pt-br+f4 is kept out of training too"},
        "metrics": [
            ("audio_to_text_recall@1", "audio -> text Recall@1 among the 200 "
             "held-out words (800 clips)",
             "random_init_audio_to_text_recall@1",
             "same dual encoder at random initialisation (chance 0.5%)"),
            ("text_to_audio_recall@1", "text -> audio Recall@1, held-out "
             "words", "random_init_text_to_audio_recall@1",
             "same dual encoder at random initialisation"),
            ("audio_to_text_recall@5", "audio -> text Recall@5, held-out "
             "words", "random_init_audio_to_text_recall@5",
             "same dual encoder at random initialisation (chance 2.5%)"),
            ("new_voice_audio_to_text_recall@1", "audio -> text Recall@1, "
             "training words spoken by the unseen voice pt-br+f4 (among 800 "
             "words)", "random_init_new_voice_audio_to_text_recall@1",
             "same dual encoder at random initialisation (chance 0.125%)"),
        ],
        "headline": "audio_to_text_recall@1",
        "target": {"metric": "audio_to_text_recall@1", "at_least": 0.66,
                   "source": "issue 19: audio->text on unseen words "
                             "Recall@1 >= 66%"},
        "remeasure": {"protocol": {"kind": "audio_text",
                                   "dataset": "spoken_words_pt",
                                   "ci": {}, "full": {}},
                      "metric": "audio_to_text_recall@1", "tolerance": 0.005,
                      "tolerance_why": "800 queries (the CI subset is the "
                      "whole held-out set): 0.5 points is 4 clips whose "
                      "nearest word can flip under another CPU's rounding"},
    },
    "masked_text_chartransformer_fortunes_pt": {
        "task": "fill_blanks",
        "recipe": "recipes/masked_text.py",
        "train_args": ["--epochs", "200", "--mixed-precision", "bfloat16"],
        "summary": "character-level masked language model of Brazilian "
                   "Portuguese (a small transformer): fills the blanks `_` "
                   "of a text, whole words and parts of words",
        "build": "fill_blanks",
        "tokenizer_part": "model",
        "inputs": "ids: int32 [N, 128] from kzoo.presets.tokenizer(name)"
                  "(texts), `_` for each character to fill",
        "outputs": "logits float32 [N, 128, V] over the character ids; "
                   "kzoo.models.fill_blanks(model, text, tokenizer."
                   "vocabulary) writes the blanks most-confident first",
        "data": {"name": "fortunes-br (Debian package fortunes-br "
                         "20220821): 2,510 entries of Brazilian Portuguese",
                 "licence": "GPL-2+ (../shared/datasets/text/fortunes_br."
                            "COPYRIGHT)",
                 "split": "entries split 80/10/10 by a fixed seed (0); "
                          "the test entries are never trained on; accuracy "
                          "on one fixed masking of them (seed 0)"},
        "metrics": [
            ("test_masked_accuracy", "masked-character accuracy, test "
             "entries (15% of characters, half of the units whole words)",
             "test_bigram_accuracy", "character bigram guess (the best "
             "n-gram baseline; random init: 0.1%)"),
            ("test_masked_accuracy", "masked-character accuracy, test "
             "entries", "random_init_test_masked_accuracy",
             "same model at random initialisation"),
        ],
        "headline": "test_masked_accuracy",
        "remeasure": {"protocol": {"kind": "masked_text",
                                   "dataset": "text", "mask_rate": 0.15,
                                   "ci": {}, "full": {}},
                      "metric": "test_masked_accuracy", "tolerance": 0.003,
                      "tolerance_why": "about 4,800 masked characters (the "
                      "CI subset is the whole test split): rounding can "
                      "flip a few near-tied guesses"},
    },
    "landmarks_smallcnn_faces68": {
        "task": "landmarks",
        "recipe": "recipes/landmarks_faces.py",
        "train_args": ["--epochs", "150", "--image-size", "128",
                       "--mixed-precision", "bfloat16"],
        "summary": "68 facial landmarks (iBUG / 300-W markup) on face crops: "
                   "a small CNN with a top-down neck and soft-argmax "
                   "heatmaps, trained from scratch",
        "build": "landmarks",
        "inputs": "images: float32 [N, 128, 128, 3], RGB pixel values in "
                  "[0, 255], a face letterboxed to the square (aspect kept, "
                  "centred, black padding: kzoo.data.letterbox_keypoint_"
                  "images; `kzoo landmarks` and the SavedModel export do it "
                  "for images of any size)",
        "outputs": "dict: landmarks float32 [N, 68, 2], (x, y) as fractions "
                   "of the 128x128 input (multiply by 128 for input pixels), "
                   "in iBUG order (36 and 45: outer eye corners); presence "
                   "[N, 1], a logit trained on faces only (stays near 1)",
        "data": {"name": "facial_keypoints (YouTube Faces frames, Udacity's "
                         "68-point extract)",
                 "licence": "MIT (../shared/datasets/facial_keypoints/"
                            "LICENSE)",
                 "split": "20% of the 347 people (a fixed permutation, seed "
                          "0: kzoo.data.held_out_people) held out of "
                          "training with all their faces in training/ and "
                          "test/; the headline is on those people, never "
                          "seen in training. test_* figures: the published "
                          "test/ faces of the training people (other frames "
                          "of their training videos: optimistic)"},
        "metrics": [
            ("heldout_nme", "NME (inter-ocular, outer eye corners), faces of "
             "people never seen in training", "mean_shape_heldout_nme",
             "the mean training shape placed in every face"),
            ("heldout_pck@0.1", "PCK@0.1, people never seen in training",
             "mean_shape_heldout_pck@0.1",
             "the mean training shape placed in every face"),
            ("heldout_failure_rate@0.1", "failure rate (face NME > 0.1), "
             "people never seen in training",
             "mean_shape_heldout_failure_rate@0.1",
             "the mean training shape placed in every face"),
            ("test_nme", "NME on test/ faces of training people (other "
             "frames of training videos: optimistic)", "mean_shape_test_nme",
             "the mean training shape placed in every face"),
        ],
        "headline": "heldout_nme",
        "lower_is_better": True,
        "target": {"metric": "heldout_nme", "at_most": 0.050,
                   "source": "issue 19: landmarks NME <= 0.050 on people "
                             "never seen in training"},
        "remeasure": {"protocol": {"kind": "landmarks",
                                   "dataset": "facial_keypoints",
                                   "holdout_people": 0.2, "image_size": 128,
                                   "ci": {}, "full": {}},
                      "metric": "heldout_nme", "tolerance": 0.0005,
                      "tolerance_why": "the whole held-out set (the CI "
                      "subset too); a mean over tens of thousands of points "
                      "moves by rounding only"},
    },
}


def train(name, data_dir, runs_dir="runs/presets", python=None):
    """Runs the recipe of preset `name` with its spec's flags (resumable).

    The run goes to `RUNS_DIR/NAME` with the preset's name as model name
    and no SavedModel export (`--export-dir ''`); its output is appended to
    `RUNS_DIR/NAME.log`. Running it again after an interruption resumes
    from the recipe's BackupAndRestore state. Each process's wall time is
    appended to `RUN/wall_times.json` (the card's wall time is their sum)
    and the kzoo commit to `RUN/commit.txt`: a run resumes at another
    commit only when no code it trains with changed in between
    (`training_code_changes`); the resuming commit is then recorded with
    that process's wall time.

    Returns:
        The recipe's exit code.
    """
    import sys
    import time

    spec = SPECS[name]
    python = python or sys.executable
    run = os.path.join(runs_dir, name)
    os.makedirs(run, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    commit = git_commit(root)
    commit_file = os.path.join(run, "commit.txt")
    resumed_at = None
    if os.path.isfile(commit_file):
        before = open(commit_file).read().strip()
        if commit and before != commit:
            changed = training_code_changes(root, before)
            if changed:
                raise SystemExit(
                    f"error: {run} was started at kzoo commit {before}, "
                    f"this checkout is {commit} and changes code the "
                    f"training runs ({', '.join(changed[:5])}); resume "
                    "there or remove the run directory")
            resumed_at = commit
    elif commit:
        with open(commit_file, "w") as f:
            f.write(commit + "\n")
    cmd = [python, os.path.join(root, spec["recipe"]), *spec["train_args"],
           "--data-dir", data_dir, "--output-dir", run, "--model-name", name,
           "--export-dir", ""]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.time()
    with open(os.path.join(runs_dir, f"{name}.log"), "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env=env).returncode
    times_file = os.path.join(run, "wall_times.json")
    times = (json.load(open(times_file)) if os.path.isfile(times_file)
             else [])
    times.append({"started": datetime.datetime.fromtimestamp(
                      start, datetime.timezone.utc).isoformat(
                      timespec="seconds"),
                  "seconds": round(time.time() - start, 1),
                  **({"kzoo_commit": resumed_at} if resumed_at else {}),
                  "exit_code": code, "cpu": cpu_description()})
    with open(times_file, "w") as f:
        json.dump(times, f, indent=2)
    return code


def _command(recorded):
    """`python recipes/<the run's argv>`. Runs recorded before args.json
    quoted its arguments lost the empty value of a final `--export-dir`:
    it is written back as `''`."""
    recorded = recorded.rstrip()
    if recorded.endswith(" --export-dir"):
        recorded += " ''"
    return "python " + os.path.join("recipes", recorded)


def _read_json(run, name):
    with open(os.path.join(run, name), encoding="utf-8") as f:
        return json.load(f)


def _history(run):
    """Every `history*.csv` of the run, as {file: [row dicts]}."""
    out = {}
    for name in sorted(os.listdir(run)):
        if name.startswith("history") and name.endswith(".csv"):
            with open(os.path.join(run, name), newline="") as f:
                out[name] = [{k: _number(v) for k, v in row.items()}
                             for row in csv.DictReader(f)]
    return out


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text else value


def cpu_description():
    """The CPU model, core count and the matrix / bfloat16 ISA extensions."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and ":" in line:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
           if f in flags]
    return (f"{model}, {os.cpu_count()} cores"
            + (f" ({', '.join(isa)})" if isa else ""))


def _image_embedding(run, spec, name):
    """uint8 / [0, 255] images -> L2-normalised backbone features."""
    import keras

    from kzoo.layers import L2Normalize
    from kzoo.models import float32_copy

    backbone = float32_copy(keras.saving.load_model(
        os.path.join(run, "backbone.keras"), compile=False))
    inputs = keras.Input(backbone.inputs[0].shape[1:], name="images")
    outputs = L2Normalize(name="embeddings")(backbone(inputs))
    return {"model": keras.Model(inputs, outputs, name=name)}


def _saved_model_file(run, name):
    """The run's float32 inference model saved by `Run.export_model`."""
    path = os.path.join(run, f"{name}.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the run saved no inference model "
                                "under the preset's name (train it with "
                                "--model-name NAME)")
    return path


def _detection(run, spec, name):
    """The run's inference model (detector, decoding, NMS), its NMS score
    threshold set to COCO evaluation's 0.001."""
    import keras

    from kzoo.models.precision import float32_copy

    model = float32_copy(keras.saving.load_model(
        _saved_model_file(run, name), compile=False))
    config = keras.saving.serialize_keras_object(model)

    def lower(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") == "NonMaxSuppression":
                obj["config"]["score_threshold"] = 0.001
            for v in obj.values():
                lower(v)
        elif isinstance(obj, list):
            for v in obj:
                lower(v)

    lower(config)
    config["config"]["name"] = name
    rebuilt = keras.saving.deserialize_keras_object(config)
    rebuilt.set_weights(model.get_weights())
    return {"model": rebuilt}


def _landmarks(run, spec, name):
    import keras

    from kzoo.models.precision import float32_copy

    model = float32_copy(keras.saving.load_model(
        _saved_model_file(run, name), compile=False))
    return {"model": model}


def _l2_wrapped(model, name):
    """`model` followed by `kzoo.layers.L2Normalize` (float32)."""
    import keras

    from kzoo.layers import L2Normalize
    from kzoo.models.precision import float32_copy

    model = float32_copy(model)
    inputs = keras.Input(model.inputs[0].shape[1:],
                         dtype=model.inputs[0].dtype,
                         name=model.inputs[0].name)
    outputs = L2Normalize(name="embeddings")(model(inputs))
    return keras.Model(inputs, outputs, name=name)


def _dual(run, spec, name):
    """Both towers of a dual encoder, each ending L2-normalised; the text
    tower's vocabulary and length from the run's export spec."""
    import keras

    parts = {}
    for part in spec["parts"]:
        model = keras.saving.load_model(
            _saved_model_file(run, f"{name}_{part}"), compile=False)
        parts[part] = _l2_wrapped(model, f"{name}_{part}")
    return parts


def _tokenizer_of(run, name, part):
    """`{"vocabulary", "sequence_length"}` of a text part's export spec."""
    stem = name if part == "model" else f"{name}_{part}"
    with open(os.path.join(run, f"{stem}.export.json"),
              encoding="utf-8") as f:
        options = json.load(f)["options"]
    length = options.get("sequence_length")
    return {"vocabulary": options["vocabulary"],
            "sequence_length": int(length) if length else None}


def _fill_blanks(run, spec, name):
    import keras

    from kzoo.models.precision import float32_copy

    model = float32_copy(keras.saving.load_model(
        _saved_model_file(run, name), compile=False))
    return {"model": model}


def _tower(run, spec, name):
    """The run's backbone as saved (float32), no normalisation."""
    import keras

    from kzoo.models.precision import float32_copy

    return {"model": float32_copy(keras.saving.load_model(
        os.path.join(run, "backbone.keras"), compile=False))}


def _classifier(run, spec, name):
    """SupCon's classifier (`Run.save_keras` as `NAME_classifier`)."""
    import keras

    from kzoo.models.precision import float32_copy

    model = float32_copy(keras.saving.load_model(
        _saved_model_file(run, f"{name}_classifier"), compile=False))
    model.trainable = False
    return {"model": model}


BUILDERS = {"image_embedding": _image_embedding, "detection": _detection,
            "tower": _tower, "classifier": _classifier,
            "landmarks": _landmarks, "dual": _dual,
            "fill_blanks": _fill_blanks}


def build(name, run, out_root=None, wall_time=None, commit=None,
          data_dir=None, notes=None):
    """Builds preset `name` from run directory `run`; returns its card.

    Args:
        name: a key of `SPECS`.
        run: the recipe's output directory.
        out_root: where preset directories go. Defaults to `None`
            (`kzoo.presets.ROOT`, the package data).
        wall_time: the run's wall time in seconds (all its processes, when
            it was resumed); `None` takes metrics.json's.
        commit: the kzoo commit that trained it. Defaults to `None` (the
            run's `commit.txt` if present, else unknown).
        data_dir: datasets root for the re-measure. Defaults to `None`.
        notes: free text for the card (e.g. a missed target's reason).
    """
    from kzoo import presets
    from kzoo.presets import measure as measure_lib

    if name not in SPECS:
        raise presets.PresetError(f"no spec for preset {name!r}; known: "
                                  f"{sorted(SPECS)}")
    spec = SPECS[name]
    args = _read_json(run, "args.json")
    metrics = _read_json(run, "metrics.json")
    parts = BUILDERS[spec["build"]](run, spec, name)
    out_root = out_root or presets.ROOT
    directory = os.path.join(out_root, name)
    tmp = directory + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    models, files = {}, {}
    for part, model in parts.items():
        file_name = "model.keras" if part == "model" else f"{part}.keras"
        model.save(os.path.join(tmp, file_name))
        models[part] = {"file": file_name}
    for file_name in sorted(os.listdir(tmp)):
        file_path = os.path.join(tmp, file_name)
        files[file_name] = {"bytes": os.path.getsize(file_path),
                            "sha256": presets.sha256(file_path)}

    table = []
    for key, what, base_key, base_what in spec["metrics"]:
        if key in metrics:
            table.append({"metric": key, "what": what,
                          "value": metrics[key],
                          "baseline": metrics.get(base_key),
                          "baseline_is": base_what})
    head = next(r for r in table if r["metric"] == spec["headline"])
    headline = {**head, "gain": (head["value"] - head["baseline"]
                                 if head["baseline"] is not None else None),
                "higher_is_better": not spec.get("lower_is_better", False)}
    target = spec.get("target")
    if target:
        value = (headline["gain"] if target["metric"].endswith("_gain")
                 else headline["value"])
        target = {**target, "measured": value,
                  "met": (value >= target["at_least"]
                          if "at_least" in target
                          else value <= target["at_most"])}
    if commit is None and os.path.isfile(os.path.join(run, "commit.txt")):
        commit = open(os.path.join(run, "commit.txt")).read().strip()
    times_file = os.path.join(run, "wall_times.json")
    processes = (json.load(open(times_file)) if os.path.isfile(times_file)
                 else None)
    if wall_time is None and processes:
        wall_time = round(sum(t["seconds"] for t in processes), 1)
    tokenizer = None
    if spec.get("tokenizer_part"):
        tokenizer = _tokenizer_of(run, name, spec["tokenizer_part"])
        if tokenizer["sequence_length"] is None:
            part = spec["tokenizer_part"]
            model = parts[part]
            tokenizer["sequence_length"] = int(model.inputs[0].shape[1])
    card = {
        "format": presets.FORMAT,
        "name": name,
        "task": spec["task"],
        "summary": spec["summary"],
        "recipe": spec["recipe"],
        "command": _command(args["command"]),
        "metrics_note": "values as the recipe measured them at the end of "
                        "training (at its --mixed-precision); the headline "
                        "value is re-measured from the shipped float32 file",
        "seed": args["args"].get("seed"),
        "precision": args["args"].get("mixed_precision", "float32"),
        "budget": {k: args["args"].get(k) for k in
                   ("epochs", "batch_size", "limit", "learning_rate")
                   if k in args["args"]},
        "train_examples": metrics.get("train_images"),
        "wall_time_seconds": wall_time or metrics.get("wall_time_seconds"),
        **({"processes": processes} if processes else {}),
        "fit_seconds": metrics.get("fit_seconds"),
        "images_per_second": metrics.get("images_per_second"),
        "cpu": cpu_description(),
        "machine": args.get("machine"),
        "versions": {k: args.get(k) for k in ("tensorflow", "keras",
                                               "python", "backend")},
        "kzoo_commit": commit,
        "trained": ((processes or [{}])[0].get("started")
                    or args.get("started")),
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "inputs": spec["inputs"],
        "outputs": spec["outputs"],
        "data": spec["data"],
        **({"class_names": spec["class_names"]} if "class_names" in spec
           else {}),
        "metrics": table,
        "headline": headline,
        "target": target,
        "curve": {"per_epoch": metrics.get("history"),
                  "history_csv": _history(run)},
        "models": models,
        **({"default_part": spec["default_part"]}
           if "default_part" in spec else {}),
        **({"tokenizer": tokenizer} if tokenizer else {}),
        **({"verification": {
            "distance": "l2",
            "threshold": metrics["verification_threshold"],
            "chosen_on": "validation pairs (20% of each training class)"}}
           if spec["task"] == "pair_verification" else {}),
        **({"audio": {**spec["audio"], "num_samples": int(
            parts["audio"].inputs[0].shape[1])}} if "audio" in spec else {}),
        "files": files,
        "notes": notes,
    }
    remeasure = dict(spec["remeasure"])
    card["remeasure"] = remeasure
    if os.path.exists(directory):
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    # Measured from the saved file, loaded as users load it.
    import keras

    loaded = {part: keras.saving.load_model(
        os.path.join(directory, spec_["file"]), compile=False,
        safe_mode=True) for part, spec_ in models.items()}
    from kzoo.presets.measure import MULTI_PART

    model = (loaded if remeasure["protocol"]["kind"] in MULTI_PART
             else loaded[remeasure["protocol"].get("part", "model")])
    for subset in ("full", "ci"):
        remeasure[subset] = measure_lib.measure(
            name, subset, data_dir=data_dir, model=model, card=card)
    # The headline is the shipped file's own figure (float32); the recipe's
    # (computed at the training precision) stays beside it.
    metric = remeasure["metric"]
    headline["run_value"] = headline["value"]
    headline["value"] = remeasure["full"][metric]
    if headline["baseline"] is not None:
        headline["gain"] = headline["value"] - headline["baseline"]
    if target:
        value = (headline["gain"] if target["metric"].endswith("_gain")
                 else headline["value"])
        target["measured"] = value
        target["met"] = (value >= target["at_least"] if "at_least" in target
                         else value <= target["at_most"])
    _write(directory, card)
    return card


def _write(directory, card):
    path = os.path.join(directory, "card.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    os.replace(path + ".tmp", path)


# Paths whose changes do not change what a training run computes: the
# presets' own files and cards, the command line, tests, docs, benchmarks.
_NOT_TRAINING = ("kzoo/presets/", "kzoo/cli.py", "kzoo/search.py",
                 "tests/", "benchmarks/", "docs/", "README.md",
                 "saved_models/", ".ci/")


def training_code_changes(root, before):
    """Files under `kzoo/` or `recipes/` (outside `_NOT_TRAINING`) that
    differ between commit `before` (its `+uncommitted` mark dropped) and
    this checkout's working tree; `["<unknown>"]` when git cannot tell.

    A run interrupted at one commit may resume at another only when this
    is empty: the resumed epochs then run the same code."""
    base = before.split("+")[0]
    try:
        out = subprocess.run(["git", "-C", root, "diff", "--name-only",
                              base, "--", "kzoo", "recipes"],
                             capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return ["<unknown>"]
    return [f for f in out if not f.startswith(_NOT_TRAINING)]


def git_commit(root):
    """HEAD of the checkout at `root`, with `+uncommitted` when tracked
    files differ from it (`None` outside a git checkout)."""
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain",
             "--untracked-files=no"], capture_output=True, text=True,
            check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+uncommitted" if dirty else "")
