# Every target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test docs bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/copyhound demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The CLI reference page is written from every command's --help (a test checks it is current).
docs: $(STAMP)
	$(BIN)/python -m detector.cli.reference docs/cli.md

# Benchmarks read the real photos from ../shared/photos; PHOTOS=DIR points elsewhere.
BENCH_ARGS := $(if $(PHOTOS),--photos $(PHOTOS),)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache copyhound-data
