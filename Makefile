# Two commands for a new user:  `make chat`  (set up, index the bundled corpus, open the TUI)
#                                `make test`  (set up, run the test suite)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LLAMA  := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | head -1)
# llama.cpp builds for the CPU it is built on (-march=native). On a CPU that has AMX but a VM or kernel
# that does not enable it, ggml's AMX kernels crash (general protection fault in ldtilecfg), so AMX is
# left out; the 135M default model gains nothing from it. Override for a GPU: LLAMA_CMAKE_ARGS=-DGGML_CUDA=on
# llama-cpp-python builds llama.cpp's multimodal library (mtmd, for LLaVA-style chat handlers) and forces on
# llama.cpp's `common` library, which only mtmd uses; we load neither. Leaving both out cuts the compile from 193
# objects to 83 (BENCHMARKS.md, "First run"). `common` is switched off by a CMake file read at llama.cpp's
# project() call, after llama-cpp-python has forced it on.
LLAMA_NO_COMMON := $(abspath $(VENV))/llama-no-common.cmake
LLAMA_BASE_ARGS := -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_INCLUDE='$(LLAMA_NO_COMMON)'
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
endif

.PHONY: setup chat ingest test test-fast lint bench clean

$(STAMP): pyproject.toml
	@echo "==> 1/4 virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel
	@# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	@echo "==> 2/4 torch (CPU build)"
	$(BIN)/pip install "torch==2.13.0"
	@# Built here with our flags; --no-cache-dir so that a wheel cached from other flags is not reused.
	@echo "==> 3/4 llama-cpp-python: compiles llama.cpp (83 files) from source, about 2 minutes on 2 cores"
	@printf 'if(PROJECT_NAME STREQUAL "llama.cpp")\n  set(LLAMA_BUILD_COMMON OFF CACHE BOOL "" FORCE)\nendif()\n' > "$(LLAMA_NO_COMMON)"
	CMAKE_ARGS="$(LLAMA_BASE_ARGS) $(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --no-cache-dir -v "$(LLAMA)" 2>&1 | \
		grep --line-buffered -E "\[ *[0-9]+(%|/[0-9]+)\]|Successfully|ERROR|error:" | \
		sed -u -E 's/^ *(\[ *[0-9]+(%|\/[0-9]+)\]).*/  compiling llama.cpp \1/' || true
	$(BIN)/python -c "import llama_cpp" || { echo "llama-cpp-python did not install; rerun without the filter: $(BIN)/pip install -v $(LLAMA)"; exit 1; }
	@echo "==> 4/4 the assistant and its other dependencies"
	$(BIN)/pip install -e ".[test,server]"
	touch $(STAMP)

setup: $(STAMP)

ingest: $(STAMP)
	$(BIN)/assistant ingest seeds/

chat: ingest
	$(BIN)/assistant chat

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# Checks that catch drift: lint, formatting and types (run by `make test`, hence by CI).
lint: $(STAMP)
	$(BIN)/ruff check assistant tui tests bench
	$(BIN)/ruff format --check assistant tui tests bench
	$(BIN)/mypy assistant tui

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e and not server"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
