"""Exports of the presets: SavedModel (TF Serving), LiteRT and ONNX, each
checked in its own runtime.

`export_preset(name, out_dir, formats)` writes, for each part of a preset
(`<name>` or `<name>_<part>` for the towers of a dual encoder):

- `savedmodel`: `OUT/savedmodel/<model>/1/`, TF Serving's layout, through
  `kzoo.export`'s writers: the `serving_default` signature takes what a
  client has (`uint8` images of any size for the detector and the landmark
  model, letterboxed in the graph; `uint8` images of the training size for
  the embedding models; raw waveforms of any length; UTF-8 strings for the
  text models) and returns final outputs (detections in the image's pixels
  after NMS, landmarks in its pixels, unit-norm embeddings, completed
  texts). `write_models_config(OUT)` lists every exported model in one
  `OUT/savedmodel/models.config` (absolute paths of this machine).
- `litert`: `OUT/litert/<model>.tflite`, Keras' `model.export(format=
  "litert")` of the preset's Keras model (its tensor inputs: float images
  at the training size, fixed-length waveforms, int32 ids).
- `onnx`: `OUT/onnx/<model>.onnx`, Keras' `model.export(format="onnx")`
  (tf2onnx), the same tensor inputs.

Beside each LiteRT / ONNX file, `<model>.json` says what the file takes and
returns (input names, shapes, dtypes, pixel range, the text vocabulary,
class names), since those formats carry no preprocessing.

With `verify=True` every file is run in its own runtime, in a separate
Python process that cannot import kzoo (TensorFlow alone for SavedModel,
`ai-edge-litert` for LiteRT, `onnxruntime` for ONNX), on fixed inputs, and
its outputs are compared with the Keras model's on the same inputs:
`TOLERANCE` (absolute; the embeddings are unit vectors, boxes and points
are in pixels) or the comparison raises. The largest difference found is
returned.
"""

import contextlib
import json
import os
import subprocess
import sys

import numpy as np

FORMATS = ("savedmodel", "litert", "onnx")
# Largest absolute difference accepted between a runtime and Keras, per
# output kind: unit-norm embeddings and probabilities; pixels (boxes,
# landmarks, of images up to a few hundred pixels); logits.
TOLERANCE = {"unit": 1e-4, "pixels": 1e-2, "logits": 1e-3}


def _parts(card):
    names = sorted(card["models"])
    if names == ["model"]:
        return [("model", card["name"])]
    return [(part, f"{card['name']}_{part}") for part in names]


def _reference_inputs(card, part, model, rng):
    """Fixed inputs at the model's own size: `(keras_inputs,
    savedmodel_inputs)`."""
    spec = model.inputs[0]
    shape = (3,) + tuple(spec.shape[1:])
    if "int" in str(spec.dtype):
        if "tokenizer" in card:
            from kzoo.presets._tokenizer import CharTokenizer

            tok = CharTokenizer(**card["tokenizer"])
            texts = (["O gato ___ no telhado", "Deixa o menino _____ bola",
                      "a_uma"] if card["task"] == "fill_blanks"
                     else ["gato", "casa", "aprender"])
            return tok(texts), np.array(texts, dtype=object)
        ids = rng.integers(3, 20, shape).astype(str(spec.dtype))
        return ids, ids
    if len(shape) == 4:
        pixels = rng.integers(0, 256, shape).astype(np.uint8)
        return pixels.astype(np.float32), pixels
    waves = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
    return waves, waves


def _keras_outputs(model, x):
    out = model.predict_on_batch(x)
    if isinstance(out, dict):
        return {k: np.asarray(v) for k, v in out.items()}
    return {"output": np.asarray(out)}


def _savedmodel(card, part, model, directory, model_name):
    from kzoo import export

    task = card["task"]
    size = (int(model.inputs[0].shape[1])
            if len(model.inputs[0].shape) == 4 else None)
    if task == "detection":
        return export.export_detection_model(
            model, directory, model_name, image_size=size,
            class_names=card["class_names"], write_config=False)
    if task == "landmarks":
        return export.export_landmark_model(model, directory, model_name,
                                            image_size=size,
                                            write_config=False)
    if task == "fill_blanks":
        return export.export_fill_blanks_model(
            model, card["tokenizer"]["vocabulary"],
            card["tokenizer"]["sequence_length"], directory, model_name,
            write_config=False)
    if part == "audio":
        return export.export_audio_embedding_model(
            model, directory, model_name,
            num_samples=int(model.inputs[0].shape[1]), normalize=True,
            write_config=False)
    if part == "text":
        return export.export_text_embedding_model(
            model, card["tokenizer"]["vocabulary"],
            card["tokenizer"]["sequence_length"], directory, model_name,
            write_config=False)
    if task == "image_classification":
        return export.export_embedding_model(
            model, directory, model_name,
            image_shape=tuple(model.inputs[0].shape[1:]), normalize=False,
            output_key="probabilities", write_config=False)
    return export.export_embedding_model(
        model, directory, model_name,
        image_shape=tuple(model.inputs[0].shape[1:]),
        normalize=task != "pair_verification", write_config=False)


