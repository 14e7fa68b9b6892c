"""The `kzoo` command line on real files from ../shared/datasets, and each
kind of bad input: exit code 2, one line naming the file, no traceback."""

import json
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from kzoo import presets
from tests.conftest import REPO_ROOT, datasets_root, subprocess_env

SIMCLR = "simclr_resnet20_cifar10"
YOLO = "yolo_tinydarknet_bccd"
LANDMARKS = "landmarks_smallcnn_faces68"
FILL = "masked_text_chartransformer_fortunes_pt"
AUDIO_TEXT = "audio_text_clip_spoken_words_pt"
AUDIO_IMAGE = "audio_image_clip_fsdd_digits"


def kzoo(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kzoo", *args],
                          capture_output=True, text=True, timeout=900,
                          cwd=cwd or REPO_ROOT, env=subprocess_env())


def need(name):
    if name not in presets.names():
        pytest.skip(f"preset {name} is not shipped yet")


def data(*parts):
    path = os.path.join(datasets_root(), *parts)
    if not os.path.exists(path):
        pytest.skip(f"{path} not found (KZOO_DATA_DIR)")
    return path


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def cifar_images(n=3, split="test"):
    root = data("cifar10", split)
    classes = sorted(os.listdir(root))
    files = []
    for c in classes[:n]:
        files.append(os.path.join(root, c, sorted(os.listdir(
            os.path.join(root, c)))[0]))
    return files


# -- presets and embed -----------------------------------------------------

def test_presets_lists_every_preset():
    proc = kzoo("presets")
    assert proc.returncode == 0, proc.stderr
    for name in presets.names():
        assert name in proc.stdout


def test_embed_images_npy_and_csv(tmp_path):
    need(SIMCLR)
    files = cifar_images(3)
    out = tmp_path / "e.npy"
    proc = kzoo("embed", SIMCLR, *files, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    emb = np.load(out)
    assert emb.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # Equal to the preset on the same pixels.
    from PIL import Image

    model = presets.load(SIMCLR)
    x = np.stack([np.asarray(Image.open(f).convert("RGB"), np.float32)
                  for f in files])
    np.testing.assert_allclose(emb, model.predict(x, verbose=0), atol=1e-5)
    csv_out = tmp_path / "e.csv"
    proc = kzoo("embed", SIMCLR, os.path.dirname(files[0]), "--out",
                str(csv_out))
    assert proc.returncode == 0, proc.stderr
    rows = csv_out.read_text().splitlines()
    assert rows[0].startswith("input,e0,e1") and len(rows) > 2


def test_embed_wav_with_the_audio_image_preset(tmp_path):
    need(AUDIO_IMAGE)
    root = data("fsdd", "recordings")
    wavs = [os.path.join(root, f) for f in sorted(os.listdir(root))[:3]]
    proc = kzoo("embed", AUDIO_IMAGE, *wavs, "--out", str(tmp_path / "a.npy"))
    assert proc.returncode == 0, proc.stderr
    audio = np.load(tmp_path / "a.npy")
    assert audio.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(audio, axis=1), 1.0, atol=1e-4)


def test_embed_wav_and_text(tmp_path):
    need(AUDIO_TEXT)
    root = data("spoken_words_pt", "audio")
    wav = os.path.join(root, sorted(os.listdir(root))[0])
    proc = kzoo("embed", AUDIO_TEXT, wav, "--out", str(tmp_path / "a.npy"))
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "a.npy").shape[0] == 1
    proc = kzoo("embed", AUDIO_TEXT, "--text", "gato", "--text", "casa",
                "--out", str(tmp_path / "t.npy"))
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "t.npy").shape[0] == 2


# -- detect, landmarks, fill, search --------------------------------------

