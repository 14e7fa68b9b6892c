"""benchmarks/recipe_backends.py: the table's bookkeeping (per-backend
means, gap, spread, baselines, skipped runs, resuming), in-process with a
fake `run_one`; every comparison flag set parses in its recipe."""

import importlib.util
import json
import os
import sys

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "recipe_backends.py")


def _module():
    spec = importlib.util.spec_from_file_location("recipe_backends", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_means_gap_and_spread_and_resume(tmp_path, monkeypatch):
    rb = _module()
    values = {("yolo_bccd", "tensorflow", 0): 0.20,
              ("yolo_bccd", "tensorflow", 1): 0.30,
              ("yolo_bccd", "jax", 0): 0.10,
              ("yolo_bccd", "jax", 1): 0.26}
    calls = []

    def fake(recipe, backend, seed, args):
        calls.append((recipe, backend, seed))
        return {"recipe": recipe, "backend": backend, "seed": seed,
                "metric": "voc_mAP", "value": values[recipe, backend, seed],
                "baseline_metric": "random_init_voc_mAP", "baseline": 0.01,
                "wall_seconds": 1.0, "command": "c"}

    monkeypatch.setattr(rb, "run_one", fake)
    results = tmp_path / "r.json"
    rb.main(["--recipes", "yolo_bccd", "--seeds", "0",
             "--results", str(results)])
    assert calls == [("yolo_bccd", "tensorflow", 0), ("yolo_bccd", "jax", 0)]
    # Resumes: the seed-0 runs are not repeated.
    rb.main(["--recipes", "yolo_bccd", "--seeds", "0,1",
             "--results", str(results)])
    assert calls[2:] == [("yolo_bccd", "tensorflow", 1),
                         ("yolo_bccd", "jax", 1)]
    assert len(json.loads(results.read_text())["runs"]) == 4
    table = (tmp_path / "r.md").read_text()
    row = next(line for line in table.splitlines()
               if line.startswith("| yolo_bccd"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "0.2000 (0.0100), 0.3000 (0.0100)"
    assert cells[2] == "0.1000 (0.0100), 0.2600 (0.0100)"
    assert cells[3] == "0.2500 / 0.1800"
    assert cells[4] == "-0.0700"
    assert cells[5] == "0.1000 / 0.1600"
    # Recipes never run have no row.
    assert "| rotation_cifar" not in table


def test_unknown_recipe_is_refused(tmp_path):
    rb = _module()
    with pytest.raises(SystemExit, match="unknown recipe 'nope'"):
        rb.main(["--recipes", "nope", "--results", str(tmp_path / "r.json")])


@pytest.mark.parametrize("recipe", sorted(_module().RECIPES))
def test_comparison_flags_parse_in_each_recipe(recipe):
    rb = _module()
    flags = [f.replace("{data}", "/data") for f in rb.RECIPES[recipe][0]]
    sys.path.insert(0, os.path.join(REPO_ROOT, "recipes"))
    try:
        spec = importlib.util.spec_from_file_location(
            f"_cmp_{recipe}", os.path.join(REPO_ROOT, "recipes",
                                           recipe + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    module.parse_args(flags + ["--seed", "0", "--output-dir", "/tmp/x",
                               "--export-dir", ""])
