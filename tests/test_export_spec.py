"""Export specs: models built under JAX where `import tensorflow` fails,
saved by `kzoo.runs.Run.export_model` as `.keras` + `NAME.export.json`,
then exported under TensorFlow by `python -m kzoo.export spec`.

For every kind that is not a plain embedding (audio and text embeddings,
fill the blanks, detection, landmarks) the test checks that

- the JAX process imported no TensorFlow and wrote the spec the writer
  needs (kind, options, the `.keras` file beside it);
- the `.keras` file reloaded under TensorFlow computes what the model
  computed under JAX (same inputs, 1e-4);
- the SavedModel exported from the spec serves exactly what the same
  writer, called directly on the reloaded model with the same options,
  serves: the spec replays the export, nothing is lost or defaulted.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, subprocess_env
from tests.test_backends import BLOCK_TENSORFLOW

pytestmark = pytest.mark.tf_backend

# kzoo.data.char_vocabulary's layout: the blank "_" first; id = index + 2
# (0: padding, 1: unknown).
VOCAB = ["_", " ", "a", "b", "c", "d", "e", "o"]

BUILD_UNDER_JAX = """
    import json, sys, types
    import keras, numpy as np
    import kzoo
    from kzoo import layers, models, runs

    out, vocab = sys.argv[1], json.loads(sys.argv[2])
    keras.utils.set_random_seed(0)
    args = types.SimpleNamespace(output_dir=out, export_dir="unused",
                                 model_name="unused", seed=0, backend=None)
    run = runs.Run(args, runs.SingleDeviceStrategy())
    metrics, raw = {}, {}
    rng = np.random.default_rng(0)

    audio = models.audio_encoder(800, num_mel_bins=16, widths=(4, 8), seed=0)
    run.export_model("audio_embedding", audio, metrics, "audio",
                     num_samples=800)
    raw["audio"] = rng.normal(size=(3, 800)).astype("float32")

    text = models.char_transformer(len(vocab) + 2, 12, dim=8, depth=1, heads=2,
                                   mlp_dim=8, pooled=True)
    run.export_model("text_embedding", text, metrics, "text",
                     vocabulary=vocab, sequence_length=12)
    raw["text"] = rng.integers(3, len(vocab) + 2, (3, 12)).astype("int32")

    mlm = models.masked_language_model(
        models.char_transformer(len(vocab) + 2, 12, dim=8, depth=1,
                                heads=2, mlp_dim=8), len(vocab) + 2)
    run.export_model("fill_blanks", mlm, metrics, "fill",
                     vocabulary=vocab, sequence_length=12, max_extra=1)
    raw["fill"] = raw["text"].copy()
    raw["fill"][:, [2, 5, 6]] = 2  # blanks

    detector = models.YOLODetector(
        models.tiny_darknet(input_shape=(64, 64, 3), width=4,
                            output_stride=32), num_classes=2, num_boxes=2,
        score_threshold=0.0, max_detections=5)
    run.export_model("detection", detector.inference_model(), metrics,
                     "detection", image_size=64, class_names=["x", "y"])
    raw["detection"] = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=4)(inputs)
    x = layers.LandmarkHead(3, method="regression")(x)
    landmarks = keras.Model(inputs, x)
    run.export_model("landmarks", landmarks, metrics, "landmarks",
                     image_size=32)
    raw["landmarks"] = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")

    models_by_name = {"audio": audio, "text": text, "fill": mlm,
                      "detection": detector.inference_model(),
                      "landmarks": landmarks}
    for name, x in raw.items():
        np.save(f"{out}/{name}_in.npy", x)
        y = models_by_name[name].predict(x, verbose=0)
        y = y if isinstance(y, dict) else {"out": y}
        np.savez(f"{out}/{name}_out.npz",
                 **{k: keras.ops.convert_to_numpy(v) for k, v in y.items()})
    print(json.dumps([keras.backend.backend(), "tensorflow" in sys.modules,
                      metrics]))
