"""benchmarks/record_run.py: a finished run's figures, command and CPU in
one results file; an unfinished run is refused."""

import importlib.util
import json
import os

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "record_run.py")


@pytest.fixture(scope="module")
def record_run():
    spec = importlib.util.spec_from_file_location("record_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_records_metrics_history_command_and_cpu(record_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "args.json").write_text(json.dumps({
        "command": "face_verification.py --epochs 3", "cpu": "Some CPU, 2 "
        "cores", "machine": "x86_64, 2 CPU cores", "keras": "3.15.0",
        "started": "2026-12-07T05:00:00+0000", "args": {"epochs": 3}}))
    (run / "metrics.json").write_text(json.dumps({
        "roc_auc": 0.9, "random_init_roc_auc": 0.6,
        "saved_model": "/abs/path/1", "wall_time_seconds": 12.5}))
    (run / "history.csv").write_text(
        "epoch,loss,val_roc_auc\n0,0.5,\n1,0.25,0.8\n")
    out = tmp_path / "r.json"
    record_run.main([str(run), str(out), "--what", "a test", "--note", "n"])
    r = json.loads(out.read_text())
    assert r["command"] == "python recipes/face_verification.py --epochs 3"
    assert r["cpu"] == "Some CPU, 2 cores" and r["what"] == "a test"
    assert r["metrics"] == {"roc_auc": 0.9, "random_init_roc_auc": 0.6,
                            "wall_time_seconds": 12.5}
    assert r["history"] == [{"epoch": 0, "loss": 0.5},
                            {"epoch": 1, "loss": 0.25, "val_roc_auc": 0.8}]
    assert r["versions"] == {"keras": "3.15.0"}


def test_an_unfinished_run_is_refused(record_run, tmp_path):
    (tmp_path / "args.json").write_text("{}")
    with pytest.raises(SystemExit, match="metrics.json is missing"):
        record_run.main([str(tmp_path), str(tmp_path / "r.json"), "--what",
                         "x"])
