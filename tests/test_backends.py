"""`import kzoo` on every backend: what it registers, what it imports.

Each check runs in a fresh interpreter (the state `import kzoo` leaves is
the point), under the backend of this test run (`KERAS_BACKEND`; CI runs
this file under TensorFlow and JAX)."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from tests.conftest import subprocess_env

BACKEND = keras.backend.backend()

# Finder that makes `import tensorflow` fail, as on a machine without it.
BLOCK_TENSORFLOW = textwrap.dedent("""
    import sys

    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(
                    "No module named 'tensorflow'", name="tensorflow")
            return None

    sys.meta_path.insert(0, _NoTensorFlow())
    import importlib.util
    _find_spec = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a, **k: (
        None if name == "tensorflow" else _find_spec(name, *a, **k))
""")


def run_python(code, backend=BACKEND, **env):
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=subprocess_env(KERAS_BACKEND=backend, **env), capture_output=True,
        text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


ALL_MODULES = """
    import importlib, pkgutil, kzoo
    tf_only = ("kzoo.data", "kzoo.export", "kzoo.distribute", "kzoo._nms_tf")
    for info in pkgutil.walk_packages(kzoo.__path__, "kzoo."):
        if keras.backend.backend() != "tensorflow" and info.name.startswith(
                tf_only):
            continue
        importlib.import_module(info.name)
"""


def test_import_kzoo_registers_every_serializable_class():
    got = run_python(f"""
        import json, keras, kzoo
        after_import = sorted(k for k in keras.saving.get_custom_objects()
                              if k.startswith("kzoo"))
        {textwrap.indent(textwrap.dedent(ALL_MODULES), " " * 8).strip()}
        everything = sorted(k for k in keras.saving.get_custom_objects()
                            if k.startswith("kzoo"))
        print(json.dumps([after_import, everything]))
    """)
    after_import, everything = got
    assert len(everything) > 45  # losses, layers, models, metrics, addons
    assert after_import == everything
    for name in ("kzoo>ContrastiveLoss", "kzoo.addons>ContrastiveLoss",
                 "kzoo>SimSiam", "kzoo>YOLOHead"):
        assert name in after_import
    if BACKEND == "tensorflow":
        assert "kzoo>SimSiamAugmentation" in after_import


def test_load_model_in_a_fresh_process_after_import_kzoo(tmp_path):
    path = str(tmp_path / "model.keras")
    addons_path = str(tmp_path / "addons.keras")
    run_python(f"""
        import json, keras, numpy as np, kzoo
        from kzoo.addons import losses as tfa_losses
        inputs = keras.Input((4,))
        x = kzoo.layers.L2Normalize()(keras.layers.Dense(3)(inputs))
        model = keras.Model(inputs, kzoo.layers.Distance()([x, x]))
        model.compile("sgd", loss=kzoo.losses.ContrastiveLoss(margin=0.7),
                      metrics=[])
        model.save({path!r})
        siamese = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        siamese.compile("sgd", loss=tfa_losses.ContrastiveLoss(margin=2.0))
        siamese.save({addons_path!r})
        print(json.dumps(0))
    """)
    got = run_python(f"""
        import json
        import kzoo
        import keras
        model = keras.models.load_model({path!r})
        addons = keras.models.load_model({addons_path!r})
        print(json.dumps([type(model.loss).__module__, model.loss.margin,
                          type(addons.loss).__module__, addons.loss.margin,
                          [type(l).__name__ for l in model.layers]]))
    """)
    assert got[:4] == ["kzoo.losses.contrastive_loss", 0.7,
                       "kzoo.addons.losses.contrastive", 2.0]
    assert "L2Normalize" in got[4] and "Distance" in got[4]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_core_imports_and_runs_without_tensorflow(backend):
    """On JAX and PyTorch, `import kzoo` and every backend-agnostic module
    work where TensorFlow cannot be imported; the TensorFlow-only parts
    say clearly what they need."""
    pytest.importorskip(backend)
    got = run_python(BLOCK_TENSORFLOW + textwrap.dedent(f"""
        import json, keras, numpy as np, kzoo
        {textwrap.indent(textwrap.dedent(ALL_MODULES), " " * 8).strip()}
        x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
        y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
        loss = float(kzoo.losses.TripletLoss(mining="semi-hard")(y, x))
        nms = kzoo.boxes.non_max_suppression(
            np.array([[0, 0, 2, 2], [0, 0, 2, 1.9]], "float32"),
            np.array([0.9, 0.8], "float32"))
        errors = []
        for use in (lambda: kzoo.data.two_view_dataset,
                    lambda: __import__("kzoo.export"),
                    lambda: __import__("kzoo.distribute")):
            try:
                use()
                errors.append(None)
            except ImportError as e:
                errors.append(str(e))
        print(json.dumps([keras.backend.backend(), loss,
                          np.asarray(nms).tolist(), errors,
                          "tensorflow" in sys.modules]))
    """), backend=backend)
    used, loss, nms, errors, tf_loaded = got
    assert used == backend and not tf_loaded
    assert loss > 0 and nms == [0]
    for what, message in zip(("kzoo.data", "kzoo.export", "kzoo.distribute"),
                             errors):
        assert message is not None and what in message
        assert "needs TensorFlow" in message and "pip install" in message
