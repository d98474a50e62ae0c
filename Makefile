# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The CPU build of torch is installed first so that pip never pulls a multi-GB CUDA build;
# a venv that already has torch (e.g. a CUDA build on a GPU box) keeps it.
VENV ?= .venv
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
PY := $(VENV)/bin/python
DEMO_OUT ?= runs/demo

.PHONY: setup demo test lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e '.[dev]'
	# Test/benchmark-only references (the official xLSTM sLSTM, flashrnn); their CUDA build
	# dependencies are not needed for the CPU code paths the tests use.
	$(PY) -m pip install --quiet --no-deps xlstm==2.0.6 flashrnn==1.0.8
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/social-xlstm demo --out $(DEMO_OUT) --overwrite

test: setup
	$(PY) -m pytest -q --nbmake tests notebooks

lint: setup
	$(VENV)/bin/ruff check social_xlstm tests scripts

clean:
	rm -rf $(VENV) runs .pytest_cache
