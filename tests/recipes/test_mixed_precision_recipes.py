"""Every recipe end to end with `--mixed-precision bfloat16` (TensorFlow
backend, tiny budgets: wiring, not accuracy; the quality check at a real
budget is `benchmarks/bench_precision.py --quality`).

Each run must record the policy, train to finite figures and export models
that compute in float32 (`kzoo.models.float32_copy`). Two-view SimSiam on
digits runs in CI; the others are `slow`."""

import json
import math
import os

import pytest

from tests.conftest import datasets_root
from tests.recipes import helpers
from tests.recipes.test_tfdata_recipes_on_backends import EXPORTS, _flags

pytestmark = pytest.mark.tf_backend

TWO_VIEW = ["--dataset", "digits", "--limit", "96", "--epochs", "1",
            "--batch-size", "32", "--feature-probe-epochs", "1",
            "--knn-k", "20", "--log-every", "1"]
RECIPES = sorted([*EXPORTS, "simsiam_cifar.py", "simclr_cifar.py",
                  "barlow_twins_cifar.py"])
IN_CI = {"simsiam_cifar.py"}


def _recipe_flags(recipe):
    if recipe in ("simsiam_cifar.py", "simclr_cifar.py",
                  "barlow_twins_cifar.py"):
        extra = (["--projection-dim", "32"]
                 if recipe != "simclr_cifar.py" else [])
        if recipe == "simsiam_cifar.py":
            extra += ["--predictor-dim", "8", "--probe-epochs", "1"]
        return TWO_VIEW + extra
    return _flags(recipe)


def _check(recipe, tmp_path):
    flags = _recipe_flags(recipe)
    if flags is None:
        pytest.skip(f"the data of {recipe} is not under {datasets_root()}")
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    helpers.run_recipe(recipe, [*flags, "--mixed-precision", "bfloat16",
                                "--output-dir", out, "--export-dir", exp],
                       timeout=900)
    args = json.load(open(os.path.join(out, "args.json")))
    assert args["args"]["mixed_precision"] == "bfloat16"
    metrics = helpers.read_metrics(out)
    for key, value in metrics.items():
        if isinstance(value, float):
            assert math.isfinite(value), key
    # Every SavedModel computes in float32: no bfloat16 op in its graphs.
    saved = [os.path.join(root, "saved_model.pb")
             for root, _, files in os.walk(exp) if "saved_model.pb" in files]
    assert saved, os.listdir(tmp_path)
    for path in saved:
        assert not _bfloat16_ops(path), path


def _bfloat16_ops(saved_model_pb):
    """The ops of a SavedModel (graph and functions) with a bfloat16 type
    attribute."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(saved_model_pb, "rb") as f:
        proto.ParseFromString(f.read())
    bf16 = types_pb2.DT_BFLOAT16
    found = []
    for meta in proto.meta_graphs:
        nodes = list(meta.graph_def.node)
        for fn in meta.graph_def.library.function:
            nodes.extend(fn.node_def)
        for node in nodes:
            for attr in node.attr.values():
                if attr.type == bf16 or bf16 in attr.list.type:
                    found.append(node.name)
    return found


@pytest.mark.parametrize("recipe", sorted(IN_CI))
def test_recipe_in_bfloat16_in_ci(recipe, tmp_path):
    _check(recipe, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(set(RECIPES) - IN_CI))
def test_recipe_in_bfloat16(recipe, tmp_path):
    _check(recipe, tmp_path)
