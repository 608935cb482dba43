# Quick start: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# yaml-language-server, for the editor tests (tests/editor): from npm, into the venv.
NODE := $(VENV)/node
YAML_LS := $(NODE)/node_modules/.bin/yaml-language-server
YAML_LS_VERSION := 2.0.0

.PHONY: run test lint type bench bench-peer bench-shipped bench-sweep fuzz check clean graphviz rumur

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The install compiles the search's hot modules (mempool_cli/native.py) in place with
# mypyc, and builds its C one; an edit to one of them rebuilds it here.
NATIVE := mempool_cli/kernel/packing.py mempool_cli/kernel/reductions.py \
	mempool_cli/kernel/expand.py mempool_cli/explore/visited.py \
	mempool_cli/explore/cvisited.c

$(STAMP): pyproject.toml setup.py mempool_cli/native.py $(NATIVE) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@$(BIN)/mpsim --version | tail -n 1
	touch $(STAMP)

# npm comes from the distribution when it is missing and we may install it (root, apt);
# without npm the editor tests skip and say so.
$(YAML_LS): | $(BIN)/python
	@if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
		&& [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; fi
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(NODE) --no-save --no-audit --no-fund --loglevel=error \
			yaml-language-server@$(YAML_LS_VERSION) \
		|| echo "make: npm could not install yaml-language-server; tests/editor will skip"; \
	else echo "make: no npm; tests/editor (yaml-language-server) will skip"; fi

# Graphviz (`dot`) for the SVG test of `mpsim graph`: from the distribution when it is
# missing and we may install it (root, apt); without it that one test skips and says so.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && apt-get install -y -qq graphviz >/dev/null \
			|| echo "make: apt-get could not install graphviz; the SVG test will skip"; \
		else echo "make: no Graphviz (dot); the SVG test will skip"; fi; }

# Rumur (a Murphi model checker), the peer of `make bench-peer` and of the Rumur test in
# tests/unit/test_bench_murphi.py: from the distribution when it is missing and we may
# install it (root, apt); without it that test skips and the bench says so.
rumur:
	@command -v rumur >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && apt-get install -y -qq rumur >/dev/null \
			|| echo "make: apt-get could not install rumur; the peer test will skip"; \
		else echo "make: no rumur; the peer test will skip and the bench skips the peer"; fi; }

run: $(STAMP)
	$(BIN)/mpsim matrix scenarios/

test: $(STAMP) $(YAML_LS) graphviz rumur
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check mempool_cli tests bench
	$(BIN)/ruff format --check mempool_cli tests bench
	$(BIN)/lint-imports

type: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) rumur
	$(BIN)/python bench/run.py

# The comparison with Rumur alone (pool-workers-10 and -12, both variants; see bench/run.py).
bench-peer: $(STAMP) rumur
	$(BIN)/python bench/run.py --peer-only

# Each shipped scenario's time to verdict here against BASE (the commit before the
# performance work of bench/run.py's peer comparison); see bench/shipped.py.
BASE ?= b241245
bench-shipped: $(STAMP)
	$(BIN)/python bench/shipped.py --base $(BASE)

# One 200-point `mpsim sweep` per executor (local on 1 and 2 cores, a dask LocalCluster),
# and the pool-workers-N boundaries; see bench/sweep.py.
bench-sweep: $(STAMP)
	$(BIN)/python bench/sweep.py

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
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find mempool_cli -name "*.so" -delete; rm -f *.so
