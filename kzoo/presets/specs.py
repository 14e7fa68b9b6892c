"""The specs of kzoo's presets: one entry per preset name in `SPECS`.

Each spec names the recipe and its training flags (`train_args`), how the
inference model is made from the run's `.keras` files (`build`), which of
the run's metrics go into the card beside which baseline, the headline and
target, the data and its licence, and the re-measure protocol
(`kzoo.presets.measure`). `kzoo.presets.build` reads them; a preset's name
is public API once shipped.
"""


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
# The two masked character models' build, inputs and outputs.
_MASKED_TEXT_IO = {
    "build": "fill_blanks",
    "tokenizer_part": "model",
    "inputs": "ids: int32 [N, 128] from kzoo.presets.tokenizer(name)"
              "(texts), `_` for each character to fill",
}
_MASKED_TEXT_OUTPUTS = ("logits float32 [N, 128, V] over the character ids; "
                        "kzoo.models.fill_blanks(model, text, tokenizer."
                        "vocabulary) writes the blanks most-confident first")
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
        # 24 epochs: ~4.5 min each here (the 2048-wide projector costs
        # about a minute more per epoch than SimSiam's), about 2 hours.
        "train_args": ["--epochs", "24", "--mixed-precision", "bfloat16",
                       "--knn-every", "6"]},
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
        "train_args": ["--epochs", "36", "--eval-every", "4",
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
        **_MASKED_TEXT_IO,
        "outputs": _MASKED_TEXT_OUTPUTS,
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
    "masked_text_chartransformer_fortunes_pt_docs": {
        "task": "fill_blanks",
        "recipe": "recipes/masked_text.py",
        "train_args": ["--dataset", "fortunes_br_and_pt_docs", "--epochs",
                       "12", "--mixed-precision", "bfloat16"],
        "summary": "character-level masked language model of Brazilian "
                   "Portuguese trained on fortunes-br and 3.6 MB of "
                   "technical prose (pt_docs): fills the blanks `_` of a "
                   "text; with a lexicon (`kzoo.models.fill_words`) the "
                   "blanks come back as real words",
        **_MASKED_TEXT_IO,
        "outputs": _MASKED_TEXT_OUTPUTS + ", kzoo.models.fill_words(..., "
                   "lexicon) whole words",
        "data": {"name": "fortunes-br (Debian package fortunes-br "
                         "20220821, 2,510 entries) and pt_docs (27,475 "
                         "paragraphs of Brazilian Portuguese technical "
                         "documentation from Debian packages)",
                 "licence": "GPL-2+ (fortunes-br); MPL-2.0 / GPL-2+ / GFDL "
                            "(pt_docs: ../shared/datasets/text/pt_docs/"
                            "COPYRIGHT)",
                 "split": "fortunes-br entries split 80/10/10 by a fixed "
                          "seed (0); pt_docs in its published split by "
                          "source document; the test entries are never "
                          "trained on; accuracy on one fixed masking of "
                          "them (seed 0)"},
        "metrics": [
            ("test_masked_accuracy", "masked-character accuracy, test "
             "entries of both corpora (15% of characters, half of the "
             "units whole words)",
             "test_bigram_accuracy", "character bigram guess (the best "
             "n-gram baseline)"),
            ("test_masked_accuracy", "masked-character accuracy, test "
             "entries", "random_init_test_masked_accuracy",
             "same model at random initialisation"),
        ],
        "headline": "test_masked_accuracy",
        "remeasure": {"protocol": {"kind": "masked_text",
                                   "dataset": "fortunes_br_and_pt_docs",
                                   "mask_rate": 0.15,
                                   "ci": {"limit": 2000}, "full": {}},
                      "metric": "test_masked_accuracy", "tolerance": 0.003,
                      "tolerance_why": "the full test split (about 9,000 "
                      "pieces) on the card; CI re-measures the first 2,000 "
                      "pieces (about 38,000 masked characters), whose "
                      "accuracy differs from the full split's by "
                      "sampling, so its tolerance is checked against the "
                      "card's CI figure"},
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
