# Every target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test docs bench bench-quick bench-scale clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Pango (PDF reports) and Chromium (screenshots, portal test): installed when run as root on
# Debian/Ubuntu, otherwise named with the command that installs them.
system-deps:
	@.ci/system-deps

demo: $(STAMP) system-deps
	$(BIN)/copyhound demo

test: $(STAMP) system-deps
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

# The whole benchmark with the shortlist and whole detections at 100k registered works too (52 minutes on an idle 2-core machine).
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.run --shortlist-sizes 1000,10000,100000 $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache copyhound-data
