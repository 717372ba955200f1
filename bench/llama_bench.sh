#!/usr/bin/env bash
# The hardware reference for generation/prompt targets: llama.cpp's own llama-bench, built from the same
# llama-cpp-python release the project pins (its sdist vendors llama.cpp) with the same flags as `make setup`
# (native CPU, no AMX), run on the bundled GGUF with as many threads as the assistant uses.
#   bash bench/llama_bench.sh            # pp512 and tg128, at an empty context and at 400 tokens of context
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
WORK="$ROOT/bench/results/llama-bench"
VERSION="$(grep -o 'llama-cpp-python==[0-9.]*' "$ROOT/pyproject.toml" | head -1 | cut -d= -f3)"
THREADS="$("$PY" -c 'from assistant.config import Settings; print(Settings().threads)')"
MODEL="$("$PY" -c 'from assistant.generate.llama import default_model_path; print(default_model_path())')"
BIN="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp/build/bin/llama-bench"
if [ ! -x "$BIN" ]; then
  mkdir -p "$WORK"
  "$PY" -m pip download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK" -q
  tar xzf "$WORK/llama_cpp_python-$VERSION.tar.gz" -C "$WORK"
  NO_AMX=""
  [ "$(uname -m)" = x86_64 ] && NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  (cd "$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp" &&
   cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
         -DCMAKE_C_FLAGS="$NO_AMX" -DCMAKE_CXX_FLAGS="$NO_AMX" > "$WORK/cmake.log" &&
   cmake --build build --target llama-bench -j"$(nproc)" > "$WORK/build.log")
fi
echo "llama-bench (llama-cpp-python $VERSION's llama.cpp), $THREADS threads, $(basename "$MODEL")"
"$BIN" -m "$MODEL" -t "$THREADS" -p 512 -n 128 -d 0,400 -fa 0,1 -r 3 -o md | tee "$WORK/results.md"