"""

KINDS = {"audio": "audio_embedding", "text": "text_embedding",
         "fill": "fill_blanks", "detection": "detection",
         "landmarks": "landmarks"}


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    pytest.importorskip("jax")
    out = tmp_path_factory.mktemp("jax_run")
    proc = subprocess.run(
        [sys.executable, "-c",
         BLOCK_TENSORFLOW + textwrap.dedent(BUILD_UNDER_JAX), str(out),
         json.dumps(VOCAB)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
        env=subprocess_env(KERAS_BACKEND="jax"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    backend, tf_loaded, metrics = json.loads(proc.stdout.splitlines()[-1])
    assert backend == "jax" and not tf_loaded
    return out, metrics, proc.stdout


def _serving_inputs(name, x, vocab):
    """The signature's inputs for the raw model inputs `x`."""
    import tensorflow as tf

    if name == "audio":
        return {"waveforms": tf.constant(x)}
    if name in ("text", "fill"):
        texts = ["".join(vocab[i - 2] for i in row) for row in x]
        return {"texts": tf.constant(texts)}
    return {"images": tf.constant(np.clip(x, 0, 255).astype("uint8"))}


def test_jax_run_writes_a_spec_for_each_kind(jax_run):
    out, metrics, stdout = jax_run
    assert sorted(metrics["keras_models"]) == sorted(KINDS)
    for name, kind in KINDS.items():
        spec_file = out / f"{name}.export.json"
        spec = json.loads(spec_file.read_text())
        assert spec["kind"] == kind and spec["model"] == f"{name}.keras"
        assert spec["model_name"] == name and spec["export_dir"] == "unused"
        assert metrics["keras_models"][name] == str(out / f"{name}.keras")
        command = ("KERAS_BACKEND=tensorflow python -m kzoo.export spec "
                   f"{spec_file}")
        assert metrics["export_commands"][name] == command
        assert command in stdout
    assert json.loads((out / "fill.export.json").read_text())["options"] == {
        "vocabulary": VOCAB, "sequence_length": 12, "max_extra": 1}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_spec_export_under_tensorflow_replays_the_writer(name, jax_run,
                                                         tmp_path):
    import keras
    import tensorflow as tf

    from kzoo import _export_spec, export

    if keras.backend.backend() != "tensorflow":
        pytest.skip("exports need the TensorFlow backend")
    out, _, _ = jax_run
    model = keras.models.load_model(out / f"{name}.keras", compile=False)
    x = np.load(out / f"{name}_in.npy")
    expected = dict(np.load(out / f"{name}_out.npz"))
    got = model.predict(x, verbose=0)
    got = got if isinstance(got, dict) else {"out": got}
    for key, value in expected.items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got[key]),
                                   value, atol=1e-4, err_msg=key)

    spec_dir = export.main(["spec", str(out / f"{name}.export.json"),
                            "--export-dir", str(tmp_path / "spec")])
    assert spec_dir == str(tmp_path / "spec" / name / "1")
    spec = _export_spec.read_spec(out / f"{name}.export.json")
    writer = getattr(export, _export_spec.KINDS[KINDS[name]])
    direct_dir = writer(model, export_dir=str(tmp_path / "direct"),
                        model_name=name, **spec["options"])
    inputs = _serving_inputs(name, x, VOCAB)
    served = {}
    for d in (spec_dir, direct_dir):
        signatures = tf.saved_model.load(d).signatures
        served[d] = {sig: {k: v.numpy() for k, v in
                           signatures[sig](**inputs).items()}
                     for sig in signatures
                     if signatures[sig].structured_input_signature[1]}
    assert served[spec_dir].keys() == served[direct_dir].keys()
    for sig, outputs in served[spec_dir].items():
        for key, value in outputs.items():
            reference = served[direct_dir][sig][key]
            if value.dtype.kind in "OSU":
                assert value.tolist() == reference.tolist(), (sig, key)
            else:
                np.testing.assert_array_equal(value, reference,
                                              err_msg=f"{sig}/{key}")


def test_spec_cli_refuses_bad_specs_clearly(tmp_path):
    bad = tmp_path / "bad.export.json"
    bad.write_text(json.dumps({"format": "something else"}))
    unknown = tmp_path / "unknown.export.json"
    unknown.write_text(json.dumps({"format": "kzoo.export_spec/1",
                                   "kind": "teleport", "model": "x.keras"}))
    missing_model = tmp_path / "m.export.json"
    missing_model.write_text(json.dumps({
        "format": "kzoo.export_spec/1", "kind": "landmarks",
        "model": "absent.keras", "model_name": "m", "export_dir": "d",
        "options": {}}))
    for path, message in [(tmp_path / "none.json", "no such file"),
                          (bad, "is not a kzoo export spec"),
                          (unknown, "Received: kind='teleport'"),
                          (missing_model, "the spec's model is missing")]:
        proc = subprocess.run(
            [sys.executable, "-m", "kzoo.export", "spec", str(path)],
            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
            env=subprocess_env(KERAS_BACKEND="tensorflow"))
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "saved_models")
