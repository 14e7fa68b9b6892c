"""kzoo's public names come from `kzoo_export` declarations (`kzoo._api`):
the packages' generated blocks are up to date, every declared name resolves
to the declared object, and registration with Keras goes through the
decorator only."""

import importlib
import os

import keras
import pytest

import kzoo
from kzoo import _api

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ON_TF = keras.backend.backend() == "tensorflow"


def test_generated_blocks_are_up_to_date():
    # After adding, renaming or moving a public name: python kzoo/_api.py
    assert _api.stale() == []


def test_every_declared_name_resolves_to_its_object():
    declared = _api.declarations()
    assert len(declared) > 150
    for path, module, name, _ in declared:
        package, _, public = path.rpartition(".")
        if package == "kzoo.data" and not ON_TF:
            continue  # kzoo.data loads with TensorFlow (checked on its pass)
        obj = getattr(importlib.import_module(module), name)
        assert getattr(importlib.import_module(package), public) is obj, path
        assert _api.exported()[path] is obj, path


def test_packages_export_exactly_their_declarations():
    declared = {}
    for path, *_ in _api.declarations():
        package, _, public = path.rpartition(".")
        declared.setdefault(package, set()).add(public)
    extras = {"kzoo.losses": {"mining"},
              "kzoo.addons.losses": {"metric_learning"}}
    for package in _api.PACKAGES:
        module = importlib.import_module(package)
        assert set(module.__all__) == declared[package] | extras.get(
            package, set()), package


def test_keras_registration_only_through_kzoo_export():
    offenders = []
    for directory, _, files in os.walk(os.path.join(REPO_ROOT, "kzoo")):
        for file in files:
            path = os.path.join(directory, file)
            if file.endswith(".py") and not path.endswith("_api.py"):
                with open(path, encoding="utf-8") as f:
                    if "register_keras_serializable" in f.read():
                        offenders.append(os.path.relpath(path, REPO_ROOT))
    assert offenders == []
    registered = {k: v for k, v in keras.saving.get_custom_objects().items()
                  if k.startswith(("kzoo>", "kzoo.addons>"))}
    exported = set(map(id, _api.exported().values()))
    assert registered and all(id(v) in exported for v in registered.values())
    # Names shipped files use (presets, users' saved models) stay.
    for key in ("kzoo>SupConLoss", "kzoo>MLPHead", "kzoo>SimSiam",
                "kzoo>YOLODetector", "kzoo>LandmarkHead",
                "kzoo.addons>TripletSemiHardLoss",
                "kzoo.addons>triplet_semihard_loss"):
        assert key in registered, key
    # Base classes are exported but not registered.
    assert "kzoo>GatheringLoss" not in registered
    assert "kzoo>TwoViewModel" not in registered


@pytest.mark.parametrize("path", [
    "losses.SupConLoss", "kzoo.nowhere.Thing", "kzoo.losses", 3, ""])
def test_bad_paths_are_refused(path):
    with pytest.raises(ValueError, match="Received: path="):
        _api.kzoo_export(path)
    with pytest.raises(ValueError, match="Received: paths="):
        _api.kzoo_export()


def _fake_tree(root, declarations):
    for package in _api.PACKAGES:
        init = os.path.join(root, *package.split(".")[1:], "__init__.py")
        os.makedirs(os.path.dirname(init), exist_ok=True)
        with open(init, "w") as f:
            f.write(f'"""{package}"""\n\n{_api.BEGIN}\n{_api.END}\n')
    with open(os.path.join(root, "losses", "things.py"), "w") as f:
        f.write(declarations)


def test_generator_writes_reads_back_and_detects_staleness(tmp_path):
    _fake_tree(tmp_path, (
        'from kzoo._api import kzoo_export\n\n\n'
        '@kzoo_export("kzoo.losses.Thing")\nclass Thing:\n    pass\n\n\n'
        '@kzoo_export("kzoo.losses.helper", "kzoo.models.helper")\n'
        'def helper():\n    pass\n\n\n'
        'TABLE = kzoo_export("kzoo.data.TABLE")((1, 2))\n'))
    assert len(_api.stale(str(tmp_path))) == len(_api.PACKAGES)
    _api.write(str(tmp_path))
    assert _api.stale(str(tmp_path)) == []
    with open(tmp_path / "losses" / "__init__.py") as f:
        text = f.read()
    assert "from kzoo.losses.things import Thing\n" in text
    assert "from kzoo.losses.things import helper\n" in text
    assert '__all__ = [\n    "Thing",\n    "helper",\n]' in text
    with open(tmp_path / "data" / "__init__.py") as f:
        assert '"TABLE": "kzoo.losses.things",' in f.read()
    with open(tmp_path / "models" / "__init__.py") as f:
        assert "from kzoo.losses.things import helper\n" in f.read()
    # A new declaration makes the blocks stale again.
    with open(tmp_path / "losses" / "things.py", "a") as f:
        f.write('\n\n@kzoo_export("kzoo.layers.Other")\nclass Other:\n'
                '    pass\n')
    assert _api.stale(str(tmp_path)) == [
        os.path.join(str(tmp_path), "layers", "__init__.py")]


def test_generator_refuses_a_name_declared_twice(tmp_path):
    _fake_tree(tmp_path, (
        '@kzoo_export("kzoo.losses.Thing")\nclass Thing:\n    pass\n\n\n'
        '@kzoo_export("kzoo.losses.Thing")\nclass Other:\n    pass\n'))
    with pytest.raises(ValueError, match="declared twice"):
        _api.blocks(str(tmp_path))


def test_a_missing_block_is_a_clear_error(tmp_path):
    _fake_tree(tmp_path, "")
    with open(tmp_path / "eval" / "__init__.py", "w") as f:
        f.write('"""no block"""\n')
    with pytest.raises(ValueError, match="has no generated block"):
        _api.stale(str(tmp_path))


def test_check_command(capsys):
    assert _api.main(["--check"]) == 0
    assert _api.main(["--bogus"]) == 2
    assert kzoo.losses.SupConLoss is _api.exported()["kzoo.losses.SupConLoss"]
