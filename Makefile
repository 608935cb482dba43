# Quick start: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint type bench fuzz check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mpsim matrix scenarios/

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check mempool_cli tests bench
	$(BIN)/ruff format --check mempool_cli tests bench

type: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Random examples per property test (make test runs a fixed, derandomized few hundred).
# `make fuzz MPSIM_FUZZ_EXAMPLES=100000` for a longer run; FUZZ_TESTS picks the fuzzers, e.g.
# the valid-scenario properties and the mutated invalid scenarios alone:
# `make fuzz FUZZ_TESTS="tests/property/test_fuzz_valid.py tests/property/test_fuzz_invalid.py"`.
MPSIM_FUZZ_EXAMPLES ?= 10000
FUZZ_TESTS ?= tests/property

fuzz: $(STAMP)
	MPSIM_FUZZ_EXAMPLES=$(MPSIM_FUZZ_EXAMPLES) $(BIN)/python -m pytest $(FUZZ_TESTS) -q \
		-p no:cacheprovider --hypothesis-show-statistics

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
