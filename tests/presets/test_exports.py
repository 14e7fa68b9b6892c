"""Every preset through each of its three exports (SavedModel, LiteRT,
ONNX), each run in its own runtime in a process that cannot import kzoo,
gives the Keras model's outputs within `kzoo.presets.export.TOLERANCE`;
one models.config lists every SavedModel."""

import os

import pytest

from kzoo import presets
from kzoo.presets import export as preset_export

pytestmark = pytest.mark.tf_backend
SHIPPED = presets.names()


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("exports"))


@pytest.mark.parametrize("name", SHIPPED)
def test_exports_match_keras_in_their_runtimes(name, out_dir):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ai_edge_litert")
    written = preset_export.export_preset(name, out_dir)
    parts = len(presets.card(name)["models"])
    assert len(written) == 3 * parts
    for key, info in written.items():
        assert os.path.exists(info["path"]), key
        # export_preset raises beyond the tolerance; the figure is there.
        assert info["max_abs_difference"] <= max(
            preset_export.TOLERANCE.values()), (key, info)


def test_one_models_config_serves_every_savedmodel(out_dir):
    if not SHIPPED:
        pytest.skip("no presets")
    found = sorted(os.listdir(os.path.join(out_dir, "savedmodel")))
    config = open(preset_export.write_models_config(out_dir)).read()
    for name in found:
        if name == "models.config":
            continue
        assert f'name: "{name}"' in config
        base = os.path.abspath(os.path.join(out_dir, "savedmodel", name))
        assert f'base_path: "{base}"' in config