def _sidecar(card, part, model, path, fmt):
    info = {"preset": card["name"], "part": part, "format": fmt,
            "inputs": [{"name": t.name, "shape": list(t.shape),
                        "dtype": str(t.dtype)} for t in model.inputs],
            "outputs": card["outputs"], "preprocessing": card["inputs"]}
    if "tokenizer" in card:
        info["tokenizer"] = card["tokenizer"]
    if "class_names" in card:
        info["class_names"] = card["class_names"]
    if "audio" in card:
        info["audio"] = card["audio"]
    with open(os.path.splitext(path)[0] + ".json", "w",
              encoding="utf-8") as f:
        json.dump(info, f, indent=2, ensure_ascii=False)


RUNNER = r'''
import json, sys
import numpy as np
sys.modules["kzoo"] = None  # the runtime alone: `import kzoo` fails here
fmt, path, inputs_file, out_file = sys.argv[1:5]
inputs = np.load(inputs_file, allow_pickle=True)["x"]
if fmt == "savedmodel":
    import tensorflow as tf
    fn = tf.saved_model.load(path).signatures["serving_default"]
    name = list(fn.structured_input_signature[1])[0]
    x = inputs
    if x.dtype == object:
        x = tf.constant([s.encode("utf-8") for s in x.tolist()])
    out = {k: v.numpy() for k, v in fn(**{name: tf.constant(x)}).items()}
elif fmt == "litert":
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=path)
    runner = interpreter.get_signature_runner()
    name = list(runner.get_input_details())[0]
    out = runner(**{name: inputs})
elif fmt == "onnx":
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    values = session.run(None, {name: inputs})
    out = {o.name: v for o, v in zip(session.get_outputs(), values)}
out = {k: (np.char.decode(v.astype("S"), "utf-8") if v.dtype == object
           else np.asarray(v)) for k, v in out.items()}
np.savez(out_file, **out)
print(json.dumps({"kzoo_imported": any(m.startswith("kzoo.")
                                       for m in sys.modules)}))
'''


