# `make train` and `make test` each set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed
# The first run: the DeepMimic preset on DeepMimic's walk clip (`--skill walk`: the preset and the skill file, the
# clip from the package's own data), stopped once an evaluation reaches 0.9 reward per step without a fall (about
# 0.6M samples, 10 minutes) or at 2M samples; then 10 evaluation episodes, a video with the reference drawn as a
# ghost, and the learning curve. Longer or other: TRAIN_ARGS=...
TRAIN_ARGS ?= --skill walk --num_timesteps 2000000 --stop_reward_per_step 0.9

.PHONY: install train test test-slow bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first (a pinned CPU build), then the project: a later unpinned torch requirement is then already met.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e ".[test]"
	@# Chromium (Debian's) for the browser test of `trpo-mimic view` (tests/test_viewer.py; it is skipped without)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "make: could not install chromium: tests/test_viewer.py skips its browser test" >&2
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	@set -e; export MUJOCO_GL=$${MUJOCO_GL:-egl}; run=walk-$$(date +%Y%m%d-%H%M%S); \
	echo "make train: DeepMimic's walk (the package's humanoid3d_walk.txt)"; \
	$(VENV)/bin/trpo-mimic train $(TRAIN_ARGS) --run_name $$run; \
	$(VENV)/bin/trpo-mimic evaluate --load_model_path runs/$$run --num_eval_episodes 10 --record_video \
		--video_dir runs/$$run/videos --no-progress; \
	echo "learning curve: runs/$$run/learning_curve.png"

test: $(STAMP)
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m pytest -q

test-slow: $(STAMP)
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"

clean:
	rm -rf $(VENV) build src/*.egg-info
