# Every target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-durations docs bench bench-quick bench-scale clean system-deps

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

# The suite runs on pytest-xdist workers, one more than the cores (at most 8; TEST_WORKERS=N picks): a third of
# a test's time is spent waiting on servers, browsers and child processes, and the extra worker fills it (on 2
# cores, 3 workers took 8 min 17 s where 2 took 9 min 22 s). Each module's tests run in one worker so its
# fixtures are built once (tests/conftest.py groups them). Each worker's FAISS (OpenMP) and OpenCV use one
# thread: their idle pool threads would only spin on the other workers' cores. Bytecode is cached even where the
# environment says not to (PYTHONDONTWRITEBYTECODE): each worker and each command a test starts would otherwise
# compile the same sources again (collecting the suite took 9.6 s instead of 4.4 s).
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(8, len(getattr(os, 'sched_getaffinity', lambda _: range(os.cpu_count() or 1))(0)) + 1))")
PYTEST := PYTHONDONTWRITEBYTECODE= OMP_NUM_THREADS=1 OPENCV_FOR_THREADS_NUM=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(PYTEST)

# All but the long end-to-end tests (marked slow): for the edit-and-check loop; `make test` runs them all.
test-fast: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(PYTEST) -m "not slow"

# Runs the whole suite and writes each module's measured seconds to tests/durations.json, the order in which
# `make test` hands modules to its workers (longest first). Rerun it when modules grow, shrink or are added.
test-durations: $(STAMP) system-deps
	$(PYTEST) --record-durations

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
