# Two commands do everything on a fresh machine (each installs what it needs):
#   make demo   SimCLR on scikit-learn's embedded digits (no download),
#               prints kNN / linear-probe accuracy, exports a SavedModel
#   make test   the test suite: all of it on Keras' TensorFlow backend, then
#               the backend-agnostic part (BACKEND_TESTS) on JAX
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kzoo-installed
PYTEST_ARGS ?=
# The tests of kzoo's backend-agnostic code (keras.ops only): they run on
# every Keras backend. `make test` runs them on JAX after the full
# TensorFlow run; `make test-torch` on PyTorch (not in CI: time).
BACKEND_TESTS ?= tests/losses tests/layers tests/models tests/eval \
	tests/addons tests/test_boxes.py tests/test_serialization.py \
	tests/test_backends.py tests/test_arrays.py tests/test_api.py

# The JAX pass: eager JAX compiles every op for each new shape, and that
# compile is single-threaded, so two pytest workers (pytest-xdist) and
# XLA's optimisation passes off (what is tested is the semantics, not
# XLA's optimiser) take it from ~11 to ~6 minutes on 2 cores.
JAX_PASS := KERAS_BACKEND=jax JAX_DISABLE_MOST_OPTIMIZATIONS=1
JAX_XDIST ?= -n 2
# The TensorFlow pass on two pytest workers too: most of its time is
# single-threaded Python (tracing, graph building, tf.data set-up), so two
# processes use the 2 cores. `--dist loadfile` keeps each test file on one
# worker, so a module's trained fixture is built once. `TF_XDIST=` runs it
# on one worker.
TF_XDIST ?= -n 2 --dist loadfile

.PHONY: install demo test test-slow test-torch bench clean

$(STAMP): setup.cfg setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) recipes/simclr_cifar.py --dataset digits \
	    --epochs 30 --batch-size 64 --learning-rate 0.3 --knn-every 10

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow $(PY) -m pytest $(TF_XDIST) $(PYTEST_ARGS)
	TF_CPP_MIN_LOG_LEVEL=2 $(JAX_PASS) $(PY) -m pytest $(JAX_XDIST) $(BACKEND_TESTS) $(PYTEST_ARGS)

test-slow: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 KZOO_SLOW=1 KERAS_BACKEND=tensorflow $(PY) -m pytest $(TF_XDIST) $(PYTEST_ARGS)
	TF_CPP_MIN_LOG_LEVEL=2 KZOO_SLOW=1 $(JAX_PASS) $(PY) -m pytest $(JAX_XDIST) $(BACKEND_TESTS) $(PYTEST_ARGS)

test-torch: $(STAMP)
	# 2.13.0: the CPU build this workplace's machines carry on disk (a plain
	# `pip install torch` fetches a CUDA build of several GB).
	$(PY) -m pip show torch >/dev/null 2>&1 || $(PY) -m pip install --quiet torch==2.13.0
	TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=torch $(PY) -m pytest $(BACKEND_TESTS) $(PYTEST_ARGS)

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_simsiam.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_two_view.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_triplet.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_nms.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_detection_map.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_gather.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_backends.py

clean:
	rm -rf $(VENV) runs build *.egg-info
