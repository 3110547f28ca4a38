# netrca: `make demo` runs the pipeline on built-in defaults; `make test` runs lint + tests.
# Both create .venv on first use. PYTHON can point at any Python >= 3.11.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= dev,web,pcap,dask,gan
PYTEST_ARGS ?=

.PHONY: all demo test lint format bench bench-quality bench-report bench-agent bench-gan bench-gan-checks stress screenshots clean distclean help

all: test

help:
	@echo "make demo           simulate traffic, detect, explain -> ./data"
	@echo "make test           ruff + mypy + pytest"
	@echo "make lint           ruff + mypy only"
	@echo "make bench          speed benchmarks (not part of make test)"
	@echo "make bench-quality  detection/RCA quality on real and simulated data"
	@echo "make bench-report   report.html size and cost on 100k and 1M flows"
	@echo "make stress         fuzzing, kill -9 trials, resource limits, pip-audit (long)"
	@echo "make screenshots    browser tests, screenshots copied to docs/screenshots"
	@echo "make bench-agent    rules RCA accuracy + the LLM analyzer's 500-incident fault run"
	@echo "make bench-gan      GAN fidelity, TSTR, training time, sampling speed (issue #3)"
	@echo "make bench-gan-checks  after bench-gan: judging on unseen rows, calibration's cost"

$(STAMP): pyproject.toml constraints.txt setup.py src/netrca/detect/_simd.c src/netrca/io/_lines.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[$(EXTRAS)]'
	@touch $@

demo: $(STAMP)
	$(BIN)/netrca run --output data

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

test: lint
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py speed

bench-quality: $(STAMP)
	$(BIN)/python benchmarks/run.py quality

bench-report: $(STAMP)
	$(BIN)/python benchmarks/run.py report

stress: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[$(EXTRAS),stress]'
	$(BIN)/python benchmarks/run.py stress

screenshots: $(STAMP)
	NETRCA_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/integration/test_browser.py
bench-agent: $(STAMP)
	$(BIN)/python benchmarks/run.py agent

bench-gan: $(STAMP)
	$(BIN)/python benchmarks/gan.py

bench-gan-checks: $(STAMP)
	$(BIN)/python benchmarks/gan_checks.py speed
	$(BIN)/python benchmarks/gan_checks.py split

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache benchmarks/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) src/*.egg-info