def run_in_runtime(fmt, path, inputs, work_dir):
    """Runs an exported file on `inputs` in a process without kzoo;
    returns its outputs (dict of arrays)."""
    inputs_file = os.path.join(work_dir, "inputs.npz")
    out_file = os.path.join(work_dir, "outputs.npz")
    np.savez(inputs_file, x=inputs)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, fmt, path, inputs_file, out_file],
        capture_output=True, text=True, env=env, cwd=work_dir, timeout=900)
    if proc.returncode:
        raise RuntimeError(f"{fmt} runtime failed on {path}: "
                           f"{proc.stderr.strip().splitlines()[-3:]}")
    if json.loads(proc.stdout.strip().splitlines()[-1])["kzoo_imported"]:
        raise RuntimeError(f"the {fmt} check imported kzoo")
    with np.load(out_file, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _match(found, reference):
    """Pairs each reference output with the runtime's (by name, else by
    shape)."""
    pairs = {}
    for key, ref in reference.items():
        if key in found:
            pairs[key] = found[key]
            continue
        same = [k for k, v in found.items()
                if np.shape(v) == np.shape(ref) and k not in pairs.values()]
        if len(found) == 1:
            pairs[key] = next(iter(found.values()))
        elif len(same) == 1:
            pairs[key] = found[same[0]]
        else:
            raise RuntimeError(f"cannot tell which runtime output is "
                               f"{key!r}: {sorted(found)}")
    return pairs


def compare(card, part, fmt, found, reference):
    """Largest absolute difference between runtime and Keras outputs,
    checked against `TOLERANCE` (raises `AssertionError` beyond it)."""
    worst = 0.0
    for key, value in _match(found, reference).items():
        ref = reference[key]
        if ref.dtype.kind in "US":
            if not np.array_equal(value.astype(str), ref.astype(str)):
                raise AssertionError(f"{card['name']} {part} {fmt} {key}: "
                                     f"{value.tolist()} != {ref.tolist()}")
            continue
        value = np.asarray(value, np.float64).reshape(ref.shape)
        if card["task"] == "detection":
            valid = np.asarray(reference["classes"]) >= 0
            if key in ("boxes",):
                value, ref = value[valid], ref[valid]
            elif key in ("scores", "classes"):
                value, ref = value[valid], ref[valid]
        kind = ("pixels" if key in ("boxes", "landmarks") else
                "logits" if card["task"] == "fill_blanks" else "unit")
        diff = float(np.max(np.abs(value - np.asarray(ref, np.float64)))
                     ) if np.size(ref) else 0.0
        if diff > TOLERANCE[kind]:
            raise AssertionError(
                f"{card['name']} {part} {fmt} output {key!r}: max |diff| "
                f"{diff:.3g} > {TOLERANCE[kind]} ({kind})")
        worst = max(worst, diff)
    return worst


def _savedmodel_reference(card, part, model, x_keras, x_served):
    """What the SavedModel should return for `x_served` (the serving
    computation's pre/post-processing are identities at the model's own
    size, but for normalisation and pixel units)."""
    from kzoo import models

    out = _keras_outputs(model, x_keras)
    task = card["task"]
    if task == "fill_blanks":
        vocab = card["tokenizer"]["vocabulary"]
        return {"completions": np.array(
            [models.fill_blanks(model, t, vocab) for t in x_served])}
    if task == "landmarks":
        size = float(model.inputs[0].shape[1])
        return {"landmarks": out["landmarks"] * size,
                "presence": 1 / (1 + np.exp(-out["presence"].reshape(-1)))}
    if task == "detection":
        return {k: out[k] for k in ("boxes", "classes", "scores",
                                    "num_detections")}
    key = "probabilities" if task == "image_classification" else "embeddings"
    value = out["output"]
    if task not in ("pair_verification", "image_classification"):
        value = value / np.maximum(np.linalg.norm(value, axis=1,
                                                  keepdims=True), 1e-12)
    return {key: value}


def _gelu_erf(x):
    """Exact GELU written with `erf` (TensorFlow's own uses `erfc`, which
    ONNX lacks); equal up to float rounding."""
    import keras

    x = keras.ops.convert_to_tensor(x)
    return 0.5 * x * (1.0 + keras.ops.erf(x / np.sqrt(2.0).astype("float32")))


@contextlib.contextmanager
def _onnx_compatible(model):
    """While exporting to ONNX (tf2onnx), computes the two ops it cannot
    convert another way: exact GELU with `erf` instead of `erfc`, and the
    log-mel spectrogram's real FFT as matrix products (tf2onnx converts
    RFFT only when followed by ComplexAbs). The saved model is unchanged;
    the export's outputs are compared with Keras' like every other."""
    import keras

    from kzoo.layers import LogMelSpectrogram

    restore = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if getattr(layer, "activation", None) is keras.activations.gelu:
            restore.append((layer, "activation", layer.activation))
            layer.activation = _gelu_erf
        if isinstance(layer, LogMelSpectrogram):
            restore.append((layer, "_dft_as_matmul", False))
            layer._dft_as_matmul = True
    try:
        yield
    finally:
        for layer, attr, value in restore:
            setattr(layer, attr, value)


def export_preset(name, out_dir, formats=FORMATS, verify=True):
    """Exports preset `name` in `formats` under `out_dir`; with `verify`,
    runs each file in its own runtime against Keras.

    Returns:
        `{"<format>[/<part>]": {"path": ..., "max_abs_difference": ...}}`.
    """
    import tempfile

    from kzoo import presets

    card = presets.card(name)
    written = {}
    rng = np.random.default_rng(0)
    for part, model_name in _parts(card):
        model = presets.load(name, part=None if part == "model" else part)
        x_keras, x_served = _reference_inputs(card, part, model, rng)
        for fmt in formats:
            directory = os.path.join(out_dir, fmt)
            os.makedirs(directory, exist_ok=True)
            if fmt == "savedmodel":
                import shutil

                shutil.rmtree(os.path.join(directory, model_name),
                              ignore_errors=True)
                path = _savedmodel(card, part, model, directory, model_name)
                reference = _savedmodel_reference(card, part, model,
                                                  x_keras, x_served)
                served = x_served
            else:
                ext = ".tflite" if fmt == "litert" else ".onnx"
                path = os.path.join(directory, model_name + ext)
                # Called first: Keras' ONNX export needs a called model.
                reference = _keras_outputs(model, x_keras)
                with (_onnx_compatible(model) if fmt == "onnx"
                      else contextlib.nullcontext()):
                    model.export(path, format=fmt, verbose=False)
                _sidecar(card, part, model, path, fmt)
                served = x_keras
            key = fmt if part == "model" else f"{fmt}/{part}"
            written[key] = {"path": path}
            if verify:
                with tempfile.TemporaryDirectory() as work:
                    found = run_in_runtime(fmt, os.path.abspath(path),
                                           served, work)
                written[key]["max_abs_difference"] = compare(
                    card, part, fmt, found, reference)
    return written


def write_models_config(out_dir):
    """`OUT/savedmodel/models.config` listing every exported SavedModel."""
    from kzoo import export

    return export.write_models_config(os.path.join(out_dir, "savedmodel"))
