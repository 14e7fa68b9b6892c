"""A recipe's first lines are kzoo's: TensorFlow's start-up notices are
filtered out of stderr (recipes/_backend.py), and nothing else is."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    "kzoo_recipes_backend", os.path.join(REPO_ROOT, "recipes", "_backend.py"))
_backend = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_backend)

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR",
    "I0000 00:00:1796568839.195139   30531 port.cc:153] oneDNN custom "
    "operations are on. You may see slightly different numerical results",
]
CUDA = [
    "I0000 00:00:1796568839.195465   30531 cudart_stub.cc:31] Could not find "
    "cuda drivers on your machine, GPU will not be used.",
    "E0000 00:00:1796568870.938818   30531 cuda_platform.cc:52] failed call "
    "to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR "
    "(303)",
]
REAL = [
    "E0000 00:00:1796568870.938818   30531 some_kernel.cc:12] Out of memory",
    "UserWarning: something a user must read",
]


def _run(code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
        text=True, timeout=300, cwd=os.path.join(REPO_ROOT, "recipes"),
        env={**os.environ, **env})


def test_notices_are_recognised_and_real_lines_are_not():
    for line in NOISE + CUDA:
        assert _backend.is_startup_notice(line, gpu_driver=False), line
    for line in REAL:
        assert not _backend.is_startup_notice(line, gpu_driver=False), line
    # With an NVIDIA driver installed, the CUDA probes say why the GPU is
    # not used: kept.
    for line in CUDA:
        assert not _backend.is_startup_notice(line, gpu_driver=True), line
    for line in NOISE:
        assert _backend.is_startup_notice(line, gpu_driver=True), line


def test_filtered_stderr_keeps_every_other_line_even_on_an_error():
    lines = NOISE + REAL + CUDA
    result = _run(f"""
        import os, sys
        import _backend
        with _backend.filtered_stderr(
                lambda l: _backend.is_startup_notice(l)) as dropped:
            try:
                for line in {lines!r}:
                    os.write(2, (line + "\\n").encode())   # C++-style write
                print("python stderr line", file=sys.stderr)
                raise ValueError("the real error")
            finally:
                pass
        """)
    assert result.returncode == 1
    for line in REAL + ["python stderr line", "ValueError: the real error"]:
        assert line in result.stderr, (line, result.stderr)
    for line in NOISE + CUDA:
        assert line not in result.stderr, (line, result.stderr)


@pytest.mark.tf_backend
def test_recipe_startup_prints_no_tensorflow_notice():
    code = """
        import _backend
        _backend.from_argv([])
        import kzoo
        from kzoo import distribute
        distribute.configure_cpu_replicas(2)   # still possible afterwards
        import tensorflow as tf
        print(len(tf.config.list_logical_devices("CPU")))
        """
    quiet = _run(code, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "2"
    assert not any(_backend.is_startup_notice(line, _backend.has_nvidia_driver())
                   for line in quiet.stderr.splitlines()), quiet.stderr
    # KZOO_TF_LOGS=1 shows them (so the filter is what removed them).
    loud = _run(code, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="0",
                KZOO_TF_LOGS="1")
    assert loud.returncode == 0, loud.stderr
    assert any(_backend.is_startup_notice(line)
               for line in loud.stderr.splitlines()), loud.stderr
