# Two entry points: `make run` and `make test`. Both bootstrap .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench bench-quick soak clean bytecode

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(MAKE) --no-print-directory bytecode
	rm -f $(VENV)/.installed-* && touch $@

# What an installed package has (pip compiles it): without it, where PYTHONDONTWRITEBYTECODE is
# set (this machine, CI), every run compiles the package's ~80 modules again, about 0.1 CPU-s
bytecode:
	$(BIN)/python -m compileall -q queuesim

run: $(STAMP)
	$(BIN)/queuesim run scenarios/quickstart.yaml

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -m "not real and not soak"
	$(BIN)/python -m pytest -p no:xdist -m real  # timing-sensitive: alone on the machine

lint: $(STAMP)  # the package is clean under ruff and mypy --strict; the layers import only downward
	$(BIN)/ruff check queuesim
	$(BIN)/mypy
	$(BIN)/lint-imports

soak: $(STAMP)  # minutes: coverage at the issue's precision, the retry-storm stability map
	$(BIN)/python benchmarks/bench_coverage.py --case 30s:1 --case 10s:5 --check
	$(BIN)/python -m pytest -n 2 -m soak

bench: $(STAMP)  # about 20 minutes on 2 cores: 10^6 messages per model, memory up to 10^7 (needs ~3 GB free)
	$(MAKE) --no-print-directory bytecode  # the sources may have changed since the install
	$(BIN)/python benchmarks/bench.py

bench-quick: $(STAMP)  # a few minutes: 2*10^5 messages, memory up to 10^6
	$(MAKE) --no-print-directory bytecode
	$(BIN)/python benchmarks/bench.py --quick

clean:  # keeps the committed sample reports
	rm -rf $(VENV)
	find reports -mindepth 1 -maxdepth 1 -type d ! -name samples -exec rm -rf {} +
