# Two commands do everything on a fresh machine (each installs what it needs):
#   make demo   SimCLR on scikit-learn's embedded digits (no download),
#               prints kNN / linear-probe accuracy, exports a SavedModel
#   make test   the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kzoo-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow bench clean

$(STAMP): setup.cfg setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) recipes/simclr_cifar.py --dataset digits \
	    --epochs 15 --batch-size 64 --learning-rate 0.3 --knn-every 5

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 KZOO_SLOW=1 $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_simsiam.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_triplet.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_nms.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_detection_map.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/bench_gather.py

clean:
	rm -rf $(VENV) runs build *.egg-info
