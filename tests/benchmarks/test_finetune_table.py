"""benchmarks/finetune_table.py: runs appended and skipped, the table."""

import importlib.util
import json
import os

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "finetune_table.py")


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("finetune_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_markdown_rows_and_reference_marks(table):
    runs = [{"encoder": e, "label_fraction": f, "probe_accuracy": p,
             "finetune_accuracy": t, "cpu": "CPU X", "command": "python x"}
            for e, f, p, t in [("random", 0.01, 0.2, 0.3),
                               ("simclr_resnet20_cifar10", 0.01, 0.5, 0.55),
                               ("simclr_resnet20_cifar10", 0.1, 0.6, 0.7),
                               ("supcon_resnet20_cifar10", 0.1, 0.8, 0.81)]]
    md = table.markdown({"runs": runs})
    lines = md.splitlines()
    assert lines[0] == ("| encoder | 1% probe | 1% fine-tuned | 10% probe | "
                        "10% fine-tuned |")
    assert "| random (from scratch) | 20.00% | 30.00% |  |  |" in lines
    assert ("| simclr_resnet20_cifar10 | 50.00% | 55.00% | 60.00% | 70.00% |"
            in lines)
    assert any(line.startswith("| supcon_resnet20_cifar10 (reference")
               for line in lines)
    assert "CPU X" in md


def test_a_tiny_table_end_to_end_then_skipped(table, tmp_path, capsys):
    results = str(tmp_path / "t.json")
    argv = ["--encoders", "random", "--fractions", "0.1", "--extra",
            "--dataset digits --epochs 1 --probe-epochs 1", "--runs-dir",
            str(tmp_path / "runs"), "--results", results]
    table.main(argv)
    r = json.load(open(results))
    assert len(r["runs"]) == 1
    row = r["runs"][0]
    assert row["encoder"] == "random" and row["labelled_images"] > 100
    assert 0 <= row["finetune_accuracy"] <= 1 and row["cpu"]
    assert "finetune_cifar.py --encoder random" in row["command"]
    table.main(argv)  # done: skipped, not rerun
    assert len(json.load(open(results))["runs"]) == 1
    assert "skip random 0.1" in capsys.readouterr().out
    assert os.path.isfile(str(tmp_path / "t.md"))
