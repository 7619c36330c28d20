# The README's two commands: `make reproduce` (main job) and `make test` (tests).
# Both set themselves up first (scripts/bootstrap.sh: system packages, .venv, Jupyter kernel).
SHELL := /bin/bash
VENV := .venv
CORES ?= $(shell nproc)
PROFILE ?= quick
# Torch's OpenMP threads must not spin-wait: on shared cores that makes small ops ~100x slower.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup reproduce test test-fast lint

setup:
	@bash scripts/bootstrap.sh

reproduce: setup
	$(VENV)/bin/snakemake --cores $(CORES) --config profile=$(PROFILE)

# Everything CI runs: the pre-commit checks on all files, then the whole suite (ngspice and pipeline tests too).
test: setup lint
	$(VENV)/bin/python -m pytest

# Under a minute: no ngspice, no pipeline, nothing marked slow.
test-fast: setup lint
	$(VENV)/bin/python -m pytest -q -m "not spice and not pipeline and not slow"

lint: setup
	$(VENV)/bin/pre-commit run --all-files --show-diff-on-failure
