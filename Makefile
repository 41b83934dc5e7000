# `make train` and `make test` each set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed
TRAIN_ARGS ?= --arg_file configs/deepmimic.txt --arg_file configs/deepmimic_builtin_walk.txt

.PHONY: install train test test-slow bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first (a pinned CPU build), then the project: a later unpinned torch requirement is then already met.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(VENV)/bin/trpo-mimic train $(TRAIN_ARGS)

test: $(STAMP)
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m pytest -q

test-slow: $(STAMP)
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"

clean:
	rm -rf $(VENV) build src/*.egg-info
