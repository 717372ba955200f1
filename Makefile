# Two commands for a new user:  `make chat`  (set up, index the bundled corpus, open the TUI)
#                                `make test`  (set up, run the test suite)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup chat ingest test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[test,server]"
	touch $(STAMP)

setup: $(STAMP)

ingest: $(STAMP)
	$(BIN)/assistant ingest seeds/

chat: ingest
	$(BIN)/assistant chat

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e and not server"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
