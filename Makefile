# One command each: `make test`, `make demo`. Both create .venv and install the project on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mliis_installed
# torch uses both cores per process; nbdev_test runs notebooks two at a time with one thread each
export OMP_NUM_THREADS ?= 2

.PHONY: install test demo export clean-nbs lint-nbs docs

$(STAMP): setup.py settings.ini constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

export: $(STAMP)
	$(VENV)/bin/nbdev_export

test: $(STAMP)
	$(VENV)/bin/nbdev_test --n_workers 2 --timing
	$(VENV)/bin/python -m pytest -q tests

demo: $(STAMP)
	$(PY) -m mliis_nb.demo

clean-nbs: $(STAMP)
	$(VENV)/bin/nbdev_clean
