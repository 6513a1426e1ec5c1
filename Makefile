# Stallguard — every target sets up what it needs; a fresh clone needs only Python 3.11.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_HOME := .cache/uv-tool
UV := $(UV_HOME)/bin/uv
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

DATA ?= data/simulated
SHIPMENTS ?= 100000
START ?= 2024-12-01
DAYS ?= 393
SEED ?= 7
SIMULATE = $(BIN)/stallguard simulate --out $(DATA) --shipments $(SHIPMENTS) --start $(START) --days $(DAYS) --seed $(SEED)
PYTEST_ARGS ?=

CONTEXT ?= data/context
SCORES ?= data/at_risk.csv
PORT ?= 3000
export BENTOML_DO_NOT_TRACK := True

.PHONY: help install demo simulate context train serve bento test lint format bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@echo "bootstrapping uv $(UV_VERSION) into $(UV_HOME)"
	@$(PYTHON) -m venv $(UV_HOME)
	@$(UV_HOME)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed ## Create .venv with the locked dependencies

demo: install ## Simulate, train, promote, score; then serve the champion and ask it about parcels
	$(SIMULATE)
	$(BIN)/stallguard train --data $(DATA)
	$(BIN)/stallguard promote
	$(BIN)/stallguard score --data $(DATA) --out $(SCORES) --top 10
	$(BIN)/stallguard serve-demo --data $(DATA)

simulate: install ## Simulate a world: make simulate DATA=dir SHIPMENTS=n START=day DAYS=d SEED=s
	$(SIMULATE)

train: install ## Train on DATA (simulated first if missing), register, promote if the gate passes
	@test -f $(DATA)/shipments.parquet || $(SIMULATE)
	$(BIN)/stallguard train --data $(DATA)
	$(BIN)/stallguard promote

serve: install ## Serve the champion over HTTP (bentoml serve; PORT=3000)
	$(BIN)/bentoml serve serving.service:Stallguard --port $(PORT)

bento: install ## Build a Bento that carries the champion (deploy without the registry)
	$(BIN)/stallguard bento

context: install ## Refresh the serving context (hub load, histories, weather) from DATA
	$(BIN)/stallguard context --data $(DATA) --out $(CONTEXT)

test: install ## Run the whole test suite
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install ## ruff (format + lint), mypy, import-linter
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Run the benchmarks (prints tables; see docs/benchmarks.md)
	$(BIN)/python -m bench.bench_simulator
	$(BIN)/python -m bench.bench_features
	$(BIN)/python -m bench.bench_training
	$(BIN)/python -m bench.bench_serving
	$(BIN)/python -m bench.bench_load

clean: ## Remove the venv, caches and generated data
	rm -rf $(VENV) .cache data .mypy_cache .ruff_cache .pytest_cache mlflow.db mlartifacts
