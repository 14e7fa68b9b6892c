"""benchmarks/transfer_table.py: frozen transfer of the encoders to the
other image data (tiny budget), and its table."""

import importlib.util
import json
import os

import pytest

from tests.conftest import REPO_ROOT, datasets_root

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "transfer_table.py")


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("transfer_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_table_on_the_real_data(table, tmp_path):
    root = datasets_root()
    for sub in ("bccd", "facial_keypoints"):
        if not os.path.isdir(os.path.join(root, sub)):
            pytest.skip(f"{sub} not under {root}")
    out = str(tmp_path / "t.json")
    r = table.main(["--data-dir", root, "--limit", "200", "--encoders",
                    "random,simclr_resnet20_cifar10", "--probe-epochs", "2",
                    "--results", out])
    assert set(r["rows"]) == {"random", "simclr_resnet20_cifar10"}
    for row in r["rows"].values():
        assert set(row) == {"digits", "bccd_cells", "faces"}
        for key in ("knn_accuracy", "knn_balanced_accuracy",
                    "probe_accuracy"):
            assert 0 <= row["digits"][key] <= 1
            assert 0 <= row["bccd_cells"][key] <= 1
        assert 0 <= row["faces"]["roc_auc"] <= 1
        assert row["digits"]["knn_k"] == 20
    assert json.load(open(out))["rows"] == json.loads(json.dumps(r["rows"]))
    md = open(str(tmp_path / "t.md")).read()
    assert "| random (random init) |" in md and "cores" in md


def test_markdown_marks_the_supervised_row(table):
    rows = {"supcon_resnet20_cifar10": {
        "digits": {"knn_accuracy": 0.5, "probe_accuracy": 0.25,
                   "finetune_accuracy": 0.75},
        "faces": {"roc_auc": 0.9, "recall_at_1": 0.4}}}
    md = table.markdown({"rows": rows, "cpu": "C", "command": "x",
                         "seconds": 1})
    assert ("| supcon_resnet20_cifar10 (supervised CIFAR-10) | 50.00% / ft "
            "75.00% | 25.00% |  |  | 0.9000 | 40.00% |") in md
