"""kzoo's in-batch losses and models under JAX's
`keras.distribution.DataParallel` over 2 and 4 CPU devices equal one
device (tests/distribute_jax_worker.py runs them in a fresh JAX process
with 4 host devices).

On JAX, `kzoo.ops.replicas_in_sync()` is 1 and `gather_replicas` the
identity: `DataParallel` shards the global batch over the devices inside
one jit-compiled step, and XLA's SPMD partitioner keeps every op's
single-device meaning (it inserts the all-gathers / all-reduces), so the
losses and batch norm already see the global batch. These tests check it,
with controls that show the comparisons would catch a per-device loss or
per-device batch statistics.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests import distributed_loss_cases
from tests.conftest import subprocess_env

def _has_jax():
    try:  # without importing it (the worker runs JAX in its own process)
        return importlib.util.find_spec("jax") is not None
    except (ImportError, ValueError):
        return False


if not _has_jax():
    pytest.skip("jax is not installed (the JAX DataParallel checks need it)",
                allow_module_level=True)

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(TESTS_DIR, "distribute_jax_worker.py")
BATCH = 16
DEVICES = [2, 4]
CASES = distributed_loss_cases.NAMES
MODELS = ["simclr_sync_bn", "simclr", "triplet", "simsiam"]


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax_dp") / "out.json"
    flags = os.environ.get("XLA_FLAGS", "")
    env = subprocess_env(
        KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
        XLA_FLAGS=(flags + " --xla_force_host_platform_device_count=4"
                   ).strip(),
        # About half the compile time; the SPMD partitioning runs anyway.
        JAX_DISABLE_MOST_OPTIMIZATIONS="1")
    proc = subprocess.run(
        [sys.executable, WORKER, "--output", str(out),
         "--devices", ",".join(map(str, DEVICES))],
        capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    print("worker seconds:", result["seconds"])
    return result


def _assert_batch_sharded(info, n):
    # Split over the n devices along the batch axis, not replicated.
    assert info["devices"] == n, info
    assert not info["fully_replicated"], info
    assert info["shard_rows"] * n == info["rows"], info


def test_devices_and_mesh(worker):
    assert worker["backend"] == "jax"
    assert worker["device_count"] == 4
    assert worker["replicas_in_sync"] == 1
    for n in DEVICES:
        config = worker["configs"][str(n)]
        assert config["mesh_shape"] == [n]
        # kzoo's gather is off under DataParallel: nothing but XLA makes
        # the losses global.
        assert config["replicas_in_sync_under_dp"] == 1
        # The partitioned step communicates across devices.
        assert {"all-gather", "all-reduce"} <= set(config["collectives"])


@pytest.mark.parametrize("n", DEVICES, ids=lambda n: f"{n}_devices")
@pytest.mark.parametrize("case", CASES)
def test_loss_and_gradients_equal_one_device(worker, n, case):
    result = worker["configs"][str(n)]["losses"][case]
    print(n, case, {k: v for k, v in result.items()
                    if not k.endswith("sharding")})
    # The step's input, y_pred inside the step and the gradient are split
    # over the devices along the batch.
    assert result["input_sharding"]["shard_rows"] == BATCH // n
    _assert_batch_sharded(result["input_sharding"], n)
    _assert_batch_sharded(result["in_step_sharding"], n)
    _assert_batch_sharded(result["grad_sharding"], n)
    assert result["loss_diff"] <= 1e-6 * max(1.0, abs(result["loss"]))
    assert result["value_diff"] <= 1e-6 * max(1.0, result["value_max"])
    grads = [k for k in result if k.startswith("grad_") and
             k.endswith("_diff")]
    assert grads
    for key in grads:
        scale = result[key.replace("_diff", "_max")]
        assert scale > 1e-3, key  # not trivially zero
        assert result[key] <= 1e-6 * max(1.0, scale), key


@pytest.mark.parametrize("n", DEVICES, ids=lambda n: f"{n}_devices")
def test_per_device_loss_differs(worker, n):
    # The control: the loss of each device's rows (jax.shard_map over the
    # same mesh, averaged over devices), what a per-replica step computes,
    # is the mean of the losses of the n blocks, not the global loss: the
    # comparisons above would catch a loss that sees only its shard.
    for name, control in worker["configs"][str(n)]["controls"].items():
        print(n, name, control)
        assert control["shard_map_vs_blocks"] <= 1e-6, name
        assert control["blocks_diff"] > 1e-2, name
        assert control["shard_map_diff"] > 1e-2, name
        assert control["shard_map_grad_z1_diff"] > 1e-3, name


@pytest.mark.parametrize("n", DEVICES, ids=lambda n: f"{n}_devices")
def test_batch_norm_statistics_are_global(worker, n):
    # BatchNormalization(training=True) jit-compiled on the sharded batch:
    # outputs and moving statistics of one device; per device (shard_map)
    # the outputs differ (the control).
    result = worker["configs"][str(n)]["batch_norm"]
    print(n, result)
    assert result["moving_update"] > 1.0
    assert result["output_diff"] <= 1e-5
    assert result["moving_diff"] <= 1e-6 * result["moving_update"]
    assert result["per_device_output_diff"] > 0.1


@pytest.mark.parametrize("n", DEVICES, ids=lambda n: f"{n}_devices")
@pytest.mark.parametrize("kind", MODELS)
def test_two_training_steps_equal_one_device(worker, n, kind):
    # SimCLR (batch norm in the backbone and projector, synchronized_bn
    # True and False: the same model on JAX), a semi-hard triplet
    # Sequential (fit), SimSiam (train_on_batch): two SGD steps under
    # DataParallel from the single-device run's initial weights end at its
    # weights (moving statistics included).
    result = worker["configs"][str(n)]["models"][kind]
    print(n, kind, {k: v for k, v in result.items() if k != "probe"})
    # The model's input inside the compiled train step is the global
    # batch, split over the n devices (one probe per backbone call).
    assert result["probe"]
    for info in result["probe"]:
        assert info["rows"] == BATCH
        _assert_batch_sharded(info, n)
    assert result["initial_diff"] == 0.0
    assert result["update_max"] > 1e-2
    assert result["final_diff"] <= 1e-5
