# The README's two commands: `make reproduce` (main job) and `make test` (tests).
# Both set themselves up first (scripts/bootstrap.sh: system packages, .venv, Jupyter kernel).
SHELL := /bin/bash
VENV := .venv
CORES ?= $(shell nproc)
PROFILE ?= quick
# Torch's OpenMP threads must not spin-wait: on shared cores that makes small ops ~100x slower.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup reproduce test lint

setup:
	@bash scripts/bootstrap.sh

reproduce: setup
	$(VENV)/bin/snakemake --cores $(CORES) --config profile=$(PROFILE)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check .
