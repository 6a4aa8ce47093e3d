# One command each: `make test`, `make demo`. Both create .venv and install the project on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mliis_installed
# Two cores: pytest runs two workers (pytest-xdist) with one torch thread each (more threads than cores makes
# OpenMP spin and slows everything many times over). The notebooks' inline tests are tests too
# (tests/test_notebooks.py runs each notebook as nbdev_test does), so the workers share them out with the rest.
TEST_WORKERS ?= 2

.PHONY: install test demo devset bench export clean-nbs execute-nbs lint-nbs format docs docs-serve

$(STAMP): setup.py settings.ini constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

export: $(STAMP)
	$(VENV)/bin/nbdev_export

test: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15 tests

# The main job on the embedded default: meta-train, meta-test against the baselines, print the table.
# Each run gets its own folder under runs/ (runs/demo-latest points at the newest); the clone's tracked files are
# left alone (DEMO_ARGS="-p update_figures True" also refreshes the README's figures in figures/).
DEMO_STAMP := runs/demo-$(shell date +%Y%m%d-%H%M%S)
DEMO_DIR ?= $(DEMO_STAMP)
demo: $(STAMP)
	@mkdir -p $(DEMO_DIR)
	@echo "make demo: running nbs/experiments/demo.ipynb into $(DEMO_DIR) (about 16 minutes on 2 CPU cores); each phase prints a line"
	$(VENV)/bin/papermill nbs/experiments/demo.ipynb $(DEMO_DIR)/demo.ipynb -k python3 --no-progress-bar --log-output \
		-p out_dir $(DEMO_DIR) $(DEMO_ARGS)
	@ln -sfn $(notdir $(DEMO_DIR)) runs/demo-latest
	@echo; cat $(DEMO_DIR)/results.md; echo "(run folder: $(DEMO_DIR); figures in figures/)"

# The benchmark (nbs/experiments/benchmark.ipynb): meta-training images/s against plain supervised training and a naive
# clone-based meta-step, the speed levers, meta-test and loader rates, peak memory; a few minutes at 96 px on 2 CPU cores.
# Each run gets its own folder (runs/bench-latest points at the newest). BENCH_THREADS=1 on a busy machine;
# BENCH_ARGS="-p image_size 64 -p repeats 3" for other settings (the notebook's parameters).
BENCH_THREADS ?= 2
BENCH_STAMP := runs/bench-$(shell date +%Y%m%d-%H%M%S)
BENCH_DIR ?= $(BENCH_STAMP)
bench: $(STAMP)
	@mkdir -p $(BENCH_DIR)
	@echo "make bench: running nbs/experiments/benchmark.ipynb into $(BENCH_DIR) with $(BENCH_THREADS) threads"
	OMP_NUM_THREADS=$(BENCH_THREADS) $(VENV)/bin/papermill nbs/experiments/benchmark.ipynb $(BENCH_DIR)/benchmark.ipynb \
		-k python3 --no-progress-bar --log-output -p out_dir $(BENCH_DIR) $(BENCH_ARGS)
	@ln -sfn $(notdir $(BENCH_DIR)) runs/bench-latest
	@echo; cat $(BENCH_DIR)/table.txt; echo "(run folder: $(BENCH_DIR))"

# The 8-class real-photo development set (tools/make_devset.sh; needs ../shared/realdata, the development machines' real
# image/mask sets). `make demo DEMO_ARGS="-p photo_data .devset/data -p photo_split .devset/split"` then also meta-tests the
# demo's, the shipped real-photo and the ImageNet initialisations on it (about 11 more minutes on 2 CPU cores).
devset:
	bash tools/make_devset.sh .devset

clean-nbs: $(STAMP)
	$(VENV)/bin/nbdev_clean

# Save notebooks executed (tools/execute_notebooks.py, as nbdev_test runs them; then nbdev_clean): after a change to the
# code under a notebook, so that its saved outputs and figures stay true. NBS="nbs/07_adapt.ipynb ..." for some only (default: every notebook in nbs/, not the experiments).
NBS ?=
execute-nbs: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) tools/execute_notebooks.py $(NBS)

# One code format (ruff.toml): ruff formats the notebooks' code cells, tests/ and tools/; then mliis_nb/ is exported
# again and the notebooks cleaned (tests/test_repo.py checks all three).
format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/nbdev_export
	$(VENV)/bin/nbdev_clean

# The docs site, offline and without Quarto (tools/build_docs.py: nbdev's notebook processing, then
# mkdocs-material + mkdocs-jupyter): writes _docs/. `make docs-serve` serves it on 127.0.0.1:$(DOCS_PORT)
# (rebuilt first when anything it is made from changed). Never nbdev_docs/nbdev_preview here: they need Quarto.
DOCS_PORT ?= 8000
docs: $(STAMP)
	$(PY) tools/build_docs.py

docs-serve: $(STAMP)
	$(PY) tools/build_docs.py --if-stale
	$(PY) -m http.server $(DOCS_PORT) --bind 127.0.0.1 --directory _docs