def test_detect_draws_blood_cells(tmp_path):
    need(YOLO)
    bccd = data("bccd")
    test_ids = open(os.path.join(bccd, "ImageSets", "Main",
                                 "test.txt")).read().split()
    image = os.path.join(bccd, "JPEGImages", test_ids[0] + ".jpg")
    out = tmp_path / "det"
    proc = kzoo("detect", YOLO, image, "--out", str(out),
                "--score-threshold", "0.3")
    assert proc.returncode == 0, proc.stderr
    record = json.load(open(out / (test_ids[0] + ".json")))
    assert record["image"] == os.path.abspath(image)
    assert (record["width"], record["height"]) == (640, 480)
    assert record["detections"], "no cell found"
    for d in record["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 640 + 1 and 0 <= y1 < y2 <= 480 + 1
        assert d["class"] in ("Platelets", "RBC", "WBC")
        assert d["score"] >= 0.3
    assert "RBC" in {d["class"] for d in record["detections"]}
    from PIL import Image

    with Image.open(out / (test_ids[0] + ".png")) as png:
        assert png.size == (640, 480)


def test_landmarks_on_a_face(tmp_path):
    need(LANDMARKS)
    faces = data("facial_keypoints", "test")
    image = os.path.join(faces, sorted(os.listdir(faces))[0])
    out = tmp_path / "lm"
    proc = kzoo("landmarks", LANDMARKS, image, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    stem = os.path.splitext(os.path.basename(image))[0]
    record = json.load(open(out / f"{stem}.json"))
    points = np.array(record["landmarks"])
    assert points.shape == (68, 2)
    assert np.all(points[:, 0] > -5) and np.all(points[:, 0] < record[
        "width"] + 5) and np.all(points[:, 1] < record["height"] + 5)
    assert (out / f"{stem}.png").is_file()


def test_fill_the_course_sentence():
    need(FILL)
    proc = kzoo("fill", FILL, "Deixa o menino _____ bola e __pren_____")
    assert proc.returncode == 0, proc.stderr
    filled = proc.stdout.strip()
    assert "_" not in filled and filled.startswith("Deixa o menino ")
    assert len(filled) == len("Deixa o menino _____ bola e __pren_____")


def test_fill_with_a_lexicon_writes_real_words(tmp_path):
    need(FILL)
    words = tmp_path / "words.txt"
    words.write_text("pegar\nchutar\naprender\ncomprender\n")
    proc = kzoo("fill", FILL, "Deixa o menino _____ bola e __pren_____",
                "--lexicon", str(words), "--free-length")
    assert proc.returncode == 0, proc.stderr
    filled = proc.stdout.strip().split()
    # every filled word is one of the list; the second must hold "pren"
    assert filled[3] in ("pegar", "chutar", "aprender", "comprender")
    assert filled[-1] in ("aprender", "comprender")
    proc = kzoo("fill", FILL, "a ca_a", "--lexicon", str(tmp_path / "no"))
    assert proc.returncode != 0 and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_fill_prior_weights_are_the_benchmarks_choices():
    """`kzoo fill`'s default weights are those the cloze benchmark chose
    on validation paragraphs (its committed results file)."""
    from kzoo.cli import PRIOR_WEIGHTS

    with open(os.path.join(REPO_ROOT, "benchmarks", "results",
                           "cloze_benchmark.json"), encoding="utf-8") as f:
        chosen = {method: p["chosen"]
                  for method, p in json.load(f)["prior_weights"].items()}
    assert PRIOR_WEIGHTS[1, False] == chosen["model_lexicon_prior"]
    assert PRIOR_WEIGHTS[2, False] == chosen["model_lexicon_bigram_prior"]
    assert PRIOR_WEIGHTS[2, True] == chosen[
        "model_lexicon_bigram_prior_lexicon_only"]


def test_fill_with_a_word_prior_from_a_corpus(tmp_path):
    """--corpus: its words join the lexicon with their counts; a heavy
    prior picks the corpus' most frequent fitting word (--prior-order 1)
    or the one seen after the previous word (the default, order 2)."""
    need(FILL)
    words = tmp_path / "words.txt"
    words.write_text("casa\ncama\ncala\ncaca\n")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a cava " * 50 + "a casa\n" + "numa cama " * 3)
    common = ("fill", FILL, "Ele mora numa ca_a", "--lexicon", str(words),
              "--corpus", str(corpus), "--prior-weight", "100")
    proc = kzoo(*common, "--prior-order", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Ele mora numa cava"  # a corpus word
    # --lexicon-only: "cava" still counts but is never written; the most
    # frequent lexicon word that fits is "cama" (3 against casa's 1)
    proc = kzoo(*common, "--prior-order", "1", "--lexicon-only")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Ele mora numa cama"
    proc = kzoo(*common)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Ele mora numa cama"  # after "numa"
    for args, message in (
            (["--corpus", str(corpus)], "give --lexicon"),
            (["--lexicon", str(words), "--corpus", str(tmp_path / "no")],
             "no such file"),
            (["--lexicon", str(words), "--prior-weight", "1"],
             "needs --corpus"),
            (["--lexicon", str(words), "--lexicon-only"],
             "give --lexicon and --corpus")):
        proc = kzoo("fill", FILL, "a ca_a", *args)
        assert proc.returncode != 0 and message in proc.stderr, args
        assert "Traceback" not in proc.stderr


def test_search_finds_the_query_in_the_gallery(tmp_path):
    need(SIMCLR)
    import shutil

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    files = cifar_images(10) + cifar_images(10, "train")
    for i, f in enumerate(files):
        shutil.copy(f, gallery / f"{i:02d}.jpg")
    out = tmp_path / "r.json"
    proc = kzoo("search", SIMCLR, str(gallery / "03.jpg"), "--gallery",
                str(gallery), "--k", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.load(open(out))["results"][0]
    assert result["neighbours"][0]["image"].endswith("03.jpg")
    assert result["neighbours"][0]["cosine"] == pytest.approx(1, abs=1e-4)
    assert len(result["neighbours"]) == 3


# -- bad input: exit 2, one line, no traceback -----------------------------

def test_unknown_preset():
    assert_one_line_error(kzoo("embed", "no_such_preset", "x.jpg"),
                          "unknown preset 'no_such_preset'")


def test_corrupt_image(tmp_path):
    need(SIMCLR)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert_one_line_error(kzoo("embed", SIMCLR, str(bad)), str(bad),
                          "not a readable image")


def test_directory_without_images(tmp_path):
    need(SIMCLR)
    (tmp_path / "notes.txt").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(kzoo("embed", SIMCLR, str(empty)), str(empty),
                          "a directory without")


def test_missing_file(tmp_path):
    need(SIMCLR)
    assert_one_line_error(kzoo("embed", SIMCLR, str(tmp_path / "no.jpg")),
                          "no such file")


def _wav(path, rate, width):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(b"\x80" * (width * rate // 4))


@pytest.mark.parametrize("rate, width, reason", [
    (16000, 2, "sampled at 16000 Hz"), (8000, 1, "8-bit samples")])
def test_wav_at_another_rate_or_width(tmp_path, rate, width, reason):
    need(AUDIO_IMAGE)
    path = tmp_path / "clip.wav"
    _wav(path, rate, width)
    assert_one_line_error(kzoo("embed", AUDIO_IMAGE, str(path)), str(path),
                          reason)


def test_empty_text_to_embed():
    need(AUDIO_TEXT)
    assert_one_line_error(kzoo("embed", AUDIO_TEXT, "--text", "  "),
                          "empty text")


def test_empty_text_or_no_blank_to_fill():
    need(FILL)
    assert_one_line_error(kzoo("fill", FILL, ""), "empty text")
    assert_one_line_error(kzoo("fill", FILL, "no blanks here"), "no blank")


def test_wrong_kind_of_preset(tmp_path):
    need(SIMCLR)
    assert_one_line_error(kzoo("detect", SIMCLR, "x.jpg", "--out",
                               str(tmp_path)), "image_embedding preset",
                          "detect")


def test_export_one_format(tmp_path):
    need(SIMCLR)
    pytest.importorskip("onnxruntime")
    proc = kzoo("export", SIMCLR, "--format", "onnx", "--out",
                str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "onnx" / f"{SIMCLR}.onnx").is_file()
    info = json.load(open(tmp_path / "onnx" / f"{SIMCLR}.json"))
    assert info["inputs"][0]["shape"] == [None, 32, 32, 3]
    assert "its runtime matches Keras" in proc.stdout


def test_export_unknown_format(tmp_path):
    need(SIMCLR)
    assert_one_line_error(kzoo("export", SIMCLR, "--format", "coreml",
                               "--out", str(tmp_path)), "--format coreml")
