import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def pytest_configure(config):
    """PyTorch's CPU thread pool oversubscribes small machines (a YOLO fit
    took 142 s with 2 threads on 2 busy cores, 2.6 s with 1): one thread
    for the test run, as TensorFlow and XLA manage their own pools."""
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Slow tests run with KZOO_SLOW=1 or when selected with `-m slow`;
    `tf_backend` tests run only under Keras' TensorFlow backend."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        skip_tf = pytest.mark.skip(
            reason=f"needs the TensorFlow backend (this run: {backend})")
        for item in items:
            if "tf_backend" in item.keywords:
                item.add_marker(skip_tf)
    if os.environ.get("KZOO_SLOW") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: set KZOO_SLOW=1 or use -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def datasets_root():
    root = os.environ.get("KZOO_DATA_DIR") or os.path.join(
        REPO_ROOT, "..", "shared", "datasets"
    )
    return os.path.abspath(root)


@pytest.fixture
def cifar_dir():
    path = os.path.join(datasets_root(), "cifar10")
    if not os.path.isdir(os.path.join(path, "train")):
        pytest.skip(f"real CIFAR-10 image folder not found at {path} "
                    "(set KZOO_DATA_DIR)")
    return path


def subprocess_env(**extra):
    """Environment for child Python processes: repo importable, quiet TF."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def patch_grid(mask, p):
    """`[B, H, W]` pixel mask -> `[B, H/p, W/p]` per patch, asserting that
    whole `p x p` patches are masked (the pretext tests of kzoo.data and
    kzoo.layers)."""
    import numpy as np

    b, h, w = mask.shape
    blocks = mask.reshape(b, h // p, p, w // p, p)
    assert np.all(blocks.min((2, 4)) == blocks.max((2, 4)))
    return blocks[:, :, 0, :, 0]


def reload_two_view_model(model, path, images):
    """Saves a two-view model (`kzoo.models.SimCLR`, `BarlowTwins`, ...) to
    `path`, loads it back and asserts the same backbone features and view-1
    projections on `images`; returns the loaded model."""
    import keras
    import numpy as np

    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(images, verbose=0),
                               loaded.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-6)
    views = {"view_1": images, "view_2": images}
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(views)["z1"]),
        keras.ops.convert_to_numpy(loaded(views)["z1"]), rtol=1e-5,
        atol=1e-6)
    return loaded
